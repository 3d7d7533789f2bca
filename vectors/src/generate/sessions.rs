//! Golden session transcripts (`vectors/sessions/<scenario>.json`): whole KeyGen2 sessions run
//! in process between the issuer engine (`airtight-issuer`), the middleware engine
//! (`airtight-client`) and the reference card (`airtight-card`), all deterministic: the issuer
//! draws every random choice from a ChaCha20 stream of a recorded seed, the card from another,
//! and every clock is fixed. Each transcript records the exact bytes of every message with its
//! direction, the whole configuration needed to run the session again (policy, device
//! identity, seeds, clocks, PINs, KMKs) and every derived secret (ECDH Z, KDF input, session
//! key, encryption key, every MAC with its counter and data, every attestation, IVs, close
//! nonce, target-key references).
//!
//! The setup types double as the replay API: [`build_issuer`], [`build_card`],
//! [`build_middleware`] and [`apply_before`] rebuild the three parties from a transcript
//! (`vectors/tests/sessions.rs` replays every transcript both ways).

use std::sync::{Arc, Mutex};

use airtight_bindings::{SksCall, SksReturn};
use airtight_card::{CardConfig, ReferenceSks, RngSource, TEST_TIME};
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_client::{ManualClock, UnixTime};
use airtight_issuer::policy::{
    DiscoveryPolicy, ExtensionPolicy, KeyPolicy, LogotypePolicy, LookupPolicy, PinPolicy,
    PostPolicy, PropertyBagPolicy, PropertyPolicy, PukPolicy,
};
use airtight_issuer::{
    Entropy, IssuanceRecord, Issuer, KmkRollover, Policy, RngEntropy, StartRequest,
};
use airtight_proto::codec::b64url;
use airtight_proto::keys::{Curve, PrivateKey, PublicKey, ecdh_z, sha256};
use airtight_proto::messages::Message;
use airtight_proto::session1::{
    self, ExtensionSubType as MacSubType, KeyEntryMacInput, Method, PinPolicyMacInput,
    SessionCrypto,
};
use airtight_proto::sks::{
    CreateProvisioningSessionParams, ExtensionSubType, KeyHandle, PinPolicyHandle,
    ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError,
};
use airtight_testkit::driver::{Driver, DriverConfig, Party, StepOutcome};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::format::{Builder, VectorFile, Verdict};
use crate::{hex, hex_decode};

/// The URL the middleware posts to (`issuerUri`).
pub const ISSUER_URI: &str = "http://127.0.0.1:18080/keygen2";
/// The clock of every first session: the card's test time (2026-01-01T00:00:00Z).
pub const T0: i64 = TEST_TIME.secs();
/// How much later a second session runs.
pub const SECOND_SESSION_DELAY: i64 = 86_400;
/// The group type of a transcript.
pub const GROUP_TYPE: &str = "SessionTranscript";
/// Direction of a message from the issuer.
pub const TO_MIDDLEWARE: &str = "issuer->middleware";
/// Direction of a message from the middleware.
pub const TO_ISSUER: &str = "middleware->issuer";

// ------------------------------------------------------------------------------ the format

/// One session of a transcript file (the fields of one `SessionTranscript` test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transcript {
    /// Scenario name (the file stem).
    pub scenario: String,
    /// 1 for the first session on the card, 2 for the second.
    pub part: u32,
    /// How the issuer engine was configured.
    pub issuer: IssuerSetup,
    /// The card.
    pub card: CardSetup,
    /// The middleware engine.
    pub middleware: MiddlewareSetup,
    /// What happened to the card between the previous session and this one.
    pub before: Vec<CardAction>,
    /// Every message, in order: the exact bytes (UTF-8 JSON text) and the direction.
    pub messages: Vec<RecordedMessage>,
    /// Every derived secret.
    pub secrets: Secrets,
    /// What the issuer recorded at the end.
    pub outcome: Outcome,
}

/// The issuer engine's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerSetup {
    /// `issuerUri`.
    pub issuer_uri: String,
    /// The issuer's TLS certificate (a stand-in issued by the test issuer CA), hex DER.
    pub server_certificate: String,
    /// The 32-byte ChaCha20 seed of every issuer random choice (hex).
    pub seed: String,
    /// The issuer clock (unix seconds) for every call of the session.
    pub now: i64,
    /// The issuance policy (the TOML policy's fields, as JSON).
    pub policy: Value,
    /// The CA certifying generated keys: `airtight-pki` fixture `issuer_ca`, its path (hex).
    pub ca_certificate_path: Vec<String>,
    /// The device trust anchor: `airtight-pki` fixture `device_trust_anchor` (hex DER of the
    /// device CA certificate).
    pub device_trust_anchor: String,
    /// The key-management key of new sessions (PKCS#8 hex).
    pub key_management_key: Option<String>,
    /// Older KMKs rolled over to it.
    pub key_management_key_rollovers: Vec<RolloverKey>,
    /// `StartRequest.subjectLabel`.
    pub subject_label: String,
}

/// An older KMK (PKCS#8 hex) and the still older ones rolling over to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloverKey {
    /// PKCS#8 hex.
    pub pkcs8: String,
    /// Older keys.
    pub children: Vec<RolloverKey>,
}

/// The card's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardSetup {
    /// `P-256` or `RSA-2048` (`airtight-pki` fixture test devices).
    pub device: String,
    /// The device (attestation) private key, PKCS#8 hex.
    pub device_key_pkcs8: String,
    /// The device certificate path, hex DER, device certificate first.
    pub device_certificate_path: Vec<String>,
    /// The 32-byte ChaCha20 seed of the card RNG (hex), set when the card was created.
    pub rng_seed: String,
    /// The card clock (unix seconds) during this session.
    pub clock: i64,
    /// The part whose card this session continues (None: a new card).
    pub continues_part: Option<u32>,
}

/// The middleware engine's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MiddlewareSetup {
    /// Local clock (unix seconds) giving `clientTime`.
    pub clock: i64,
    /// Local UTC offset in minutes.
    pub offset_minutes: i16,
    /// User PINs, one per user-defined PIN group, in request order.
    pub user_pins: Vec<String>,
    /// The consent dialog's answer.
    pub consent: String,
}

/// A card operation outside provisioning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardAction {
    /// `signWithWrongPin`: `tries` signatures of `data` with the first key and `pin`.
    pub action: String,
    /// Signature algorithm URI.
    pub algorithm: String,
    /// The PIN presented.
    pub pin: String,
    /// How many tries.
    pub tries: u32,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedMessage {
    /// [`TO_MIDDLEWARE`] or [`TO_ISSUER`].
    pub direction: String,
    /// `@qualifier`.
    pub qualifier: String,
    /// The exact HTTP body (UTF-8 JSON text).
    pub body: String,
}

