//! The three-party driver: the real issuer engine (with its SQLite store), the real middleware
//! and the real reference card, moved one message at a time in virtual time, with fault
//! controls. The model is quinn-proto's test `Pair`: one value owns every party, [`Driver::step`]
//! delivers the next message in flight, [`Driver::drive`] steps until nothing moves.
//!
//! - **Time**: one clock ([`Driver::now`], a [`UnixTime`]), a `ManualClock` of the workspace's
//!   one clock seam (`airtight_proto::time`), that the issuer (`now`), the middleware
//!   (`clientTime`) and the card all read; it moves only when told to ([`Driver::set_now`],
//!   [`Driver::advance`]).
//! - **Entropy**: one seed; the issuer draws from the ChaCha20 stream of that seed (or from an
//!   [`Entropy`] the caller sets, [`Driver::set_issuer_entropy`]), the card from its own stream
//!   derived from it (a new one at every boot), so the same seed gives byte-identical sessions.
//! - **Card**: `ReferenceSks` on a [`SimFs`](airtight_card::store::SimFs), reached directly or
//!   through the APDU codec of `airtight-bindings` ([`CardPath`]); every SKS call is recorded
//!   with its APDUs ([`SksCallTrace`]) and can be observed as it happens ([`Driver::tap_card`]).
//! - **Issuer**: [`airtight_issuer::Issuer`] plus its [`Store`] (in-memory SQLite), used as the
//!   HTTP layer uses it: the state is stored after every step with the version check, the
//!   issuance recorded in the same transaction as the final state, a failure stored with its
//!   reason. [`Driver::restart_issuer`] drops the engine's in-memory state; the next message
//!   reloads it from the store.
//! - **Faults**: drop, replay, reorder and tamper with messages in flight, restart the issuer,
//!   cut card power at the n-th store write, remove the card, crash the middleware.
//!
//! Each step returns a [`StepTrace`]: the message bytes, the SKS calls with their APDUs, the
//! issuer's crypto operations ([`trace::issuer_ops`]).
//!
//! ```
//! use airtight_testkit::driver::{Driver, DriverConfig, StepOutcome};
//! let mut d = Driver::new(DriverConfig::new(7))?;
//! d.begin()?;
//! let run = d.drive();
//! assert!(matches!(run.outcome, StepOutcome::Completed(_)));
//! # Ok::<(), airtight_testkit::driver::DriverError>(())
//! ```

