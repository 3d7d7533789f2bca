//! The runner: selects cases, runs them against a target, applies the configuration's
//! discipline (expected failures, known divergences, disabled cases), shows progress on
//! stderr and builds the [`Report`].

use std::collections::BTreeSet;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use airtight_proto::sks::{KeyHandle, SecureKeyStore};

use crate::case::{Case, Outcome, TargetProfile, Verdict};
use crate::config::{TargetConfig, matches_id};
use crate::ctx::Ctx;
use crate::perf::{LatencyStats, Performance, per_method};
use crate::reports::{CaseReport, ConfigEcho, Report, TargetInfo};
use crate::target::{OpenedCard, Target};

use crate::verify::Snapshot;
use crate::wire::RecordingSks;

/// Id of the sanity case that runs first.
pub const SANITY_FIRST: &str = "card.sanity.first";
/// Id of the sanity case that runs last.
pub const SANITY_LAST: &str = "card.sanity.last";

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only cases whose id starts with one of these prefixes (all when empty). The
    /// sanity cases always run.
    pub filter: Vec<String>,
    /// Performance mode: this many honest sessions after the conformance cases (0: none).
    pub perf_sessions: usize,
    /// Show progress on stderr.
    pub progress: bool,
    /// Base seed (cases derive their own from it and their id).
    pub seed: u64,
    /// Issuer runs: after the cases, a load test of this many concurrent sessions for this
    /// many seconds (`None`: no load test).
    pub load: Option<(usize, f64)>,
}

/// What `--list` shows of a case (card and issuer cases alike).
pub trait Listed {
    /// Stable id.
    fn id(&self) -> &str;
    /// MUST or SHOULD.
    fn level(&self) -> crate::case::Level;
    /// Spec tags.
    fn tags(&self) -> &[&'static str];
    /// One line.
    fn description(&self) -> &str;
}

macro_rules! listed {
    ($($t:ty),*) => {$(
        impl Listed for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn level(&self) -> crate::case::Level {
                self.level
            }
            fn tags(&self) -> &[&'static str] {
                &self.tags
            }
            fn description(&self) -> &str {
                &self.description
            }
        }
    )*};
}

listed!(Case, crate::issuer::IssuerCase);

/// One line per case for `--list`: id, level, tags, description.
pub fn list<C: Listed>(cases: &[C]) -> Vec<String> {
    cases
        .iter()
        .map(|c| {
            format!(
                "{}\t{:?}\t{}\t{}",
                c.id(),
                c.level(),
                c.tags().join(","),
                c.description()
            )
        })
        .collect()
}

