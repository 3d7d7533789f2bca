//! Hostile load: honest sessions at the load test's pacing while a hostile fraction of the
//! traffic attacks the issuer, and the same honest load without it, side by side.
//!
//! The hostile kinds ([`HostileKind`]), each with the answer it must get:
//!
//! | kind | what is sent | counted as refused when |
//! |---|---|---|
//! | `garbage` | `POST` of random bytes or broken JSON (`application/json`, no session) | a 3xx that is not the result page, a 4xx, or the connection closed |
//! | `oversized` | `POST` announcing a body far over the issuer's limit, then streaming it | the issuer answers (not 2xx) or closes before the whole body was sent |
//! | `slowloris` | a request head trickled one byte at a time, never finished | the issuer closes the connection (or answers 4xx) within the slow-client budget |
//! | `replay` | a message an honest session sent, POSTed again: into a fresh session (its cookie) or into its own finished one | as `garbage` |
//! | `flood` | a burst of session starts (`GET init`) that never go on | `200` (started; the sessions expire) or `429`/`503` (refused): anything else counts against |
//!
//! Hostile attempts start on a fixed schedule so that they make up `fraction` of all attempts
//! (at the honest phase's session rate), round-robin over the kinds, on their own threads.
//! The issuer's resident memory (`VmRSS` of `/proc/<pid>/status`, Linux) is sampled over
//! both phases when its process id is known, and the rows of its store when the harness can
//! count them (the in-process reference issuer, [`HostilePlan::store_probe`]).

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand_core::{Rng as _, SeedableRng as _};
use serde::Serialize;

use super::http::{self, HttpError, Pace, Response};
use super::load::{LoadError, LoadPlan, LoadReport, Pacing, Percentiles};
use super::session::IssuerTarget;
use super::{IssuerProfile, location_prefix};

/// One kind of hostile traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostileKind {
    /// Random bytes or broken JSON POSTed outside any session.
    Garbage,
    /// A body far over the limit, announced and streamed.
    Oversized,
    /// A request head trickled byte by byte and never finished.
    Slowloris,
    /// Honest messages of other sessions POSTed again.
    Replay,
    /// Bursts of session starts that never go on.
    Flood,
}

impl HostileKind {
    /// Every kind, in report order.
    pub const ALL: [HostileKind; 5] = [
        HostileKind::Garbage,
        HostileKind::Oversized,
        HostileKind::Slowloris,
        HostileKind::Replay,
        HostileKind::Flood,
    ];

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            HostileKind::Garbage => "garbage",
            HostileKind::Oversized => "oversized",
            HostileKind::Slowloris => "slowloris",
            HostileKind::Replay => "replay",
            HostileKind::Flood => "flood",
        }
    }

    /// The kind of a name.
    pub fn parse(name: &str) -> Option<HostileKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What hostile traffic to add.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostilePlan {
    /// Share of all attempts that are hostile (0 < fraction < 1).
    pub fraction: f64,
    /// The kinds sent, round-robin.
    pub kinds: Vec<HostileKind>,
    /// Hostile client threads.
    pub threads: usize,
    /// Session starts per `flood` attempt.
    pub flood_burst: usize,
    /// Bytes an `oversized` attempt announces (and sends, unless refused first).
    pub oversized_bytes: usize,
    /// How long a `slowloris` connection trickles before it counts as held open, ms.
    pub slowloris_budget_ms: u64,
    /// The issuer's process id, for its resident memory (Linux `/proc`).
    pub issuer_pid: Option<u32>,
    /// The issuer runs inside the harness's own process (its memory includes the harness's).
    pub in_process: bool,
    /// Counts the issuer's store rows, when the harness can see its store (the in-process
    /// reference issuer): sampled over both phases, to show the store stays bounded.
    #[serde(skip)]
    pub store_probe: Option<StoreProbe>,
}

