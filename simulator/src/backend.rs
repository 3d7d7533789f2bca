//! The seam between the simulator's engine (events, virtual time, models) and what computes a
//! session: [`Backend`]. The engine owns the timeline and every random draw of the models; a
//! backend says what each party does with a message (sizes, crypto work, card calls, verdicts)
//! and, at the end of a session, what the oracle needs to know ([`SessionFacts`]).
//!
//! Two implementations: `ModelBackend` (crate `model`, predicts by rule) and the full backend
//! (`simulator/src/full/`, runs the real issuer engine, middleware and reference card through
//! the APDU codec). Both see the same calls in the same order for the same seed.
//!
//! Stability: this file is the contract between the helpers `simcore` and `driver`. It changes
//! only with a note here.
//! - v1 (first commit).
//! - v2: `SessionSpec::card` (the card's identity within the population: sessions with the
//!   same value run on the same card, whose store persists between them).
//!
//! Refinements of the shared plan (`SIM-PLAN.md`): `middleware` and `end` fill caller-owned
//! values so that the model mode allocates nothing per event; network loss, duplication and
//! reordering act on the TCP level (retransmission delay, extra bytes, head-of-line delay) in
//! the engine, so the backends never see them; replayed, reordered or dropped *messages* are
//! attacks ([`AttackKind`]), applied through [`Backend::tamper`].

use airtight_bindings::ApduLimits;
use airtight_proto::sks::SksMethod;
pub use airtight_proto::time::UnixTime;
use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// Virtual time: nanoseconds since the run's start.
pub type VTime = u64;

/// Nanoseconds per millisecond.
pub const MS: VTime = 1_000_000;
/// Nanoseconds per second.
pub const SEC: VTime = 1_000_000_000;

/// The time engines see at virtual time `now`: `start_unix + now` (whole seconds; a start
/// beyond the representable range reads as the largest instant).
pub fn unix_at(start_unix: u64, now: VTime) -> UnixTime {
    UnixTime::from_unsigned(start_unix)
        .unwrap_or(UnixTime::from_secs(i64::MAX))
        .saturating_add_secs(now / SEC)
}

/// The steps of a session, one per issuer message (`design.md`, "The eight steps").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// InvocationRequest (the first GET) and the middleware's InvocationResponse.
    Invocation,
    /// ProvisioningInitializationRequest / Response (createProvisioningSession).
    ProvisioningInitialization,
    /// CredentialDiscoveryRequest / Response (optional).
    CredentialDiscovery,
    /// KeyCreationRequest / Response (PIN/PUK policies, key entries).
    KeyCreation,
    /// ProvisioningFinalizationRequest / Response (certificates, secrets, close).
    ProvisioningFinalization,
    /// The issuer's result (redirect) after step 8.
    Result,
}

impl Step {
    /// Every step in protocol order.
    pub const ALL: [Step; 6] = [
        Step::Invocation,
        Step::ProvisioningInitialization,
        Step::CredentialDiscovery,
        Step::KeyCreation,
        Step::ProvisioningFinalization,
        Step::Result,
    ];

    /// Position in [`Step::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name (as in outputs).
    pub const fn name(self) -> &'static str {
        match self {
            Step::Invocation => "invocation",
            Step::ProvisioningInitialization => "provisioning_initialization",
            Step::CredentialDiscovery => "credential_discovery",
            Step::KeyCreation => "key_creation",
            Step::ProvisioningFinalization => "provisioning_finalization",
            Step::Result => "result",
        }
    }
}

/// A key algorithm asked for by the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlg {
    /// EC P-256.
    EcP256,
    /// RSA-2048.
    Rsa2048,
}

/// What kind of element a card profile models (full mode always runs the reference card; the
/// kind selects the device certificate curve and is reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardClass {
    /// A Java Card behind an ISO 7816-3 reader.
    JavaCard,
    /// A TPM 2.0 behind a host stack.
    Tpm,
    /// A USB token (CCID, sub-millisecond transport).
    UsbToken,
    /// Our reference card.
    Reference,
}

