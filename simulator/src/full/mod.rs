//! Full mode: [`FullBackend`] runs every session with the real issuer engine (and its store),
//! the real middleware and the real reference card through the APDU codec, by way of the test
//! kit's three-party driver ([`airtight_testkit::driver`]). The engine's clock is handed to all
//! three parties at every call; their entropy comes from the session's stream.
//!
//! What the backend reports is measured, not predicted: message sizes are the bytes the
//! engines produced, card calls are the SKS calls the middleware made with the APDUs that
//! crossed the (loopback) reader link under the session's limits, store writes are the card
//! store's write points, the issuer's work is derived from the messages it checked and built
//! ([`airtight_testkit::driver::trace::issuer_ops`]).
//!
//! Attacks (applied after the issuer's answer, before the middleware handles it, as the engine
//! calls [`Backend::tamper`]):
//! - network relay: `tamper` flips a character of a MAC or attestation of the middleware's next
//!   answer; `replay` puts an earlier middleware message (or a copy of the answer) after it;
//!   `reorder` delivers an earlier message first; `drop` loses the answer (the engine times the
//!   session out); `substitute_key` replaces the first public key of the answer by the
//!   attacker's; `downgrade_privacy` strips `privacyEnabled` from the issuer's message;
//!   `steal_secrets` and `link` only observe;
//! - hostile middleware: `tamper`, `replay` and `reorder` alter the next MAC'd card call on the
//!   reader link (the card refuses it); the other kinds act as at the network.
//!
//! ECDSA signing in the engines is deterministic (RFC 6979, RustCrypto), so a seed gives the
//! same bytes on every run.

use std::collections::BTreeMap;

use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::policy::{
    DiscoveryPolicy, KeyPolicy, LookupPolicy, PinPolicy, Policy, PukPolicy,
};
use airtight_proto::codec::b64url;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::sks::{KeyHandle, SecureKeyStore, SksMethod};
use airtight_testkit::driver::{
    CardPath, Driver, DriverConfig, IssuerOp as DOp, Party, StepOutcome, StepTrace, TracedCard,
    test_issuer,
};

use crate::backend::{
    AttackKind, AttackOutcome, AttackerSite, Backend, BackendError, CardCall, CardOp, CardOps,
    Cause, Inbound, IssuerCost, IssuerOp, IssuerOutcome, IssuerVerdict, MiddlewareOutcome,
    MiddlewareVerdict, SessionFacts, SessionHandle, SessionSpec, Step, UnixTime, UserAction,
    WireApdu,
};
use crate::rng::SimRng;

#[cfg(test)]
mod tests;

const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
const RSA2048: &str = "https://webpki.github.io/sks/algorithm#rsa2048";
const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";

fn err(message: impl Into<String>) -> BackendError {
    BackendError {
        backend: "full",
        message: message.into(),
    }
}

/// The issuer policy of a session shape.
pub fn policy_of(spec: &SessionSpec, seed: u64) -> Policy {
    let pin = spec.pin.then(|| "PIN.1".to_owned());
    let mut p = Policy {
        privacy_enabled: spec.privacy,
        pin: Vec::new(),
        puk: Vec::new(),
        key: Vec::new(),
        ..Policy::default()
    };
    if spec.pin {
        p.pin.push(PinPolicy {
            puk: (spec.puk).then(|| "PUK.1".to_owned()),
            ..PinPolicy::default()
        });
        if spec.puk {
            p.puk.push(PukPolicy::default());
        }
    }
    let algs = (0..spec.ec_keys)
        .map(|_| P256)
        .chain((0..spec.rsa_keys).map(|_| RSA2048));
    for (i, alg) in algs.enumerate() {
        p.key.push(KeyPolicy {
            id: format!("Key.{}", i + 1),
            algorithm: alg.to_owned(),
            pin: pin.clone(),
            ..KeyPolicy::default()
        });
    }
    if spec.import_symmetric
        && let Some(k) = p.key.first_mut()
    {
        let mut secret = [0u8; 32];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
        k.import_symmetric_key = Some(b64url::encode(&secret));
        k.endorsed_algorithms = vec![HMAC_SHA256.to_owned()];
        k.export_protection = "none".into();
    }
    if spec.discovery {
        p.discovery = DiscoveryPolicy {
            enabled: true,
            lookup: vec![LookupPolicy {
                id: "Lookup.1".into(),
                app_usage: Some("authentication".into()),
                ..LookupPolicy::default()
            }],
        };
    }
    p
}