/// Counts the rows of the issuer's store (sessions + issuances + error records).
#[derive(Clone)]
pub struct StoreProbe(pub Arc<dyn Fn() -> Option<u64> + Send + Sync>);

impl std::fmt::Debug for StoreProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreProbe")
    }
}

impl PartialEq for StoreProbe {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The issuer store's rows over the run ([`HostilePlan::store_probe`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreRowsReport {
    /// Honest traffic only.
    pub honest: PhaseRows,
    /// Honest and hostile traffic.
    pub hostile: PhaseRows,
    /// Session starts the `flood` kind sent (each one leaves a session row until pruned).
    pub flood_starts: usize,
    /// Every sample: seconds since the first phase began, rows.
    pub samples: Vec<(f64, u64)>,
}

impl HostilePlan {
    /// Every kind at `fraction`, with bounds derived from the target (its body limit and
    /// slow-client budget).
    pub fn new(fraction: f64, target: &IssuerTarget) -> Self {
        HostilePlan {
            fraction,
            kinds: HostileKind::ALL.to_vec(),
            threads: 8,
            flood_burst: 10,
            // Far past the limit and past what loopback socket buffers absorb.
            oversized_bytes: target.max_body.saturating_mul(8).max(32 << 20),
            slowloris_budget_ms: u64::try_from(target.slow_budget.as_millis()).unwrap_or(6_000),
            issuer_pid: None,
            in_process: false,
            store_probe: None,
        }
    }

    fn valid(&self) -> bool {
        self.fraction > 0.0
            && self.fraction < 1.0
            && !self.kinds.is_empty()
            && self.threads > 0
            && self.flood_burst > 0
    }
}

/// What one hostile kind did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindReport {
    /// Attempts made (`flood`: session starts).
    pub sent: usize,
    /// Attempts that got the answer they must get.
    pub refused: usize,
    /// Attempts that did not (the issuer accepted, hung or failed on them).
    pub not_refused: usize,
    /// Attempts by what happened.
    pub outcomes: BTreeMap<String, usize>,
    /// `slowloris`: time until the issuer closed the connection (ms percentiles as µs).
    pub closed_after: Option<Percentiles>,
}

/// Resident memory of one phase, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseMemory {
    /// At the start of the phase.
    pub start_kib: u64,
    /// Largest sample.
    pub max_kib: u64,
    /// At the end of the phase.
    pub end_kib: u64,
}

/// Store rows of one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseRows {
    /// At the start of the phase.
    pub start: u64,
    /// Largest sample.
    pub max: u64,
    /// At the end of the phase.
    pub end: u64,
}

impl From<PhaseMemory> for PhaseRows {
    fn from(m: PhaseMemory) -> Self {
        PhaseRows {
            start: m.start_kib,
            max: m.max_kib,
            end: m.end_kib,
        }
    }
}

/// The issuer's resident memory over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryReport {
    /// The process sampled.
    pub pid: u32,
    /// The issuer runs in the harness's process: the figures include the load generator.
    pub in_process: bool,
    /// Sampling interval, ms.
    pub interval_ms: u64,
    /// Honest traffic only.
    pub honest: PhaseMemory,
    /// Honest and hostile traffic.
    pub hostile: PhaseMemory,
    /// Every sample: seconds since the first phase began, KiB.
    pub samples: Vec<(f64, u64)>,
}

/// The hostile-load figures: the honest load alone is the run's [`LoadReport`]; this holds the
/// same honest load under attack and what the attack did.
#[derive(Debug, Clone, Serialize)]
pub struct HostileReport {
    /// The plan.
    pub plan: HostilePlan,
    /// Hostile attempts started per second.
    pub hostile_rate: f64,
    /// The honest sessions while the hostile traffic ran.
    pub honest_under_attack: LoadReport,
    /// What each hostile kind did.
    pub kinds: BTreeMap<String, KindReport>,
    /// The issuer's memory, when its process is known.
    pub memory: Option<MemoryReport>,
    /// The issuer's store rows, when the harness can count them.
    pub store: Option<StoreRowsReport>,
    /// Up to ten texts of attempts that were not refused.
    pub not_refused_samples: Vec<String>,
}