/// One session's shape: everything a backend needs to run it. Small and `Copy`: the engine
/// builds one per session from the scenario and the session's random streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpec {
    /// Session index within the run (also its [`SessionHandle`]).
    pub index: u64,
    /// The card (identity within the population; equal values = the same card, its store
    /// kept between sessions). Without a `card_count` in the workload it equals `index`.
    pub card: u64,
    /// Which issuer (index into the scenario's `[[issuers]]`).
    pub issuer: u16,
    /// Which card profile (index into the scenario's `[[cards]]`).
    pub card_profile: u16,
    /// The profile's class.
    pub card_class: CardClass,
    /// The reader link's APDU limits (short + chaining, or extended).
    pub limits: ApduLimits,
    /// EC P-256 keys asked for.
    pub ec_keys: u8,
    /// RSA-2048 keys asked for.
    pub rsa_keys: u8,
    /// A PIN policy (user-defined PIN) protects the keys.
    pub pin: bool,
    /// A PUK policy guards the PIN.
    pub puk: bool,
    /// The issuer asks for credential discovery (step "opt").
    pub discovery: bool,
    /// Privacy-enabled mode (no device certificate to the issuer).
    pub privacy: bool,
    /// Imported secrets: a symmetric key is imported (encrypted) in finalization.
    pub import_symmetric: bool,
    /// The time at the run's start (the engines see `start_unix + vtime`).
    pub start_unix: UnixTime,
}

impl SessionSpec {
    /// Keys asked for in total.
    pub fn keys(&self) -> u8 {
        self.ec_keys + self.rsa_keys
    }
}

/// A backend's name for a session: its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionHandle(pub u64);

/// How a request reached the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// The first GET (the invocation URL).
    Get,
    /// A POST of the middleware's answer to the issuer message of `step`, of `bytes` bytes.
    Post {
        /// The step the middleware answers.
        step: Step,
        /// Body size.
        bytes: u32,
    },
}

/// Crypto and store operations an issuer did for one request, for the service-time model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerOp {
    /// ECDSA P-256 signature.
    EcdsaSign,
    /// ECDSA P-256 verification (attestations, device certificate chain).
    EcdsaVerify,
    /// Ephemeral ECDH.
    Ecdh,
    /// RSA-2048 signature (RSA CA).
    RsaSign,
    /// RSA-2048 verification.
    RsaVerify,
    /// An X.509 certificate issued.
    CertIssue,
    /// HMAC-SHA256 / KDF step.
    Mac,
    /// AES-256 encryption of a secret.
    Encrypt,
    /// JSON parse + serialize of one message.
    Json,
    /// One durable store commit.
    StoreCommit,
}

impl IssuerOp {
    /// Number of operations.
    pub const COUNT: usize = 10;
    /// Every operation, in order.
    pub const ALL: [IssuerOp; Self::COUNT] = [
        IssuerOp::EcdsaSign,
        IssuerOp::EcdsaVerify,
        IssuerOp::Ecdh,
        IssuerOp::RsaSign,
        IssuerOp::RsaVerify,
        IssuerOp::CertIssue,
        IssuerOp::Mac,
        IssuerOp::Encrypt,
        IssuerOp::Json,
        IssuerOp::StoreCommit,
    ];
}

/// Counts of [`IssuerOp`]s (indexed by `op as usize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IssuerCost(pub [u16; IssuerOp::COUNT]);

impl IssuerCost {
    /// Adds `n` of `op`.
    pub fn add(&mut self, op: IssuerOp, n: u16) {
        self.0[op as usize] = self.0[op as usize].saturating_add(n);
    }

    /// How many of `op`.
    pub fn get(&self, op: IssuerOp) -> u16 {
        self.0[op as usize]
    }
}

/// Why a session ended without completing (or how it completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Completed: the issuer recorded the issuance and the card closed the session.
    Completed,
    /// The issuer refused a message (protocol or policy error).
    IssuerRefused,
    /// The issuer's queue was full: the request was turned away.
    IssuerOverloaded,
    /// The issuer node crashed with the request in service or the session unrecoverable.
    IssuerCrash,
    /// The card answered an SKS error.
    CardError,
    /// The card was pulled out of the reader.
    CardRemoved,
    /// The card lost power during a store write.
    PowerLoss,
    /// The reader reset the card.
    ReaderReset,
    /// The middleware process crashed.
    MiddlewareCrash,
    /// The user gave up (or declined consent).
    UserAbandoned,
    /// The network was partitioned past the client's timeout.
    NetworkPartition,
    /// A request timed out (retransmissions exhausted, no answer in time).
    Timeout,
    /// The session outlived the issuer's session lifetime.
    SessionExpired,
    /// A party detected an attack and aborted.
    AttackDetected,
}