/// FNV-1a of the id: a stable per-case seed.
pub(crate) fn case_seed(base: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Builds the target profile from the configuration and the card's `getDeviceInfo`.
pub fn profile(
    card: &mut OpenedCard,
    config: &TargetConfig,
    transport: &str,
) -> (TargetProfile, TargetInfo) {
    let mut p = TargetProfile {
        name: config
            .target
            .name
            .clone()
            .unwrap_or_else(|| "card".to_owned()),
        transport: transport.to_owned(),
        features: config.features.declared.clone(),
        destructive: config.destructive,
        ..TargetProfile::default()
    };
    let mut info = TargetInfo {
        name: p.name.clone(),
        kind: "card".into(),
        transport: transport.to_owned(),
        ..TargetInfo::default()
    };
    if card.clock.is_some() {
        p.features.insert("clock".into());
    }
    if let Ok(d) = card.sks.get_device_info() {
        p.algorithms = d.supported_algorithms.iter().cloned().collect();
        p.device_pin_support = d.device_pin_support;
        p.biometric_support = d.biometric_support;
        p.crypto_data_size = d.crypto_data_size;
        p.extension_data_size = d.extension_data_size;
        info.vendor = d.vendor_name;
        info.description = d.vendor_description;
        info.api_level = d.api_level;
    }
    p.algorithms
        .extend(config.features.algorithms.iter().cloned());
    for a in &config.features.disabled_algorithms {
        p.algorithms.remove(a);
    }
    info.algorithms = p.algorithms.iter().cloned().collect();
    info.features = p.features.iter().cloned().collect();
    (p, info)
}

/// Applies the configuration's discipline to a case outcome.
pub(crate) fn verdict(
    config: &TargetConfig,
    id: &str,
    outcome: &Outcome,
) -> (Verdict, Option<String>) {
    let failed = matches!(outcome, Outcome::Fail(_));
    let text = match outcome {
        Outcome::Pass => None,
        Outcome::Fail(m) | Outcome::NotApplicable(m) | Outcome::Quirk(m) => Some(m.clone()),
    };
    if let Some(reason) = config.expected_failure(id) {
        return if failed {
            (
                Verdict::ExpectedFailure,
                Some(format!("{} (expected: {reason})", text.unwrap_or_default())),
            )
        } else if matches!(outcome, Outcome::NotApplicable(_)) {
            (Verdict::NotApplicable, text)
        } else {
            (
                Verdict::UnexpectedPass,
                Some(format!(
                    "passed, but configured as expected failure: {reason}"
                )),
            )
        };
    }
    if let Some(reason) = config.known_divergence(id) {
        return if failed {
            (
                Verdict::KnownDivergence,
                Some(format!(
                    "{} (divergence: {reason})",
                    text.unwrap_or_default()
                )),
            )
        } else if matches!(outcome, Outcome::NotApplicable(_)) {
            (Verdict::NotApplicable, text)
        } else {
            (
                Verdict::UnexpectedPass,
                Some(format!(
                    "passed, but configured as known divergence: {reason}"
                )),
            )
        };
    }
    match outcome {
        Outcome::Pass => (Verdict::Pass, None),
        Outcome::Fail(_) => (Verdict::Fail, text),
        Outcome::NotApplicable(_) => (Verdict::NotApplicable, text),
        Outcome::Quirk(_) => (Verdict::Quirk, text),
    }
}

/// Best-effort cleanup of a shared card: aborts sessions opened and deletes keys created
/// since `before`. Returns notes about what could not be cleaned.
fn cleanup(sks: &mut dyn SecureKeyStore, before: &Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(after) = Snapshot::take(sks) else {
        return vec!["cleanup: could not enumerate the card".into()];
    };
    for h in after.open.iter().filter(|h| !before.open.contains(h)) {
        if let Err(e) = sks.abort_provisioning_session(*h) {
            notes.push(format!("cleanup: abort of session {h} failed: {e}"));
        }
    }
    let old: BTreeSet<KeyHandle> = before.keys.iter().map(|k| k.key_handle).collect();
    for k in after.keys.iter().filter(|k| !old.contains(&k.key_handle)) {
        if let Err(e) = sks.delete_key(k.key_handle, None) {
            notes.push(format!(
                "cleanup: key {} left on the card: {e}",
                k.key_handle
            ));
        }
    }
    notes
}

struct Runner<'a> {
    factory: Option<crate::target::CardFactory>,
    single: Option<RecordingSks>,
    single_clock: Option<std::sync::Arc<dyn crate::target::ClockControl>>,
    single_link: Option<std::sync::Arc<crate::target::LinkCounters>>,
    config: &'a TargetConfig,
}

