//! The issuer load generator: honest sessions (fresh reference card each) against one or more
//! issuer URLs (sessions go round-robin over them), in one of two pacings:
//!
//! - **closed loop** ([`Pacing::Closed`]): `concurrency` client threads, each running sessions
//!   back to back until the duration has passed (the load follows the issuer's speed);
//! - **open loop** ([`Pacing::Open`], wrk2-style): sessions start on a fixed schedule, `rate`
//!   per second, served by `connections` client threads. A session that starts late because
//!   every thread was busy counts its latency from its *scheduled* start (coordinated omission
//!   corrected), so a stalled issuer shows up in the percentiles instead of slowing the load.
//!
//! Every client thread keeps its HTTP connections alive from request to request and session
//! to session. Latencies go into HdrHistograms (microseconds, 3 significant digits): whole
//! session and per step (the request sent: `GET init`, then the `@qualifier` POSTed). A
//! session counts when the issuer answered its ProvisioningFinalizationResponse with a
//! redirect or an empty 2xx (not to its error page); failures are counted by cause.
//! Bounded: every wait is bounded by the target's timeout, and no session starts after the
//! deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::http::Pool;
use super::session::{IssuerTarget, Session, WireLog};
use super::{IssuerProfile, location_prefix};
use crate::perf::LatencyStats;

/// How sessions are started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Pacing {
    /// `concurrency` sessions at a time, back to back.
    Closed {
        /// Client threads.
        concurrency: usize,
    },
    /// `rate` session starts per second on a fixed schedule, over `connections` client
    /// threads (coordinated omission corrected).
    Open {
        /// Scheduled session starts per second.
        rate: f64,
        /// Client threads (each one keep-alive connection per issuer).
        connections: usize,
    },
}

impl Pacing {
    /// Client threads.
    pub fn threads(&self) -> usize {
        match *self {
            Pacing::Closed { concurrency } => concurrency,
            Pacing::Open { connections, .. } => connections,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Pacing.
    pub pacing: Pacing,
    /// Duration, seconds: no session starts after it.
    pub seconds: f64,
    /// More issuers (nodes) sharing the load with the run's target, round-robin.
    pub extra_targets: Vec<IssuerTarget>,
    /// Hostile traffic: run the load twice, alone and beside it ([`super::hostile`]).
    pub hostile: Option<super::hostile::HostilePlan>,
}

impl LoadPlan {
    /// The closed-loop plan of `--load-sessions C --load-seconds T`.
    pub fn closed(concurrency: usize, seconds: f64) -> Self {
        LoadPlan {
            pacing: Pacing::Closed { concurrency },
            seconds,
            extra_targets: Vec::new(),
            hostile: None,
        }
    }
}

/// Latency percentiles from an HdrHistogram (microseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub n: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Percentiles {
            n: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        })
    }
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Pacing (closed: `concurrency`; open: `rate` and `connections`).
    pub pacing: Pacing,
    /// Client threads (closed loop: sessions at a time).
    pub concurrency: usize,
    /// The init URLs loaded (round-robin).
    pub urls: Vec<String>,
    /// Requested duration, seconds.
    pub seconds: f64,
    /// Measured wall time, seconds (the last sessions finish after the deadline).
    pub elapsed_seconds: f64,
    /// Sessions that completed.
    pub sessions: usize,
    /// Sessions that failed.
    pub errors: usize,
    /// Completed sessions per second of wall time.
    pub sessions_per_second: f64,
    /// HTTP exchanges per second of wall time.
    pub requests_per_second: f64,
    /// TCP (or TLS) connections opened (keep-alive: about one per thread and issuer).
    pub connections_opened: usize,
    /// Whole-session latency (microseconds), completed sessions only; open loop: from the
    /// scheduled start.
    pub session: Option<LatencyStats>,
    /// Per-request latency (microseconds) of every exchange.
    pub request: Option<LatencyStats>,
    /// Whole-session latency percentiles (HdrHistogram), completed sessions only.
    pub session_percentiles: Option<Percentiles>,
    /// Per-step latency percentiles (HdrHistogram) by the request sent; open loop: the first
    /// step counts from the scheduled start.
    pub steps: BTreeMap<String, Percentiles>,
    /// Failed sessions by cause.
    pub errors_by_cause: BTreeMap<String, usize>,
    /// Up to ten distinct error texts.
    pub error_samples: Vec<String>,
    /// The result redirect (`Location`) of every completed session, in no particular order
    /// (for audits after a run: each must be recorded exactly once).
    #[serde(skip)]
    pub completed: Vec<String>,
    /// The same honest load beside hostile traffic, when the plan has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostile: Option<Box<super::hostile::HostileReport>>,
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Zero threads, a non-positive duration or rate.
    #[error("load needs at least one session at a time and a positive duration (and rate)")]
    Parameters,
    /// A thread could not be started.
    #[error("cannot start a load thread: {0}")]
    Thread(String),
    /// The latency histogram could not be made.
    #[error("latency histogram: {0}")]
    Histogram(String),
}

