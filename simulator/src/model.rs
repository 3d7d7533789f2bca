//! Model mode: the same calls and the same random draws as full mode, no protocol computed.
//! Each session's SKS calls, their payload sizes and on-card work come from a per-call table;
//! APDU counts and bytes are computed from those sizes with the real APDU encoder of
//! `airtight-bindings` (`Exchange`) under the session's reader limits; outcomes of faults,
//! attacks and deliberate defects are predicted by rule (each rule is stated where it is
//! applied).
//!
//! The payload table ([`SKS_PAYLOADS`]) was generated once by running the test kit's SKS-level
//! issuer against the reference card through the APDU loopback (`tests/calibration.rs`
//! regenerates it and fails if it drifts). HTTP message sizes ([`message_bytes`]) are the
//! medians of the Java KeyGen2 sample messages in `vectors/data/messages_*.json`, with per-key
//! increments estimated from their spread.

use std::collections::HashMap;

use airtight_bindings::ApduLimits;
use airtight_bindings::apdu;
use airtight_bindings::exchange::{Exchange, Step as XStep};
use airtight_proto::sks::SksMethod;

use crate::backend::{
    AttackKind, AttackOutcome, AttackerSite, Backend, BackendError, CardCall, CardOp, CardOps,
    Cause, Inbound, IssuerCost, IssuerOp, IssuerOutcome, IssuerVerdict, MiddlewareOutcome,
    MiddlewareVerdict, SessionFacts, SessionHandle, SessionSpec, Step, UnixTime, UserAction,
};
use crate::models::Defects;
use crate::rng::SimRng;
use crate::scenario::Defect;

/// The SKS calls of a session, as the model knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// getDeviceInfo.
    GetDeviceInfo,
    /// createProvisioningSession.
    CreateSession,
    /// enumerateKeys (credential discovery).
    EnumerateKeys,
    /// createPukPolicy.
    CreatePuk,
    /// createPinPolicy.
    CreatePin,
    /// createKeyEntry, EC P-256.
    CreateKeyEc,
    /// createKeyEntry, RSA-2048.
    CreateKeyRsa,
    /// setCertificatePath for an EC key.
    CertPathEc,
    /// setCertificatePath for an RSA key.
    CertPathRsa,
    /// importSymmetricKey.
    ImportSymmetric,
    /// closeProvisioningSession.
    Close,
}

impl CallKind {
    /// Every kind.
    pub const ALL: [CallKind; 11] = [
        CallKind::GetDeviceInfo,
        CallKind::CreateSession,
        CallKind::EnumerateKeys,
        CallKind::CreatePuk,
        CallKind::CreatePin,
        CallKind::CreateKeyEc,
        CallKind::CreateKeyRsa,
        CallKind::CertPathEc,
        CallKind::CertPathRsa,
        CallKind::ImportSymmetric,
        CallKind::Close,
    ];

    /// The SKS method.
    pub fn method(self) -> SksMethod {
        match self {
            CallKind::GetDeviceInfo => SksMethod::GetDeviceInfo,
            CallKind::CreateSession => SksMethod::CreateProvisioningSession,
            CallKind::EnumerateKeys => SksMethod::EnumerateKeys,
            CallKind::CreatePuk => SksMethod::CreatePukPolicy,
            CallKind::CreatePin => SksMethod::CreatePinPolicy,
            CallKind::CreateKeyEc | CallKind::CreateKeyRsa => SksMethod::CreateKeyEntry,
            CallKind::CertPathEc | CallKind::CertPathRsa => SksMethod::SetCertificatePath,
            CallKind::ImportSymmetric => SksMethod::ImportSymmetricKey,
            CallKind::Close => SksMethod::CloseProvisioningSession,
        }
    }