impl Runner<'_> {
    fn run_case(&mut self, case: &Case, profile: &TargetProfile, seed: u64) -> CaseReport {
        let start = Instant::now();
        let mut notes = Vec::new();
        let (outcome, wire) = match &mut self.factory {
            Some(f) => match f(seed) {
                Ok(card) => {
                    let mut sks = RecordingSks::new(card.sks);
                    let clock = card.clock;
                    let mut ctx = Ctx {
                        sks: &mut sks,
                        profile,
                        seed,
                        clock: clock.as_deref(),
                        notes: Vec::new(),
                    };
                    let o = catch_unwind(AssertUnwindSafe(|| (case.run)(&mut ctx)))
                        .unwrap_or_else(|_| Outcome::Fail("the case panicked".into()));
                    notes.append(&mut ctx.notes);
                    (o, sks.take_log())
                }
                Err(e) => (
                    Outcome::Fail(format!("cannot open the target: {e}")),
                    Vec::new(),
                ),
            },
            None => {
                let Some(sks) = self.single.as_mut() else {
                    return CaseReport {
                        id: case.id.clone(),
                        tags: case.tags.iter().map(|t| (*t).to_owned()).collect(),
                        level: case.level,
                        description: case.description.clone(),
                        verdict: Verdict::Fail,
                        message: Some("no card".into()),
                        duration_ms: 0.0,
                        notes,
                        wire: Vec::new(),
                    };
                };
                let before = Snapshot::take(sks).ok();
                let mut ctx = Ctx {
                    sks,
                    profile,
                    seed,
                    clock: self.single_clock.as_deref(),
                    notes: Vec::new(),
                };
                let o = catch_unwind(AssertUnwindSafe(|| (case.run)(&mut ctx)))
                    .unwrap_or_else(|_| Outcome::Fail("the case panicked".into()));
                notes.append(&mut ctx.notes);
                let wire = sks.take_log();
                if let Some(b) = before {
                    notes.extend(cleanup(sks, &b));
                    sks.take_log();
                }
                (o, wire)
            }
        };
        let (v, message) = verdict(self.config, &case.id, &outcome);
        CaseReport {
            id: case.id.clone(),
            tags: case.tags.iter().map(|t| (*t).to_owned()).collect(),
            level: case.level,
            description: case.description.clone(),
            verdict: v,
            message,
            duration_ms: start.elapsed().as_secs_f64() * 1000.0,
            notes,
            wire,
        }
    }
}

fn skipped(case: &Case, reason: String) -> CaseReport {
    CaseReport {
        id: case.id.clone(),
        tags: case.tags.iter().map(|t| (*t).to_owned()).collect(),
        level: case.level,
        description: case.description.clone(),
        verdict: Verdict::NotApplicable,
        message: Some(reason),
        duration_ms: 0.0,
        notes: Vec::new(),
        wire: Vec::new(),
    }
}