/// Every derived secret of a session (hex unless noted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secrets {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// The server ephemeral private key, PKCS#8.
    pub server_ephemeral_private_key: String,
    /// The DeviceID entering the KDF (device certificate DER or `Anonymous`).
    pub device_id: String,
    /// ECDH shared secret Z.
    pub z: String,
    /// `L(clientSessionId) ‖ L(serverSessionId) ‖ L(issuerUri) ‖ L(DeviceID)`.
    pub kdf_input: String,
    /// `HMAC-SHA256(Z, kdfInput)`.
    pub session_key: String,
    /// `HMAC-SHA256(sessionKey, "EncryptionKey")`.
    pub encryption_key: String,
    /// The bytes the session attestation covers.
    pub session_attestation_input: String,
    /// The session attestation (signature or HMAC).
    pub session_attestation: String,
    /// `clientTime` entering the attestation (unix seconds).
    pub client_time: u32,
    /// Every method MAC, in card execution order.
    pub macs: Vec<MacEntry>,
    /// Every attestation (key and close), in counter order.
    pub attestations: Vec<AttestationEntry>,
    /// Every issuer encryption, in card execution order.
    pub encryptions: Vec<EncryptionEntry>,
    /// Every post-operation authorization.
    pub target_key_references: Vec<TargetKeyReferenceEntry>,
    /// Every KMK roll-over the card performed.
    pub roll_overs: Vec<RollOverEntry>,
    /// The IVs the issuer drew, in draw order.
    pub ivs: Vec<String>,
    /// The close nonce.
    pub close_nonce: String,
    /// Certificate serial numbers the issuer drew.
    pub serials: Vec<String>,
    /// The card operations, in execution order (`createKeyEntryPresetPin` and
    /// `addEncryptedExtension` name the variants that cost more session-key uses).
    pub operations: Vec<String>,
    /// The card's MAC counter after close (= number of MACs and attestations).
    pub final_counter: u32,
    /// Session-key uses of the session (facts §3.4).
    pub session_key_uses: u32,
}

/// One method MAC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MacEntry {
    /// The MAC sequence counter.
    pub counter: u16,
    /// The method (key modifier text).
    pub method: String,
    /// The key id, PIN or PUK policy id concerned, if any.
    pub id: Option<String>,
    /// The MAC data.
    pub data: String,
    /// `HMAC-SHA256(sessionKey ‖ method ‖ ushort(counter), data)`.
    pub mac: String,
}

/// One attestation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationEntry {
    /// The MAC sequence counter.
    pub counter: u16,
    /// `key` or `close`.
    pub kind: String,
    /// The key id (key attestations).
    pub id: Option<String>,
    /// The attested data.
    pub data: String,
    /// `HMAC-SHA256(sessionKey ‖ "DeviceAttestation" ‖ ushort(counter), data)`.
    pub attestation: String,
}

/// One issuer encryption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionEntry {
    /// `puk`, `presetPin`, `symmetricKey`, `privateKey` or `encryptedExtension`.
    pub what: String,
    /// The key or policy id.
    pub id: String,
    /// The IV.
    pub iv: String,
    /// The plaintext.
    pub plaintext: String,
    /// `iv ‖ AES-256-CBC-PKCS#7(encryptionKey, plaintext)`.
    pub ciphertext: String,
}

/// One post-operation authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetKeyReferenceEntry {
    /// `postUpdateKey`, `postCloneKeyProtection`, `postUnlockKey` or `postDeleteKey`.
    pub operation: String,
    /// The target key's end-entity certificate.
    pub target_certificate: String,
    /// `HMAC-SHA256(sessionKey ‖ DeviceID, targetCertificate)`.
    pub target_key_reference: String,
    /// KMK signature over `"TargetKeyReference" ‖ targetKeyReference`.
    pub authorization: String,
}

/// One KMK roll-over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollOverEntry {
    /// The new KMK, SPKI.
    pub new_key_management_key: String,
    /// Old KMK signature over `"RollOverAuthorization" ‖ SPKI(new KMK)`.
    pub authorization: String,
}

/// What the issuer recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outcome {
    /// `manage` or `unlock`.
    pub action: String,
    /// Privacy mode.
    pub privacy_enabled: bool,
    /// The long device ID (E2ES).
    pub device_id: Option<String>,
    /// Certified keys: id and SPKI (hex).
    pub keys: Vec<(String, String)>,
    /// Post-operations: kind and target fingerprint (hex).
    pub post_operations: Vec<(String, String)>,
}

impl Outcome {
    /// The summary of an issuance record.
    pub fn of(r: &IssuanceRecord) -> Outcome {
        Outcome {
            action: r.action.clone(),
            privacy_enabled: r.privacy_enabled,
            device_id: r.device_id.clone(),
            keys: r
                .keys
                .iter()
                .map(|k| (k.id.clone(), hex(&k.public_key_spki)))
                .collect(),
            post_operations: r
                .post_operations
                .iter()
                .map(|p| (p.kind.clone(), hex(&p.target_finger_print)))
                .collect(),
        }
    }
}

// ------------------------------------------------------------------------------ replay API

fn unhex(s: &str, what: &str) -> Result<Vec<u8>, String> {
    hex_decode(s).ok_or_else(|| format!("{what} is not hex"))
}

fn seed32(s: &str, what: &str) -> Result<[u8; 32], String> {
    unhex(s, what)?
        .try_into()
        .map_err(|_| format!("{what} is not 32 bytes"))
}

fn private_key(pkcs8_hex: &str, what: &str) -> Result<PrivateKey, String> {
    PrivateKey::from_pkcs8_der(&unhex(pkcs8_hex, what)?).map_err(|e| format!("{what}: {e}"))
}

fn rollover(r: &RolloverKey) -> Result<KmkRollover, String> {
    Ok(KmkRollover {
        old: private_key(&r.pkcs8, "rollover key")?,
        children: r.children.iter().map(rollover).collect::<Result<_, _>>()?,
    })
}

/// The issuer engine of a transcript: its policy, the fixture CA and device anchor (checked
/// against the recorded certificates), its KMKs and its TLS certificate.
pub fn build_issuer(s: &IssuerSetup) -> Result<Issuer, String> {
    let policy: Policy = serde_json::from_value(s.policy.clone()).map_err(|e| e.to_string())?;
    let mut iss = Issuer::new(
        &s.issuer_uri,
        unhex(&s.server_certificate, "serverCertificate")?,
        policy,
    );
    let ca = airtight_pki::fixtures::issuer_ca();
    let path: Vec<String> = ca.certificate_path().iter().map(|c| hex(c)).collect();
    if path != s.ca_certificate_path {
        return Err("the fixture issuer CA differs from the recorded one".into());
    }
    iss.ca = Some(ca);
    let anchor = airtight_pki::fixtures::device_ca();
    if hex(anchor.certificate_der()) != s.device_trust_anchor {
        return Err("the fixture device trust anchor differs from the recorded one".into());
    }
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss.kmk = s
        .key_management_key
        .as_deref()
        .map(|k| private_key(k, "keyManagementKey"))
        .transpose()?;
    iss.kmk_rollovers = s
        .key_management_key_rollovers
        .iter()
        .map(rollover)
        .collect::<Result<_, _>>()?;
    Ok(iss)
}

/// The issuer's random stream of a transcript.
pub fn issuer_rng(s: &IssuerSetup) -> Result<ChaCha20Rng, String> {
    Ok(ChaCha20Rng::from_seed(seed32(&s.seed, "issuer seed")?))
}

/// The `StartRequest` of a transcript.
pub fn start_request(s: &IssuerSetup) -> StartRequest {
    StartRequest {
        expected_device_id: None,
        subject_label: s.subject_label.clone(),
    }
}