impl HostileReport {
    /// True when every hostile attempt got the answer it must get.
    pub fn all_refused(&self) -> bool {
        self.kinds.values().all(|k| k.not_refused == 0)
    }

    /// One line per figure, for the CLI's summary: the honest sessions alone and under
    /// attack (`alone` is the run's load report), each hostile kind, the issuer's memory.
    pub fn summary_lines(&self, alone: &LoadReport) -> Vec<String> {
        let mut v = vec![format!(
            "hostile share {} ({:.1} hostile attempts/s): honest sessions alone: {}; beside the hostile traffic: {}",
            self.plan.fraction,
            self.hostile_rate,
            honest_line(alone),
            honest_line(&self.honest_under_attack)
        )];
        for (cause, n) in &self.honest_under_attack.errors_by_cause {
            v.push(format!(
                "honest session failed beside the hostile traffic: {n} {cause}"
            ));
        }
        for (name, k) in &self.kinds {
            let outcomes: Vec<String> =
                k.outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
            let closed = k
                .closed_after
                .as_ref()
                .map(|p| {
                    format!(
                        "; closed after p50 {:.0} ms, max {:.0} ms",
                        p.p50_us as f64 / 1000.0,
                        p.max_us as f64 / 1000.0
                    )
                })
                .unwrap_or_default();
            v.push(format!(
                "hostile {name}: {} sent, {} refused, {} not refused ({}){closed}",
                k.sent,
                k.refused,
                k.not_refused,
                outcomes.join(", ")
            ));
        }
        if let Some(m) = &self.memory {
            v.push(format!(
                "issuer memory (VmRSS of pid {}{}): honest alone {:.1} → {:.1} MiB (max {:.1}); beside the hostile traffic {:.1} → {:.1} MiB (max {:.1})",
                m.pid,
                if m.in_process {
                    ", the harness's own process: the issuer runs in it"
                } else {
                    ""
                },
                m.honest.start_kib as f64 / 1024.0,
                m.honest.end_kib as f64 / 1024.0,
                m.honest.max_kib as f64 / 1024.0,
                m.hostile.start_kib as f64 / 1024.0,
                m.hostile.end_kib as f64 / 1024.0,
                m.hostile.max_kib as f64 / 1024.0,
            ));
        }
        if let Some(r) = &self.store {
            v.push(format!(
                "issuer store rows (sessions + issuances + errors): honest alone {} → {} (max {}); beside the hostile traffic {} → {} (max {}), with {} flood session starts",
                r.honest.start,
                r.honest.end,
                r.honest.max,
                r.hostile.start,
                r.hostile.end,
                r.hostile.max,
                r.flood_starts
            ));
        }
        v
    }
}

/// Honest sessions' success rate and latency of a load report, in words.
pub fn honest_line(l: &LoadReport) -> String {
    let tried = l.sessions + l.errors;
    let rate = if tried == 0 {
        0.0
    } else {
        100.0 * l.sessions as f64 / tried as f64
    };
    let lat = l
        .session_percentiles
        .as_ref()
        .map(|p| {
            format!(
                ", p50 {:.1} ms, p99 {:.1} ms",
                p.p50_us as f64 / 1000.0,
                p.p99_us as f64 / 1000.0
            )
        })
        .unwrap_or_default();
    format!("{}/{tried} completed ({rate:.1} %){lat}", l.sessions)
}

/// Honest messages seen by the load generator, for replays (bounded).
#[derive(Debug, Default)]
pub struct ReplayBank(Mutex<VecDeque<Banked>>);

#[derive(Debug, Clone)]
struct Banked {
    cookie: Option<String>,
    body: Vec<u8>,
}

impl ReplayBank {
    const CAPACITY: usize = 64;