/// Runs `cases` (a catalog with the sanity cases in it) against `target`.
pub fn run_cases(
    target: Target,
    cases: &[Case],
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let t0 = Instant::now();
    let started = now_rfc3339();
    let transport = config.target.transport.clone();
    let mut run_notes = Vec::new();
    // Profile from a first card.
    let (factory, first) = match target {
        Target::Factory(mut f) => {
            let c = f(options.seed);
            (Some(f), c.map_err(|e| e.to_string()))
        }
        Target::Single(c) => (None, Ok(c)),
    };
    let (profile, info, single, single_clock, single_link) = match first {
        Ok(mut card) => {
            let (p, i) = profile(&mut card, config, &transport);
            if factory.is_none() {
                let clock = card.clock.clone();
                let link = card.link.clone();
                (p, i, Some(RecordingSks::new(card.sks)), clock, link)
            } else {
                (p, i, None, None, None)
            }
        }
        Err(e) => {
            run_notes.push(format!("the target could not be opened: {e}"));
            (
                TargetProfile::default(),
                TargetInfo::default(),
                None,
                None,
                None,
            )
        }
    };
    let mut runner = Runner {
        factory,
        single,
        single_clock,
        single_link,
        config,
    };
    // Selection: sanity first, the selected cases, sanity last.
    let selected = select(cases, SANITY_FIRST, SANITY_LAST, &options.filter);
    let mut reports = Vec::with_capacity(selected.len());
    let total = selected.len();
    for (i, case) in selected.iter().enumerate() {
        let seed = case_seed(options.seed, &case.id);
        let r = if let Some(reason) = config.disabled_reason(&case.id) {
            skipped(case, format!("disabled by the configuration: {reason}"))
        } else if case.destructive && !config.destructive {
            skipped(
                case,
                "destructive; the configuration does not allow destructive cases".into(),
            )
        } else if !(case.applies)(&profile) {
            skipped(
                case,
                "the target does not declare what this case needs".into(),
            )
        } else {
            runner.run_case(case, &profile, seed)
        };
        if options.progress {
            progress(i, total, &r);
        }
        reports.push(r);
    }
    run_notes.extend(stale_config_notes(config, |k| {
        cases.iter().any(|c| matches_id(k, &c.id))
    }));
    if options.perf_sessions > 0 && cfg!(debug_assertions) {
        run_notes.push(
            "the harness was built without optimizations (debug): its latency figures include the harness's own slowness; use a release build for figures to publish".into(),
        );
    }
    let performance = if options.perf_sessions > 0 {
        Some(performance(&mut runner, options))
    } else {
        None
    };
    finish_report(Finished {
        started,
        target: info,
        config,
        options,
        cases: reports,
        performance,
        load: None,
        notes: run_notes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Sanity case `first`, the cases selected by `filter` (id prefixes; all when empty), sanity
/// case `last`.
pub(crate) fn select<'a, C: Listed>(
    cases: &'a [C],
    first: &str,
    last: &str,
    filter: &[String],
) -> Vec<&'a C> {
    let head = cases.iter().filter(|c| c.id() == first);
    let middle = cases.iter().filter(|c| {
        c.id() != first
            && c.id() != last
            && (filter.is_empty() || filter.iter().any(|f| c.id().starts_with(f.as_str())))
    });
    let tail = cases.iter().filter(|c| c.id() == last);
    head.chain(middle).chain(tail).collect()
}

/// One progress line on stderr (and the reason of a failure).
pub(crate) fn progress(i: usize, total: usize, r: &CaseReport) {
    let _ = writeln!(
        std::io::stderr(),
        "[{:>4}/{total}] {:<16} {} ({:.1} ms){}",
        i + 1,
        r.verdict.as_str(),
        r.id,
        r.duration_ms,
        match (&r.message, r.verdict) {
            (Some(m), Verdict::Fail | Verdict::UnexpectedPass) => format!("\n           {m}"),
            _ => String::new(),
        }
    );
}

/// Notes for configuration entries that name no case (`names_case` says whether one does).
pub(crate) fn stale_config_notes(
    config: &TargetConfig,
    names_case: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (table, map) in [
        ("disabled", &config.disabled),
        ("expected_failures", &config.expected_failures),
        ("known_divergences", &config.known_divergences),
    ] {
        for k in map.keys() {
            if !names_case(k) {
                notes.push(format!("[{table}] \"{k}\" names no case of the catalog"));
            }
        }
    }
    notes
}

/// What a finished run hands to [`finish_report`].
pub(crate) struct Finished<'a> {
    pub started: String,
    pub target: TargetInfo,
    pub config: &'a TargetConfig,
    pub options: &'a RunOptions,
    pub cases: Vec<CaseReport>,
    pub performance: Option<Performance>,
    pub load: Option<crate::issuer::load::LoadReport>,
    pub notes: Vec<String>,
    pub elapsed_ms: f64,
}

/// Builds the report of a run (summary and requirement roll-up included).
pub(crate) fn finish_report(f: Finished<'_>) -> Report {
    let mut report = Report {
        schema: crate::reports::REPORT_SCHEMA.to_owned(),
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        started: f.started,
        target: f.target,
        config: ConfigEcho {
            destructive: f.config.destructive,
            disabled: f.config.disabled.clone(),
            expected_failures: f.config.expected_failures.clone(),
            known_divergences: f.config.known_divergences.clone(),
            filter: f.options.filter.clone(),
        },
        summary: Default::default(),
        requirements: Vec::new(),
        cases: f.cases,
        performance: f.performance,
        load: f.load,
        notes: f.notes,
    };
    report.finish(f.elapsed_ms);
    report
}