/// The step of an issuer message (by its qualifier).
fn step_of(body: &[u8]) -> Option<Step> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(match v.get("@qualifier")?.as_str()? {
        "InvocationRequest" => Step::Invocation,
        "ProvisioningInitializationRequest" => Step::ProvisioningInitialization,
        "CredentialDiscoveryRequest" => Step::CredentialDiscovery,
        "KeyCreationRequest" => Step::KeyCreation,
        "ProvisioningFinalizationRequest" => Step::ProvisioningFinalization,
        _ => return None,
    })
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The issuer's cost of one step, in the simulator's operation kinds.
fn cost_of(t: &StepTrace) -> IssuerCost {
    let mut c = IssuerCost::default();
    c.add(IssuerOp::Json, 1);
    c.add(IssuerOp::StoreCommit, 1);
    for (op, n) in &t.issuer_ops {
        let n = u16::try_from(*n).unwrap_or(u16::MAX);
        match op {
            DOp::EphemeralKeyGen | DOp::KeyAgreement => c.add(IssuerOp::Ecdh, n),
            DOp::VerifyCertificate | DOp::VerifyDeviceSignature => c.add(IssuerOp::EcdsaVerify, n),
            DOp::Mac => c.add(IssuerOp::Mac, n),
            DOp::Encrypt => c.add(IssuerOp::Encrypt, n),
            DOp::SignCertificate => {
                c.add(IssuerOp::CertIssue, n);
                c.add(IssuerOp::EcdsaSign, n);
            }
        }
    }
    c
}

/// On-card work of one SKS call (the reference card's operations by method).
fn card_ops(method: SksMethod, rsa: bool, writes: u64) -> CardOps {
    let mut o = CardOps::default();
    match method {
        SksMethod::CreateProvisioningSession => {
            o.add(CardOp::EcKeygen, 1);
            o.add(CardOp::Ecdh, 1);
            o.add(CardOp::Hmac, 2);
            o.add(CardOp::EcdsaSign, 1);
        }
        SksMethod::CreateKeyEntry => {
            o.add(
                if rsa {
                    CardOp::RsaKeygen
                } else {
                    CardOp::EcKeygen
                },
                1,
            );
            o.add(CardOp::Hmac, 2);
        }
        SksMethod::CreatePinPolicy | SksMethod::CreatePukPolicy => {
            o.add(CardOp::Hmac, 1);
            o.add(CardOp::Aes, 1);
        }
        SksMethod::SetCertificatePath => {
            o.add(CardOp::Hmac, 1);
            o.add(CardOp::Sha256, 1);
        }
        SksMethod::ImportSymmetricKey | SksMethod::ImportPrivateKey => {
            o.add(CardOp::Hmac, 1);
            o.add(CardOp::Aes, 1);
        }
        SksMethod::CloseProvisioningSession => o.add(CardOp::Hmac, 2),
        SksMethod::EnumerateKeys | SksMethod::GetKeyAttributes => o.add(CardOp::Sha256, 1),
        _ => {}
    }
    o.add(CardOp::StoreWrite, u8::try_from(writes).unwrap_or(u8::MAX));
    o
}

/// One session in flight.
#[derive(Debug)]
struct Session {
    spec: SessionSpec,
    driver: Driver,
    node: u16,
    /// Keys on the card when the session began.
    keys_before: usize,
    /// The attack, its site and the step it was applied at.
    attack: Option<(AttackerSite, AttackKind, Step)>,
    /// The attack's alteration had an effect on a message or call.
    attack_applied: bool,
    /// A party refused after the attack.
    refused_after_attack: bool,
    /// RSA keys created so far (createKeyEntry calls are EC first, then RSA).
    key_entries: u8,
    card_removed: bool,
    reader_reset: bool,
    power_cut: bool,
    completed: bool,
    last_counter: u32,
    monotonic: bool,
}

