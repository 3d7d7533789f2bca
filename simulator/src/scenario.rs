//! Scenario files (TOML): a `[configuration]`, then lists of cards, readers, issuers, user
//! workloads, faults and attackers, in the spirit of FoundationDB's test files. Checked twice:
//! against the JSON Schema `spec/schemas/sim-scenario.schema.json` (shape), then by
//! [`Scenario::compile`] (names resolve, distributions are usable). Every error names the line.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::{AttackKind, AttackerSite, CardClass, CardOp, Step};
use crate::dist::Dist;

/// The JSON Schema of scenario files.
pub const SCHEMA: &str = include_str!("../../spec/schemas/sim-scenario.schema.json");

/// The built-in card profiles (each with its source).
pub const PROFILES: &str = include_str!("../profiles.toml");

/// The scenarios shipped in `simulator/scenarios`, embedded at build time (`build.rs` embeds
/// every `.toml` file of that directory), so they can be listed and run by name anywhere.
pub mod shipped {
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

    /// The name a shipped scenario carries in outputs and errors: its path in the repository,
    /// so that `sim run smoke` and `sim run simulator/scenarios/smoke.toml` (from the
    /// repository's root) write the same outputs.
    pub fn label(name: &str) -> String {
        format!("simulator/scenarios/{name}.toml")
    }

    /// The shipped scenario called `name` (`smoke` or `smoke.toml`): its label and text.
    pub fn find(name: &str) -> Option<(String, &'static str)> {
        let bare = name.strip_suffix(".toml").unwrap_or(name);
        SHIPPED
            .iter()
            .find(|(n, _)| *n == bare)
            .map(|(n, text)| (label(n), *text))
    }
}

/// A scenario file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Run-wide settings.
    pub configuration: Configuration,
    /// Card populations (profile + reader + weight).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<CardSpec>,
    /// Reader links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<ReaderSpec>,
    /// The network between middleware and issuers.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Issuers.
    pub issuers: Vec<IssuerSpec>,
    /// User workloads.
    pub users: Vec<UserSpec>,
    /// Faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Attackers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attackers: Vec<AttackerSpec>,
}

/// `[configuration]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    /// Scenario name.
    pub name: String,
    /// One sentence: what it shows.
    #[serde(default)]
    pub description: String,
    /// Seed when the command line gives none.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Unix time at virtual time 0 (default: the reference card's test time).
    #[serde(default = "default_start")]
    pub start_unix: u64,
    /// Interval of the time series (utilisation, queue, completions), seconds.
    #[serde(default = "default_sample")]
    pub sample_interval_s: f64,
    /// Virtual time cap, seconds: sessions still running then end with `timeout`.
    #[serde(default = "default_max_virtual")]
    pub max_virtual_s: f64,
    /// Write `transcript.jsonl` (off for very large runs).
    #[serde(default = "default_true")]
    pub transcript: bool,
    /// The middleware's per-request timeout, seconds (partitions longer than it fail).
    #[serde(default = "default_client_timeout")]
    pub client_timeout_s: f64,
    /// Scale every workload's session count by this factor (`--scale` overrides).
    #[serde(default = "default_one")]
    pub scale: f64,
}

fn default_seed() -> u64 {
    1
}
fn default_start() -> u64 {
    1_767_225_600
}
fn default_sample() -> f64 {
    1.0
}
fn default_max_virtual() -> f64 {
    86_400.0
}
fn default_true() -> bool {
    true
}
fn default_client_timeout() -> f64 {
    60.0
}
fn default_one() -> f64 {
    1.0
}
fn default_weight() -> f64 {
    1.0
}

/// `[[cards]]`: a card population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSpec {
    /// Name used in `users.cards`.
    pub name: String,
    /// A built-in profile (`airtight sim list --profiles`).
    pub profile: String,
    /// The reader (a `[[readers]]` name or a built-in reader).
    #[serde(default = "default_reader")]
    pub reader: String,
    /// Share of the population.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Override of the per-APDU overhead, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_apdu_ms: Option<f64>,
    /// Overrides of on-card operation times, ms (keys: the `CardOp` names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<OpOverride>,
}

fn default_reader() -> String {
    "t1-223k".into()
}

/// One operation time override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpOverride {
    /// The operation.
    pub op: CardOp,
    /// Its time, ms.
    pub ms: Dist,
}

