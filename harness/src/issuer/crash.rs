//! Crash under load: the issuer (a separate process on a store on disk) is killed with SIGKILL
//! at a seeded random moment of an open-loop load run, restarted on the same store, and this
//! `rounds` times; then service must resume, and an audit of the store checks the durability
//! rules (ARCHITECTURE.md, "Durability rules"):
//!
//! - **nothing lost**: every session whose result redirect a load client received has its
//!   issuance in the store;
//! - **nothing twice**: no session handle and no `serverSessionId` has two issuances;
//! - **no half session**: every finished (`done`) session has its issuance, and every issuance
//!   belongs to a finished session.
//!
//! How the issuer is started is the caller's ([`IssuerProcess`]: the CLI starts
//! `airtight issuer serve --test-pki` on a data directory).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use airtight_issuer::db::IssuerStore as _;
use rand_core::{Rng as _, SeedableRng as _};
use serde::Serialize;

use super::load::{LoadPlan, LoadReport, Pacing, run_plan};
use crate::config::TargetConfig;

/// Starts the issuer on a data directory: the process and its invocation or init URL.
pub type IssuerProcess<'a> = &'a dyn Fn(&Path) -> Result<(Child, String), String>;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashPlan {
    /// Kill-and-restart rounds.
    pub rounds: usize,
    /// Seed of the kill moments.
    pub seed: u64,
    /// Open-loop session starts per second.
    pub rate: f64,
    /// Client threads.
    pub connections: usize,
    /// Load per round, seconds (the kill falls between 25 % and 85 % of it).
    pub round_seconds: f64,
    /// Load after the last restart, seconds (service must resume).
    pub resume_seconds: f64,
}

impl Default for CrashPlan {
    fn default() -> Self {
        CrashPlan {
            rounds: 3,
            seed: 0,
            rate: 50.0,
            connections: 8,
            round_seconds: 1.5,
            resume_seconds: 1.0,
        }
    }
}

impl CrashPlan {
    /// The kill moment of each round, ms after its load began (seeded).
    pub fn kill_moments(&self) -> Vec<u64> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(self.seed ^ 0xc4a5_4000);
        (0..self.rounds)
            .map(|_| {
                let u = f64::from(rng.next_u32()) / f64::from(u32::MAX);
                (self.round_seconds * (0.25 + 0.6 * u) * 1000.0) as u64
            })
            .collect()
    }
}

/// One kill-and-restart round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashRound {
    /// SIGKILL this long after the round's load began, ms.
    pub killed_after_ms: u64,
    /// Sessions whose result redirect a client received.
    pub completed: usize,
    /// Sessions that failed (most of them cut by the kill).
    pub failed: usize,
    /// Failed sessions by cause.
    pub errors_by_cause: BTreeMap<String, usize>,
}

/// What the audit of the store found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrashAudit {
    /// Result redirects the load clients received (all rounds and the resumed load).
    pub completed_seen: usize,
    /// Issuances in the store.
    pub issuances: usize,
    /// Finished sessions in the store.
    pub done_sessions: usize,
    /// Completed for a client but not in the store (session handles, shortened).
    pub lost: Vec<String>,
    /// Session handles or `serverSessionId`s with more than one issuance.
    pub duplicates: Vec<String>,
    /// Finished sessions without an issuance, or issuances without a finished session.
    pub half: Vec<String>,
}

impl CrashAudit {
    /// Nothing lost, nothing twice, no half session.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.duplicates.is_empty() && self.half.is_empty()
    }
}

/// What the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CrashReport {
    /// The plan.
    pub plan: CrashPlan,
    /// Every round.
    pub rounds: Vec<CrashRound>,
    /// Sessions completed after the last restart.
    pub resumed_sessions: usize,
    /// Sessions failed after the last restart (must be none).
    pub resumed_errors: usize,
    /// The audit.
    pub audit: CrashAudit,
    /// Audit passed and service resumed without errors.
    pub passed: bool,
    /// Why the run could not complete, if it could not.
    pub error: Option<String>,
    /// Wall time, seconds.
    pub elapsed_seconds: f64,
}

