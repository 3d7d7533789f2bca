//! The card half of the APDU binding: [`ApduDispatcher`] turns command APDUs into calls on any
//! [`SecureKeyStore`] and the results into response APDUs (`spec/apdu.md`). It never panics:
//! every malformed, over-long or out-of-order APDU gets a status word.

use std::panic::{AssertUnwindSafe, catch_unwind};

use airtight_proto::sks::{SKS_API_LEVEL, SecureKeyStore, SksError};

use crate::apdu::{
    self, AID, BINDING_VERSION, CLA_CHAIN, CLA_ISO, CLA_SKS, Command, INS_GET_RESPONSE, INS_SELECT,
    MAX_MESSAGE, SelectInfo, StatusWord,
};
use crate::calls::SksCall;
use crate::exchange::encode_error_text;

/// Card-side limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatcherOptions {
    /// The largest assembled command (and response) payload ([APDU-LIM-001]).
    pub max_message: usize,
    /// The most response data per R-APDU, whatever Ne asks (vpcd frames hold 65535 bytes, so
    /// 65533 data bytes plus the status word).
    pub max_response_data: usize,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        Self {
            max_message: MAX_MESSAGE,
            max_response_data: 65533,
        }
    }
}

#[derive(Debug)]
struct Chain {
    ins: u8,
    p1: u8,
    p2: u8,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    pos: usize,
    final_sw: StatusWord,
}

/// What a card does with its SKS when it loses power (see [`ApduDispatcher::power_loss`]).
pub type PowerLossHook<S> = Box<dyn FnMut(&mut S) + Send>;

/// The APDU application over a [`SecureKeyStore`].
pub struct ApduDispatcher<S> {
    store: S,
    options: DispatcherOptions,
    selected: bool,
    chain: Option<Chain>,
    pending: Option<Pending>,
    power_loss_hook: Option<PowerLossHook<S>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ApduDispatcher<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApduDispatcher")
            .field("store", &self.store)
            .field("options", &self.options)
            .field("selected", &self.selected)
            .field("chain", &self.chain)
            .field("pending", &self.pending)
            .field("power_loss_hook", &self.power_loss_hook.is_some())
            .finish()
    }
}

/// Aborts every open provisioning session of `store`: what a card's power loss does to the
/// sessions it held in RAM ([SKS-IMP-006]), for an SKS that lives on in the same process (a
/// virtual card whose connection dropped). Use it as a [`PowerLossHook`].
pub fn abort_open_sessions<S: SecureKeyStore + ?Sized>(store: &mut S) {
    use airtight_proto::sks::ProvisioningHandle;
    // Bounded: at most as many rounds as sessions can be aborted, and a failure stops it.
    for _ in 0..10_000 {
        match store.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true) {
            Ok(Some(e)) => {
                if store
                    .abort_provisioning_session(e.provisioning_handle)
                    .is_err()
                {
                    return;
                }
            }
            _ => return,
        }
    }
}

impl<S: SecureKeyStore> ApduDispatcher<S> {
    /// A dispatcher with default options; nothing is selected.
    pub fn new(store: S) -> Self {
        Self::with_options(store, DispatcherOptions::default())
    }

    /// A dispatcher with `options`.
    pub fn with_options(store: S, options: DispatcherOptions) -> Self {
        Self {
            store,
            options,
            selected: false,
            chain: None,
            pending: None,
            power_loss_hook: None,
        }
    }

    /// Sets what [`ApduDispatcher::power_loss`] does to the store (e.g.
    /// [`abort_open_sessions`], or reopening a file-backed card).
    pub fn set_power_loss_hook(&mut self, hook: PowerLossHook<S>) {
        self.power_loss_hook = Some(hook);
    }