impl Cause {
    /// Number of causes.
    pub const COUNT: usize = 14;
    /// Every cause, in order.
    pub const ALL: [Cause; Self::COUNT] = [
        Cause::Completed,
        Cause::IssuerRefused,
        Cause::IssuerOverloaded,
        Cause::IssuerCrash,
        Cause::CardError,
        Cause::CardRemoved,
        Cause::PowerLoss,
        Cause::ReaderReset,
        Cause::MiddlewareCrash,
        Cause::UserAbandoned,
        Cause::NetworkPartition,
        Cause::Timeout,
        Cause::SessionExpired,
        Cause::AttackDetected,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Completed => "completed",
            Cause::IssuerRefused => "issuer_refused",
            Cause::IssuerOverloaded => "issuer_overloaded",
            Cause::IssuerCrash => "issuer_crash",
            Cause::CardError => "card_error",
            Cause::CardRemoved => "card_removed",
            Cause::PowerLoss => "power_loss",
            Cause::ReaderReset => "reader_reset",
            Cause::MiddlewareCrash => "middleware_crash",
            Cause::UserAbandoned => "user_abandoned",
            Cause::NetworkPartition => "network_partition",
            Cause::Timeout => "timeout",
            Cause::SessionExpired => "session_expired",
            Cause::AttackDetected => "attack_detected",
        }
    }
}

/// What the issuer decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerVerdict {
    /// It answered with the issuer message of this step.
    Continue(Step),
    /// The session completed (the result page / redirect was sent).
    Completed,
    /// It refused; the session ends with this cause.
    Refused(Cause),
}

/// The issuer's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuerOutcome {
    /// Response body size.
    pub response_bytes: u32,
    /// Work done (the service-time model charges it; [`IssuerOp::StoreCommit`] also charges
    /// the store's commit latency).
    pub cost: IssuerCost,
    /// The decision.
    pub verdict: IssuerVerdict,
}

/// On-card compute kinds, charged by the card profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardOp {
    /// EC P-256 key generation.
    EcKeygen,
    /// RSA-2048 key generation.
    RsaKeygen,
    /// ECDH P-256.
    Ecdh,
    /// ECDSA P-256 signature.
    EcdsaSign,
    /// ECDSA P-256 verification.
    EcdsaVerify,
    /// RSA-2048 private-key operation.
    RsaSign,
    /// RSA-2048 public-key operation.
    RsaVerify,
    /// One HMAC-SHA256 (MAC check, KDF step).
    Hmac,
    /// AES-256-CBC over one secret (≤ 256 bytes).
    Aes,
    /// SHA-256 over ≤ 256 bytes.
    Sha256,
    /// One persistent store write (EEPROM / flash commit).
    StoreWrite,
}

impl CardOp {
    /// Number of kinds.
    pub const COUNT: usize = 11;
    /// Every kind, in order.
    pub const ALL: [CardOp; Self::COUNT] = [
        CardOp::EcKeygen,
        CardOp::RsaKeygen,
        CardOp::Ecdh,
        CardOp::EcdsaSign,
        CardOp::EcdsaVerify,
        CardOp::RsaSign,
        CardOp::RsaVerify,
        CardOp::Hmac,
        CardOp::Aes,
        CardOp::Sha256,
        CardOp::StoreWrite,
    ];
}

/// Counts of [`CardOp`]s in one SKS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CardOps(pub [u8; CardOp::COUNT]);

impl CardOps {
    /// Adds `n` of `op`.
    pub fn add(&mut self, op: CardOp, n: u8) {
        self.0[op as usize] = self.0[op as usize].saturating_add(n);
    }

    /// How many of `op`.
    pub fn get(&self, op: CardOp) -> u8 {
        self.0[op as usize]
    }
}

/// One SKS call the middleware made, with its cost on the reader link (counted with the real
/// APDU codec of `airtight-bindings` under the session's [`ApduLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardCall {
    /// The SKS method.
    pub method: SksMethod,
    /// On-card work.
    pub ops: CardOps,
    /// Command APDUs sent (chain segments and GET RESPONSEs included).
    pub apdus: u32,
    /// Bytes of all command APDUs (headers included).
    pub bytes_to_card: u32,
    /// Bytes of all response APDUs (status words included).
    pub bytes_from_card: u32,
}

/// A user action the middleware waited for (the user model charges its delay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// Accept the issuer's dialog (step 1).
    Consent,
    /// Enter (set) a PIN.
    PinEntry,
    /// Enter a PUK.
    PukEntry,
}

/// What the middleware decided after handling an issuer message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiddlewareVerdict {
    /// POST `request_bytes` to the issuer.
    Continue,
    /// The session is over from the middleware's side (after the result).
    Done,
    /// The middleware aborted with this cause (card error, card removed, attack detected, …).
    Aborted(Cause),
}