mod card;
pub mod trace;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use airtight_card::store::CrashPolicy;
use airtight_card::{ReferenceSks, TEST_TIME};
use airtight_client::engine::{Middleware, SessionContext};
use airtight_client::ui::{AutoUi, PinSource};
use airtight_issuer::db::{DbError, IssuerStore, SessionStatus, Store};
use airtight_issuer::{
    Entropy, IssuanceRecord, Issuer, IssuerError, Next, Policy, RngEntropy, StartRequest,
};
use airtight_pki::DeviceKeyKind;
use airtight_proto::codec::b64url;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::time::{Clock as _, ManualClock, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub use airtight_bindings::ApduLimits;
pub use card::{CallTap, CardPath, DriverSks, RecordingTransport, TracedCard};
pub use trace::{Apdu, IssuerOp, Party, SksCallTrace, StepOutcome, StepTrace};

/// The issuer URL of driven sessions (plain HTTP: no TLS certificate is bound unless the
/// issuer is configured with one, see [`Driver::begin`]).
pub const ISSUER_URI: &str = "http://127.0.0.1:18080/keygen2";

/// Why the driver could not set a party up.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The card could not be opened.
    #[error("card: {0}")]
    Card(#[from] airtight_card::CardError),
    /// The issuer refused to start a session (e.g. an invalid policy).
    #[error("issuer: {0}")]
    Issuer(#[from] IssuerError),
    /// The issuer's store failed.
    #[error("issuer store: {0}")]
    Store(#[from] DbError),
    /// The card is not in the reader (removed) or held by no one.
    #[error("{0}")]
    State(&'static str),
}

/// What to drive.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The one seed of every party's randomness.
    pub seed: u64,
    /// The issuer's policy.
    pub policy: Policy,
    /// How the middleware reaches the card.
    pub card_path: CardPath,
    /// The card's device key kind.
    pub device: DeviceKeyKind,
    /// The user's answers to PIN prompts, one per line.
    pub user_pins: String,
    /// The start time of the shared clock.
    pub start_time: UnixTime,
    /// The middleware's UTC offset in minutes (the zone of its `clientTime`).
    pub utc_offset_minutes: i16,
    /// The issuer URL (the KDF's `issuerUri`).
    pub issuer_uri: String,
    /// What the issuer knows at the start of each session.
    pub start: StartRequest,
}

impl DriverConfig {
    /// The default policy, a P-256 card over extended APDUs, PIN `1357`, the card's
    /// [`TEST_TIME`].
    pub fn new(seed: u64) -> Self {
        DriverConfig {
            seed,
            policy: Policy::default(),
            card_path: CardPath::Apdu(ApduLimits::EXTENDED),
            device: DeviceKeyKind::P256,
            user_pins: "1357\n".into(),
            start_time: TEST_TIME,
            utc_offset_minutes: 0,
            issuer_uri: ISSUER_URI.into(),
            start: StartRequest::default(),
        }
    }
}

/// The test issuer's configuration: the test issuer CA, the test device anchor, a KMK from a
/// fixed seed. Test keys only.
pub fn test_issuer(uri: &str, policy: Policy) -> Issuer {
    let mut iss = Issuer::new(uri, Vec::new(), policy);
    iss.ca = Some(airtight_pki::fixtures::issuer_ca());
    iss.device_anchors = vec![airtight_pki::fixtures::device_trust_anchor()];
    iss.kmk = Some(PrivateKey::generate_ec(
        Curve::P256,
        &mut ChaCha20Rng::seed_from_u64(7),
    ));
    iss
}

/// The issuer's randomness when the caller sets one ([`Driver::set_issuer_entropy`]).
pub type IssuerEntropy = Box<dyn Entropy + Send>;

/// The issuer's in-memory engine state of the current session.
#[derive(Debug)]
struct Live {
    version: i64,
    state: airtight_issuer::SessionState,
}

/// A secret the parties must never see in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// What it is (`PUK.1`, `session key of s1`, ...).
    pub what: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A secret found in clear where it must not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Which secret.
    pub what: String,
    /// Where: `network message i` or `APDU i`.
    pub place: String,
}

/// Everything [`Driver::drive`] did.
#[derive(Debug, Clone)]
pub struct Run {
    /// One trace per step.
    pub steps: Vec<StepTrace>,
    /// The last step's outcome (the reason the drive stopped).
    pub outcome: StepOutcome,
}

/// The three parties and the network between the issuer and the middleware.
pub struct Driver {
    config: DriverConfig,
    clock: ManualClock,
    issuer: Issuer,
    issuer_rng: ChaCha20Rng,
    issuer_entropy: Option<IssuerEntropy>,
    store: Store,
    handle: Option<String>,
    live: Option<Live>,
    last_error: Option<IssuerError>,
    sessions: u32,
    mw: Option<Middleware<DriverSks>>,
    idle_card: Option<TracedCard>,
    flight: VecDeque<(Party, Vec<u8>)>,
    network: Vec<(Party, Vec<u8>)>,
    apdus: Vec<Apdu>,
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("now", &self.now())
            .field("handle", &self.handle)
            .field("in_flight", &self.flight.len())
            .field("middleware", &self.mw.is_some())
            .finish_non_exhaustive()
    }
}

fn derive_seed(seed: u64, label: u64) -> u64 {
    // splitmix64 of (seed, label): independent streams per party.
    let mut z = seed ^ label.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Driver {
    /// The parties of `config`: the test issuer ([`test_issuer`]) with an empty in-memory
    /// store, a fresh card on an empty `SimFs`, no session yet ([`Driver::begin`]).
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let issuer = test_issuer(&config.issuer_uri, config.policy.clone());
        Self::with_issuer(config, issuer)
    }

    /// [`Driver::new`] with an issuer configured by the caller (its policy is the one used;
    /// `config.policy` is ignored).
    pub fn with_issuer(config: DriverConfig, issuer: Issuer) -> Result<Self, DriverError> {
        let clock = ManualClock::new(config.start_time);
        let card = TracedCard::new(card::CardSetup {
            device: config.device,
            seed: derive_seed(config.seed, 2),
            clock: clock.clone(),
            path: config.card_path,
        })?;
        Ok(Self::assemble(config, issuer, clock, card)?)
    }

    /// A driver on a card the caller built (reached directly, whatever `config.card_path`
    /// says; it keeps its own clock; no power cuts). For tests that prepare a card's state.
    pub fn with_card(
        config: DriverConfig,
        issuer: Issuer,
        card: ReferenceSks,
    ) -> Result<Self, DriverError> {
        let clock = ManualClock::new(config.start_time);
        Ok(Self::assemble(
            config,
            issuer,
            clock,
            TracedCard::given(card),
        )?)
    }

    /// A driver on a card taken from another driver ([`Driver::take_card`]): the card keeps
    /// its store, and the driver adopts its clock (set to `config.start_time`).
    pub fn with_traced_card(
        config: DriverConfig,
        issuer: Issuer,
        card: TracedCard,
    ) -> Result<Self, DriverError> {
        let clock = card
            .clock()
            .cloned()
            .unwrap_or_else(|| ManualClock::new(config.start_time));
        clock.set(config.start_time);
        Ok(Self::assemble(config, issuer, clock, card)?)
    }

    /// Takes the card out of the driver (from the middleware or idle), to use it in another.
    pub fn take_card(&mut self) -> Option<TracedCard> {
        match self.mw.take() {
            Some(mw) => Some(mw.into_sks().0),
            None => self.idle_card.take(),
        }
    }

    fn assemble(
        config: DriverConfig,
        issuer: Issuer,
        clock: ManualClock,
        card: TracedCard,
    ) -> Result<Self, DbError> {
        let mut d = Driver {
            issuer_rng: ChaCha20Rng::seed_from_u64(config.seed),
            issuer_entropy: None,
            clock,
            issuer,
            store: Store::in_memory()?,
            handle: None,
            live: None,
            last_error: None,
            sessions: 0,
            mw: None,
            idle_card: Some(card),
            flight: VecDeque::new(),
            network: Vec::new(),
            apdus: Vec::new(),
            secrets: Vec::new(),
            config,
        };
        d.secrets = policy_secrets(&d.issuer.policy);
        Ok(d)
    }

    /// Gives the card back (from the middleware or idle).
    pub fn into_card(mut self) -> Option<ReferenceSks> {
        match self.mw.take() {
            Some(mw) => Some(mw.into_sks().0.into_sks()),
            None => self.idle_card.take().map(TracedCard::into_sks),
        }
    }

    // ------------------------------------------------------------------ time

    /// The shared clock.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Sets the shared clock.
    pub fn set_now(&mut self, t: UnixTime) {
        self.clock.set(t);
    }

    /// Moves the shared clock forward.
    pub fn advance(&mut self, seconds: u64) {
        self.clock.advance(seconds);
    }

    // ------------------------------------------------------------- accessors

    /// The issuer draws from the ChaCha20 stream `rng` from now on (instead of the stream of
    /// the seed), e.g. one recorded in a transcript.
    pub fn set_issuer_rng(&mut self, rng: ChaCha20Rng) {
        self.issuer_rng = rng;
        self.issuer_entropy = None;
    }

    /// The issuer draws its choices (session ids, ephemeral keys, IVs, nonces, serials) from
    /// `entropy` instead of the ChaCha20 stream of the seed: e.g. a recording or pinned one.
    pub fn set_issuer_entropy(&mut self, entropy: IssuerEntropy) {
        self.issuer_entropy = Some(entropy);
    }

    /// Observes every SKS call the card answers from now on, as it happens (`tap` gets the
    /// call, its result and the card itself, to look something up at that moment). Returns
    /// false if the driver holds no card.
    pub fn tap_card(&mut self, tap: CallTap) -> bool {
        match self.card() {
            Some(c) => {
                c.set_tap(tap);
                true
            }
            None => false,
        }
    }

    /// The issuer's configuration (e.g. to turn on a deliberate fault).
    pub fn issuer_mut(&mut self) -> &mut Issuer {
        &mut self.issuer
    }

    /// The issuer's store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The issuer engine's in-memory state of the current session (`None` after a restart,
    /// until the next message reloads it).
    pub fn issuer_state(&self) -> Option<&airtight_issuer::SessionState> {
        self.live.as_ref().map(|l| &l.state)
    }

    /// The issuer's last refusal, as the engine reported it.
    pub fn last_issuer_error(&self) -> Option<&IssuerError> {
        self.last_error.as_ref()
    }

    /// The store handle of the current session.
    pub fn session_handle(&self) -> Option<&str> {
        self.handle.as_deref()
    }

    /// The card, wherever it is (in the middleware or idle).
    pub fn card(&mut self) -> Option<&mut TracedCard> {
        match &mut self.mw {
            Some(mw) => Some(&mut mw.sks().0),
            None => self.idle_card.as_mut(),
        }
    }

    /// The middleware of the current session, if it is running.
    pub fn middleware(&self) -> Option<&Middleware<DriverSks>> {
        self.mw.as_ref()
    }

    /// The messages in flight, next first.
    pub fn in_flight(&self) -> impl Iterator<Item = &(Party, Vec<u8>)> {
        self.flight.iter()
    }

    /// Every message that was put on the network (sent, injected, tampered), in order: what a
    /// network observer saw.
    pub fn network_log(&self) -> &[(Party, Vec<u8>)] {
        &self.network
    }

    /// Every APDU exchanged with the card: what the middleware's reader saw.
    pub fn apdu_log(&self) -> &[Apdu] {
        &self.apdus
    }

    /// The secrets the middleware, the network and an attacker must never see in clear: the
    /// policy's PUKs, preset PINs, imported keys and encrypted extension values, and every
    /// session key the issuer derived so far.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    // --------------------------------------------------------------- session

    /// Starts a session: the issuer makes the InvocationRequest (stored as a new session) and
    /// a new middleware on the card waits for it. A previous middleware gives the card back.
    pub fn begin(&mut self) -> Result<(), DriverError> {
        let card = match self.mw.take() {
            Some(mw) => mw.into_sks().0,
            None => self.idle_card.take().ok_or(DriverError::State("no card"))?,
        };
        let now = self.now();
        let start = self.config.start.clone();
        let (state, first) = match self.issuer_entropy.as_mut() {
            Some(e) => self.issuer.start_with(start, &mut **e, now)?,
            None => self
                .issuer
                .start_with(start, &mut RngEntropy(&mut self.issuer_rng), now)?,
        };
        self.sessions += 1;
        self.last_error = None;
        let handle = format!("s{}", self.sessions);
        self.store.insert_session(&handle, &state, now.secs())?;
        self.handle = Some(handle);
        self.live = Some(Live { version: 1, state });
        // An issuer with a TLS certificate is reached over TLS: the middleware binds the
        // certificate it sees ([KG2-HTP-010]).
        let mut context = SessionContext::plain(&self.config.issuer_uri);
        context.server_certificate = self.issuer.server_certificate.clone();
        let mw = Middleware::new(airtight_bindings::calls::CallAdapter(card), context)
            .with_ui(Box::new(AutoUi::accept_all()))
            .with_pin_source(PinSource::from_lines(&self.config.user_pins))
            .with_clock(Box::new(self.clock.clone()))
            .with_utc_offset(self.config.utc_offset_minutes);
        self.mw = Some(mw);
        self.send(Party::Middleware, first.to_bytes());
        Ok(())
    }

    fn send(&mut self, to: Party, bytes: Vec<u8>) {
        self.network.push((to, bytes.clone()));
        self.flight.push_back((to, bytes));
    }

    /// Delivers the next message in flight to its recipient and puts the answer in flight.
    pub fn step(&mut self) -> StepTrace {
        let now = self.now();
        let Some((to, bytes)) = self.flight.pop_front() else {
            return StepTrace {
                now,
                delivered: None,
                answered: None,
                sks_calls: Vec::new(),
                issuer_ops: Vec::new(),
                card_rebooted: false,
                outcome: StepOutcome::Idle,
            };
        };
        let mut t = match to {
            Party::Issuer => self.issuer_step(&bytes),
            Party::Middleware => self.middleware_step(&bytes),
        };
        t.now = now;
        t.delivered = Some((to, bytes));
        t
    }

    /// Steps until a step ends the session (completed, refused, failed), the middleware is
    /// down, or nothing is in flight.
    pub fn drive(&mut self) -> Run {
        let mut steps = Vec::new();
        loop {
            let t = self.step();
            let outcome = t.outcome.clone();
            steps.push(t);
            if outcome != StepOutcome::Continue {
                return Run { steps, outcome };
            }
        }
    }

    fn empty(outcome: StepOutcome) -> StepTrace {
        StepTrace {
            now: UnixTime::EPOCH,
            delivered: None,
            answered: None,
            sks_calls: Vec::new(),
            issuer_ops: Vec::new(),
            card_rebooted: false,
            outcome,
        }
    }

    fn issuer_step(&mut self, body: &[u8]) -> StepTrace {
        let now = self.now();
        let Some(handle) = self.handle.clone() else {
            return Self::empty(StepOutcome::IssuerUnknownSession);
        };
        // After a restart the engine state comes back from the store.
        let live = match self.live.take() {
            Some(l) => l,
            None => match self.store.load_session(&handle) {
                Ok(Some(s)) => Live {
                    version: s.version,
                    state: s.state,
                },
                _ => return Self::empty(StepOutcome::IssuerUnknownSession),
            },
        };
        let Live { version, mut state } = live;
        let r = match self.issuer_entropy.as_mut() {
            Some(e) => self.issuer.handle_with(&mut state, body, &mut **e, now),
            None => self.issuer.handle_with(
                &mut state,
                body,
                &mut RngEntropy(&mut self.issuer_rng),
                now,
            ),
        };
        if !state.secrets.session_key.is_empty()
            && !self
                .secrets
                .iter()
                .any(|s| s.bytes == state.secrets.session_key)
        {
            self.secrets.push(Secret {
                what: format!("session key of {handle}"),
                bytes: state.secrets.session_key.clone(),
            });
        }
        let (outcome, answer, version) = match r {
            Ok(Next::Request(m)) => {
                let b = m.to_bytes();
                match self
                    .store
                    .update_session(&handle, version, &state, now.secs())
                {
                    Ok(v) => (StepOutcome::Continue, Some(b), v),
                    Err(e) => (
                        StepOutcome::IssuerRefused(format!("store: {e}")),
                        None,
                        version,
                    ),
                }
            }
            Ok(Next::Done(rec)) => {
                match self
                    .store
                    .complete_session(&handle, version, &state, &rec, now.secs())
                {
                    Ok(_) => (StepOutcome::Completed(Box::new(rec)), None, version + 1),
                    Err(e) => (
                        StepOutcome::IssuerRefused(format!("store: {e}")),
                        None,
                        version,
                    ),
                }
            }
            Err(e) => {
                let reason = e.to_string();
                self.last_error = Some(e.clone());
                // A session already closed keeps its stored status.
                if !matches!(e, IssuerError::SessionClosed(_)) {
                    let id = format!("{handle}-e{version}");
                    let _ = self.store.fail_session(
                        &handle,
                        Some(version),
                        &state,
                        &id,
                        &reason,
                        now.secs(),
                    );
                }
                // The HTTP layer redirects to its error page; the middleware aborts its SKS
                // session on a redirect ([KG2-HTP-005]).
                if let Some(mw) = self.mw.as_mut() {
                    mw.abort();
                }
                (StepOutcome::IssuerRefused(reason), None, version + 1)
            }
        };
        self.live = Some(Live { version, state });
        let ops = trace::issuer_ops(Some(body), answer.as_deref());
        let mut t = Self::empty(outcome);
        t.issuer_ops = ops;
        t.sks_calls = self.take_card_calls();
        if let Some(b) = answer {
            t.answered = Some(b.clone());
            self.send(Party::Middleware, b);
        }
        t
    }

    fn take_card_calls(&mut self) -> Vec<SksCallTrace> {
        let calls = match self.card() {
            Some(c) => c.take_calls(),
            None => Vec::new(),
        };
        self.apdus
            .extend(calls.iter().flat_map(|c| c.apdus.iter().cloned()));
        calls
    }

    fn middleware_step(&mut self, body: &[u8]) -> StepTrace {
        let Some(mw) = self.mw.as_mut() else {
            return Self::empty(StepOutcome::MiddlewareDown);
        };
        let r = mw.handle_bytes(body);
        let mut rebooted = false;
        if mw.sks().0.crashed() {
            // Power comes back: the card boots from what its files hold.
            rebooted = mw.sks().0.power_cycle(CrashPolicy::DropUnsynced).is_ok();
        }
        let mut t = Self::empty(StepOutcome::Continue);
        t.card_rebooted = rebooted;
        t.sks_calls = self.take_card_calls();
        match r {
            Ok(b) => {
                t.answered = Some(b.clone());
                self.send(Party::Issuer, b);
            }
            Err(e) => t.outcome = StepOutcome::MiddlewareFailed(e.to_string()),
        }
        t
    }

    // ---------------------------------------------------------------- faults

    /// The next message in flight is lost.
    pub fn drop_next(&mut self) -> Option<(Party, Vec<u8>)> {
        self.flight.pop_front()
    }

    /// Puts a copy of the `i`-th network message back in flight, first (an attacker's
    /// replay). Returns false if there is no such message.
    pub fn replay(&mut self, i: usize) -> bool {
        match self.network.get(i).cloned() {
            Some(m) => {
                self.network.push(m.clone());
                self.flight.push_front(m);
                true
            }
            None => false,
        }
    }

    /// Puts a message of the attacker's own in flight, first.
    pub fn inject(&mut self, to: Party, bytes: Vec<u8>) {
        self.network.push((to, bytes.clone()));
        self.flight.push_front((to, bytes));
    }

    /// Swaps the first two messages in flight. Returns false if fewer than two are in flight.
    pub fn reorder(&mut self) -> bool {
        if self.flight.len() < 2 {
            return false;
        }
        self.flight.swap(0, 1);
        true
    }

    /// Rewrites the next message in flight with `f`. Returns false if nothing is in flight.
    pub fn tamper_next(&mut self, f: impl FnOnce(Vec<u8>) -> Vec<u8>) -> bool {
        match self.flight.pop_front() {
            Some((to, b)) => {
                let b = f(b);
                self.network.push((to, b.clone()));
                self.flight.push_front((to, b));
                true
            }
            None => false,
        }
    }

    /// The issuer process restarts: its in-memory session state is gone; the next message
    /// reloads the state from the store (what a restarted HTTP issuer does).
    pub fn restart_issuer(&mut self) {
        self.live = None;
    }

    /// Arms a card power cut at the `n`-th store write point from now (1 = the next). The card
    /// reboots from its files after the step in which the cut happens.
    pub fn cut_card_power_at_write(&mut self, n: u64) {
        if let Some(c) = self.card() {
            c.cut_power_at_write(n);
        }
    }

    /// The card leaves the reader: every later SKS call fails as not available.
    pub fn remove_card(&mut self) {
        if let Some(c) = self.card() {
            c.remove();
        }
    }

    /// The card is put back (freshly powered: open sessions are gone).
    pub fn insert_card(&mut self) -> Result<(), DriverError> {
        match self.card() {
            Some(c) => Ok(c.insert()?),
            None => Err(DriverError::State("no card")),
        }
    }

    /// The middleware process dies: its engine state is lost without aborting anything; the
    /// card stays in the reader (with whatever session it had open in RAM).
    pub fn crash_middleware(&mut self) {
        if let Some(mw) = self.mw.take() {
            self.idle_card = Some(mw.into_sks().0);
        }
    }

    // ---------------------------------------------------------------- checks

    /// Every secret of [`Driver::secrets`] found in clear (raw or Base64URL) in a network
    /// message or an APDU.
    pub fn leaks(&self) -> Vec<Leak> {
        let mut out = Vec::new();
        let places = self
            .network
            .iter()
            .enumerate()
            .map(|(i, (_, b))| (format!("network message {i}"), b.as_slice()))
            .chain(self.apdus.iter().enumerate().flat_map(|(i, a)| {
                [
                    (format!("command APDU {i}"), a.command.as_slice()),
                    (format!("response APDU {i}"), a.response.as_slice()),
                ]
            }));
        for (place, hay) in places {
            for s in &self.secrets {
                if contains(hay, &s.bytes) || contains(hay, b64url::encode(&s.bytes).as_bytes()) {
                    out.push(Leak {
                        what: s.what.clone(),
                        place: place.clone(),
                    });
                }
            }
        }
        out
    }

    /// The issuances the store holds (they survive issuer restarts).
    pub fn issuances(&self) -> Result<Vec<IssuanceRecord>, DriverError> {
        Ok(self
            .store
            .issuances()?
            .into_iter()
            .map(|i| i.record)
            .collect())
    }

    /// The stored status of the current session.
    pub fn session_status(&self) -> Option<SessionStatus> {
        let h = self.handle.as_deref()?;
        self.store.load_session(h).ok().flatten().map(|s| s.status)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The secrets of a policy: PUK values, preset PIN values, imported keys, encrypted extension
/// data (values shorter than 4 bytes are left out: they match by chance).
fn policy_secrets(p: &Policy) -> Vec<Secret> {
    let mut out = Vec::new();
    let mut add = |what: String, bytes: Vec<u8>| {
        if bytes.len() >= 4 {
            out.push(Secret { what, bytes });
        }
    };
    for puk in &p.puk {
        add(puk.id.clone(), puk.value.as_bytes().to_vec());
    }
    for pin in &p.pin {
        if let Some(v) = &pin.preset_value {
            add(pin.id.clone(), v.as_bytes().to_vec());
        }
    }
    for k in &p.key {
        let dec = |s: &str| b64url::decode(s).unwrap_or_default();
        if let Some(s) = &k.import_symmetric_key {
            add(format!("{} symmetric key", k.id), dec(s));
        }
        if let Some(s) = &k.import_private_key {
            add(format!("{} private key", k.id), dec(s));
        }
        for e in &k.encrypted_extensions {
            add(
                format!("{} encrypted extension {}", k.id, e.extension_type),
                dec(&e.data),
            );
        }
    }
    out
}