/// `[[readers]]`: a reader link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderSpec {
    /// Name.
    pub name: String,
    /// ISO 7816-3 bit rate (bit/s); for `usb` the USB bulk rate.
    pub bit_rate: f64,
    /// T=1 information field size of the card (bytes per block).
    #[serde(default = "default_ifsc")]
    pub ifsc: u32,
    /// Extended-length APDUs (else short APDUs and command chaining).
    #[serde(default)]
    pub extended: bool,
    /// A USB-native device (CCID framing, no ISO 7816-3 UART).
    #[serde(default)]
    pub usb: bool,
}

fn default_ifsc() -> u32 {
    254
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency, ms.
    #[serde(default = "default_latency")]
    pub latency_ms: Dist,
    /// Packet loss probability (each loss costs a retransmission timeout).
    #[serde(default)]
    pub loss: f64,
    /// Packet duplication probability (extra bytes; TCP drops the copy).
    #[serde(default)]
    pub duplication: f64,
    /// Probability a message is held behind a reordered packet.
    #[serde(default)]
    pub reorder: f64,
    /// Extra delay of a reordered message, ms.
    #[serde(default = "default_reorder_delay")]
    pub reorder_delay_ms: Dist,
    /// Bandwidth, kbit/s (0 = unlimited).
    #[serde(default)]
    pub bandwidth_kbps: f64,
    /// Initial TCP retransmission timeout, ms (doubles per consecutive loss).
    #[serde(default = "default_rto")]
    pub rto_ms: f64,
}

fn default_latency() -> Dist {
    Dist::Fixed(20.0)
}
fn default_reorder_delay() -> Dist {
    Dist::Fixed(10.0)
}
fn default_rto() -> f64 {
    200.0
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            latency_ms: default_latency(),
            loss: 0.0,
            duplication: 0.0,
            reorder: 0.0,
            reorder_delay_ms: default_reorder_delay(),
            bandwidth_kbps: 0.0,
            rto_ms: default_rto(),
        }
    }
}

/// The issuer's service-time model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Service {
    /// `"cost_table"`: the measured cost per crypto operation (see `model::COST_TABLE_US`).
    Named(String),
    /// Any distribution of the time per request, ms.
    Dist(Dist),
}

/// `[[issuers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    /// Name.
    pub name: String,
    /// Nodes behind the load balancer (sharing one store).
    #[serde(default = "default_nodes")]
    pub nodes: u16,
    /// Workers per node.
    #[serde(default = "default_workers")]
    pub workers: u16,
    /// Service time per request.
    #[serde(default = "default_service")]
    pub service: Service,
    /// Requests waiting per node before it answers 503.
    #[serde(default = "default_queue_limit")]
    pub queue_limit: u32,
    /// Store commit latency, ms (charged per commit, holding the worker).
    #[serde(default = "default_commit")]
    pub store_commit_ms: Dist,
    /// Session lifetime, seconds: a request after it is refused (`session_expired`).
    #[serde(default = "default_lifetime")]
    pub session_lifetime_s: f64,
    /// What it provisions.
    #[serde(default)]
    pub keys: KeysSpec,
}

fn default_nodes() -> u16 {
    1
}
fn default_workers() -> u16 {
    4
}
fn default_service() -> Service {
    Service::Named("cost_table".into())
}
fn default_queue_limit() -> u32 {
    1000
}
fn default_commit() -> Dist {
    Dist::Fixed(2.0)
}
fn default_lifetime() -> f64 {
    300.0
}

/// What an issuer provisions per session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSpec {
    /// EC P-256 keys.
    #[serde(default = "default_ec")]
    pub ec: u8,
    /// RSA-2048 keys.
    #[serde(default)]
    pub rsa: u8,
    /// A user PIN policy.
    #[serde(default = "default_true")]
    pub pin: bool,
    /// A PUK policy.
    #[serde(default)]
    pub puk: bool,
    /// A symmetric key imported (encrypted).
    #[serde(default)]
    pub import_symmetric: bool,
    /// Probability the session starts with credential discovery.
    #[serde(default)]
    pub discovery: f64,
    /// Probability the session is in privacy-enabled mode.
    #[serde(default)]
    pub privacy: f64,
}

fn default_ec() -> u8 {
    1
}

impl Default for KeysSpec {
    fn default() -> Self {
        Self {
            ec: 1,
            rsa: 0,
            pin: true,
            puk: false,
            import_symmetric: false,
            discovery: 0.0,
            privacy: 0.0,
        }
    }
}