/// The middleware's handling of one issuer message. Caller-owned and reused: a backend
/// clears and fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddlewareOutcome {
    /// SKS calls in order.
    pub card_calls: Vec<CardCall>,
    /// User actions in order (before the card calls they gate).
    pub user: Vec<UserAction>,
    /// Size of the POST body that follows (when `verdict` is `Continue`).
    pub request_bytes: u32,
    /// The decision.
    pub verdict: MiddlewareVerdict,
    /// The APDUs that crossed the reader link, as (command, response) pairs, one list per
    /// entry of `card_calls` (full mode; empty in model mode, which computes no bytes). The
    /// transcript writes one line per APDU from it.
    pub wire: Vec<Vec<WireApdu>>,
}

/// One command APDU and the card's response (data and status word), as they crossed the
/// reader link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireApdu {
    /// The command APDU.
    pub command: Vec<u8>,
    /// The response APDU.
    pub response: Vec<u8>,
}

impl Default for MiddlewareOutcome {
    fn default() -> Self {
        Self {
            card_calls: Vec::with_capacity(16),
            user: Vec::with_capacity(4),
            request_bytes: 0,
            verdict: MiddlewareVerdict::Continue,
            wire: Vec::new(),
        }
    }
}

impl MiddlewareOutcome {
    /// Empties it for the next message (keeps the allocations).
    pub fn clear(&mut self) {
        self.card_calls.clear();
        self.user.clear();
        self.request_bytes = 0;
        self.verdict = MiddlewareVerdict::Continue;
        self.wire.clear();
    }
}

/// What a hostile middleware or network relay does to the next message in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// Flip bytes of the message (a MAC'd or signed field).
    Tamper,
    /// Send an earlier message of the session again.
    Replay,
    /// Swap the order of two SKS calls / messages.
    Reorder,
    /// Drop the message.
    Drop,
    /// Ask the card for privacy mode off (or on) against the issuer's request.
    DowngradePrivacy,
    /// Replace a generated public key by the attacker's.
    SubstituteKey,
    /// Try to read secrets (PIN, PUK, imported keys, session key) from what passes by.
    StealSecrets,
    /// Observe sessions across issuers to link a card (cross-issuer observer; passive).
    Link,
}

impl AttackKind {
    /// Every kind.
    pub const ALL: [AttackKind; 8] = [
        AttackKind::Tamper,
        AttackKind::Replay,
        AttackKind::Reorder,
        AttackKind::Drop,
        AttackKind::DowngradePrivacy,
        AttackKind::SubstituteKey,
        AttackKind::StealSecrets,
        AttackKind::Link,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Tamper => "tamper",
            AttackKind::Replay => "replay",
            AttackKind::Reorder => "reorder",
            AttackKind::Drop => "drop",
            AttackKind::DowngradePrivacy => "downgrade_privacy",
            AttackKind::SubstituteKey => "substitute_key",
            AttackKind::StealSecrets => "steal_secrets",
            AttackKind::Link => "link",
        }
    }
}

/// Where an attacker sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackerSite {
    /// Between the middleware and the card (hostile middleware).
    Middleware,
    /// Between the middleware and the issuer (network relay).
    Network,
}

/// What became of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AttackOutcome {
    /// No attack in this session.
    #[default]
    None,
    /// A party detected it and refused (the session failed with [`Cause::AttackDetected`] or
    /// the card/issuer error it caused).
    Rejected,
    /// It had no effect worth reporting (e.g. stealing found only ciphertext).
    Harmless,
    /// It succeeded: a property is broken.
    Succeeded,
}

/// Which parties saw a secret in clear (bit set = seen): the oracle requires all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretsSeen {
    /// The middleware saw a PIN, PUK, imported key or session key in clear.
    pub middleware: bool,
    /// The network (anything on the issuer link) saw one.
    pub network: bool,
    /// An attacker saw one.
    pub attacker: bool,
}