/// The full-fidelity backend.
#[derive(Debug, Default)]
pub struct FullBackend {
    sessions: BTreeMap<u64, Session>,
    /// Cards between their sessions (by `SessionSpec::card`).
    cards: BTreeMap<u64, TracedCard>,
    /// The issuer's deliberate faults (from the scenario's defects).
    issuer_faults: airtight_issuer::Faults,
    /// Drop a session's card when it ends (no later session can use it again).
    drop_cards: bool,
}

impl FullBackend {
    /// An empty backend, every party honest.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend with the scenario's deliberate defects switched on in the real parties.
    /// `issuer_accepts_unattested_keys` is the issuer's `AcceptBadKeyAttestation` fault and
    /// `issuer_accepts_privacy_downgrade` its `AcceptPrivacyDowngrade` fault; both need the
    /// crate feature `faults`. The other defects have no real counterpart in the engines yet
    /// and are refused with an error naming them (run them in model mode).
    pub fn with_defects(defects: crate::models::Defects) -> Result<Self, BackendError> {
        use crate::scenario::Defect;
        #[cfg_attr(not(any(test, feature = "faults")), allow(unused_mut))]
        let mut b = Self::default();
        #[cfg(any(test, feature = "faults"))]
        let mut faults = Vec::new();
        for d in [
            Defect::IssuerAcceptsUnattestedKeys,
            Defect::IssuerAcceptsPrivacyDowngrade,
            Defect::IssuerLosesCommits,
            Defect::MiddlewareLeaksPin,
            Defect::CardKeepsAbortedKeys,
            Defect::CardLeaksDeviceIdInPrivacyMode,
        ] {
            if !defects.has(d) {
                continue;
            }
            match d {
                #[cfg(any(test, feature = "faults"))]
                Defect::IssuerAcceptsUnattestedKeys => {
                    faults.push(airtight_issuer::IssuerFault::AcceptBadKeyAttestation);
                }
                #[cfg(any(test, feature = "faults"))]
                Defect::IssuerAcceptsPrivacyDowngrade => {
                    faults.push(airtight_issuer::IssuerFault::AcceptPrivacyDowngrade);
                }
                other => {
                    return Err(err(format!(
                        "defect {other:?} is not available in full mode{}",
                        if matches!(
                            other,
                            Defect::IssuerAcceptsUnattestedKeys
                                | Defect::IssuerAcceptsPrivacyDowngrade
                        ) {
                            " without the airtight-sim feature `faults`"
                        } else {
                            " (model mode predicts it)"
                        }
                    )));
                }
            }
        }
        #[cfg(any(test, feature = "faults"))]
        {
            b.issuer_faults = airtight_issuer::Faults::of(faults);
        }
        Ok(b)
    }

    /// Whether a card outlives its session (for a later session of the same card). Off, the
    /// card is dropped once the session's facts are taken, so cards do not accumulate over a
    /// run. On by default.
    pub fn keeping_cards(mut self, keep: bool) -> Self {
        self.drop_cards = !keep;
        self
    }

    /// Cards kept between their sessions.
    pub fn cards_kept(&self) -> usize {
        self.cards.len()
    }

    fn get(&mut self, h: SessionHandle) -> Result<&mut Session, BackendError> {
        self.sessions
            .get_mut(&h.0)
            .ok_or_else(|| err(format!("unknown session {}", h.0)))
    }
}

fn count_keys(d: &mut Driver) -> usize {
    let Some(card) = d.card() else { return 0 };
    let sks = card.sks();
    let mut n = 0;
    let mut h = KeyHandle::NONE;
    while let Ok(Some(k)) = sks.enumerate_keys(h) {
        n += 1;
        h = k.key_handle;
        if n > 100_000 {
            break;
        }
    }
    n
}

