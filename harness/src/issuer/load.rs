//! The issuer load test: `concurrency` middleware threads, each running honest sessions back to
//! back (fresh reference card per session) until `seconds` have passed; a session counts when
//! the issuer answered its ProvisioningFinalizationResponse with a redirect or an empty 2xx.
//! Bounded: every wait is bounded by the target's timeout, and the run stops starting sessions
//! at the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::session::{IssuerTarget, Session, WireLog};
use super::{IssuerProfile, location_prefix};
use crate::perf::LatencyStats;

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Concurrent middleware threads.
    pub concurrency: usize,
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
    /// Whole-session latency (microseconds), completed sessions only.
    pub session: Option<LatencyStats>,
    /// Per-request latency (microseconds) of every exchange.
    pub request: Option<LatencyStats>,
    /// Up to ten distinct error texts.
    pub error_samples: Vec<String>,
}

/// Why a load run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Zero threads or a non-positive duration.
    #[error("load needs at least one session at a time and a positive duration")]
    Parameters,
    /// A thread could not be started.
    #[error("cannot start a load thread: {0}")]
    Thread(String),
}

/// Runs the load test.
pub fn run_load(
    target: &IssuerTarget,
    profile: &IssuerProfile,
    concurrency: usize,
    seconds: f64,
    seed: u64,
) -> Result<LoadReport, LoadError> {
    if concurrency == 0 || !(seconds > 0.0 && seconds.is_finite()) {
        return Err(LoadError::Parameters);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.min(86_400.0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let target = target.clone();
        let worker_stop = stop.clone();
        let error_prefix = refusal_prefix(profile);
        let h = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                worker(
                    &target,
                    error_prefix.as_deref(),
                    seed.wrapping_add((t as u64) << 32),
                    deadline,
                    &worker_stop,
                )
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
    let mut sessions = Vec::new();
    let mut requests = Vec::new();
    let mut errors = 0;
    let mut samples: Vec<String> = Vec::new();
    for h in handles {
        match h.join() {
            Ok(w) => {
                sessions.extend(w.sessions);
                requests.extend(w.requests);
                errors += w.errors.len();
                for e in w.errors {
                    if samples.len() < 10 && !samples.contains(&e) {
                        samples.push(e);
                    }
                }
            }
            Err(_) => {
                errors += 1;
                samples.push("a load thread panicked".into());
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    Ok(LoadReport {
        concurrency,
        seconds,
        elapsed_seconds: elapsed,
        sessions: sessions.len(),
        errors,
        sessions_per_second: sessions.len() as f64 / elapsed.max(1e-9),
        requests_per_second: requests.len() as f64 / elapsed.max(1e-9),
        session: LatencyStats::of(&sessions),
        request: LatencyStats::of(&requests),
        error_samples: samples,
    })
}

struct WorkerResult {
    sessions: Vec<f64>,
    requests: Vec<f64>,
    errors: Vec<String>,
}

/// The error-page prefix, when it differs from the result page's.
fn refusal_prefix(p: &IssuerProfile) -> Option<String> {
    p.error_prefix
        .clone()
        .filter(|e| p.success_prefix.as_ref() != Some(e))
}

fn worker(
    target: &IssuerTarget,
    error_prefix: Option<&str>,
    seed: u64,
    deadline: Instant,
    stop: &AtomicBool,
) -> WorkerResult {
    let mut out = WorkerResult {
        sessions: Vec::new(),
        requests: Vec::new(),
        errors: Vec::new(),
    };
    let mut n = 0u64;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        n += 1;
        let log = WireLog::default();
        let t = Instant::now();
        let r =
            Session::new(target, &log, seed.wrapping_add(n), None).and_then(|mut s| s.run_honest());
        let micros = t.elapsed().as_secs_f64() * 1e6;
        for e in log.take() {
            out.requests.push(e.micros as f64);
        }
        match r {
            Ok(resp)
                if (300..400).contains(&resp.status)
                    && error_prefix.is_some_and(|e| {
                        resp.header("location").map(location_prefix).as_deref() == Some(e)
                    }) =>
            {
                out.errors.push(format!("refused: {}", resp.summary()));
            }
            Ok(resp) if (300..400).contains(&resp.status) || (200..300).contains(&resp.status) => {
                out.sessions.push(micros);
            }
            Ok(resp) => out.errors.push(format!("final answer {}", resp.summary())),
            Err(e) => out.errors.push(e.to_string()),
        }
    }
    out
}