impl CrashReport {
    /// The run in one line, for the CLI's summary.
    pub fn summary_line(&self) -> String {
        let kills: Vec<String> = self
            .rounds
            .iter()
            .map(|r| format!("{} ms", r.killed_after_ms))
            .collect();
        let completed: usize = self.rounds.iter().map(|r| r.completed).sum();
        let failed: usize = self.rounds.iter().map(|r| r.failed).sum();
        let a = &self.audit;
        format!(
            "{} SIGKILL round(s) at {} sessions/s (killed after {}): {completed} sessions completed, {failed} cut or failed; after the last restart {} completed, {} failed; audit: {} issuances, {} finished sessions, {} result redirects seen, {} lost, {} recorded twice, {} half sessions{}: {}",
            self.rounds.len(),
            self.plan.rate,
            kills.join(", "),
            self.resumed_sessions,
            self.resumed_errors,
            a.issuances,
            a.done_sessions,
            a.completed_seen,
            a.lost.len(),
            a.duplicates.len(),
            a.half.len(),
            self.error
                .as_ref()
                .map(|e| format!(" (run stopped: {e})"))
                .unwrap_or_default(),
            if self.passed { "PASSED" } else { "FAILED" }
        )
    }
}

/// The first characters of a handle (the whole one is a secret while a session is open).
fn short(h: &str) -> String {
    format!("{}…", h.get(..8).unwrap_or(h))
}

/// The session handle of a result redirect (`…/result/<handle>`).
pub fn handle_of(location: &str) -> Option<&str> {
    location.rsplit_once("/result/").map(|(_, h)| h)
}

/// Audits a store's contents: `issuances` as (session handle, serverSessionId), the handles of
/// its finished sessions, and the result redirects the clients received.
pub fn audit(
    issuances: &[(String, String)],
    done: &BTreeSet<String>,
    completed: &[String],
) -> CrashAudit {
    let mut a = CrashAudit {
        completed_seen: completed.len(),
        issuances: issuances.len(),
        done_sessions: done.len(),
        ..CrashAudit::default()
    };
    let mut handles = BTreeSet::new();
    let mut ssids = BTreeSet::new();
    for (h, s) in issuances {
        if !handles.insert(h.as_str()) {
            a.duplicates.push(format!("session {}", short(h)));
        }
        if !ssids.insert(s.as_str()) {
            a.duplicates.push(format!("serverSessionId {s}"));
        }
    }
    for h in &handles {
        if !done.contains(*h) {
            a.half
                .push(format!("issuance of session {} not finished", short(h)));
        }
    }
    for h in done {
        if !handles.contains(h.as_str()) {
            a.half
                .push(format!("finished session {} has no issuance", short(h)));
        }
    }
    for loc in completed {
        match handle_of(loc) {
            Some(h) if handles.contains(h) => {}
            Some(h) => a.lost.push(format!("session {}", short(h))),
            None => a.lost.push(format!("not a result redirect: {loc:?}")),
        }
    }
    a
}

/// Reads the store in `dir` and audits it.
pub fn audit_dir(dir: &Path, completed: &[String]) -> Result<CrashAudit, String> {
    let store = airtight_issuer::db::Store::open_dir(dir).map_err(|e| format!("store: {e}"))?;
    let issuances: Vec<(String, String)> = store
        .issuances()
        .map_err(|e| format!("issuances: {e}"))?
        .into_iter()
        .map(|i| (i.session_handle, i.record.server_session_id))
        .collect();
    let done = store
        .session_summaries()
        .map_err(|e| format!("sessions: {e}"))?
        .into_iter()
        .filter(|s| s.status == airtight_issuer::db::SessionStatus::Done)
        .map(|s| s.handle)
        .collect();
    Ok(audit(&issuances, &done, completed))
}

/// A scratch data directory, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started issuer, killed on drop.
struct Running(Child);