/// The public keys (SPKI DER) of the keys on the card.
fn card_public_keys(d: &mut Driver) -> Vec<Vec<u8>> {
    let Some(card) = d.card() else {
        return Vec::new();
    };
    let sks = card.sks();
    let mut out = Vec::new();
    let mut h = KeyHandle::NONE;
    while let Ok(Some(k)) = sks.enumerate_keys(h) {
        h = k.key_handle;
        if let Ok(a) = sks.get_key_attributes(h)
            && let Some(ee) = a.certificate_path.first()
            && let Ok(spki) = airtight_pki::spki_of_certificate(ee)
        {
            out.push(spki);
        }
        if out.len() > 100_000 {
            break;
        }
    }
    out
}

/// Flips one character of the last MAC or attestation value of a JSON body (or of its
/// `serverSessionId` when it has neither).
fn flip_mac(body: Vec<u8>) -> Vec<u8> {
    let s = String::from_utf8_lossy(&body).into_owned();
    let at = ["\"mac\":\"", "\"attestation\":\"", "\"serverSessionId\":\""]
        .iter()
        .find_map(|k| s.rfind(k).map(|i| i + k.len()));
    let mut v = s.into_bytes();
    if let Some(i) = at
        && i < v.len()
    {
        v[i] = if v[i] == b'A' { b'B' } else { b'A' };
    }
    v
}

/// Replaces the first public key object of a JSON body by `attacker`'s.
fn substitute_key(body: &[u8], attacker: &serde_json::Value) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    fn walk(v: &mut serde_json::Value, k: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(m) => {
                for (name, x) in m.iter_mut() {
                    if (name == "publicKey" || name == "clientEphemeralKey") && x.is_object() {
                        *x = k.clone();
                        return true;
                    }
                    if walk(x, k) {
                        return true;
                    }
                }
                false
            }
            serde_json::Value::Array(a) => a.iter_mut().any(|x| walk(x, k)),
            _ => false,
        }
    }
    walk(&mut v, attacker).then(|| serde_json::to_vec(&v).ok())?
}

fn attacker_jwk() -> serde_json::Value {
    use rand_core::SeedableRng;
    let k = PrivateKey::generate_ec(
        Curve::P256,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(0xA77A_C4E5),
    );
    k.public_key().to_jwk().to_json()
}