/// Performance mode: honest sessions on one card, timed per call and per session.
fn performance(runner: &mut Runner<'_>, options: &RunOptions) -> Performance {
    let mut owned: Option<RecordingSks> = None;
    let mut link = runner.single_link.clone();
    let sks: &mut RecordingSks = match (&mut runner.factory, runner.single.as_mut()) {
        (None, Some(s)) => {
            s.take_log();
            s
        }
        (Some(f), _) => match f(options.seed ^ 0x9e7f) {
            Ok(c) => {
                link = c.link.clone();
                owned.insert(RecordingSks::new(c.sks))
            }
            Err(_) => {
                return Performance {
                    sessions: 0,
                    errors: 1,
                    methods: Default::default(),
                    session: None,
                    calibration: None,
                    calls: 0,
                    link: None,
                };
            }
        },
        _ => {
            return Performance {
                sessions: 0,
                errors: 1,
                methods: Default::default(),
                session: None,
                calibration: None,
                calls: 0,
                link: None,
            };
        }
    };
    // Calibration: the cheapest call, repeated.
    let mut cal = Vec::new();
    for _ in 0..options.perf_sessions.clamp(20, 200) {
        let t = Instant::now();
        let _ = sks.get_device_info();
        cal.push(t.elapsed().as_secs_f64() * 1e6);
    }
    sks.take_log();
    let mut session_times = Vec::new();
    let mut errors = 0;
    let link_start = link.as_ref().map(|l| l.read());
    let mut log = Vec::new();
    for i in 0..options.perf_sessions {
        let t = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let r = crate::cases::card::honest_session(
            sks,
            options.seed.wrapping_add(i as u64),
            u32::try_from(now).unwrap_or(u32::MAX),
        );
        let el = t.elapsed().as_secs_f64() * 1e6;
        match r {
            Ok(()) => session_times.push(el),
            Err(_) => errors += 1,
        }
        log.append(&mut sks.take_log());
    }
    let n = options.perf_sessions.max(1) as f64;
    let link = match (link, link_start) {
        (Some(l), Some((a0, t0, f0))) => {
            let (a, t, f) = l.read();
            Some(crate::perf::LinkPerSession {
                apdus: (a - a0) as f64 / n,
                bytes_to_card: (t - t0) as f64 / n,
                bytes_from_card: (f - f0) as f64 / n,
            })
        }
        _ => None,
    };
    Performance {
        sessions: options.perf_sessions,
        errors,
        link,
        calls: log.len(),
        methods: per_method(&log),
        session: LatencyStats::of(&session_times),
        calibration: LatencyStats::of(&cal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_discipline() {
        let mut c = TargetConfig::default();
        c.expected_failures.insert("a.x".into(), "bug 1".into());
        c.known_divergences.insert("b.".into(), "no clock".into());
        let fail = Outcome::Fail("boom".into());
        let na = Outcome::NotApplicable("n/a".into());
        assert_eq!(verdict(&c, "a.x", &fail).0, Verdict::ExpectedFailure);
        assert_eq!(
            verdict(&c, "a.x", &Outcome::Pass).0,
            Verdict::UnexpectedPass
        );
        assert_eq!(verdict(&c, "a.x", &na).0, Verdict::NotApplicable);
        assert_eq!(verdict(&c, "b.y", &fail).0, Verdict::KnownDivergence);
        assert_eq!(
            verdict(&c, "b.y", &Outcome::Pass).0,
            Verdict::UnexpectedPass
        );
        assert_eq!(verdict(&c, "c", &fail).0, Verdict::Fail);
        assert_eq!(verdict(&c, "c", &Outcome::Pass), (Verdict::Pass, None));
        assert_eq!(
            verdict(&c, "c", &Outcome::Quirk("odd".into())).0,
            Verdict::Quirk
        );
        assert!(
            verdict(&c, "a.x", &fail)
                .1
                .unwrap_or_default()
                .contains("bug 1")
        );
        assert!(Verdict::UnexpectedPass.fails_run() && Verdict::Fail.fails_run());
        assert!(!Verdict::KnownDivergence.fails_run() && !Verdict::ExpectedFailure.fails_run());
    }

    #[test]
    fn case_seeds_are_stable_and_distinct() {
        assert_eq!(case_seed(0, "card.a"), case_seed(0, "card.a"));
        assert_ne!(case_seed(0, "card.a"), case_seed(0, "card.b"));
        assert_ne!(case_seed(0, "card.a"), case_seed(1, "card.a"));
    }
}