impl Running {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `plan`: starts the issuer with `start` on a scratch directory, and for each round
/// loads it, kills it (SIGKILL) at the round's moment and restarts it on the same store; then
/// loads it once more and audits the store.
pub fn run_crash_under_load(
    plan: &CrashPlan,
    config: &TargetConfig,
    start: IssuerProcess<'_>,
) -> CrashReport {
    let t0 = Instant::now();
    let mut report = CrashReport {
        plan: plan.clone(),
        rounds: Vec::new(),
        resumed_sessions: 0,
        resumed_errors: 0,
        audit: CrashAudit::default(),
        passed: false,
        error: None,
        elapsed_seconds: 0.0,
    };
    if let Err(e) = rounds(plan, config, start, &mut report) {
        report.error = Some(e);
    }
    report.passed = report.error.is_none() && report.audit.passed() && report.resumed_errors == 0;
    report.elapsed_seconds = t0.elapsed().as_secs_f64();
    report
}

fn rounds(
    plan: &CrashPlan,
    config: &TargetConfig,
    start: IssuerProcess<'_>,
    report: &mut CrashReport,
) -> Result<(), String> {
    if plan.rounds == 0
        || plan.connections == 0
        || !(plan.rate > 0.0 && plan.rate.is_finite())
        || !(plan.round_seconds > 0.0 && plan.round_seconds.is_finite())
        || !(plan.resume_seconds > 0.0 && plan.resume_seconds.is_finite())
    {
        return Err("crash under load needs rounds, a rate, connections and durations".into());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = Scratch(
        std::env::temp_dir().join(format!("airtight-crash-{}-{nanos}", std::process::id())),
    );
    let dir = scratch.0.join("data");
    let load_plan = |seconds: f64| LoadPlan {
        pacing: Pacing::Open {
            rate: plan.rate,
            connections: plan.connections,
        },
        seconds,
        extra_targets: Vec::new(),
        hostile: None,
    };
    let mut completed: Vec<String> = Vec::new();
    let mut profile = None;
    for (r, kill_ms) in plan.kill_moments().into_iter().enumerate() {
        let (child, url) = start(&dir)?;
        let mut issuer = Running(child);
        let target = crate::issuer_target(&url, config).map_err(|e| format!("{url}: {e}"))?;
        let profile = profile
            .get_or_insert_with(|| super::learn(&target, config, plan.seed ^ 0x10ad).0)
            .clone();
        let lp = load_plan(plan.round_seconds);
        let seed = plan.seed.wrapping_add(r as u64);
        let (load, waited) = std::thread::scope(|s| {
            let h = s.spawn(|| run_plan(&target, &profile, &lp, seed));
            let began = Instant::now();
            std::thread::sleep(Duration::from_millis(kill_ms));
            issuer.kill();
            let waited = began.elapsed();
            (h.join(), waited)
        });
        let load: LoadReport = load
            .map_err(|_| "a load thread panicked".to_owned())?
            .map_err(|e| e.to_string())?;
        completed.extend(load.completed.iter().cloned());
        report.rounds.push(CrashRound {
            killed_after_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            completed: load.sessions,
            failed: load.errors,
            errors_by_cause: load.errors_by_cause,
        });
    }
    // Service resumes on the same store.
    let (child, url) = start(&dir)?;
    let mut issuer = Running(child);
    let target = crate::issuer_target(&url, config).map_err(|e| format!("{url}: {e}"))?;
    let profile = match profile {
        Some(p) => p,
        None => super::learn(&target, config, plan.seed ^ 0x10ad).0,
    };
    let after = run_plan(
        &target,
        &profile,
        &load_plan(plan.resume_seconds),
        plan.seed ^ 0x0e5e,
    )
    .map_err(|e| e.to_string())?;
    report.resumed_sessions = after.sessions;
    report.resumed_errors = after.errors;
    completed.extend(after.completed);
    issuer.kill();
    report.audit = audit_dir(&dir, &completed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn iss(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn a_clean_store_passes() {
        let a = audit(
            &iss(&[("H1", "S1"), ("H2", "S2")]),
            &set(&["H1", "H2"]),
            &["/result/H1".into(), "http://127.0.0.1:1/result/H2".into()],
        );
        assert!(a.passed(), "{a:?}");
        assert_eq!((a.completed_seen, a.issuances, a.done_sessions), (2, 2, 2));
    }

    #[test]
    fn each_rule_can_fail() {
        // Lost: the client saw H3 complete, the store has no issuance for it.
        let a = audit(&iss(&[("H1", "S1")]), &set(&["H1"]), &["/result/H3".into()]);
        assert_eq!(a.lost.len(), 1, "{a:?}");
        assert!(!a.passed());
        // Twice: one session, or one serverSessionId, issued twice.
        let a = audit(&iss(&[("H1", "S1"), ("H1", "S2")]), &set(&["H1"]), &[]);
        assert_eq!(a.duplicates.len(), 1, "{a:?}");
        let a = audit(
            &iss(&[("H1", "S1"), ("H2", "S1")]),
            &set(&["H1", "H2"]),
            &[],
        );
        assert_eq!(a.duplicates.len(), 1, "{a:?}");
        // Half: a finished session without its issuance, an issuance of an open session.
        let a = audit(&iss(&[("H1", "S1")]), &set(&["H1", "H2"]), &[]);
        assert_eq!(a.half.len(), 1, "{a:?}");
        let a = audit(&iss(&[("H1", "S1"), ("H2", "S2")]), &set(&["H1"]), &[]);
        assert_eq!(a.half.len(), 1, "{a:?}");
        assert!(!a.passed());
    }

    #[test]
    fn kill_moments_are_seeded_and_inside_the_round() {
        let p = CrashPlan {
            rounds: 5,
            seed: 7,
            ..CrashPlan::default()
        };
        let k = p.kill_moments();
        assert_eq!(k, p.kill_moments());
        assert_eq!(k.len(), 5);
        for ms in &k {
            assert!((375..=1275).contains(ms), "{k:?}");
        }
        let other = CrashPlan { seed: 8, ..p }.kill_moments();
        assert_ne!(k, other);
    }
}