    /// The card lost power (power off, reset, or its reader connection dropped): resets the
    /// APDU session ([`ApduDispatcher::reset`]) and runs the power-loss hook, if any.
    pub fn power_loss(&mut self) {
        self.reset();
        if let Some(hook) = self.power_loss_hook.as_mut() {
            let store = &mut self.store;
            let _ = catch_unwind(AssertUnwindSafe(|| hook(store)));
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Power off, power on or reset: deselects and drops any chain or pending response
    /// ([APDU-SEL-004]).
    pub fn reset(&mut self) {
        self.selected = false;
        self.chain = None;
        self.pending = None;
    }

    /// Processes one command APDU and returns the response APDU.
    pub fn process(&mut self, apdu_bytes: &[u8]) -> Vec<u8> {
        let cmd = match Command::parse(apdu_bytes) {
            Ok(c) => c,
            Err(_) => {
                // [APDU-MAL-001]
                self.chain = None;
                self.pending = None;
                return apdu::response(&[], StatusWord::WRONG_LENGTH);
            }
        };
        if cmd.ins == INS_GET_RESPONSE && (cmd.cla == CLA_ISO || cmd.cla == CLA_SKS) {
            return self.get_response(&cmd);
        }
        // Any other command discards an unread response ([APDU-GR-004]).
        self.pending = None;
        if cmd.cla == CLA_ISO {
            self.chain = None;
            if cmd.ins == INS_SELECT {
                return self.select(&cmd);
            }
            return apdu::response(&[], StatusWord::INS_NOT_SUPPORTED);
        }
        if cmd.cla & !CLA_CHAIN != CLA_SKS {
            self.chain = None;
            return apdu::response(&[], StatusWord::CLA_NOT_SUPPORTED);
        }
        if !self.selected {
            // [APDU-SEL-002]
            self.chain = None;
            return apdu::response(&[], StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let Some(method) = apdu::method_of_ins(cmd.ins) else {
            self.chain = None;
            return apdu::response(&[], StatusWord::INS_NOT_SUPPORTED);
        };
        if cmd.p1 != method.number() || cmd.p2 != 0 {
            // [APDU-INS-003]
            self.chain = None;
            return apdu::response(&[], StatusWord::WRONG_P1P2);
        }
        let more = cmd.cla & CLA_CHAIN != 0;
        let mut chain = match self.chain.take() {
            Some(c) if (c.ins, c.p1, c.p2) == (cmd.ins, cmd.p1, cmd.p2) => c,
            // [APDU-CHN-004] a different command in the middle of a chain.
            Some(_) => return apdu::response(&[], StatusWord::LAST_COMMAND_EXPECTED),
            None => Chain {
                ins: cmd.ins,
                p1: cmd.p1,
                p2: cmd.p2,
                buf: Vec::new(),
            },
        };
        if chain.buf.len() + cmd.data.len() > self.options.max_message {
            // [APDU-LIM-002]
            return apdu::response(&[], StatusWord::TOO_LONG);
        }
        chain.buf.extend_from_slice(cmd.data);
        if more {
            // [APDU-CHN-002]
            self.chain = Some(chain);
            return apdu::response(&[], StatusWord::OK);
        }
        let (data, final_sw) = match SksCall::decode_payload(method, &chain.buf) {
            Ok(call) => self.invoke(&call),
            // [APDU-ERR-004] an undefined enumeration value decodes (as an `EnumArg`) and
            // reaches the SKS, which looks up the session first and then answers
            // ERROR_OPTION and tears the session down; only a malformed payload stops here.
            // [APDU-MAL-003]
            Err(_) => return apdu::response(&[], StatusWord::WRONG_DATA),
        };
        self.respond(data, final_sw, cmd.ne)
    }

    fn invoke(&mut self, call: &SksCall) -> (Vec<u8>, StatusWord) {
        let store = &mut self.store;
        let result = catch_unwind(AssertUnwindSafe(|| call.invoke(store)))
            .unwrap_or_else(|_| Err(SksError::internal("the SKS panicked")));
        match result {
            Ok(ret) => match ret.encode_payload() {
                Ok(payload) if payload.len() <= self.options.max_message => {
                    (payload, StatusWord::OK)
                }
                Ok(payload) => error_response(&SksError::internal(format!(
                    "result of {} bytes is over the maximum of {}",
                    payload.len(),
                    self.options.max_message
                ))),
                Err(e) => error_response(&SksError::internal(e.to_string())),
            },
            Err(e) => error_response(&e),
        }
    }

    fn select(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x04 || (cmd.p2 != 0x00 && cmd.p2 != 0x0C) {
            return apdu::response(&[], StatusWord::WRONG_P1P2);
        }
        if cmd.data != AID {
            self.selected = false;
            return apdu::response(&[], StatusWord::NOT_FOUND);
        }
        self.selected = true;
        if cmd.p2 == 0x0C {
            return apdu::response(&[], StatusWord::OK);
        }
        let info = SelectInfo {
            binding_version: BINDING_VERSION,
            api_level: SKS_API_LEVEL,
            max_message: u32::try_from(self.options.max_message).unwrap_or(u32::MAX),
        };
        self.respond(info.encode(), StatusWord::OK, cmd.ne)
    }

    fn get_response(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        self.chain = None;
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return apdu::response(&[], StatusWord::WRONG_P1P2);
        }
        let Some(p) = self.pending.take() else {
            // [APDU-GR-003]
            return apdu::response(&[], StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        if cmd.ne.is_none() {
            self.pending = Some(p);
            return apdu::response(&[], StatusWord::WRONG_LENGTH);
        }
        self.send_part(p, cmd.ne)
    }

    fn respond(&mut self, data: Vec<u8>, final_sw: StatusWord, ne: Option<usize>) -> Vec<u8> {
        self.send_part(
            Pending {
                data,
                pos: 0,
                final_sw,
            },
            ne,
        )
    }

    /// Sends as much of `p` as Ne and the options allow; keeps the rest pending with `61xx`.
    fn send_part(&mut self, mut p: Pending, ne: Option<usize>) -> Vec<u8> {
        let remaining = p.data.len().saturating_sub(p.pos);
        let n = ne
            .unwrap_or(0)
            .min(self.options.max_response_data)
            .min(remaining);
        let end = p.pos + n;
        let part = p.data.get(p.pos..end).unwrap_or(&[]).to_vec();
        p.pos = end;
        let left = remaining - n;
        if left == 0 {
            // [APDU-GR-001] the final status word comes with the last part.
            return apdu::response(&part, p.final_sw);
        }
        let sw2 = if left >= 256 { 0 } else { left as u8 };
        self.pending = Some(p);
        apdu::response(&part, StatusWord::new(StatusWord::SW1_MORE, sw2))
    }
}

fn error_response(e: &SksError) -> (Vec<u8>, StatusWord) {
    // [APDU-ERR-001] [APDU-ERR-002]
    (
        encode_error_text(e.message()),
        StatusWord::for_sks_error(e.code()),
    )
}