/// How sessions arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrival {
    /// Poisson arrivals at a constant rate.
    Poisson {
        /// Sessions per second.
        rate_per_s: f64,
    },
    /// Poisson arrivals whose rate moves linearly from `from_per_s` to `to_per_s` over
    /// `over_s` seconds, then stays (thinning, Lewis–Shedler).
    Ramp {
        /// Start rate.
        from_per_s: f64,
        /// End rate.
        to_per_s: f64,
        /// Ramp length, seconds.
        over_s: f64,
    },
    /// All sessions start within `over_s` seconds from `at_s`, uniformly.
    Burst {
        /// Start, seconds.
        #[serde(default)]
        at_s: f64,
        /// Spread, seconds.
        #[serde(default)]
        over_s: f64,
    },
    /// A fixed population of `concurrency` users, each starting its next session `think_ms`
    /// after the last one ended.
    Population {
        /// Users.
        concurrency: u32,
        /// Think time, ms.
        #[serde(default = "default_think")]
        think_ms: Dist,
    },
}

fn default_think() -> Dist {
    Dist::Fixed(0.0)
}

/// `[[users]]`: a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Name.
    pub name: String,
    /// Sessions to run (before `scale`).
    pub sessions: u64,
    /// Start of the workload, seconds.
    #[serde(default)]
    pub start_s: f64,
    /// Arrival process.
    pub arrival: Arrival,
    /// Issuers, chosen uniformly (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    /// Card populations, chosen by weight (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<String>,
    /// Distinct cards the sessions are spread over (0 = one card per session); with fewer
    /// cards than sessions a card enrols at several issuers (linkability).
    #[serde(default)]
    pub card_count: u64,
    /// Time to accept the issuer's dialog, ms.
    #[serde(default = "default_consent")]
    pub consent_ms: Dist,
    /// Time to enter a PIN, ms.
    #[serde(default = "default_pin")]
    pub pin_entry_ms: Dist,
    /// Probability a PIN entry is refused by the policy and entered again.
    #[serde(default)]
    pub wrong_pin: f64,
    /// Probability the user gives up at a prompt.
    #[serde(default)]
    pub abandon: f64,
}

fn default_consent() -> Dist {
    Dist::Fixed(2000.0)
}
fn default_pin() -> Dist {
    Dist::Fixed(4000.0)
}

/// Fault kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The card is pulled at a step.
    CardRemoved,
    /// Power loss during a card store write.
    PowerLoss,
    /// The reader resets the card.
    ReaderReset,
    /// The middleware crashes.
    MiddlewareCrash,
    /// An issuer node crashes and restarts.
    IssuerCrash,
    /// The network is partitioned.
    Partition,
    /// A deliberate defect in an engine (for testing the oracle and explore).
    Deliberate,
}

impl FaultKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::CardRemoved => "card_removed",
            FaultKind::PowerLoss => "power_loss",
            FaultKind::ReaderReset => "reader_reset",
            FaultKind::MiddlewareCrash => "middleware_crash",
            FaultKind::IssuerCrash => "issuer_crash",
            FaultKind::Partition => "partition",
            FaultKind::Deliberate => "deliberate",
        }
    }
}

/// Deliberate defects (each breaks exactly one rule the oracle checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defect {
    /// The issuer records keys without checking their attestation.
    IssuerAcceptsUnattestedKeys,
    /// The issuer's store loses issuances committed before a crash.
    IssuerLosesCommits,
    /// The middleware logs the PIN in clear.
    MiddlewareLeaksPin,
    /// The card keeps keys of an aborted session.
    CardKeepsAbortedKeys,
    /// The card sends its device certificate in privacy mode.
    CardLeaksDeviceIdInPrivacyMode,
    /// The issuer follows the mode of the client's answer instead of the one it asked for,
    /// so a downgrade of privacy mode on the way is accepted (in full mode: the real issuer's
    /// `AcceptPrivacyDowngrade` fault).
    IssuerAcceptsPrivacyDowngrade,
}

/// `[[faults]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The fault.
    pub kind: FaultKind,
    /// Per-session probability (card, power, reader, middleware faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The step it hits (default: a random step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// Issuer (for `issuer_crash`; default the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Node (for `issuer_crash`; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u16>,
    /// When, seconds (`issuer_crash`, `partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// How long, seconds (restart delay of `issuer_crash`, length of `partition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// The defect (for `deliberate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defect: Option<Defect>,
}