/// A new card as the transcript's `card` describes it (in-memory storage, seeded RNG), and
/// the handle of its manual clock.
pub fn build_card(c: &CardSetup) -> Result<(ReferenceSks, ManualClock), String> {
    let clock = ManualClock::new(UnixTime::from_secs(c.clock));
    let key = Zeroizing::new(unhex(&c.device_key_pkcs8, "deviceKeyPkcs8")?);
    let path = c
        .device_certificate_path
        .iter()
        .map(|x| unhex(x, "deviceCertificatePath"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = CardConfig::for_tests(key, path, 0, Arc::new(clock.clone()));
    config.rng = RngSource::Seed(seed32(&c.rng_seed, "rngSeed")?);
    let card = ReferenceSks::open(config).map_err(|e| e.to_string())?;
    Ok((card, clock))
}

/// The middleware engine of a transcript on `sks`.
pub fn build_middleware<S: SecureKeyStore>(
    sks: S,
    s: &IssuerSetup,
    m: &MiddlewareSetup,
) -> Result<Middleware<S>, String> {
    let mut ctx = SessionContext::plain(&s.issuer_uri);
    ctx.server_certificate = unhex(&s.server_certificate, "serverCertificate")?;
    let pins = m.user_pins.join("\n");
    Ok(Middleware::new(sks, ctx)
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::from_lines(&pins))
        .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(m.clock))))
        .with_utc_offset(m.offset_minutes))
}

/// The three parties of a transcript's session on the shared driver (`airtight-testkit`): the
/// issuer of `s` drawing from its recorded stream, the middleware of `m`, and `card` (reached
/// directly; the caller sets its clock). The session is not begun.
pub fn build_driver(
    s: &IssuerSetup,
    m: &MiddlewareSetup,
    card: ReferenceSks,
) -> Result<Driver, String> {
    if m.clock != s.now || m.consent != "accept-all" {
        return Err("the driver runs one clock for all parties and accepts everything".into());
    }
    let mut config = DriverConfig::new(0);
    config.start_time = UnixTime::from_secs(s.now);
    config.issuer_uri = s.issuer_uri.clone();
    config.start = start_request(s);
    config.user_pins = m.user_pins.join("\n");
    config.utc_offset_minutes = m.offset_minutes;
    let mut d = Driver::with_card(config, build_issuer(s)?, card).map_err(|e| e.to_string())?;
    d.set_issuer_rng(issuer_rng(s)?);
    Ok(d)
}

/// Runs the transcript's `before` actions on `card` (errors of the actions themselves, e.g. a
/// wrong PIN, are expected and ignored).
pub fn apply_before<S: SecureKeyStore>(card: &mut S, actions: &[CardAction]) -> Result<(), String> {
    for a in actions {
        match a.action.as_str() {
            "signWithWrongPin" => {
                let k = card
                    .enumerate_keys(KeyHandle::NONE)
                    .map_err(|e| e.to_string())?
                    .ok_or("no key to sign with")?;
                for _ in 0..a.tries {
                    let _ = card.sign_data(
                        k.key_handle,
                        &a.algorithm,
                        None,
                        false,
                        Some(a.pin.as_bytes()),
                        b"airtight golden transcript",
                    );
                }
            }
            other => return Err(format!("unknown card action {other:?}")),
        }
    }
    Ok(())
}

/// The message bodies of one direction, in order.
pub fn bodies<'a>(t: &'a Transcript, direction: &str) -> Vec<&'a [u8]> {
    t.messages
        .iter()
        .filter(|m| m.direction == direction)
        .map(|m| m.body.as_bytes())
        .collect()
}

// ------------------------------------------------------------------------------ recording

/// The issuer's choices of one session, as [`RecordingEntropy`] handed them out.
#[derive(Debug, Default)]
struct Drawn {
    ephemeral: Option<PrivateKey>,
    ivs: Vec<[u8; 16]>,
    close_nonce: Vec<u8>,
    serials: Vec<Vec<u8>>,
}

/// An [`Entropy`] that draws from a ChaCha20 stream and remembers the choices (shared with
/// the recorder: the driver owns the entropy while the session runs).
struct RecordingEntropy {
    rng: ChaCha20Rng,
    drawn: Arc<Mutex<Drawn>>,
}

impl RecordingEntropy {
    fn drawn(&self) -> std::sync::MutexGuard<'_, Drawn> {
        self.drawn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Entropy for RecordingEntropy {
    fn server_session_id(&mut self) -> String {
        RngEntropy(&mut self.rng).server_session_id()
    }
    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey {
        let k = RngEntropy(&mut self.rng).ephemeral_key(curve);
        self.drawn().ephemeral = Some(k.clone());
        k
    }
    fn iv(&mut self) -> [u8; 16] {
        let iv = RngEntropy(&mut self.rng).iv();
        self.drawn().ivs.push(iv);
        iv
    }
    fn close_nonce(&mut self) -> Vec<u8> {
        let n = RngEntropy(&mut self.rng).close_nonce();
        self.drawn().close_nonce = n.clone();
        n
    }
    fn serial(&mut self) -> Vec<u8> {
        let s = RngEntropy(&mut self.rng).serial();
        self.drawn().serials.push(s.clone());
        s
    }
    fn fill(&mut self, out: &mut [u8]) {
        RngEntropy(&mut self.rng).fill(out);
    }
}

/// One MAC-carrying card call, as the card received it.
#[derive(Debug, Clone)]
enum CounterStep {
    Mac {
        method: Method,
        id: Option<String>,
        data: Vec<u8>,
        mac: Vec<u8>,
    },
    Attestation {
        kind: &'static str,
        id: Option<String>,
        data: Vec<u8>,
        value: Vec<u8>,
    },
}

/// What the card saw of one session: the provisioning calls it answered, with the MAC data of
/// each rebuilt by `airtight_proto::session1` from the call's parameters. Filled by the
/// driver's card tap ([`CardTrace::observe`]).
#[derive(Debug, Default)]
struct CardTrace {
    create: Option<(CreateProvisioningSessionParams, ProvisioningSessionResult)>,
    steps: Vec<CounterStep>,
    /// (what, id, ciphertext)
    encrypted: Vec<(&'static str, String, Vec<u8>)>,
    /// (operation, target certificate, authorization)
    post: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
    roll_overs: Vec<(Vec<u8>, Vec<u8>)>,
    puks: Vec<(PukPolicyHandle, String)>,
    /// (handle, id, user-defined)
    pins: Vec<(PinPolicyHandle, String, bool)>,
    /// (handle, id, SPKI, EE certificate)
    keys: Vec<(KeyHandle, String, Vec<u8>, Vec<u8>)>,
    user_pins: Vec<String>,
    /// Card operations in execution order (facts §3.4 names).
    ops: Vec<&'static str>,
    /// The card's device certificate (the E2ES DeviceID).
    device_certificate: Option<Vec<u8>>,
    /// The first call the trace could not rebuild.
    error: Option<String>,
}

fn rebuilt<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("MAC data of a traced call: {e}"))
}

/// The certificate of the key `target` (read on the card when the call is made: a deferred
/// post-provisioning delete removes it at close).
fn target_certificate(card: &mut ReferenceSks, target: KeyHandle) -> Vec<u8> {
    card.get_key_attributes(target)
        .ok()
        .and_then(|a| a.certificate_path.into_iter().next())
        .unwrap_or_default()
}