/// Runs the closed-loop load test (`--load-sessions C --load-seconds T`).
pub fn run_load(
    target: &IssuerTarget,
    profile: &IssuerProfile,
    concurrency: usize,
    seconds: f64,
    seed: u64,
) -> Result<LoadReport, LoadError> {
    run_plan(
        target,
        profile,
        &LoadPlan::closed(concurrency, seconds),
        seed,
    )
}

/// An empty histogram of microseconds from 1 µs to one hour, 3 significant digits.
fn histogram() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| LoadError::Histogram(e.to_string()))
}

/// Runs `plan` against `target` (and the plan's extra targets); with a hostile plan, twice
/// ([`super::hostile::run_with_hostile`]).
pub fn run_plan(
    target: &IssuerTarget,
    profile: &IssuerProfile,
    plan: &LoadPlan,
    seed: u64,
) -> Result<LoadReport, LoadError> {
    match &plan.hostile {
        Some(h) => super::hostile::run_with_hostile(target, profile, plan, h, seed),
        None => run_plan_with(target, profile, plan, seed, None),
    }
}

/// Runs the honest load of `plan` once; every finished session deposits one of its messages
/// into `bank` (for replays) when there is one.
pub(crate) fn run_plan_with(
    target: &IssuerTarget,
    profile: &IssuerProfile,
    plan: &LoadPlan,
    seed: u64,
    bank: Option<Arc<super::hostile::ReplayBank>>,
) -> Result<LoadReport, LoadError> {
    let threads = plan.pacing.threads();
    let rate_ok = match plan.pacing {
        Pacing::Open { rate, .. } => rate > 0.0 && rate.is_finite(),
        Pacing::Closed { .. } => true,
    };
    if threads == 0 || !(plan.seconds > 0.0 && plan.seconds.is_finite()) || !rate_ok {
        return Err(LoadError::Parameters);
    }
    let template = Arc::new(histogram()?);
    let targets: Arc<Vec<IssuerTarget>> = Arc::new(
        std::iter::once(target.clone())
            .chain(plan.extra_targets.iter().cloned())
            .collect(),
    );
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(plan.seconds.min(86_400.0));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let targets = targets.clone();
        let worker_stop = stop.clone();
        let next = next.clone();
        let error_prefix = refusal_prefix(profile);
        let pacing = plan.pacing;
        let template = template.clone();
        let bank = bank.clone();
        let h = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let w = Worker {
                    targets: &targets,
                    error_prefix: error_prefix.as_deref(),
                    seed: seed.wrapping_add((t as u64) << 32),
                    pacing,
                    t0,
                    deadline,
                    stop: &worker_stop,
                    next: &next,
                    template: &template,
                    bank: bank.as_deref(),
                };
                w.run()
            })
            .map_err(|e| LoadError::Thread(e.to_string()));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                for h in handles {
                    let _ = h.join();
                }
                return Err(e);
            }
        }
    }
    let mut total = WorkerResult::new(&template);
    for h in handles {
        match h.join() {
            Ok(w) => total.merge(w),
            Err(_) => total.fail("internal", "a load thread panicked".into()),
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(LoadReport {
        pacing: plan.pacing,
        concurrency: threads,
        urls: targets
            .iter()
            .map(|t| format!("{}{}", t.init_url.origin(), t.init_url.target))
            .collect(),
        seconds: plan.seconds,
        elapsed_seconds: elapsed,
        sessions: total.sessions.len(),
        errors: total.errors,
        sessions_per_second: total.sessions.len() as f64 / elapsed.max(1e-9),
        requests_per_second: total.requests.len() as f64 / elapsed.max(1e-9),
        connections_opened: total.opened,
        session: LatencyStats::of(&total.sessions),
        request: LatencyStats::of(&total.requests),
        session_percentiles: Percentiles::of(&total.session_hist),
        steps: total
            .steps
            .iter()
            .filter_map(|(k, h)| Some((k.clone(), Percentiles::of(h)?)))
            .collect(),
        errors_by_cause: total.causes,
        error_samples: total.samples,
        completed: total.completed,
        hostile: None,
    })
}

struct WorkerResult {
    sessions: Vec<f64>,
    requests: Vec<f64>,
    session_hist: Histogram<u64>,
    steps: BTreeMap<String, Histogram<u64>>,
    errors: usize,
    causes: BTreeMap<String, usize>,
    samples: Vec<String>,
    completed: Vec<String>,
    opened: usize,
}

impl WorkerResult {
    fn new(template: &Histogram<u64>) -> Self {
        WorkerResult {
            sessions: Vec::new(),
            requests: Vec::new(),
            session_hist: Histogram::new_from(template),
            steps: BTreeMap::new(),
            errors: 0,
            causes: BTreeMap::new(),
            samples: Vec::new(),
            completed: Vec::new(),
            opened: 0,
        }
    }

    fn fail(&mut self, cause: &str, text: String) {
        self.errors += 1;
        *self.causes.entry(cause.to_owned()).or_default() += 1;
        if self.samples.len() < 10 && !self.samples.contains(&text) {
            self.samples.push(text);
        }
    }

    fn merge(&mut self, w: WorkerResult) {
        self.sessions.extend(w.sessions);
        self.requests.extend(w.requests);
        // Same bounds on both sides: adding cannot overflow the range.
        let _ = self.session_hist.add(&w.session_hist);
        for (k, h) in w.steps {
            match self.steps.get_mut(&k) {
                Some(mine) => {
                    let _ = mine.add(&h);
                }
                None => {
                    self.steps.insert(k, h);
                }
            }
        }
        self.errors += w.errors;
        for (k, n) in w.causes {
            *self.causes.entry(k).or_default() += n;
        }
        for s in w.samples {
            if self.samples.len() < 10 && !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
        self.completed.extend(w.completed);
        self.opened += w.opened;
    }
}

/// The error-page prefix, when it differs from the result page's.
fn refusal_prefix(p: &IssuerProfile) -> Option<String> {
    p.error_prefix
        .clone()
        .filter(|e| p.success_prefix.as_ref() != Some(e))
}

/// The cause of a failed session, from its error text.
fn cause_of(text: &str) -> &'static str {
    let t = text.to_ascii_lowercase();
    if t.contains("connect to") || t.contains("connection refused") {
        "connect"
    } else if t.contains("no complete answer within") || t.contains("timed out") {
        "timeout"
    } else if t.contains("closed the connection without an answer")
        || t.contains("connection reset")
        || t.contains("broken pipe")
    {
        "connection closed"
    } else if t.contains("honest middleware refused") {
        "issuer message refused by the middleware"
    } else if t.contains("instead of the next request") || t.contains("the issuer answered") {
        "unexpected answer"
    } else {
        "other"
    }
}

/// The step a logged request belongs to.
fn step_name(method: &str, args: &str) -> String {
    match method {
        "GET" => "GET init".to_owned(),
        _ => format!(
            "POST {}",
            args.split(" (")
                .next()
                .unwrap_or(args)
                .trim_start_matches("TAMPERED ")
        ),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

struct Worker<'a> {
    targets: &'a [IssuerTarget],
    error_prefix: Option<&'a str>,
    seed: u64,
    pacing: Pacing,
    t0: Instant,
    deadline: Instant,
    stop: &'a AtomicBool,
    next: &'a AtomicU64,
    template: &'a Histogram<u64>,
    bank: Option<&'a super::hostile::ReplayBank>,
}

impl Worker<'_> {
    fn run(&self) -> WorkerResult {
        let mut out = WorkerResult::new(self.template);
        let mut pool = Some(Pool::default());
        let mut n = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            // When the session should start: now (closed loop) or on the schedule.
            let scheduled = match self.pacing {
                Pacing::Closed { .. } => Instant::now(),
                Pacing::Open { rate, .. } => {
                    self.t0 + Duration::from_secs_f64((i as f64 / rate).min(86_400.0))
                }
            };
            if scheduled >= self.deadline || Instant::now() >= self.deadline {
                break;
            }
            let wait = scheduled.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let late = Instant::now().saturating_duration_since(scheduled);
            n += 1;
            let target = &self.targets[usize::try_from(i).unwrap_or(0) % self.targets.len()];
            let log = WireLog::default();
            let mut session = match Session::new(target, &log, self.seed.wrapping_add(n), None) {
                Ok(s) => s.with_pool(pool.take().unwrap_or_default()),
                Err(e) => {
                    out.fail("harness card", e.to_string());
                    continue;
                }
            };
            let r = session.run_honest();
            pool = session.take_pool();
            if let Some(bank) = self.bank
                && !session.sent.is_empty()
            {
                let k = usize::try_from(n).unwrap_or(0) % session.sent.len();
                bank.deposit(session.cookie_header(), session.sent[k].clone());
            }
            let latency = micros(scheduled.elapsed());
            for (k, e) in log.take().into_iter().enumerate() {
                out.requests.push(e.micros as f64);
                // The first step waited for its thread since the scheduled start.
                let m = if k == 0 {
                    e.micros.saturating_add(micros(late))
                } else {
                    e.micros
                };
                out.steps
                    .entry(step_name(e.method, &e.args))
                    .or_insert_with(|| Histogram::new_from(self.template))
                    .saturating_record(m.max(1));
            }
            match r {
                Ok(resp)
                    if (300..400).contains(&resp.status)
                        && self.error_prefix.is_some_and(|e| {
                            resp.header("location").map(location_prefix).as_deref() == Some(e)
                        }) =>
                {
                    out.fail(
                        "refused by the issuer (error page)",
                        format!("refused: {}", resp.summary()),
                    );
                }
                Ok(resp)
                    if (300..400).contains(&resp.status) || (200..300).contains(&resp.status) =>
                {
                    out.sessions.push(latency as f64);
                    out.session_hist.saturating_record(latency.max(1));
                    out.completed
                        .push(resp.header("location").unwrap_or_default().to_owned());
                }
                Ok(resp) => out.fail(
                    "unexpected final answer",
                    format!("final answer {}", resp.summary()),
                ),
                Err(e) => {
                    let text = e.to_string();
                    out.fail(cause_of(&text), text);
                }
            }
        }
        out.opened = pool.map_or(0, |p| p.opened);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn causes_are_named() {
        assert_eq!(
            cause_of("GET /keygen2?init=true: connect to 127.0.0.1:9: Connection refused"),
            "connect"
        );
        assert_eq!(
            cause_of("POST: i/o: no complete answer within 2000 ms"),
            "timeout"
        );
        assert_eq!(
            cause_of("POST: the issuer closed the connection without an answer"),
            "connection closed"
        );
        assert_eq!(cause_of("something else"), "other");
    }

    #[test]
    fn steps_are_named_by_what_was_sent() {
        assert_eq!(step_name("GET", "/keygen2?init=true"), "GET init");
        assert_eq!(
            step_name("POST", "KeyCreationResponse (812 B)"),
            "POST KeyCreationResponse"
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut h = histogram().unwrap();
        for v in 1..=1000u64 {
            h.saturating_record(v);
        }
        let p = Percentiles::of(&h).unwrap();
        assert_eq!(p.n, 1000);
        assert!((495..=505).contains(&p.p50_us), "{p:?}");
        assert!((985..=995).contains(&p.p99_us), "{p:?}");
        assert_eq!(Percentiles::of(&histogram().unwrap()), None);
    }
}