impl Backend for FullBackend {
    fn name(&self) -> &'static str {
        "full"
    }

    fn begin(
        &mut self,
        spec: &SessionSpec,
        rng: &mut SimRng,
    ) -> Result<SessionHandle, BackendError> {
        let seed = rng.next_u64();
        let mut config = DriverConfig::new(seed);
        config.card_path = CardPath::Apdu(spec.limits);
        config.start_time = spec.start_unix;
        config.user_pins = "1357\n".repeat(4);
        let policy = policy_of(spec, seed);
        let mut issuer = test_issuer(&config.issuer_uri, policy);
        issuer.faults = self.issuer_faults.clone();
        let mut driver = match self.cards.remove(&spec.card) {
            Some(card) => Driver::with_traced_card(config, issuer, card),
            None => Driver::with_issuer(config, issuer),
        }
        .map_err(|e| err(e.to_string()))?;
        let keys_before = count_keys(&mut driver);
        self.sessions.insert(
            spec.index,
            Session {
                spec: *spec,
                driver,
                node: 0,
                keys_before,
                attack: None,
                attack_applied: false,
                refused_after_attack: false,
                key_entries: 0,
                card_removed: false,
                reader_reset: false,
                power_cut: false,
                completed: false,
                last_counter: 0,
                monotonic: true,
            },
        );
        Ok(SessionHandle(spec.index))
    }

    fn issuer(
        &mut self,
        session: SessionHandle,
        node: u16,
        request: Inbound,
        now: UnixTime,
    ) -> Result<IssuerOutcome, BackendError> {
        let s = self.get(session)?;
        s.node = node;
        s.driver.set_now(now);
        if request == Inbound::Get {
            s.driver.begin().map_err(|e| err(e.to_string()))?;
            let first = s.driver.in_flight().next().map_or(0, |(_, b)| b.len());
            let mut cost = IssuerCost::default();
            cost.add(IssuerOp::Json, 1);
            cost.add(IssuerOp::StoreCommit, 1);
            return Ok(IssuerOutcome {
                response_bytes: len32(first),
                cost,
                verdict: IssuerVerdict::Continue(Step::Invocation),
            });
        }
        // Deliver every message in flight to the issuer (a replay adds one); a refusal wins.
        let mut cost = IssuerCost::default();
        let mut verdict = None;
        let mut response = 0;
        while matches!(s.driver.in_flight().next(), Some((Party::Issuer, _))) {
            let t = s.driver.step();
            let c = cost_of(&t);
            for op in IssuerOp::ALL {
                cost.add(op, c.get(op));
            }
            if let Some(st) = s.driver.issuer_state() {
                if st.counter < s.last_counter {
                    s.monotonic = false;
                }
                s.last_counter = s.last_counter.max(st.counter);
            }
            let v = match t.outcome {
                StepOutcome::Continue => {
                    let b = t.answered.unwrap_or_default();
                    response = len32(b.len());
                    match step_of(&b) {
                        Some(step) => IssuerVerdict::Continue(step),
                        None => IssuerVerdict::Refused(Cause::IssuerRefused),
                    }
                }
                StepOutcome::Completed(_) => {
                    s.completed = true;
                    response = 120;
                    IssuerVerdict::Completed
                }
                StepOutcome::IssuerRefused(_) => {
                    response = 200;
                    let cause = if s.attack.is_some() && s.attack_applied {
                        s.refused_after_attack = true;
                        Cause::AttackDetected
                    } else if matches!(
                        s.driver.last_issuer_error(),
                        Some(airtight_issuer::IssuerError::SessionExpired { .. })
                    ) {
                        Cause::SessionExpired
                    } else {
                        Cause::IssuerRefused
                    };
                    IssuerVerdict::Refused(cause)
                }
                StepOutcome::IssuerUnknownSession => IssuerVerdict::Refused(Cause::IssuerCrash),
                _ => IssuerVerdict::Refused(Cause::IssuerRefused),
            };
            verdict = match (verdict, v) {
                (Some(IssuerVerdict::Refused(c)), _) => Some(IssuerVerdict::Refused(c)),
                (_, v) => Some(v),
            };
        }
        let verdict = verdict.unwrap_or(IssuerVerdict::Refused(Cause::Timeout));
        Ok(IssuerOutcome {
            response_bytes: response,
            cost,
            verdict,
        })
    }

    fn middleware(
        &mut self,
        session: SessionHandle,
        now: UnixTime,
        out: &mut MiddlewareOutcome,
    ) -> Result<(), BackendError> {
        out.clear();
        let s = self.get(session)?;
        s.driver.set_now(now);
        if s.completed {
            out.verdict = MiddlewareVerdict::Done;
            return Ok(());
        }
        let step = s
            .driver
            .in_flight()
            .next()
            .and_then(|(p, b)| (*p == Party::Middleware).then(|| step_of(b)).flatten());
        match step {
            Some(Step::Invocation) => out.user.push(UserAction::Consent),
            Some(Step::KeyCreation) if s.spec.pin => out.user.push(UserAction::PinEntry),
            _ => {}
        }
        let mut failed = None;
        let mut delivered = false;
        while matches!(s.driver.in_flight().next(), Some((Party::Middleware, _))) {
            delivered = true;
            let t = s.driver.step();
            for c in &t.sks_calls {
                let rsa = c.method == SksMethod::CreateKeyEntry && {
                    s.key_entries += 1;
                    s.key_entries > s.spec.ec_keys
                };
                out.card_calls.push(CardCall {
                    method: c.method,
                    ops: card_ops(c.method, rsa, c.store_writes),
                    apdus: len32(c.apdus.len()),
                    bytes_to_card: len32(c.bytes_to_card()),
                    bytes_from_card: len32(c.bytes_from_card()),
                });
                out.wire.push(
                    c.apdus
                        .iter()
                        .map(|a| WireApdu {
                            command: a.command.clone(),
                            response: a.response.clone(),
                        })
                        .collect(),
                );
            }
            match &t.outcome {
                StepOutcome::Continue => {
                    out.request_bytes = len32(t.answered.as_ref().map_or(0, Vec::len));
                }
                StepOutcome::MiddlewareDown => failed = Some(Cause::MiddlewareCrash),
                StepOutcome::MiddlewareFailed(_) => {
                    failed = Some(if t.card_rebooted || s.power_cut {
                        Cause::PowerLoss
                    } else if s.card_removed {
                        Cause::CardRemoved
                    } else if s.reader_reset {
                        Cause::ReaderReset
                    } else if s.attack.is_some() && s.attack_applied {
                        s.refused_after_attack = true;
                        Cause::AttackDetected
                    } else {
                        Cause::CardError
                    });
                }
                _ => {}
            }
            if failed.is_some() {
                break;
            }
        }
        if !delivered {
            failed = Some(Cause::IssuerRefused);
        }
        // A network relay's attack on the answer now in flight to the issuer.
        if failed.is_none()
            && let Some((site, kind, _)) = s.attack
            && !s.attack_applied
        {
            let answer = s
                .driver
                .network_log()
                .iter()
                .rposition(|(p, _)| *p == Party::Issuer);
            let earlier = s
                .driver
                .network_log()
                .iter()
                .enumerate()
                .filter(|(i, (p, _))| *p == Party::Issuer && Some(*i) != answer)
                .map(|(i, _)| i)
                .next_back();
            let network = site == AttackerSite::Network
                || matches!(kind, AttackKind::SubstituteKey | AttackKind::Drop);
            if network {
                s.attack_applied = match kind {
                    AttackKind::Tamper => s.driver.tamper_next(flip_mac),
                    AttackKind::Replay => match earlier.or(answer) {
                        Some(i) => s.driver.replay(i) && s.driver.reorder(),
                        None => false,
                    },
                    AttackKind::Reorder => match earlier {
                        Some(i) => s.driver.replay(i),
                        None => false,
                    },
                    AttackKind::Drop => s.driver.drop_next().is_some(),
                    AttackKind::SubstituteKey => {
                        let k = attacker_jwk();
                        let mut applied = false;
                        s.driver.tamper_next(|b| match substitute_key(&b, &k) {
                            Some(n) => {
                                applied = true;
                                n
                            }
                            None => b,
                        });
                        applied
                    }
                    _ => false,
                };
            }
        }
        out.verdict = match failed {
            Some(c) => MiddlewareVerdict::Aborted(c),
            None => MiddlewareVerdict::Continue,
        };
        Ok(())
    }

    fn remove_card(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        let s = self.get(session)?;
        s.card_removed = true;
        s.driver.remove_card();
        Ok(())
    }

    fn power_loss(&mut self, session: SessionHandle, write_index: u32) -> Result<(), BackendError> {
        let s = self.get(session)?;
        s.power_cut = true;
        s.driver.cut_card_power_at_write(u64::from(write_index) + 1);
        Ok(())
    }

    fn reader_reset(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        let s = self.get(session)?;
        s.reader_reset = true;
        // A reset is a power cycle: the open provisioning session (RAM) is gone.
        s.driver.insert_card().map_err(|e| err(e.to_string()))
    }

    fn restart_issuer(&mut self, node: u16) -> Result<(), BackendError> {
        for s in self.sessions.values_mut() {
            if s.node == node {
                s.driver.restart_issuer();
            }
        }
        Ok(())
    }

    fn crash_middleware(&mut self, session: SessionHandle) -> Result<(), BackendError> {
        self.get(session)?.driver.crash_middleware();
        Ok(())
    }

    fn tamper(
        &mut self,
        session: SessionHandle,
        site: AttackerSite,
        kind: AttackKind,
    ) -> Result<(), BackendError> {
        let s = self.get(session)?;
        let step = s
            .driver
            .in_flight()
            .next()
            .and_then(|(_, b)| step_of(b))
            .unwrap_or(Step::Invocation);
        s.attack = Some((site, kind, step));
        match (site, kind) {
            (
                AttackerSite::Middleware,
                AttackKind::Tamper | AttackKind::Replay | AttackKind::Reorder,
            ) => {
                // The hostile middleware alters a MAC'd call on the reader link.
                s.attack_applied = s
                    .driver
                    .card()
                    .is_some_and(TracedCard::tamper_next_macd_call);
            }
            (_, AttackKind::DowngradePrivacy) => {
                // Strip (or add) privacy mode in the issuer's message before the middleware
                // reads it; the session attestation covers it.
                let mut applied = false;
                s.driver.tamper_next(|b| {
                    let t = String::from_utf8_lossy(&b).into_owned();
                    if t.contains(",\"privacyEnabled\":true") {
                        applied = true;
                        t.replacen(",\"privacyEnabled\":true", "", 1).into_bytes()
                    } else {
                        b
                    }
                });
                s.attack_applied = applied;
            }
            _ => {}
        }
        Ok(())
    }

    fn end(
        &mut self,
        session: SessionHandle,
        cause: Cause,
        facts: &mut SessionFacts,
    ) -> Result<(), BackendError> {
        let mut s = self
            .sessions
            .remove(&session.0)
            .ok_or_else(|| err(format!("unknown session {}", session.0)))?;
        *facts = SessionFacts::default();
        facts.cause = cause;
        let records = s.driver.issuances().map_err(|e| err(e.to_string()))?;
        let record = records.last();
        facts.issuance_recorded = record.is_some();
        facts.issuance_lost = s.completed && record.is_none();
        let keys_at_issuer = record.map_or(0, |r| r.keys.len());
        facts.keys_at_issuer = u8::try_from(keys_at_issuer).unwrap_or(u8::MAX);
        // A key counts as attested if the card holds it: the issuer certified the key the card
        // generated, not one an attacker substituted.
        let on_card = card_public_keys(&mut s.driver);
        facts.keys_attested = u8::try_from(record.map_or(0, |r| {
            r.keys
                .iter()
                .filter(|k| on_card.contains(&k.public_key_spki))
                .count()
        }))
        .unwrap_or(u8::MAX);
        let keys_now = count_keys(&mut s.driver);
        facts.keys_on_card =
            u8::try_from(keys_now.saturating_sub(s.keys_before)).unwrap_or(u8::MAX);
        let leaks = s.driver.leaks();
        let on_network = leaks.iter().any(|l| l.place.starts_with("network"));
        facts.secrets_seen.network = on_network;
        facts.secrets_seen.middleware =
            on_network || leaks.iter().any(|l| l.place.contains("APDU"));
        facts.secrets_seen.attacker = s.attack.is_some() && on_network;
        facts.mac_counters_monotonic = s.monotonic;
        facts.mac_counter_max = s.last_counter;
        let device = record
            .map(|r| r.device_certificate_path.clone())
            .or_else(|| {
                s.driver
                    .session_handle()
                    .and_then(|h| s.driver.store().load_session(h).ok().flatten())
                    .map(|st| st.state.device_certificate_path)
            });
        let device = device.unwrap_or_default();
        facts.device_id_visible = !device.is_empty();
        facts.issuer_visible_id = device.first().map_or(0, |d| {
            // FNV-1a of the device certificate: the same card gives the same number.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in d {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h | 1
        });
        if let Some((_, kind, _)) = s.attack {
            facts.attack = Some(kind);
            // A downgrade that went through: the issuer saw the device of a privacy session.
            let downgraded = kind == AttackKind::DowngradePrivacy
                && s.attack_applied
                && s.spec.privacy
                && facts.device_id_visible;
            facts.attack_outcome = if facts.secrets_seen.attacker
                || facts.keys_attested < facts.keys_at_issuer
                || downgraded
            {
                AttackOutcome::Succeeded
            } else if s.refused_after_attack || (kind == AttackKind::Drop && s.attack_applied) {
                AttackOutcome::Rejected
            } else {
                AttackOutcome::Harmless
            };
            facts.attack_reported = facts.attack_outcome == AttackOutcome::Rejected
                && matches!(cause, Cause::AttackDetected | Cause::Timeout);
        }
        if let Some(card) = s.driver.take_card()
            && !self.drop_cards
        {
            self.cards.insert(s.spec.card, card);
        }
        Ok(())
    }
}