/// What the oracle needs to know about a session after it ended. Caller-owned; a backend
/// fills every field in [`Backend::end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    /// How the session ended (as the engine saw it; the backend may refine the cause).
    pub cause: Cause,
    /// Keys the issuer recorded as issued for this session.
    pub keys_at_issuer: u8,
    /// Of those, keys whose attestation verified, in a session whose device certificate chain
    /// validated (or, in privacy mode, whose session attestation verified).
    pub keys_attested: u8,
    /// Keys of this session left on the card (provisioned and closed).
    pub keys_on_card: u8,
    /// The issuer holds a completed issuance for this session.
    pub issuance_recorded: bool,
    /// A completed issuance was later lost (e.g. across an issuer crash).
    pub issuance_lost: bool,
    /// Who saw secrets in clear.
    pub secrets_seen: SecretsSeen,
    /// The MAC counter observed by the card only rose.
    pub mac_counters_monotonic: bool,
    /// Highest MAC counter seen (0 when none).
    pub mac_counter_max: u32,
    /// The issuer saw a device identifier (device certificate or ID) of the card.
    pub device_id_visible: bool,
    /// A stable card identifier as the issuer saw it (hash), for cross-issuer linkability;
    /// 0 when the issuer saw none.
    pub issuer_visible_id: u64,
    /// The attack, if any.
    pub attack: Option<AttackKind>,
    /// What became of it.
    pub attack_outcome: AttackOutcome,
    /// The attack was reported (an error naming it at the card, middleware or issuer).
    pub attack_reported: bool,
}

impl Default for SessionFacts {
    fn default() -> Self {
        Self {
            cause: Cause::Completed,
            keys_at_issuer: 0,
            keys_attested: 0,
            keys_on_card: 0,
            issuance_recorded: false,
            issuance_lost: false,
            secrets_seen: SecretsSeen::default(),
            mac_counters_monotonic: true,
            mac_counter_max: 0,
            device_id_visible: false,
            issuer_visible_id: 0,
            attack: None,
            attack_outcome: AttackOutcome::None,
            attack_reported: false,
        }
    }
}

/// A backend failed below the protocol (a bug or an impossible state, not a session outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend {backend}: {message}")]
pub struct BackendError {
    /// Which backend.
    pub backend: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A session computer. One value per run; sessions are identified by their index.
///
/// Call order for one session (the engine guarantees it):
/// `begin`, then alternately `issuer` (with `Inbound::Get` first) and `middleware` until a
/// verdict ends the session, then `end` exactly once (also after an abort). Fault and attack
/// hooks may come between any two calls of that session; `restart_issuer` between any two
/// calls of the run.
pub trait Backend {
    /// "model" or "full".
    fn name(&self) -> &'static str;

    /// Starts a session. `rng` is the session's own stream for the backend (entropy for the
    /// engines in full mode); it is not shared with the models.
    fn begin(
        &mut self,
        spec: &SessionSpec,
        rng: &mut SimRng,
    ) -> Result<SessionHandle, BackendError>;

    /// The issuer node `node` serves `request` at time `now`.
    fn issuer(
        &mut self,
        session: SessionHandle,
        node: u16,
        request: Inbound,
        now: UnixTime,
    ) -> Result<IssuerOutcome, BackendError>;

    /// The middleware handles the issuer message it last received (with the card) at time
    /// `now`, filling `out` (cleared by the backend first).
    fn middleware(
        &mut self,
        session: SessionHandle,
        now: UnixTime,
        out: &mut MiddlewareOutcome,
    ) -> Result<(), BackendError>;

    /// The card is pulled out: the next card call fails.
    fn remove_card(&mut self, session: SessionHandle) -> Result<(), BackendError>;

    /// The card loses power at its `write_index`-th store write (counted from 0 over the next
    /// middleware call); after that the card comes back up from its store.
    fn power_loss(&mut self, session: SessionHandle, write_index: u32) -> Result<(), BackendError>;

    /// The reader resets the card before the next card call (open sessions are lost).
    fn reader_reset(&mut self, session: SessionHandle) -> Result<(), BackendError>;

    /// Issuer node `node` crashes and restarts from its stored state (requests in service are
    /// lost; the engine has already failed their sessions).
    fn restart_issuer(&mut self, node: u16) -> Result<(), BackendError>;

    /// The middleware process crashes (its in-memory state is gone).
    fn crash_middleware(&mut self, session: SessionHandle) -> Result<(), BackendError>;

    /// An attacker at `site` applies `kind` to the next message in flight of this session.
    fn tamper(
        &mut self,
        session: SessionHandle,
        site: AttackerSite,
        kind: AttackKind,
    ) -> Result<(), BackendError>;

    /// The session is over with `cause` (as the engine saw it); fill `facts` for the oracle
    /// and release the session's state.
    fn end(
        &mut self,
        session: SessionHandle,
        cause: Cause,
        facts: &mut SessionFacts,
    ) -> Result<(), BackendError>;
}