impl CardTrace {
    fn key(&self, h: KeyHandle) -> (String, Vec<u8>, Vec<u8>) {
        self.keys
            .iter()
            .find(|k| k.0 == h)
            .map(|k| (k.1.clone(), k.2.clone(), k.3.clone()))
            .unwrap_or_default()
    }

    fn mac(&mut self, method: Method, id: Option<String>, data: Vec<u8>, mac: &[u8]) {
        self.ops.push(method.mac_name());
        self.steps.push(CounterStep::Mac {
            method,
            id,
            data,
            mac: mac.to_vec(),
        });
    }

    /// The driver's card tap: records a call the card answered successfully.
    fn observe(
        &mut self,
        call: &SksCall,
        result: &Result<SksReturn, SksError>,
        card: &mut ReferenceSks,
    ) {
        let Ok(ret) = result else { return };
        if self.error.is_none()
            && let Err(e) = self.record(call, ret, card)
        {
            self.error = Some(e);
        }
    }

    fn record(
        &mut self,
        call: &SksCall,
        ret: &SksReturn,
        card: &mut ReferenceSks,
    ) -> Result<(), String> {
        let enum_arg = |e: SksError| e.to_string();
        match (call, ret) {
            (
                SksCall::CreateProvisioningSession { params },
                SksReturn::CreateProvisioningSession(r),
            ) => {
                self.create = Some((params.clone(), r.clone()));
                self.ops.push("createProvisioningSession");
            }
            (
                SksCall::CloseProvisioningSession { nonce, mac, .. },
                SksReturn::CloseProvisioningSession(r),
            ) => {
                let (p, res) = self.create.clone().ok_or("close without a session")?;
                let data = rebuilt(session1::close_provisioning_session_data(
                    &res.client_session_id,
                    &p.server_session_id,
                    &p.issuer_uri,
                    nonce,
                ))?;
                self.mac(Method::CloseProvisioningSession, None, data, mac);
                self.steps.push(CounterStep::Attestation {
                    kind: "close",
                    id: None,
                    data: rebuilt(session1::close_attestation_data(nonce))?,
                    value: r.clone(),
                });
            }
            (
                SksCall::UpdateKeyManagementKey {
                    key_management_key,
                    authorization,
                    ..
                },
                _,
            ) => {
                self.roll_overs
                    .push((key_management_key.clone(), authorization.clone()));
            }
            (SksCall::CreatePukPolicy { params: p }, SksReturn::CreatePukPolicy(h)) => {
                let data = rebuilt(session1::create_puk_policy_data(
                    &p.id,
                    &p.encrypted_puk,
                    SksError::require(&p.format).map_err(enum_arg)?,
                    p.retry_limit,
                ))?;
                self.mac(Method::CreatePukPolicy, Some(p.id.clone()), data, &p.mac);
                self.encrypted
                    .push(("puk", p.id.clone(), p.encrypted_puk.clone()));
                self.puks.push((*h, p.id.clone()));
            }
            (SksCall::CreatePinPolicy { params: p }, SksReturn::CreatePinPolicy(h)) => {
                let puk = self
                    .puks
                    .iter()
                    .find(|x| x.0 == p.puk_policy_handle)
                    .map(|x| x.1.clone());
                let data = rebuilt(session1::create_pin_policy_data(&PinPolicyMacInput {
                    id: &p.id,
                    puk_policy_id: puk.as_deref(),
                    user_defined: p.user_defined,
                    user_modifiable: p.user_modifiable,
                    format: SksError::require(&p.format).map_err(enum_arg)?,
                    retry_limit: p.retry_limit,
                    grouping: SksError::require(&p.grouping).map_err(enum_arg)?,
                    pattern_restrictions: SksError::require(&p.pattern_restrictions)
                        .map_err(enum_arg)?,
                    min_length: p.min_length,
                    max_length: p.max_length,
                    input_method: SksError::require(&p.input_method).map_err(enum_arg)?,
                }))?;
                self.mac(Method::CreatePinPolicy, Some(p.id.clone()), data, &p.mac);
                self.pins.push((*h, p.id.clone(), p.user_defined));
            }
            (SksCall::CreateKeyEntry { params: p }, SksReturn::CreateKeyEntry(r)) => {
                let pin = self
                    .pins
                    .iter()
                    .find(|x| x.0 == p.pin_policy_handle)
                    .cloned();
                let preset = match (&pin, &p.pin_value) {
                    (Some((_, _, false)), Some(v)) => Some(v.to_vec()),
                    (Some((_, _, true)), Some(v)) => {
                        self.user_pins.push(String::from_utf8_lossy(v).into_owned());
                        None
                    }
                    _ => None,
                };
                let endorsed: Vec<&str> =
                    p.endorsed_algorithms.iter().map(String::as_str).collect();
                let data = rebuilt(session1::create_key_entry_data(&KeyEntryMacInput {
                    id: &p.id,
                    key_entry_algorithm: &p.key_entry_algorithm,
                    server_seed: p.server_seed.as_deref(),
                    pin_policy_id: pin.as_ref().map(|x| x.1.as_str()),
                    encrypted_pin: preset.as_deref(),
                    device_pin_protection: p.device_pin_protection,
                    enable_pin_caching: p.enable_pin_caching,
                    biometric_protection: SksError::require(&p.biometric_protection)
                        .map_err(enum_arg)?,
                    export_protection: SksError::require(&p.export_protection).map_err(enum_arg)?,
                    delete_protection: SksError::require(&p.delete_protection).map_err(enum_arg)?,
                    app_usage: SksError::require(&p.app_usage).map_err(enum_arg)?,
                    friendly_name: p.friendly_name.as_deref(),
                    key_algorithm: &p.key_algorithm,
                    key_parameters: p.key_parameters.as_deref(),
                    endorsed_algorithms: &endorsed,
                }))?;
                self.mac(Method::CreateKeyEntry, Some(p.id.clone()), data, &p.mac);
                if let Some(ct) = preset {
                    self.encrypted.push(("presetPin", p.id.clone(), ct));
                    if let Some(last) = self.ops.last_mut() {
                        *last = "createKeyEntryPresetPin";
                    }
                }
                self.steps.push(CounterStep::Attestation {
                    kind: "key",
                    id: Some(p.id.clone()),
                    data: rebuilt(session1::key_attestation_data(&r.public_key, &p.mac))?,
                    value: r.attestation.clone(),
                });
                self.keys
                    .push((r.key_handle, p.id.clone(), r.public_key.clone(), Vec::new()));
            }
            (
                SksCall::SetCertificatePath {
                    key_handle,
                    certificate_path,
                    mac,
                },
                _,
            ) => {
                let (id, spki, _) = self.key(*key_handle);
                let refs: Vec<&[u8]> = certificate_path.iter().map(Vec::as_slice).collect();
                let data = rebuilt(session1::set_certificate_path_data(&spki, &id, &refs))?;
                self.mac(Method::SetCertificatePath, Some(id), data, mac);
                if let Some(k) = self.keys.iter_mut().find(|k| k.0 == *key_handle) {
                    k.3 = certificate_path.first().cloned().unwrap_or_default();
                }
            }
            (
                SksCall::ImportSymmetricKey {
                    key_handle,
                    encrypted_key,
                    mac,
                },
                _,
            ) => {
                let (id, _, ee) = self.key(*key_handle);
                let data = rebuilt(session1::import_key_data(&ee, encrypted_key))?;
                self.mac(Method::ImportSymmetricKey, Some(id.clone()), data, mac);
                self.encrypted
                    .push(("symmetricKey", id, encrypted_key.clone()));
            }
            (
                SksCall::ImportPrivateKey {
                    key_handle,
                    encrypted_key,
                    mac,
                },
                _,
            ) => {
                let (id, _, ee) = self.key(*key_handle);
                let data = rebuilt(session1::import_key_data(&ee, encrypted_key))?;
                self.mac(Method::ImportPrivateKey, Some(id.clone()), data, mac);
                self.encrypted
                    .push(("privateKey", id, encrypted_key.clone()));
            }
            (
                SksCall::AddExtension {
                    key_handle,
                    type_uri,
                    sub_type,
                    qualifier,
                    extension_data,
                    mac,
                },
                _,
            ) => {
                let sub_byte = SksError::require(sub_type).map_err(enum_arg)?.to_byte();
                let (id, _, ee) = self.key(*key_handle);
                let sub = MacSubType::from_byte(sub_byte).unwrap_or(MacSubType::Extension);
                let data = rebuilt(session1::add_extension_data(
                    &ee,
                    type_uri,
                    sub,
                    qualifier,
                    extension_data,
                ))?;
                self.mac(Method::AddExtension, Some(id.clone()), data, mac);
                if sub_byte == ExtensionSubType::EncryptedExtension.to_byte() {
                    if let Some(last) = self.ops.last_mut() {
                        *last = "addEncryptedExtension";
                    }
                    self.encrypted
                        .push(("encryptedExtension", id, extension_data.clone()));
                }
            }
            (
                SksCall::PostDeleteKey {
                    target_key_handle,
                    authorization,
                    mac,
                    ..
                }
                | SksCall::PostUnlockKey {
                    target_key_handle,
                    authorization,
                    mac,
                    ..
                },
                _,
            ) => {
                let (method, op) = match call {
                    SksCall::PostDeleteKey { .. } => (Method::PostDeleteKey, "postDeleteKey"),
                    _ => (Method::PostUnlockKey, "postUnlockKey"),
                };
                let data = rebuilt(session1::post_delete_or_unlock_data(authorization))?;
                self.mac(method, None, data, mac);
                let cert = target_certificate(card, *target_key_handle);
                self.post.push((op, cert, authorization.clone()));
            }
            (
                SksCall::PostUpdateKey {
                    key_handle,
                    target_key_handle,
                    authorization,
                    mac,
                }
                | SksCall::PostCloneKeyProtection {
                    key_handle,
                    target_key_handle,
                    authorization,
                    mac,
                },
                _,
            ) => {
                let (method, op) = match call {
                    SksCall::PostUpdateKey { .. } => (Method::PostUpdateKey, "postUpdateKey"),
                    _ => (Method::PostCloneKeyProtection, "postCloneKeyProtection"),
                };
                let (id, _, ee) = self.key(*key_handle);
                let data = rebuilt(session1::post_update_or_clone_data(&ee, authorization))?;
                self.mac(method, Some(id), data, mac);
                let cert = target_certificate(card, *target_key_handle);
                self.post.push((op, cert, authorization.clone()));
            }
            // Everything else leaves no trace in a transcript.
            _ => {}
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------ scenarios

const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const LOGOTYPE_CARD: &str = "https://webpki.github.io/keygen2/logotype#card";

/// One session of a scenario.
#[derive(Debug, Clone)]
pub struct PartSpec {
    /// The issuance policy.
    pub policy: Policy,
    /// Seed of the issuer's KMK (P-256), if any.
    pub kmk: Option<u64>,
    /// Seeds of older KMKs rolled over to it.
    pub rollovers: Vec<u64>,
    /// PINs the user enters.
    pub pins: Vec<&'static str>,
    /// Card actions before the session.
    pub before: Vec<CardAction>,
}

/// A scenario: one or two sessions on one card.
#[derive(Debug, Clone)]
pub struct ScenarioSpec {
    /// File stem.
    pub name: &'static str,
    /// What it shows.
    pub comment: &'static str,
    /// The spec tags the scenario exercises.
    pub tags: &'static [&'static str],
    /// The test device.
    pub device: airtight_pki::DeviceKeyKind,
    /// The sessions.
    pub parts: Vec<PartSpec>,
}

fn key(id: &str, pin: Option<&str>) -> KeyPolicy {
    KeyPolicy {
        id: id.into(),
        algorithm: P256.into(),
        pin: pin.map(Into::into),
        ..KeyPolicy::default()
    }
}

fn part(policy: Policy) -> PartSpec {
    PartSpec {
        policy,
        kmk: Some(7),
        rollovers: Vec::new(),
        pins: vec!["1357"],
        before: Vec::new(),
    }
}

fn no_pin_part(policy: Policy) -> PartSpec {
    PartSpec {
        pins: Vec::new(),
        ..part(policy)
    }
}

fn discovery() -> DiscoveryPolicy {
    DiscoveryPolicy {
        enabled: true,
        lookup: vec![LookupPolicy {
            id: "Lookup.1".into(),
            app_usage: Some("authentication".into()),
            ..LookupPolicy::default()
        }],
    }
}

fn second(key_policy: Vec<KeyPolicy>, post: PostPolicy) -> Policy {
    Policy {
        discovery: discovery(),
        pin: Vec::new(),
        key: key_policy,
        post,
        ..Policy::default()
    }
}

/// The PKCS#8 of the private key imported in `import-private-key` (P-256 from a fixed seed).
fn imported_pkcs8() -> Vec<u8> {
    let k = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(99));
    k.to_pkcs8_der().map(|d| d.to_vec()).unwrap_or_default()
}

/// A 1x1 PNG (the logotype).
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const BASE_TAGS: &[&str] = &[
    "CRY-KDF-005",
    "CRY-KDF-007",
    "CRY-ATT-001",
    "CRY-MAC-001",
    "CRY-CTR-003",
    "CRY-CLS-001",
    "CRY-ENC-001",
    "CRY-LIM-003",
];

/// Every scenario.
pub fn scenarios() -> Vec<ScenarioSpec> {
    use airtight_pki::DeviceKeyKind::{P256 as DevP256, Rsa2048};
    let b = b64url::encode;
    let update = || {
        second(
            vec![KeyPolicy {
                update_discovered: true,
                ..key("Key.U", None)
            }],
            PostPolicy::default(),
        )
    };
    vec![
        ScenarioSpec {
            name: "e2es-ec-device",
            comment: "E2ES mode, P-256 device: one P-256 key under a user-defined PIN",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![part(Policy::default())],
        },
        ScenarioSpec {
            name: "e2es-rsa-device",
            comment: "E2ES mode, RSA-2048 device (RS256 session attestation): one P-256 key under a user-defined PIN",
            tags: BASE_TAGS,
            device: Rsa2048,
            parts: vec![part(Policy::default())],
        },
        ScenarioSpec {
            name: "privacy-enabled",
            comment: "Privacy mode: no deviceId, DeviceID \"Anonymous\", HMAC session attestation",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![part(Policy {
                privacy_enabled: true,
                ..Policy::default()
            })],
        },
        ScenarioSpec {
            name: "preset-pin",
            comment: "A preset (issuer-encrypted) PIN, not user-modifiable",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![no_pin_part(Policy {
                pin: vec![PinPolicy {
                    preset_value: Some("2468".into()),
                    user_modifiable: false,
                    ..PinPolicy::default()
                }],
                ..Policy::default()
            })],
        },
        ScenarioSpec {
            name: "puk-user-pin-patterns",
            comment: "A PUK policy over a user-defined PIN with four pattern restrictions, protecting two keys",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![PartSpec {
                pins: vec!["1357", "2460"],
                ..part(Policy {
                    puk: vec![PukPolicy::default()],
                    pin: vec![PinPolicy {
                        puk: Some("PUK.1".into()),
                        patterns: vec![
                            "two-in-a-row".into(),
                            "three-in-a-row".into(),
                            "sequence".into(),
                            "repeated".into(),
                        ],
                        ..PinPolicy::default()
                    }],
                    key: vec![
                        key("Key.1", Some("PIN.1")),
                        KeyPolicy {
                            app_usage: "signature".into(),
                            ..key("Key.2", Some("PIN.1"))
                        },
                    ],
                    ..Policy::default()
                })
            }],
        },
        ScenarioSpec {
            name: "import-private-key",
            comment: "The issuer certifies and imports its own P-256 private key (importPrivateKey)",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![no_pin_part(Policy {
                pin: Vec::new(),
                key: vec![KeyPolicy {
                    import_private_key: Some(b(&imported_pkcs8())),
                    ..key("Key.1", None)
                }],
                ..Policy::default()
            })],
        },
        ScenarioSpec {
            name: "import-symmetric-key",
            comment: "A 32-byte HMAC key imported on a P-256 carrier key (importSymmetricKey), endorsed hmac-sha256",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![no_pin_part(Policy {
                pin: Vec::new(),
                key: vec![KeyPolicy {
                    import_symmetric_key: Some(b(&[0x42; 32])),
                    endorsed_algorithms: vec![HMAC_SHA256.into()],
                    export_protection: "none".into(),
                    ..key("Key.1", None)
                }],
                ..Policy::default()
            })],
        },
        ScenarioSpec {
            name: "extensions-propertybag-logotype",
            comment: "A plain extension, an encrypted extension, a property bag and a PNG logotype",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![part(Policy {
                capability_query: vec![P256.into(), LOGOTYPE_CARD.into()],
                key: vec![KeyPolicy {
                    friendly_name: Some("golden".into()),
                    extensions: vec![ExtensionPolicy {
                        extension_type: "https://example.com/ext".into(),
                        data: b(b"plain extension"),
                    }],
                    encrypted_extensions: vec![ExtensionPolicy {
                        extension_type: "https://example.com/secret".into(),
                        data: b(b"secret extension"),
                    }],
                    property_bags: vec![PropertyBagPolicy {
                        bag_type: "https://example.com/props".into(),
                        properties: vec![
                            PropertyPolicy {
                                name: "user".into(),
                                value: "john".into(),
                                writable: true,
                            },
                            PropertyPolicy {
                                name: "server".into(),
                                value: "example.com".into(),
                                writable: false,
                            },
                        ],
                    }],
                    logotypes: vec![LogotypePolicy {
                        logotype_type: LOGOTYPE_CARD.into(),
                        mime_type: "image/png".into(),
                        data: b(PNG_1X1),
                    }],
                    ..key("Key.1", Some("PIN.1"))
                }],
                ..Policy::default()
            })],
        },
        ScenarioSpec {
            name: "update-key",
            comment: "Session 1: a key under KMK K0; session 2: discovery and postUpdateKey",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![part(Policy::default()), no_pin_part(update())],
        },
        ScenarioSpec {
            name: "clone-key-protection",
            comment: "Session 1: a key with a shared-grouping PIN; session 2: a new key joins that PIN (postCloneKeyProtection)",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![
                part(Policy {
                    pin: vec![PinPolicy {
                        grouping: "shared".into(),
                        ..PinPolicy::default()
                    }],
                    ..Policy::default()
                }),
                no_pin_part(second(
                    vec![KeyPolicy {
                        clone_discovered: true,
                        ..key("Key.C", None)
                    }],
                    PostPolicy::default(),
                )),
            ],
        },
        ScenarioSpec {
            name: "delete-key",
            comment: "Session 1: a key; session 2: a new key and postDeleteKey of the old one",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![
                part(Policy::default()),
                no_pin_part(second(
                    vec![key("Key.N", None)],
                    PostPolicy {
                        delete_discovered: true,
                        ..PostPolicy::default()
                    },
                )),
            ],
        },
        ScenarioSpec {
            name: "unlock",
            comment: "Session 1: a key with a PIN, then blocked by three wrong PINs; session 2: action unlock, discovery (locked), postUnlockKey, no key creation",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![
                part(Policy::default()),
                PartSpec {
                    before: vec![CardAction {
                        action: "signWithWrongPin".into(),
                        algorithm: ECDSA_SHA256.into(),
                        pin: "0000".into(),
                        tries: 3,
                    }],
                    ..no_pin_part(Policy {
                        action: "unlock".into(),
                        discovery: discovery(),
                        post: PostPolicy {
                            unlock_discovered: true,
                            ..PostPolicy::default()
                        },
                        ..Policy::default()
                    })
                },
            ],
        },
        ScenarioSpec {
            name: "kmk-rollover",
            comment: "Session 1 under KMK K0; session 2 under K2 with the roll-over K0 -> K2, discovery by K2 and postUpdateKey authorized by K2",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![
                part(Policy::default()),
                PartSpec {
                    kmk: Some(2),
                    rollovers: vec![7],
                    ..no_pin_part(update())
                },
            ],
        },
        ScenarioSpec {
            name: "credential-discovery",
            comment: "Session 1: a key; session 2: two signed lookups (one matching by appUsage, one by a subject regex that matches nothing) and a new key, no post-operation",
            tags: BASE_TAGS,
            device: DevP256,
            parts: vec![
                part(Policy::default()),
                no_pin_part(Policy {
                    discovery: DiscoveryPolicy {
                        enabled: true,
                        lookup: vec![
                            LookupPolicy {
                                id: "Lookup.1".into(),
                                app_usage: Some("authentication".into()),
                                ..LookupPolicy::default()
                            },
                            LookupPolicy {
                                id: "Lookup.2".into(),
                                subject_reg_ex: Some("CN=nobody.*".into()),
                                ..LookupPolicy::default()
                            },
                        ],
                    },
                    pin: Vec::new(),
                    key: vec![key("Key.N", None)],
                    ..Policy::default()
                }),
            ],
        },
    ]
}

// ------------------------------------------------------------------------------ the runner

/// A 32-byte seed named by a label (SHA-256 of it), so that every seed is written down.
fn labelled_seed(label: &str) -> [u8; 32] {
    sha256(format!("airtight golden transcript {label}").as_bytes())
}

fn kmk_key(seed: u64) -> PrivateKey {
    PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(seed))
}