    /// On-card work (rule: MAC check per MAC'd call, session creation = ephemeral EC keygen +
    /// ECDH + 4 HMAC KDF steps + the device's ECDSA attestation; key creation = keygen + the
    /// key attestation HMAC; secrets decrypted with AES; one store write per state change).
    pub fn ops(self) -> CardOps {
        let mut o = CardOps::default();
        match self {
            CallKind::GetDeviceInfo | CallKind::EnumerateKeys => {}
            CallKind::CreateSession => {
                o.add(CardOp::EcKeygen, 1);
                o.add(CardOp::Ecdh, 1);
                o.add(CardOp::Hmac, 4);
                o.add(CardOp::EcdsaSign, 1);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::CreatePuk => {
                o.add(CardOp::Hmac, 1);
                o.add(CardOp::Aes, 1);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::CreatePin => {
                o.add(CardOp::Hmac, 1);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::CreateKeyEc | CallKind::CreateKeyRsa => {
                o.add(
                    if self == CallKind::CreateKeyEc {
                        CardOp::EcKeygen
                    } else {
                        CardOp::RsaKeygen
                    },
                    1,
                );
                o.add(CardOp::Hmac, 2);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::CertPathEc | CallKind::CertPathRsa => {
                o.add(CardOp::Hmac, 1);
                o.add(CardOp::Sha256, 1);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::ImportSymmetric => {
                o.add(CardOp::Hmac, 1);
                o.add(CardOp::Aes, 1);
                o.add(CardOp::StoreWrite, 1);
            }
            CallKind::Close => {
                o.add(CardOp::Hmac, 2);
                o.add(CardOp::StoreWrite, 1);
            }
        }
        o
    }
}

/// Command and response payload bytes per call (see the module doc for how they were made).
pub const SKS_PAYLOADS: [(CallKind, u32, u32); 11] = [
    (CallKind::GetDeviceInfo, 0, 2574),
    (CallKind::CreateSession, 232, 201),
    // Not in the calibration session (no earlier keys): an empty enumeration, estimated.
    (CallKind::EnumerateKeys, 8, 9),
    (CallKind::CreatePuk, 84, 4),
    (CallKind::CreatePin, 61, 4),
    (CallKind::CreateKeyEc, 170, 135),
    (CallKind::CreateKeyRsa, 165, 338),
    (CallKind::CertPathEc, 1627, 0),
    (CallKind::CertPathRsa, 1832, 0),
    (CallKind::ImportSymmetric, 108, 0),
    (CallKind::Close, 76, 36),
];

/// APDUs and bytes of one call with `cmd` command and `resp` response payload bytes under
/// `limits`, counted by driving the real `Exchange` with the answers a card gives: `9000` to
/// each chain segment, the response data in pieces of at most Ne with `61xx` while more is
/// left (the dispatcher's behaviour, `spec/apdu.md` §5-§7).
pub fn apdu_cost(
    method: SksMethod,
    cmd: usize,
    resp: usize,
    limits: ApduLimits,
) -> Result<(u32, u32, u32), String> {
    let payload = vec![0u8; cmd];
    let (mut x, mut next) = Exchange::start(method, &payload, limits).map_err(|e| e.to_string())?;
    let (mut apdus, mut to, mut from) = (0u32, 0u32, 0u32);
    let mut left = resp;
    let response = vec![0u8; resp.min(limits.max_response_data)];
    loop {
        apdus += 1;
        to += next.len() as u32;
        let chaining = next[0] & apdu::CLA_CHAIN != 0;
        let r = if chaining {
            vec![0x90, 0x00]
        } else {
            let n = left.min(limits.max_response_data);
            left -= n;
            let sw = if left == 0 {
                [0x90, 0x00]
            } else {
                [0x61, left.min(255) as u8]
            };
            let mut r = response[..n].to_vec();
            r.extend_from_slice(&sw);
            r
        };
        from += r.len() as u32;
        match x.on_response(&r).map_err(|e| e.to_string())? {
            XStep::Send(a) => next = a,
            XStep::Done(_) => return Ok((apdus, to, from)),
        }
    }
}

/// HTTP body sizes (bytes) of the issuer message of `step` (`issuer = true`) or the
/// middleware's answer to it, for a session of this shape.
pub fn message_bytes(step: Step, issuer: bool, spec: &SessionSpec) -> u32 {
    let keys = u32::from(spec.keys());
    let extra = keys.saturating_sub(1);
    let rsa = u32::from(spec.rsa_keys);
    match (step, issuer) {
        (Step::Invocation, true) => 160,
        (Step::Invocation, false) => 143,
        (Step::ProvisioningInitialization, true) => 460,
        // The device certificate path is left out in privacy mode.
        (Step::ProvisioningInitialization, false) => {
            if spec.privacy {
                497
            } else {
                1637
            }
        }
        (Step::CredentialDiscovery, true) => 1471,
        (Step::CredentialDiscovery, false) => 2386,
        (Step::KeyCreation, true) => {
            445 + 158 * extra + if spec.puk { 120 } else { 0 } + if spec.pin { 100 } else { 0 }
        }
        (Step::KeyCreation, false) => 429 + 320 * extra + 230 * rsa,
        (Step::ProvisioningFinalization, true) => {
            676 + 692 * extra + 180 * rsa + if spec.import_symmetric { 150 } else { 0 }
        }
        (Step::ProvisioningFinalization, false) => 270,
        (Step::Result, _) => 120,
    }
}

#[derive(Debug, Clone, Copy)]
struct ModelSession {
    spec: SessionSpec,
    /// The issuer message the middleware handles next (`None` before the first response).
    at: Option<Step>,
    first_unix: UnixTime,
    keys_created: u8,
    closed: bool,
    card_removed: bool,
    reader_reset: bool,
    mw_crashed: bool,
    power_loss: Option<u32>,
    attack: Option<(AttackerSite, AttackKind)>,
    attack_at: Option<Step>,
    attack_outcome: AttackOutcome,
    attacker_saw_secret: bool,
    /// A faulty issuer certified a substituted key (the card refuses the certificate).
    substituted: bool,
    /// A faulty issuer accepted a privacy downgrade (it saw the device certificate).
    downgraded: bool,
    epoch: u32,
    completed: bool,
}

/// The model backend.
#[derive(Debug)]
pub struct ModelBackend {
    sessions: HashMap<u64, ModelSession>,
    /// Per issuer index: restarts so far (a session sees a restart if it changed).
    epochs: Vec<u32>,
    node_issuer: Vec<u16>,
    lifetimes: Vec<u64>,
    defects: Defects,
    /// (apdus, to, from) per call kind, for short and for extended limits.
    costs: [[(u32, u32, u32); 11]; 2],
}

impl ModelBackend {
    /// A backend for a compiled scenario.
    pub fn new(c: &crate::models::Compiled) -> Result<Self, BackendError> {
        let mut costs = [[(0, 0, 0); 11]; 2];
        for (li, limits) in [ApduLimits::SHORT, ApduLimits::EXTENDED].iter().enumerate() {
            for (ki, (kind, cmd, resp)) in SKS_PAYLOADS.iter().enumerate() {
                costs[li][ki] = apdu_cost(kind.method(), *cmd as usize, *resp as usize, *limits)
                    .map_err(|message| BackendError {
                        backend: "model",
                        message,
                    })?;
            }
        }
        let mut node_issuer = Vec::new();
        for (i, is) in c.issuers.iter().enumerate() {
            for _ in 0..is.nodes {
                node_issuer.push(i as u16);
            }
        }
        Ok(Self {
            sessions: HashMap::new(),
            epochs: vec![0; c.issuers.len()],
            node_issuer,
            lifetimes: c.issuers.iter().map(|i| i.lifetime_s).collect(),
            defects: c.defects,
            costs,
        })
    }

    fn get(&mut self, h: SessionHandle) -> Result<&mut ModelSession, BackendError> {
        self.sessions.get_mut(&h.0).ok_or_else(|| BackendError {
            backend: "model",
            message: format!("unknown session {}", h.0),
        })
    }

    fn call(&self, kind: CallKind, limits: ApduLimits) -> CardCall {
        let li = usize::from(limits.extended);
        let ki = CallKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        let (apdus, to, from) = self.costs[li][ki];
        CardCall {
            method: kind.method(),
            ops: kind.ops(),
            apdus,
            bytes_to_card: to,
            bytes_from_card: from,
        }
    }
}

fn calls_of(step: Step, spec: &SessionSpec, out: &mut Vec<CallKind>) {
    match step {
        Step::Invocation => out.push(CallKind::GetDeviceInfo),
        Step::ProvisioningInitialization => out.push(CallKind::CreateSession),
        Step::CredentialDiscovery => out.push(CallKind::EnumerateKeys),
        Step::KeyCreation => {
            if spec.puk {
                out.push(CallKind::CreatePuk);
            }
            if spec.pin {
                out.push(CallKind::CreatePin);
            }
            for _ in 0..spec.ec_keys {
                out.push(CallKind::CreateKeyEc);
            }
            for _ in 0..spec.rsa_keys {
                out.push(CallKind::CreateKeyRsa);
            }
        }
        Step::ProvisioningFinalization => {
            for _ in 0..spec.ec_keys {
                out.push(CallKind::CertPathEc);
            }
            for _ in 0..spec.rsa_keys {
                out.push(CallKind::CertPathRsa);
            }
            if spec.import_symmetric {
                out.push(CallKind::ImportSymmetric);
            }
            out.push(CallKind::Close);
        }
        Step::Result => {}
    }
}

fn next_step(after: Step, spec: &SessionSpec) -> Option<Step> {
    match after {
        Step::Invocation => Some(Step::ProvisioningInitialization),
        Step::ProvisioningInitialization => Some(if spec.discovery {
            Step::CredentialDiscovery
        } else {
            Step::KeyCreation
        }),
        Step::CredentialDiscovery => Some(Step::KeyCreation),
        Step::KeyCreation => Some(Step::ProvisioningFinalization),
        Step::ProvisioningFinalization | Step::Result => None,
    }
}

/// A privacy downgrade has something to strip: the issuer's InvocationRequest of a
/// privacy-mode session (the only message carrying `privacyEnabled`).
fn downgrade_applies(at: Step, spec: &SessionSpec) -> bool {
    at == Step::Invocation && spec.privacy
}

/// A key substitution has something to replace: only two of the middleware's answers carry a
/// public key, the ProvisioningInitializationResponse (`clientEphemeralKey`, the card's
/// ephemeral key of the session) and the KeyCreationResponse (`generatedKeys[].publicKey`). A
/// relay that starts at an earlier step waits for the next of them ([`seen_at`]); one that
/// starts at the finalization (whose answer holds the close attestation, no key) has nothing
/// left to substitute, and the session goes on as if it never came.
fn substitution_applies(at: Step) -> bool {
    at <= Step::KeyCreation
}

/// The answer in which the issuer sees an attack made at step `at`: the same step's, except
/// a privacy downgrade, which shows in the ProvisioningInitializationResponse (the device
/// identifier of the session the card created in the other mode), and a key substitution
/// started before an answer with a key, which shows in the next answer that carries one
/// ([`substitution_applies`]).
fn seen_at(kind: AttackKind, at: Step) -> Step {
    match (kind, at) {
        (AttackKind::DowngradePrivacy | AttackKind::SubstituteKey, Step::Invocation) => {
            Step::ProvisioningInitialization
        }
        (AttackKind::SubstituteKey, Step::CredentialDiscovery) => Step::KeyCreation,
        _ => at,
    }
}

/// The attacks a party detects by rule: anything that alters, replays or reorders a MAC'd or
/// attested message, substitutes a key or flips the privacy flag (covered by the session
/// attestation) is refused.
fn detected(kind: AttackKind) -> bool {
    matches!(
        kind,
        AttackKind::Tamper
            | AttackKind::Replay
            | AttackKind::Reorder
            | AttackKind::SubstituteKey
            | AttackKind::DowngradePrivacy
    )
}

impl Backend for ModelBackend {
    fn name(&self) -> &'static str {
        "model"
    }

    fn begin(
        &mut self,
        spec: &SessionSpec,
        _rng: &mut SimRng,
    ) -> Result<SessionHandle, BackendError> {
        let epoch = self.epochs.get(spec.issuer as usize).copied().unwrap_or(0);
        self.sessions.insert(
            spec.index,
            ModelSession {
                spec: *spec,
                at: None,
                first_unix: UnixTime::EPOCH,
                keys_created: 0,
                closed: false,
                card_removed: false,
                reader_reset: false,
                mw_crashed: false,
                power_loss: None,
                attack: None,
                attack_at: None,
                attack_outcome: AttackOutcome::None,
                attacker_saw_secret: false,
                substituted: false,
                downgraded: false,
                epoch,
                completed: false,
            },
        );
        Ok(SessionHandle(spec.index))
    }

    fn issuer(
        &mut self,
        session: SessionHandle,
        _node: u16,
        request: Inbound,
        now: UnixTime,
    ) -> Result<IssuerOutcome, BackendError> {
        let defects = self.defects;
        let lifetime = {
            let s = self.get(session)?;
            s.spec.issuer as usize
        };
        let lifetime = self.lifetimes.get(lifetime).copied().unwrap_or(u64::MAX);
        let s = self.get(session)?;
        let mut cost = IssuerCost::default();
        cost.add(IssuerOp::Json, 1);
        let refuse = |cost: IssuerCost, cause: Cause| IssuerOutcome {
            response_bytes: 200,
            cost,
            verdict: IssuerVerdict::Refused(cause),
        };
        let step = match request {
            Inbound::Get => {
                s.first_unix = now;
                s.at = Some(Step::Invocation);
                return Ok(IssuerOutcome {
                    response_bytes: message_bytes(Step::Invocation, true, &s.spec),
                    cost,
                    verdict: IssuerVerdict::Continue(Step::Invocation),
                });
            }
            Inbound::Post { step, .. } => step,
        };
        if s.at != Some(step) {
            return Ok(refuse(cost, Cause::IssuerRefused));
        }
        if u64::try_from(now.secs_since(s.first_unix)).unwrap_or(0) > lifetime {
            return Ok(refuse(cost, Cause::SessionExpired));
        }
        // An attack on the message the issuer now reads (network relay), or on the answer a
        // hostile middleware built, is refused unless a defect lets it through.
        if let (Some((site, kind)), Some(at)) = (s.attack, s.attack_at)
            && seen_at(kind, at) == step
            && s.attack_outcome == AttackOutcome::None
            && (site == AttackerSite::Network
                || matches!(
                    kind,
                    AttackKind::SubstituteKey | AttackKind::DowngradePrivacy
                ))
        {
            if kind == AttackKind::SubstituteKey
                && step == Step::KeyCreation
                && defects.has(Defect::IssuerAcceptsUnattestedKeys)
            {
                // Rule: the faulty issuer certifies the substituted key; the card refuses the
                // certificate at `setCertificatePath` (not the key it generated), so the
                // session fails there (below, in the middleware) and nothing is issued.
                s.substituted = true;
            } else if kind == AttackKind::SubstituteKey && !substitution_applies(at) {
                // Rule: no public key in this answer nor in any later one: nothing to
                // substitute.
                s.attack_outcome = AttackOutcome::Harmless;
            } else if kind == AttackKind::DowngradePrivacy && !downgrade_applies(at, &s.spec) {
                // Rule: only the issuer's InvocationRequest of a privacy session carries the
                // flag; elsewhere there is nothing to strip.
                s.attack_outcome = AttackOutcome::Harmless;
            } else if kind == AttackKind::DowngradePrivacy
                && defects.has(Defect::IssuerAcceptsPrivacyDowngrade)
            {
                // Rule: the faulty issuer follows the answer's mode and verifies the
                // downgraded (E2ES) session: it now sees the device certificate. (The honest
                // one refuses a device identifier in a privacy session, below.)
                s.downgraded = true;
                s.attack_outcome = AttackOutcome::Succeeded;
            } else if detected(kind) {
                s.attack_outcome = AttackOutcome::Rejected;
                return Ok(refuse(cost, Cause::AttackDetected));
            }
        }
        let keys = u16::from(s.spec.keys());
        match step {
            Step::Invocation => {
                cost.add(IssuerOp::Ecdh, 1);
                cost.add(IssuerOp::StoreCommit, 1);
            }
            Step::ProvisioningInitialization => {
                if !s.spec.privacy {
                    cost.add(IssuerOp::EcdsaVerify, 2);
                }
                cost.add(IssuerOp::EcdsaVerify, 1);
                cost.add(IssuerOp::Ecdh, 1);
                cost.add(IssuerOp::Mac, 4 + keys + 2);
                cost.add(IssuerOp::Encrypt, u16::from(s.spec.puk));
                cost.add(IssuerOp::StoreCommit, 1);
            }
            Step::CredentialDiscovery => {
                cost.add(IssuerOp::Mac, 2);
                cost.add(IssuerOp::StoreCommit, 1);
            }
            Step::KeyCreation => {
                cost.add(IssuerOp::Mac, 2 * keys + 1);
                cost.add(IssuerOp::CertIssue, keys);
                cost.add(IssuerOp::EcdsaSign, keys);
                cost.add(IssuerOp::Encrypt, u16::from(s.spec.import_symmetric));
                cost.add(IssuerOp::StoreCommit, 1);
            }
            Step::ProvisioningFinalization => {
                cost.add(IssuerOp::Mac, 1);
                cost.add(IssuerOp::StoreCommit, 1);
            }
            Step::Result => return Ok(refuse(cost, Cause::IssuerRefused)),
        }
        let verdict = match next_step(step, &s.spec) {
            Some(n) => {
                s.at = Some(n);
                IssuerVerdict::Continue(n)
            }
            None => {
                s.at = Some(Step::Result);
                s.completed = true;
                IssuerVerdict::Completed
            }
        };
        let response_bytes = match verdict {
            IssuerVerdict::Continue(n) => message_bytes(n, true, &s.spec),
            _ => message_bytes(Step::Result, true, &s.spec),
        };
        Ok(IssuerOutcome {
            response_bytes,
            cost,
            verdict,
        })
    }

    fn middleware(
        &mut self,
        session: SessionHandle,
        _now: UnixTime,
        out: &mut MiddlewareOutcome,
    ) -> Result<(), BackendError> {
        out.clear();
        let defects = self.defects;
        let s = *self.get(session)?;
        let Some(step) = s.at else {
            out.verdict = MiddlewareVerdict::Aborted(Cause::IssuerRefused);
            return Ok(());
        };
        if s.mw_crashed {
            out.verdict = MiddlewareVerdict::Aborted(Cause::MiddlewareCrash);
            return Ok(());
        }
        if step == Step::Result {
            out.verdict = MiddlewareVerdict::Done;
            return Ok(());
        }
        match step {
            Step::Invocation => out.user.push(UserAction::Consent),
            Step::KeyCreation if s.spec.pin => out.user.push(UserAction::PinEntry),
            _ => {}
        }
        if s.card_removed || s.reader_reset {
            out.verdict = MiddlewareVerdict::Aborted(if s.card_removed {
                Cause::CardRemoved
            } else {
                Cause::ReaderReset
            });
            return Ok(());
        }
        let mut kinds: Vec<CallKind> = Vec::with_capacity(8);
        calls_of(step, &s.spec, &mut kinds);
        let mut writes = 0u32;
        let mut keys_created = s.keys_created;
        let mut closed = s.closed;
        let mut verdict = MiddlewareVerdict::Continue;
        // A hostile middleware altering a MAC'd card call: the card's MAC check refuses it.
        let card_attack = match (s.attack, s.attack_at) {
            (Some((AttackerSite::Middleware, kind)), Some(at))
                if at == step
                    && detected(kind)
                    && !matches!(
                        kind,
                        AttackKind::SubstituteKey | AttackKind::DowngradePrivacy
                    ) =>
            {
                Some(kind)
            }
            _ => None,
        };
        let mut refused_cert = false;
        for (i, kind) in kinds.iter().enumerate() {
            let call = self.call(*kind, s.spec.limits);
            out.card_calls.push(call);
            if card_attack.is_some() && i == kinds.len() - 1 {
                verdict = MiddlewareVerdict::Aborted(Cause::AttackDetected);
                break;
            }
            if s.substituted && matches!(kind, CallKind::CertPathEc | CallKind::CertPathRsa) {
                // The certificate is for the attacker's key: the card refuses it.
                refused_cert = true;
                verdict = MiddlewareVerdict::Aborted(Cause::AttackDetected);
                break;
            }
            match kind {
                CallKind::CreateKeyEc | CallKind::CreateKeyRsa => keys_created += 1,
                CallKind::Close => closed = true,
                _ => {}
            }
            let w = u32::from(call.ops.get(CardOp::StoreWrite));
            if let Some(at) = s.power_loss
                && at < writes + w
            {
                // Power lost during this write: the open provisioning session is rolled back
                // when the card comes up (a crash before the close's commit leaves no key).
                verdict = MiddlewareVerdict::Aborted(Cause::PowerLoss);
                if *kind == CallKind::Close {
                    closed = false;
                }
                break;
            }
            writes += w;
        }
        if let Some(at) = s.power_loss
            && verdict == MiddlewareVerdict::Continue
            && at >= writes
        {
            // The armed write index is past this step's writes: it hits no write here.
        }
        let s = self.get(session)?;
        if card_attack.is_some() || refused_cert {
            s.attack_outcome = AttackOutcome::Rejected;
        }
        s.power_loss = None;
        s.keys_created = keys_created;
        s.closed = closed;
        if step == Step::KeyCreation && s.spec.pin && defects.has(Defect::MiddlewareLeaksPin) {
            // The defect writes the PIN to a log the attacker (if any) can read.
            s.attacker_saw_secret = true;
        }
        if verdict == MiddlewareVerdict::Continue {
            out.request_bytes = message_bytes(step, false, &s.spec);
        }
        out.verdict = verdict;
        Ok(())
    }

    fn remove_card(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        self.get(session)?.card_removed = true;
        Ok(())
    }

    fn power_loss(&mut self, session: SessionHandle, write_index: u32) -> Result<(), BackendError> {
        self.get(session)?.power_loss = Some(write_index);
        Ok(())
    }

    fn reader_reset(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        self.get(session)?.reader_reset = true;
        Ok(())
    }

    fn restart_issuer(&mut self, node: u16) -> Result<(), BackendError> {
        if let Some(i) = self.node_issuer.get(node as usize) {
            self.epochs[*i as usize] += 1;
        }
        Ok(())
    }

    fn crash_middleware(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        self.get(session)?.mw_crashed = true;
        Ok(())
    }

    fn tamper(
        &mut self,
        session: SessionHandle,
        site: AttackerSite,
        kind: AttackKind,
    ) -> Result<(), BackendError> {
        let s = self.get(session)?;
        s.attack = Some((site, kind));
        s.attack_at = s.at;
        Ok(())
    }

    fn end(
        &mut self,
        session: SessionHandle,
        cause: Cause,
        facts: &mut SessionFacts,
    ) -> Result<(), BackendError> {
        let defects = self.defects;
        let s = self
            .sessions
            .remove(&session.0)
            .ok_or_else(|| BackendError {
                backend: "model",
                message: format!("unknown session {}", session.0),
            })?;
        let epoch_now = self
            .epochs
            .get(s.spec.issuer as usize)
            .copied()
            .unwrap_or(0);
        let completed = cause == Cause::Completed && s.completed;
        let keys = s.spec.keys();
        *facts = SessionFacts::default();
        facts.cause = cause;
        facts.issuance_recorded = completed;
        facts.keys_at_issuer = if completed { keys } else { 0 };
        // A substituted key never reaches an issuance (the card refuses its certificate).
        facts.keys_attested = facts.keys_at_issuer;
        // Rule: an unclosed provisioning session is rolled back by the card (abort or
        // power-up recovery), so only a closed session leaves keys; a session the card
        // closed keeps them even when the issuer never records it (the card's close comes
        // before the issuer's record).
        facts.keys_on_card = if s.closed {
            keys
        } else if defects.has(Defect::CardKeepsAbortedKeys) {
            s.keys_created
        } else {
            0
        };
        facts.issuance_lost =
            completed && epoch_now != s.epoch && defects.has(Defect::IssuerLosesCommits);
        let privacy_leak = s.spec.privacy && defects.has(Defect::CardLeaksDeviceIdInPrivacyMode);
        facts.device_id_visible = !s.spec.privacy || privacy_leak || s.downgraded;
        facts.issuer_visible_id = if facts.device_id_visible
            && s.at.is_some_and(|a| a > Step::ProvisioningInitialization)
        {
            // A stable hash of the card (its device certificate).
            s.spec.card.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
        } else {
            0
        };
        facts.mac_counters_monotonic = true;
        facts.secrets_seen.middleware = s.attacker_saw_secret;
        facts.secrets_seen.attacker = s.attacker_saw_secret && s.attack.is_some();
        if let Some((_, kind)) = s.attack {
            facts.attack = Some(kind);
            facts.attack_outcome = match s.attack_outcome {
                AttackOutcome::None => match kind {
                    // The card and issuer refused it in a step that never came: no effect.
                    _ if facts.secrets_seen.attacker => AttackOutcome::Succeeded,
                    AttackKind::Drop => AttackOutcome::Rejected,
                    _ => AttackOutcome::Harmless,
                },
                o => o,
            };
            if kind == AttackKind::StealSecrets && facts.secrets_seen.attacker {
                facts.attack_outcome = AttackOutcome::Succeeded;
            }
            facts.attack_reported = facts.attack_outcome == AttackOutcome::Rejected
                && matches!(cause, Cause::AttackDetected | Cause::Timeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apdu_cost_counts_chaining_and_get_response() {
        // 600 bytes over short APDUs: 3 segments (255 + 255 + 90), a 300-byte answer: 1 GET
        // RESPONSE.
        let (apdus, to, from) =
            apdu_cost(SksMethod::SetCertificatePath, 600, 300, ApduLimits::SHORT).expect("ok");
        assert_eq!(apdus, 4);
        // 3 command headers (5 bytes each: CLA INS P1 P2 Lc) + Le on the last + GET RESPONSE (5).
        assert_eq!(to, 600 + 5 * 3 + 1 + 5);
        assert_eq!(from, 300 + 2 * 4);
        let (apdus, _, _) = apdu_cost(
            SksMethod::SetCertificatePath,
            600,
            300,
            ApduLimits::EXTENDED,
        )
        .expect("ok");
        assert_eq!(apdus, 1);
    }
}