    /// Keeps one message of a finished honest session (`cookie`: its `Cookie` header).
    pub fn deposit(&self, cookie: Option<String>, body: Vec<u8>) {
        if let Ok(mut b) = self.0.lock() {
            if b.len() >= Self::CAPACITY {
                b.pop_front();
            }
            b.push_back(Banked { cookie, body });
        }
    }

    fn pick(&self, i: u64) -> Option<Banked> {
        let b = self.0.lock().ok()?;
        if b.is_empty() {
            return None;
        }
        b.get(usize::try_from(i).unwrap_or(0) % b.len()).cloned()
    }
}

/// Resident memory of `pid`, KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Samples the memory of a process on its own thread until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(f64, u64)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
    t0: Instant,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(100);

impl Sampler {
    fn start(pid: u32) -> Option<Sampler> {
        Self::start_with("rss-sampler", move || rss_kib(pid))
    }

    /// Samples `probe` (`None`: no sample this time) every [`SAMPLE_EVERY`]; `None` when the
    /// first sample fails.
    fn start_with(name: &str, probe: impl Fn() -> Option<u64> + Send + 'static) -> Option<Sampler> {
        probe()?;
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let t0 = Instant::now();
        let (s2, v2) = (stop.clone(), samples.clone());
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !s2.load(Ordering::Relaxed) {
                    if let (Some(k), Ok(mut v)) = (probe(), v2.lock()) {
                        v.push((t0.elapsed().as_secs_f64(), k));
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
            .ok()?;
        Some(Sampler {
            stop,
            samples,
            handle: Some(handle),
            t0,
        })
    }

    fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    fn finish(mut self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.samples.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn phase_memory(samples: &[(f64, u64)], from: f64, to: f64) -> PhaseMemory {
    let inside: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, k)| *k)
        .collect();
    PhaseMemory {
        start_kib: inside.first().copied().unwrap_or(0),
        max_kib: inside.iter().copied().max().unwrap_or(0),
        end_kib: inside.last().copied().unwrap_or(0),
    }
}

/// Runs `plan` twice: honest traffic alone (returned as the run's load report), then the same
/// honest traffic with `hostile` beside it (in the report's `hostile` member).
pub fn run_with_hostile(
    target: &IssuerTarget,
    profile: &IssuerProfile,
    plan: &LoadPlan,
    hostile: &HostilePlan,
    seed: u64,
) -> Result<LoadReport, LoadError> {
    if !hostile.valid() {
        return Err(LoadError::Parameters);
    }
    let sampler = hostile.issuer_pid.and_then(Sampler::start);
    let rows = hostile.store_probe.clone().and_then(|p| {
        let f = p.0;
        Sampler::start_with("store-sampler", move || f())
    });
    let bank = Arc::new(ReplayBank::default());
    let t_honest = sampler.as_ref().map_or(0.0, Sampler::now);
    let r_honest = rows.as_ref().map_or(0.0, Sampler::now);
    let mut alone = super::load::run_plan_with(target, profile, plan, seed, Some(bank.clone()))?;
    let t_hostile = sampler.as_ref().map_or(0.0, Sampler::now);
    let r_hostile = rows.as_ref().map_or(0.0, Sampler::now);
    // Hostile attempts per second so that they are `fraction` of all attempts.
    let honest_rate = match plan.pacing {
        Pacing::Open { rate, .. } => rate,
        Pacing::Closed { .. } => alone.sessions_per_second.max(1.0),
    };
    let hostile_rate = honest_rate * hostile.fraction / (1.0 - hostile.fraction);
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let results = Arc::new(Mutex::new(Tally::default()));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(plan.seconds.min(86_400.0));
    let mut handles = Vec::new();
    for t in 0..hostile.threads {
        let ctx = Attacker {
            target: target.clone(),
            profile_success: profile.success_prefix.clone(),
            plan: hostile.clone(),
            bank: bank.clone(),
            stop: stop.clone(),
            next: next.clone(),
            results: results.clone(),
            rate: hostile_rate,
            t0,
            deadline,
            seed: seed ^ 0x6057_11e0 ^ ((t as u64) << 40),
        };
        match std::thread::Builder::new()
            .name(format!("hostile-{t}"))
            .spawn(move || ctx.run())
        {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for h in handles {
                    let _ = h.join();
                }
                return Err(LoadError::Thread(e.to_string()));
            }
        }
    }
    let under = super::load::run_plan_with(target, profile, plan, seed ^ 0x5eed, None);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let under = under?;
    let t_end = sampler.as_ref().map_or(0.0, Sampler::now);
    let r_end = rows.as_ref().map_or(0.0, Sampler::now);
    let mut tally = results
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    let memory = match (sampler, hostile.issuer_pid) {
        (Some(s), Some(pid)) => {
            let samples = s.finish();
            Some(MemoryReport {
                pid,
                in_process: hostile.in_process,
                interval_ms: u64::try_from(SAMPLE_EVERY.as_millis()).unwrap_or(100),
                honest: phase_memory(&samples, t_honest, t_hostile),
                hostile: phase_memory(&samples, t_hostile, t_end),
                samples,
            })
        }
        _ => None,
    };
    let store = rows.map(|s| {
        let samples = s.finish();
        StoreRowsReport {
            honest: phase_memory(&samples, r_honest, r_hostile).into(),
            hostile: phase_memory(&samples, r_hostile, r_end).into(),
            flood_starts: tally.by_kind.get(&HostileKind::Flood).map_or(0, |k| k.sent),
            samples,
        }
    });
    let not_refused_samples = std::mem::take(&mut tally.samples);
    alone.hostile = Some(Box::new(HostileReport {
        plan: hostile.clone(),
        hostile_rate,
        honest_under_attack: under,
        kinds: tally.kinds(&hostile.kinds),
        memory,
        store,
        not_refused_samples,
    }));
    Ok(alone)
}

#[derive(Default)]
struct Tally {
    by_kind: BTreeMap<HostileKind, KindReport>,
    closed_after: Vec<u64>,
    samples: Vec<String>,
}

impl Tally {
    fn record(&mut self, kind: HostileKind, refused: bool, outcome: String) {
        let k = self.by_kind.entry(kind).or_default();
        k.sent += 1;
        if refused {
            k.refused += 1;
        } else {
            k.not_refused += 1;
            let text = format!("{}: {outcome}", kind.as_str());
            if self.samples.len() < 10 && !self.samples.contains(&text) {
                self.samples.push(text);
            }
        }
        *k.outcomes.entry(outcome).or_default() += 1;
    }

