//! The card end of the driver: the reference card on a [`SimFs`], reached directly or through
//! the APDU codec, with every SKS call (and every APDU) recorded.

use std::sync::Arc;

use airtight_bindings::calls::{CallAdapter, CallSks};
use airtight_bindings::{
    ApduLimits, ApduSks, CardTransport, LoopbackTransport, SksCall, SksReturn, TransportError,
};
use airtight_card::store::{CrashPolicy, SimFs};
use airtight_card::{CardConfig, CardError, ReferenceSks, Storage};
use airtight_pki::DeviceKeyKind;
use airtight_proto::sks::{SksError, SksMethod};
use airtight_proto::time::ManualClock;

use super::trace::{Apdu, SksCallTrace};

/// How the middleware reaches the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardPath {
    /// Method calls on the `ReferenceSks` (no codec).
    Direct,
    /// Every call encoded as APDUs (`airtight-bindings`) into the card's APDU dispatcher,
    /// with these limits (short APDUs exercise chaining and GET RESPONSE).
    Apdu(ApduLimits),
}

/// The APDU link: a loopback into the dispatcher that records every command and response,
/// and that can lose its card.
#[derive(Debug)]
pub struct RecordingTransport {
    inner: LoopbackTransport<ReferenceSks>,
    /// Every exchange since the last [`RecordingTransport::take_log`].
    log: Vec<Apdu>,
    removed: bool,
    /// A hostile middleware alters the first data byte of the next MAC'd call's first APDU.
    tamper_macd: bool,
}

impl CardTransport for RecordingTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.removed {
            return Err(TransportError::CardRemoved("removed by the driver".into()));
        }
        let mut apdu = apdu.to_vec();
        let macd = apdu
            .get(1)
            .and_then(|ins| airtight_bindings::apdu::method_of_ins(*ins));
        if self.tamper_macd && macd.is_some_and(|m| m.mac_name().is_some()) && apdu.len() > 7 {
            // The first data byte (short: offset 5; extended: offset 7).
            let at = if apdu[4] == 0 { 7 } else { 5 };
            apdu[at] ^= 0x01;
            self.tamper_macd = false;
        }
        let apdu = apdu.as_slice();
        let resp = self.inner.transmit(apdu)?;
        self.log.push(Apdu {
            command: apdu.to_vec(),
            response: resp.clone(),
        });
        Ok(resp)
    }
    fn limits(&self) -> ApduLimits {
        self.inner.limits
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        if self.removed {
            Err(TransportError::NoCard("driver reader".into()))
        } else {
            Ok(())
        }
    }
}

enum Link {
    Direct(Box<ReferenceSks>),
    Apdu(Box<ApduSks<RecordingTransport>>),
}

/// An observer of the card's SKS calls ([`TracedCard::set_tap`]): the call as the middleware
/// made it, the card's result, and the card itself (to look something up at that moment, e.g.
/// a key a deferred post-provisioning operation will delete at close).
pub type CallTap = Box<dyn FnMut(&SksCall, &Result<SksReturn, SksError>, &mut ReferenceSks) + Send>;

/// The card as the middleware sees it: a [`CallSks`] that forwards each call to the reference
/// card (directly or as APDUs) and records it.
pub struct TracedCard {
    link: Link,
    fs: SimFs,
    /// How to reboot the card (`None`: a card given by the caller, whose storage the driver
    /// does not own, cannot be power-cycled).
    config: Option<CardSetup>,
    boots: u64,
    removed: bool,
    calls: Vec<SksCallTrace>,
    /// Power was cut at a write point during the last call (set until the card is rebooted).
    crashed: bool,
    tap: Option<CallTap>,
}

impl std::fmt::Debug for TracedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedCard")
            .field("boots", &self.boots)
            .field("removed", &self.removed)
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

/// What a card is made of (kept to reboot it).
#[derive(Debug, Clone)]
pub(crate) struct CardSetup {
    pub(crate) device: DeviceKeyKind,
    pub(crate) seed: u64,
    pub(crate) clock: ManualClock,
    pub(crate) path: CardPath,
}

fn open(setup: &CardSetup, fs: &SimFs, boot: u64) -> Result<ReferenceSks, CardError> {
    // Every boot draws from its own seed: a reboot with the same seed would replay key pairs.
    let seed = setup.seed ^ boot.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut c = CardConfig::test_device(setup.device, seed, Arc::new(setup.clock.clone()));
    c.storage = Storage::Vfs(Box::new(fs.clone()));
    ReferenceSks::open(c)
}

fn link(setup: &CardSetup, sks: ReferenceSks) -> Link {
    match setup.path {
        CardPath::Direct => Link::Direct(Box::new(sks)),
        CardPath::Apdu(limits) => {
            let mut lb = LoopbackTransport::new(sks);
            lb.limits = limits;
            Link::Apdu(Box::new(ApduSks::new(RecordingTransport {
                inner: lb,
                log: Vec::new(),
                removed: false,
                tamper_macd: false,
            })))
        }
    }
}

impl TracedCard {
    pub(crate) fn new(setup: CardSetup) -> Result<Self, CardError> {
        let fs = SimFs::new();
        let sks = open(&setup, &fs, 0)?;
        Ok(TracedCard {
            link: link(&setup, sks),
            fs,
            config: Some(setup),
            boots: 0,
            removed: false,
            calls: Vec::new(),
            crashed: false,
            tap: None,
        })
    }