fn pkcs8_hex(k: &PrivateKey) -> String {
    k.to_pkcs8_der().map(|d| hex(&d)).unwrap_or_default()
}

/// The issuer's TLS certificate: a P-256 stand-in issued by the test issuer CA.
fn server_certificate() -> Vec<u8> {
    let ca = airtight_pki::fixtures::issuer_ca();
    let key = kmk_key(443);
    let spki = key.public_key().to_spki_der().unwrap_or_default();
    let profile = airtight_pki::Profile::end_entity(
        "CN=127.0.0.1, O=airtight golden transcripts (TLS certificate stand-in)",
    );
    let serial = airtight_pki::Serial::from_u64(443).unwrap_or_else(|e| panic!("serial: {e}"));
    ca.issue_at(&spki, &profile, &serial, T0)
        .unwrap_or_else(|e| panic!("TLS stand-in: {e}"))
}

fn device_name(kind: airtight_pki::DeviceKeyKind) -> &'static str {
    match kind {
        airtight_pki::DeviceKeyKind::P256 => "P-256",
        airtight_pki::DeviceKeyKind::Rsa2048 => "RSA-2048",
    }
}

/// Runs a scenario: every session, recorded.
pub fn run_scenario(spec: &ScenarioSpec) -> Vec<Transcript> {
    let device = airtight_pki::fixtures::device(spec.device);
    let base_card = CardSetup {
        device: device_name(spec.device).into(),
        device_key_pkcs8: device
            .signing_key
            .to_pkcs8_der()
            .map(|d| hex(&d))
            .unwrap_or_default(),
        device_certificate_path: device.certificate_path.iter().map(|c| hex(c)).collect(),
        rng_seed: hex(&labelled_seed(&format!("card {}", spec.name))),
        clock: T0,
        continues_part: None,
    };
    let (card, clock) = build_card(&base_card).unwrap_or_else(|e| panic!("card: {e}"));
    let mut card = Some(card);
    let server_cert = hex(&server_certificate());
    let mut out = Vec::new();
    for (i, p) in spec.parts.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let now = T0 + SECOND_SESSION_DELAY * i64::from(n - 1);
        clock.set(UnixTime::from_secs(now));
        let card_setup = CardSetup {
            clock: now,
            continues_part: (n > 1).then_some(n - 1),
            ..base_card.clone()
        };
        let issuer = IssuerSetup {
            issuer_uri: ISSUER_URI.into(),
            server_certificate: server_cert.clone(),
            seed: hex(&labelled_seed(&format!("issuer {} {n}", spec.name))),
            now,
            policy: serde_json::to_value(&p.policy).unwrap_or_default(),
            ca_certificate_path: airtight_pki::fixtures::issuer_ca()
                .certificate_path()
                .iter()
                .map(|c| hex(c))
                .collect(),
            device_trust_anchor: hex(airtight_pki::fixtures::device_ca().certificate_der()),
            key_management_key: p.kmk.map(|s| pkcs8_hex(&kmk_key(s))),
            key_management_key_rollovers: p
                .rollovers
                .iter()
                .map(|s| RolloverKey {
                    pkcs8: pkcs8_hex(&kmk_key(*s)),
                    children: Vec::new(),
                })
                .collect(),
            subject_label: "golden".into(),
        };
        let middleware = MiddlewareSetup {
            clock: now,
            offset_minutes: 0,
            user_pins: p.pins.iter().map(|s| (*s).to_owned()).collect(),
            consent: "accept-all".into(),
        };
        let mut sks = card.take().unwrap_or_else(|| panic!("card"));
        apply_before(&mut sks, &p.before).unwrap_or_else(|e| panic!("{e}"));
        let (t, sks) = record_session(
            spec,
            n,
            issuer,
            card_setup,
            middleware,
            p.before.clone(),
            sks,
        );
        card = Some(sks);
        out.push(t);
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn record_session(
    spec: &ScenarioSpec,
    part: u32,
    issuer: IssuerSetup,
    card: CardSetup,
    middleware: MiddlewareSetup,
    before: Vec<CardAction>,
    sks: ReferenceSks,
) -> (Transcript, ReferenceSks) {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        panic!("{} part {part}: {what}: {e}", spec.name)
    };
    // The shared three-party driver (airtight-testkit) runs the session: the issuer draws from
    // the recorded seed's stream (its choices remembered), the card is reached directly and
    // every call it answers is traced, one clock for all three.
    let rng = issuer_rng(&issuer).unwrap_or_else(|e| fail("seed", &e));
    let drawn = Arc::new(Mutex::new(Drawn::default()));
    let trace = Arc::new(Mutex::new(CardTrace {
        device_certificate: card
            .device_certificate_path
            .first()
            .and_then(|c| hex_decode(c)),
        ..CardTrace::default()
    }));
    let mut d = build_driver(&issuer, &middleware, sks).unwrap_or_else(|e| fail("driver", &e));
    d.set_issuer_entropy(Box::new(RecordingEntropy {
        rng,
        drawn: Arc::clone(&drawn),
    }));
    let tap = Arc::clone(&trace);
    d.tap_card(Box::new(move |call, result, card| {
        if let Ok(mut t) = tap.lock() {
            t.observe(call, result, card);
        }
    }));
    d.begin().unwrap_or_else(|e| fail("start", &e));
    let run = d.drive();
    let record = match run.outcome {
        StepOutcome::Completed(r) => *r,
        other => fail("session", &format!("{other:?}")),
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap_or_else(|e| fail("UTF-8", &e));
    let messages = d
        .network_log()
        .iter()
        .map(|(to, body)| RecordedMessage {
            direction: match to {
                Party::Middleware => TO_MIDDLEWARE,
                Party::Issuer => TO_ISSUER,
            }
            .into(),
            qualifier: Message::decode(body)
                .map(|m| m.qualifier().to_owned())
                .unwrap_or_default(),
            body: text(body),
        })
        .collect();
    // The engine forgets the session key at close; the driver kept it when it was derived.
    let session_key = d
        .secrets()
        .iter()
        .find(|s| s.what.starts_with("session key of"))
        .map(|s| s.bytes.clone())
        .unwrap_or_default();
    let key_uses = match d.issuer_state() {
        Some(st) => st.key_uses,
        None => fail("issuer", &"no session state"),
    };
    let sks = d.into_card().unwrap_or_else(|| fail("card", &"gone"));
    let trace = std::mem::take(&mut *trace.lock().unwrap_or_else(|e| fail("trace", &e)));
    let drawn = std::mem::take(&mut *drawn.lock().unwrap_or_else(|e| fail("entropy", &e)));
    if let Some(e) = &trace.error {
        fail("trace", e);
    }
    let secrets = derive_secrets(&trace, &drawn, &session_key, key_uses)
        .unwrap_or_else(|e| fail("secrets", &e));
    let t = Transcript {
        scenario: spec.name.into(),
        part,
        issuer,
        card,
        middleware: MiddlewareSetup {
            user_pins: trace.user_pins.clone(),
            ..middleware
        },
        before,
        messages,
        secrets,
        outcome: Outcome::of(&record),
    };
    (t, sks)
}

fn derive_secrets(
    tr: &CardTrace,
    ent: &Drawn,
    issuer_session_key: &[u8],
    key_uses: u32,
) -> Result<Secrets, String> {
    let (p, res) = tr.create.as_ref().ok_or("no createProvisioningSession")?;
    let server = ent.ephemeral.as_ref().ok_or("no ephemeral key drawn")?;
    let client = PublicKey::from_spki_der(&res.client_ephemeral_key).map_err(|e| e.to_string())?;
    let z = ecdh_z(server, &client).map_err(|e| e.to_string())?;
    // The device certificate is the first of the card's path; privacy mode uses "Anonymous".
    let device_cert = if p.privacy_enabled {
        None
    } else {
        tr.device_certificate.as_deref()
    };
    let device_id =
        session1::device_id_bytes(p.privacy_enabled, device_cert).map_err(|e| e.to_string())?;
    let kdf = session1::kdf_input(
        &res.client_session_id,
        &p.server_session_id,
        &p.issuer_uri,
        &device_id,
    )
    .map_err(|e| e.to_string())?;
    let sk = session1::derive_session_key(
        &z,
        &res.client_session_id,
        &p.server_session_id,
        &p.issuer_uri,
        &device_id,
    )
    .map_err(|e| e.to_string())?;
    if sk.as_slice() != issuer_session_key {
        return Err("the issuer's session key differs from HMAC(Z, kdfInput)".into());
    }
    let input = session1::SessionAttestationInput {
        client_session_id: &res.client_session_id,
        server_session_id: &p.server_session_id,
        issuer_uri: &p.issuer_uri,
        device_id: &device_id,
        session_key_algorithm: &p.session_key_algorithm,
        privacy_enabled: p.privacy_enabled,
        server_ephemeral_key_spki: &p.server_ephemeral_key,
        client_ephemeral_key_spki: &res.client_ephemeral_key,
        key_management_key_spki: p.key_management_key.as_deref(),
        client_time: p.client_time,
        session_life_time: p.session_life_time,
        session_key_limit: p.session_key_limit,
        server_certificate: &p.server_certificate,
    }
    .to_bytes()
    .map_err(|e| e.to_string())?;
    let mut sc = SessionCrypto::new(*sk, u16::MAX);
    let enc = sc.encryption_key().map_err(|e| e.to_string())?;
    let mut macs = Vec::new();
    let mut attestations = Vec::new();
    for (i, step) in tr.steps.iter().enumerate() {
        let counter = u16::try_from(i).map_err(|e| e.to_string())?;
        match step {
            CounterStep::Mac {
                method,
                id,
                data,
                mac,
            } => {
                let expected = sc
                    .mac_at(*method, counter, data)
                    .map_err(|e| e.to_string())?;
                if expected.as_slice() != mac.as_slice() {
                    return Err(format!(
                        "rebuilt MAC data of {} (counter {counter}) does not give the card's MAC",
                        method.mac_name()
                    ));
                }
                macs.push(MacEntry {
                    counter,
                    method: method.mac_name().into(),
                    id: id.clone(),
                    data: hex(data),
                    mac: hex(mac),
                });
            }
            CounterStep::Attestation {
                kind,
                id,
                data,
                value,
            } => {
                let expected = sc.attest_at(counter, data).map_err(|e| e.to_string())?;
                if expected.as_slice() != value.as_slice() {
                    return Err(format!("{kind} attestation at counter {counter} differs"));
                }
                attestations.push(AttestationEntry {
                    counter,
                    kind: (*kind).into(),
                    id: id.clone(),
                    data: hex(data),
                    attestation: hex(value),
                });
            }
        }
    }
    let mut encryptions = Vec::new();
    for (what, id, ct) in &tr.encrypted {
        let pt = session1::decrypt_with_key(&enc, ct).map_err(|e| format!("{what} {id}: {e}"))?;
        encryptions.push(EncryptionEntry {
            what: (*what).into(),
            id: id.clone(),
            iv: hex(ct.get(..16).unwrap_or_default()),
            plaintext: hex(&pt),
            ciphertext: hex(ct),
        });
    }
    let mut tkrs = Vec::new();
    for (op, cert, auth) in &tr.post {
        let tkr = sc
            .target_key_reference(&device_id, cert)
            .map_err(|e| e.to_string())?;
        tkrs.push(TargetKeyReferenceEntry {
            operation: (*op).into(),
            target_certificate: hex(cert),
            target_key_reference: hex(&tkr),
            authorization: hex(auth),
        });
    }
    Ok(Secrets {
        server_session_id: p.server_session_id.clone(),
        client_session_id: res.client_session_id.clone(),
        server_ephemeral_private_key: pkcs8_hex(server),
        device_id: hex(&device_id),
        z: hex(&z),
        kdf_input: hex(&kdf),
        session_key: hex(sk.as_slice()),
        encryption_key: hex(enc.as_slice()),
        session_attestation_input: hex(&input),
        session_attestation: hex(&res.attestation),
        client_time: p.client_time,
        macs,
        attestations,
        encryptions,
        target_key_references: tkrs,
        roll_overs: tr
            .roll_overs
            .iter()
            .map(|(k, a)| RollOverEntry {
                new_key_management_key: hex(k),
                authorization: hex(a),
            })
            .collect(),
        ivs: ent.ivs.iter().map(|iv| hex(iv)).collect(),
        close_nonce: hex(&ent.close_nonce),
        serials: ent.serials.iter().map(|s| hex(s)).collect(),
        operations: tr.ops.iter().map(|s| (*s).to_owned()).collect(),
        final_counter: u32::try_from(tr.steps.len()).unwrap_or(u32::MAX),
        session_key_uses: key_uses,
    })
}

/// The transcript file of a scenario.
pub fn scenario_file(spec: &ScenarioSpec, transcripts: &[Transcript]) -> VectorFile {
    let mut b = Builder::new(
        &format!("KeyGen2 session transcript {}", spec.name),
        spec.tags,
        &[
            &format!("Scenario: {}", spec.comment),
            "Origin: generated by airtight-vectors (generate/sessions.rs): the airtight issuer engine, middleware engine and reference card run in process, each deterministic (ChaCha20 streams from the recorded seeds, fixed clocks).",
            "Each test is one session on the card (part 2 continues the card of part 1). `messages` holds the exact HTTP bodies in order; `secrets` every derived value, each recomputable with airtight_proto::session1; replaying the issuer from `issuer` or the card and middleware from `card` and `middleware` must reproduce every message byte for byte.",
        ],
    );
    b.note(
        "Regression",
        "KNOWN_ANSWER",
        "Regression snapshot of our own engines: the secrets are recomputed independently by the checker, the messages by the replay tests (vectors/tests/sessions.rs).",
    );
    b.group(GROUP_TYPE);
    for t in transcripts {
        let fields = serde_json::to_value(t).unwrap_or_default();
        b.test(
            &format!("{} session {}", spec.name, t.part),
            &["Regression"],
            Verdict::Valid,
            fields,
        );
    }
    b.finish()
}

/// Every transcript file, by file stem (`sessions/<stem>.json`).
pub fn all() -> Vec<(String, VectorFile)> {
    scenarios()
        .iter()
        .map(|s| (s.name.to_owned(), scenario_file(s, &run_scenario(s))))
        .collect()
}

/// The transcripts of a file.
pub fn transcripts(file: &VectorFile) -> Result<Vec<Transcript>, String> {
    file.tests()
        .filter(|(k, _)| *k == GROUP_TYPE)
        .map(|(_, t)| {
            serde_json::from_value(Value::Object(t.fields.clone()))
                .map_err(|e| format!("tcId {}: {e}", t.tc_id))
        })
        .collect()
}