/// `[[attackers]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackerSpec {
    /// What it does.
    pub kind: AttackKind,
    /// Where it sits.
    #[serde(default = "default_site")]
    pub site: AttackerSite,
    /// Share of sessions it attacks.
    #[serde(default = "default_one")]
    pub fraction: f64,
    /// The step it attacks (default: a random step after the invocation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
}

fn default_site() -> AttackerSite {
    AttackerSite::Middleware
}

/// A built-in card profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// Class.
    pub class: CardClass,
    /// What it models.
    pub description: String,
    /// Where the numbers come from.
    pub source: String,
    /// Overhead per command APDU (reader + card turnaround), ms.
    pub per_apdu_ms: Dist,
    /// On-card times, ms.
    pub ops: Vec<OpOverride>,
    /// Factor on the first call of an operation in a session (power-up), e.g. JCOP 2.4's
    /// first EC keygen.
    #[serde(default)]
    pub first_call: Vec<FirstCall>,
}

/// A first-call penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstCall {
    /// The operation.
    pub op: CardOp,
    /// Multiplier of its first call.
    pub factor: f64,
}

/// The built-in profiles file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Card profiles.
    pub profile: Vec<Profile>,
    /// Built-in readers.
    pub reader: Vec<ReaderSpec>,
}

/// The built-in profiles and readers.
pub fn builtin() -> Result<ProfileFile, ScenarioError> {
    toml::from_str(PROFILES).map_err(|e| ScenarioError::from_toml("profiles.toml", PROFILES, &e))
}

/// A scenario is unusable; names the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// File name (as given).
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            // No position (e.g. a required table is missing): the file as a whole.
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |p| offset - p - 1) + 1;
    (line, col)
}

impl ScenarioError {
    fn at(file: &str, text: &str, offset: Option<usize>, message: String) -> Self {
        let (line, col) = offset.map_or((0, 0), |o| line_col(text, o));
        Self {
            file: file.into(),
            line,
            col,
            message,
        }
    }

    fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        Self::at(
            file,
            text,
            e.span().map(|s| s.start),
            e.message().trim().to_string(),
        )
    }
}

/// Finds the byte offset of the value at a JSON pointer-like path (`/users/0/arrival`) in
/// the TOML text, or of the nearest enclosing value that exists.
pub fn offset_of(text: &str, path: &[PathSeg]) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let root = doc.into_inner();
    let mut best: Option<usize> = None;
    let mut cur: Option<&toml::Spanned<toml::de::DeValue<'_>>> = None;
    for (i, seg) in path.iter().enumerate() {
        let next = match (i, seg, cur) {
            (0, PathSeg::Key(k), _) => root.get(k.as_str()),
            (_, PathSeg::Key(k), Some(v)) => v.get_ref().get(k.as_str()),
            (_, PathSeg::Index(n), Some(v)) => v.get_ref().get(*n),
            _ => None,
        };
        match next {
            Some(v) => {
                best = Some(v.span().start);
                cur = Some(v);
            }
            None => break,
        }
    }
    if best.is_none()
        && let Some(PathSeg::Key(k)) = path.first()
    {
        // A top-level table: point at its header.
        best = root
            .iter()
            .find(|(key, _)| key.get_ref() == k)
            .map(|(key, _)| key.span().start);
    }
    best
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

fn path(parts: &[&dyn std::fmt::Display]) -> Vec<PathSeg> {
    parts
        .iter()
        .map(|p| {
            let s = p.to_string();
            match s.parse::<usize>() {
                Ok(n) => PathSeg::Index(n),
                Err(_) => PathSeg::Key(s),
            }
        })
        .collect()
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(file: &Path) -> Result<(Scenario, String), ScenarioError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| ScenarioError {
            file: name.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
        })?;
        let s = Self::parse(&name, &text)?;
        Ok((s, text))
    }

    /// Parses and checks scenario text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let value: toml::Value =
            toml::from_str(text).map_err(|e| ScenarioError::from_toml(file, text, &e))?;
        validate_schema(file, text, &value)?;
        let s: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::from_toml(file, text, &e))?;
        s.compile().map_err(|e| {
            let offset = offset_of(text, &e.path);
            ScenarioError::at(file, text, offset, e.message)
        })?;
        Ok(s)
    }

    /// The scenario as TOML (for shrunk reproducers).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }
}

/// A semantic error and where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Path of the offending value.
    pub path: Vec<PathSeg>,
    /// What is wrong.
    pub message: String,
}

impl CompileError {
    pub(crate) fn new(parts: &[&dyn std::fmt::Display], message: impl Into<String>) -> Self {
        Self {
            path: path(parts),
            message: message.into(),
        }
    }
}