    /// A card built by the caller, reached directly (no codec). Power cuts and reboots are not
    /// available: the driver does not own its storage.
    pub(crate) fn given(sks: ReferenceSks) -> Self {
        TracedCard {
            link: Link::Direct(Box::new(sks)),
            fs: SimFs::new(),
            config: None,
            boots: 0,
            removed: false,
            calls: Vec::new(),
            crashed: false,
            tap: None,
        }
    }

    /// Gives the reference card back.
    pub fn into_sks(self) -> ReferenceSks {
        match self.link {
            Link::Direct(s) => *s,
            Link::Apdu(a) => a.into_transport().inner.dispatcher.into_store(),
        }
    }

    /// The clock the card reads (`None` for a card given by the caller).
    pub fn clock(&self) -> Option<&ManualClock> {
        self.config.as_ref().map(|c| &c.clock)
    }

    /// A hostile middleware alters the next MAC'd call on its way to the card (APDU path
    /// only). Returns false on the direct path.
    pub fn tamper_next_macd_call(&mut self) -> bool {
        match &mut self.link {
            Link::Apdu(a) => {
                a.transport_mut().tamper_macd = true;
                true
            }
            Link::Direct(_) => false,
        }
    }

    /// Calls `tap` after every SKS call from now on (it survives reboots).
    pub fn set_tap(&mut self, tap: CallTap) {
        self.tap = Some(tap);
    }

    /// The card's file system (its store's files).
    pub fn fs(&self) -> &SimFs {
        &self.fs
    }

    /// The reference card itself (bypassing the link and the trace).
    pub fn sks(&mut self) -> &mut ReferenceSks {
        match &mut self.link {
            Link::Direct(s) => s,
            Link::Apdu(a) => a.transport_mut().inner.dispatcher.store_mut(),
        }
    }

    /// Takes the calls recorded since the last take.
    pub(crate) fn take_calls(&mut self) -> Vec<SksCallTrace> {
        std::mem::take(&mut self.calls)
    }

    pub(crate) fn crashed(&self) -> bool {
        self.crashed
    }

    /// The card leaves the reader: every later call fails with `ERROR_NOT_AVAILABLE` (on the
    /// APDU path, the transport reports the removal). Its RAM (open sessions) is lost.
    pub(crate) fn remove(&mut self) {
        self.removed = true;
        if let Link::Apdu(a) = &mut self.link {
            a.transport_mut().removed = true;
        }
    }

    /// The card is back in the reader, freshly powered (its store reopened from the files).
    pub(crate) fn insert(&mut self) -> Result<(), CardError> {
        self.removed = false;
        self.power_cycle(CrashPolicy::DropUnsynced)
    }

    /// Arms a power cut at the `n`-th store write point from now (1 = the next one).
    pub(crate) fn cut_power_at_write(&mut self, n: u64) {
        self.fs.crash_at(n);
    }

    /// Power off and on: what the files hold under `policy` is what the card boots from; open
    /// provisioning sessions (RAM) are gone.
    pub(crate) fn power_cycle(&mut self, policy: CrashPolicy) -> Result<(), CardError> {
        let Some(config) = &self.config else {
            // A given card: only its RAM is lost.
            airtight_bindings::abort_open_sessions(self.sks());
            self.crashed = false;
            return Ok(());
        };
        self.fs = self.fs.after_crash(policy);
        self.boots += 1;
        let sks = open(config, &self.fs, self.boots)?;
        let removed = self.removed;
        self.link = link(config, sks);
        if let Link::Apdu(a) = &mut self.link {
            a.transport_mut().removed = removed;
        }
        self.crashed = false;
        Ok(())
    }
}

impl CallSks for TracedCard {
    fn call(&mut self, call: SksCall) -> Result<SksReturn, SksError> {
        let method: SksMethod = call.method();
        let payload = call.encode_payload().map(|p| p.len()).unwrap_or(0);
        let writes_before = self.fs.write_points();
        let tapped = self.tap.is_some().then(|| call.clone());
        let (result, apdus) = if self.removed && matches!(self.link, Link::Direct(_)) {
            (
                Err(SksError::not_available("card removed by the driver")),
                Vec::new(),
            )
        } else {
            match &mut self.link {
                Link::Direct(s) => (call.invoke(&mut **s), Vec::new()),
                Link::Apdu(a) => {
                    let r = a.call(call);
                    (r, std::mem::take(&mut a.transport_mut().log))
                }
            }
        };
        if self.fs.has_crashed() {
            self.crashed = true;
        }
        if let (Some(call), Some(mut tap)) = (tapped, self.tap.take()) {
            tap(&call, &result, self.sks());
            self.tap = Some(tap);
        }
        self.calls.push(SksCallTrace {
            method,
            payload_bytes: payload,
            apdus,
            store_writes: self.fs.write_points() - writes_before,
            error: result.as_ref().err().map(SksError::code),
        });
        result
    }
}

/// The middleware's view of the card: a `SecureKeyStore`.
pub type DriverSks = CallAdapter<TracedCard>;