    fn kinds(mut self, planned: &[HostileKind]) -> BTreeMap<String, KindReport> {
        if let Some(k) = self.by_kind.get_mut(&HostileKind::Slowloris)
            && let Ok(mut h) = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        {
            for v in &self.closed_after {
                h.saturating_record((*v).max(1));
            }
            k.closed_after = Percentiles::of(&h);
        }
        planned
            .iter()
            .map(|k| {
                (
                    k.as_str().to_owned(),
                    self.by_kind.remove(k).unwrap_or_default(),
                )
            })
            .collect()
    }
}

struct Attacker {
    target: IssuerTarget,
    profile_success: Option<String>,
    plan: HostilePlan,
    bank: Arc<ReplayBank>,
    stop: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
    results: Arc<Mutex<Tally>>,
    rate: f64,
    t0: Instant,
    deadline: Instant,
    seed: u64,
}

/// The outcome of one attempt: refused as it must be, and what happened.
type Outcome = (bool, String);

impl Attacker {
    fn run(self) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(self.seed);
        while !self.stop.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let at = self.t0 + Duration::from_secs_f64((i as f64 / self.rate).min(86_400.0));
            if at >= self.deadline {
                break;
            }
            let wait = at.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let kinds = &self.plan.kinds;
            let kind = kinds[usize::try_from(i).unwrap_or(0) % kinds.len()];
            let outcomes: Vec<Outcome> = match kind {
                HostileKind::Garbage => vec![self.garbage(&mut rng)],
                HostileKind::Oversized => vec![self.oversized()],
                HostileKind::Slowloris => {
                    let (o, closed) = self.slowloris();
                    if let (Some(ms), Ok(mut t)) = (closed, self.results.lock()) {
                        t.closed_after.push(ms.saturating_mul(1000));
                    }
                    vec![o]
                }
                HostileKind::Replay => vec![self.replay(i)],
                HostileKind::Flood => self.flood(),
            };
            if let Ok(mut t) = self.results.lock() {
                for (refused, outcome) in outcomes {
                    t.record(kind, refused, outcome);
                }
            }
        }
    }

    fn timeout(&self) -> Duration {
        self.target.timeout
    }

    /// The verdict on an answer to a message that must be refused.
    fn refusal(&self, r: Result<Option<Response>, HttpError>) -> Outcome {
        match r {
            Ok(Some(resp)) => {
                let loc = resp.header("location").map(location_prefix);
                match resp.status {
                    300..=399 if loc.is_some() && loc == self.profile_success => {
                        (false, "accepted: redirect to the result page".into())
                    }
                    300..=399 => (
                        true,
                        format!(
                            "{} to {}",
                            resp.status,
                            loc.unwrap_or_else(|| "(no location)".into())
                        ),
                    ),
                    400..=499 => (true, format!("{}", resp.status)),
                    s => (false, format!("accepted or failed: {s}")),
                }
            }
            Ok(None) => (true, "connection closed without an answer".into()),
            Err(e) => (false, format!("no answer: {}", short_error(&e))),
        }
    }

    fn post(&self, body: &[u8], cookie: Option<&str>) -> Result<Option<Response>, HttpError> {
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(c) = cookie {
            headers.push(("Cookie".into(), c.to_owned()));
        }
        let req = http::build("POST", &self.target.post_url, &headers, Some(body));
        http::exchange(&req, Pace::Normal, self.timeout(), self.target.tls.as_ref())
    }

    fn garbage(&self, rng: &mut rand_chacha::ChaCha20Rng) -> Outcome {
        let n = 1 + usize::try_from(rng.next_u32() % 4096).unwrap_or(0);
        let body: Vec<u8> = if rng.next_u32().is_multiple_of(2) {
            let mut b = vec![0u8; n];
            rng.fill_bytes(&mut b);
            b
        } else {
            // Broken JSON that looks like a KeyGen2 message.
            let mut b = format!(
                "{{\"@context\":\"http://xmlns.webpki.org/keygen2/beta\",\"@qualifier\":\"ProvisioningInitializationResponse\",\"serverSessionId\":\"{}\",",
                "x".repeat(n % 64)
            )
            .into_bytes();
            b.extend(std::iter::repeat_n(b'[', n % 512));
            b
        };
        self.refusal(self.post(&body, None))
    }

    fn oversized(&self) -> Outcome {
        let total = self.plan.oversized_bytes;
        let (mut conn, _) = match http::connect(
            &self.target.post_url,
            self.target.tls.as_ref(),
            self.timeout(),
        ) {
            Ok(c) => c,
            Err(e) => return (false, format!("no answer: {}", short_error(&e))),
        };
        let url = &self.target.post_url;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n",
            url.target, url.authority
        );
        if conn.write_all(head.as_bytes()).is_err() {
            return (true, "connection closed before the body".into());
        }
        let chunk = vec![b' '; 64 << 10];
        let mut sent = 0usize;
        let mut early = false;
        while sent < total {
            let n = chunk.len().min(total - sent);
            if conn.write_all(&chunk[..n]).is_err() {
                early = true;
                break;
            }
            sent += n;
            // An answer already waiting: the issuer refused without reading the rest.
            if answer_waiting(conn.tcp()) {
                early = true;
                break;
            }
        }
        let answer = http::read_response(&mut conn, self.timeout());
        if early {
            match answer {
                Ok(Some(r)) if (200..300).contains(&r.status) => (
                    false,
                    format!("answered {} before the body was sent", r.status),
                ),
                Ok(Some(r)) => (
                    true,
                    format!("refused with {} before the body was sent in full", r.status),
                ),
                _ => (true, "closed before the body was sent in full".into()),
            }
        } else {
            let what = match answer {
                Ok(Some(r)) => format!("{}", r.status),
                Ok(None) => "a close".into(),
                Err(e) => short_error(&e),
            };
            (
                false,
                format!("the whole body ({} MiB) was read, then {what}", total >> 20),
            )
        }
    }

    /// `(outcome, ms until the issuer closed the connection)`.
    fn slowloris(&self) -> (Outcome, Option<u64>) {
        let addr = match self.target.init_url.socket_addr() {
            Ok(a) => a,
            Err(e) => return ((false, short_error(&e)), None),
        };
        let Ok(mut s) = TcpStream::connect_timeout(&addr, self.timeout()) else {
            return ((false, "no answer: connect failed".into()), None);
        };
        let _ = s.set_nodelay(true);
        let _ = s.set_write_timeout(Some(self.timeout()));
        let url = &self.target.init_url;
        // A head that never ends: one header byte at a time.
        let mut head =
            format!("GET {} HTTP/1.1\r\nHost: {}\r\n", url.target, url.authority).into_bytes();
        head.extend(b"X-Slow: ".iter().chain(std::iter::repeat_n(&b'a', 4096)));
        let budget = Duration::from_millis(self.plan.slowloris_budget_ms);
        let start = Instant::now();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        for b in head {
            if start.elapsed() >= budget {
                break;
            }
            if s.write_all(&[b]).is_err() {
                let t = ms(start.elapsed());
                return (
                    (true, "closed by the issuer (write failed)".into()),
                    Some(t),
                );
            }
            match peek(&s) {
                Peeked::Closed => {
                    let t = ms(start.elapsed());
                    return ((true, "closed by the issuer".into()), Some(t));
                }
                Peeked::Answer => {
                    let t = ms(start.elapsed());
                    let mut buf = [0u8; 64];
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    let n = s.read(&mut buf).unwrap_or(0);
                    let status = std::str::from_utf8(&buf[..n])
                        .ok()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("?")
                        .to_owned();
                    let refused = status.starts_with('4') || status.starts_with('5');
                    return ((refused, format!("answered {status}")), Some(t));
                }
                Peeked::Open => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (
            (
                false,
                format!("still open after {} ms", self.plan.slowloris_budget_ms),
            ),
            None,
        )
    }

    fn replay(&self, i: u64) -> Outcome {
        let Some(m) = self.bank.pick(i) else {
            return (true, "skipped: no honest message yet".into());
        };
        if i.is_multiple_of(2) {
            // Into its own session, which has ended.
            let (r, o) = self.refusal(self.post(&m.body, m.cookie.as_deref()));
            return (r, format!("into its finished session: {o}"));
        }
        // Into a fresh session of someone else.
        let req = http::build(
            "GET",
            &self.target.init_url,
            &[("Accept".into(), "application/json".into())],
            None,
        );
        let cookie =
            match http::exchange(&req, Pace::Normal, self.timeout(), self.target.tls.as_ref()) {
                Ok(Some(r)) if r.status == 200 => r
                    .headers_named("set-cookie")
                    .filter_map(|c| c.split(';').next().map(|p| p.trim().to_owned()))
                    .collect::<Vec<_>>()
                    .join("; "),
                Ok(Some(r)) => return (true, format!("init refused with {}", r.status)),
                Ok(None) => return (true, "init closed without an answer".into()),
                Err(e) => return (false, format!("no answer to init: {}", short_error(&e))),
            };
        let cookie = (!cookie.is_empty()).then_some(cookie).or(m.cookie);
        let (r, o) = self.refusal(self.post(&m.body, cookie.as_deref()));
        (r, format!("into another session: {o}"))
    }

    fn flood(&self) -> Vec<Outcome> {
        let mut pool = http::Pool::default();
        let req = http::build_with(
            "GET",
            &self.target.init_url,
            &[("Accept".into(), "application/json".into())],
            None,
            true,
        );
        (0..self.plan.flood_burst)
            .map(|_| {
                match http::exchange_pooled(
                    &mut pool,
                    &req,
                    self.timeout(),
                    self.target.tls.as_ref(),
                ) {
                    Ok(Some(r)) if r.status == 200 => (true, "200 (session started)".into()),
                    Ok(Some(r)) if r.status == 429 || r.status == 503 => {
                        (true, format!("{} (refused)", r.status))
                    }
                    Ok(Some(r)) => (false, format!("{}", r.status)),
                    Ok(None) => (false, "closed without an answer".into()),
                    Err(e) => (false, format!("no answer: {}", short_error(&e))),
                }
            })
            .collect()
    }
}

enum Peeked {
    Open,
    Closed,
    Answer,
}

/// Whether the peer closed or sent something, without blocking.
fn peek(s: &TcpStream) -> Peeked {
    if s.set_nonblocking(true).is_err() {
        return Peeked::Open;
    }
    let mut b = [0u8; 1];
    let r = match s.peek(&mut b) {
        Ok(0) => Peeked::Closed,
        Ok(_) => Peeked::Answer,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Peeked::Open,
        Err(_) => Peeked::Closed,
    };
    let _ = s.set_nonblocking(false);
    r
}

fn answer_waiting(s: &TcpStream) -> bool {
    !matches!(peek(s), Peeked::Open)
}

/// An error's text without addresses, for grouping.
fn short_error(e: &HttpError) -> String {
    match e {
        HttpError::Connect { .. } => "connect failed".into(),
        HttpError::Io(t) if t.contains("no complete answer within") => "timed out".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn kinds_have_names() {
        for k in HostileKind::ALL {
            assert_eq!(HostileKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(HostileKind::parse("nope"), None);
    }

    #[test]
    fn the_bank_is_bounded() {
        let b = ReplayBank::default();
        assert!(b.pick(0).is_none());
        for i in 0..200u8 {
            b.deposit(None, vec![i]);
        }
        assert_eq!(b.0.lock().unwrap().len(), ReplayBank::CAPACITY);
        assert_eq!(b.pick(0).unwrap().body, vec![200 - 64]);
    }

    #[test]
    fn phase_memory_takes_its_window() {
        let s = [(0.0, 10), (0.5, 30), (1.0, 20), (1.5, 50), (2.0, 40)];
        assert_eq!(
            phase_memory(&s, 0.0, 1.0),
            PhaseMemory {
                start_kib: 10,
                max_kib: 30,
                end_kib: 20
            }
        );
        assert_eq!(phase_memory(&s, 1.2, 2.0).max_kib, 50);
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }

    #[test]
    fn tally_counts_refusals_per_kind() {
        let mut t = Tally::default();
        t.record(HostileKind::Garbage, true, "302 to /error/".into());
        t.record(
            HostileKind::Garbage,
            false,
            "accepted or failed: 200".into(),
        );
        t.closed_after.push(1000);
        t.record(HostileKind::Slowloris, true, "closed by the issuer".into());
        let k = t.kinds(&HostileKind::ALL);
        assert_eq!(k["garbage"].sent, 2);
        assert_eq!(k["garbage"].not_refused, 1);
        assert_eq!(k["slowloris"].closed_after.as_ref().unwrap().n, 1);
        assert_eq!(k["flood"].sent, 0);
    }
}