fn json_of(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(json_of).collect()),
        toml::Value::Table(t) => {
            serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
    }
}

fn validate_schema(file: &str, text: &str, value: &toml::Value) -> Result<(), ScenarioError> {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).map_err(|e| ScenarioError {
        file: "sim-scenario.schema.json".into(),
        line: e.line(),
        col: e.column(),
        message: format!("bad built-in schema: {e}"),
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| ScenarioError {
        file: "sim-scenario.schema.json".into(),
        line: 0,
        col: 0,
        message: format!("bad built-in schema: {e}"),
    })?;
    let instance = json_of(value);
    if let Some(err) = validator.iter_errors(&instance).next() {
        let pointer = err.instance_path().to_string();
        let mut segs: Vec<PathSeg> = pointer
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<usize>() {
                Ok(n) => PathSeg::Index(n),
                Err(_) => PathSeg::Key(s.replace("~1", "/").replace("~0", "~")),
            })
            .collect();
        if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } =
            err.kind()
            && let Some(k) = unexpected.first()
        {
            // Point at the unexpected key itself.
            segs.push(PathSeg::Key(k.clone()));
        }
        let offset = offset_of(text, &segs);
        let at = if pointer.is_empty() { "/" } else { &pointer };
        return Err(ScenarioError::at(
            file,
            text,
            offset,
            format!("{at}: {err} (schema sim-scenario)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
[configuration]
name = "t"

[[issuers]]
name = "a"

[[users]]
name = "u"
sessions = 10
arrival = { process = "poisson", rate_per_s = 5 }
"#;

    #[test]
    fn every_scenario_file_is_shipped_with_its_text_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("scenarios dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let names: Vec<String> = shipped::SHIPPED
            .iter()
            .map(|(n, _)| format!("{n}.toml"))
            .collect();
        assert_eq!(names, on_disk);
        for (n, text) in shipped::SHIPPED {
            let file = dir.join(format!("{n}.toml"));
            assert_eq!(*text, std::fs::read_to_string(&file).expect("read"), "{n}");
            Scenario::parse(&shipped::label(n), text).expect("parses");
        }
        let (label, text) = shipped::find("smoke.toml").expect("smoke is shipped");
        assert_eq!(label, "simulator/scenarios/smoke.toml");
        assert_eq!(Some((label, text)), shipped::find("smoke"));
        assert_eq!(shipped::find("no-such-scenario"), None);
    }

    #[test]
    fn an_error_without_a_position_names_the_file_only() {
        let e = ScenarioError::at("s.toml", "", None, "\"issuers\" is missing".into());
        assert_eq!(e.to_string(), "s.toml: \"issuers\" is missing");
        let e = ScenarioError::at("s.toml", "a\nb = 1\n", Some(2), "bad".into());
        assert_eq!(e.to_string(), "s.toml:2:1: bad");
    }

    #[test]
    fn minimal_scenario_parses() {
        let s = Scenario::parse("t.toml", MIN).expect("parses");
        assert_eq!(s.users[0].sessions, 10);
        let again = Scenario::parse("t.toml", &s.to_toml()).expect("round trip");
        assert_eq!(again, s);
    }

    #[test]
    fn schema_errors_name_the_line() {
        let bad = MIN.replace("rate_per_s = 5", "rate_per_s = \"fast\"");
        let e = Scenario::parse("t.toml", &bad).expect_err("refused");
        assert_eq!(e.line, 11, "{e}");
        assert!(e.message.contains("/users/0/arrival"), "{e}");
    }

    #[test]
    fn unknown_fields_and_names_name_the_line() {
        let bad = MIN.replace("sessions = 10", "sessions = 10\ncards = [\"nope\"]");
        let e = Scenario::parse("t.toml", &bad).expect_err("refused");
        assert_eq!(e.line, 11, "{e}");
        assert!(e.message.contains("nope"), "{e}");
        let bad = format!("{MIN}\n[network]\nlatency = 3\n");
        let e = Scenario::parse("t.toml", &bad).expect_err("refused");
        assert_eq!(e.line, 14, "{e}");
    }

    #[test]
    fn builtin_profiles_parse_and_cite_a_source() {
        let b = builtin().expect("profiles.toml");
        assert!(b.profile.len() >= 5);
        for p in &b.profile {
            assert!(!p.source.is_empty(), "{} has no source", p.name);
        }
    }
}
