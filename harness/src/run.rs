//! One runner for every suite: selects cases (sanity first and last), derives per-case seeds,
//! skips disabled, destructive-without-consent and not-applicable cases (naming why), runs the
//! rest through the suite's [`Driver`], applies what the configuration excuses
//! ([`crate::expect`]), shows progress on stderr and builds the [`Report`].

use std::io::Write as _;
use std::time::Instant;

use crate::config::{TargetConfig, matches_id};
use crate::expect;
use crate::model::{Case, CaseRun, Listed, Outcome, Suite, Verdict};
use crate::perf::Performance;
use crate::reports::{CaseReport, ConfigEcho, Report, TargetInfo};

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
    /// Issuer runs: after the cases, this load test (`None`: no load test).
    pub load: Option<crate::issuer::load::LoadPlan>,
    /// Notes for the report from whoever set the run up (e.g. the features a foreign target
    /// was assumed to declare).
    pub notes: Vec<String>,
}

/// What a suite adds to the report after its cases.
#[derive(Debug, Default)]
pub struct SuiteExtras {
    /// Card performance figures.
    pub performance: Option<Performance>,
    /// Issuer load figures.
    pub load: Option<crate::issuer::load::LoadReport>,
    /// Run-level notes.
    pub notes: Vec<String>,
}

/// The state of one run of suite [`Driver::S`] against one target.
pub trait Driver {
    /// The suite.
    type S: Suite;
    /// The target's profile.
    fn profile(&self) -> &<Self::S as Suite>::Profile;
    /// What the report says about the target.
    fn info(&self) -> TargetInfo;
    /// Notes of the setup (e.g. the target could not be opened).
    fn setup_notes(&mut self) -> Vec<String>;
    /// Runs one case with its seed.
    fn run_case(&mut self, case: &Case<Self::S>, seed: u64) -> CaseRun;
    /// After the cases: performance or load figures.
    fn finish(&mut self, options: &RunOptions) -> SuiteExtras;
}

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
pub fn case_seed(base: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Sanity case `first`, the cases selected by `filter` (id prefixes; all when empty), sanity
/// case `last`.
pub fn select<'a, C: Listed>(
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

/// The report row of `case` with `verdict` and `message` (timing and logs empty).
pub fn report_of<S: Suite>(
    case: &Case<S>,
    verdict: Verdict,
    message: Option<String>,
) -> CaseReport {
    CaseReport {
        id: case.id.clone(),
        tags: case.tags.iter().map(|t| (*t).to_owned()).collect(),
        level: case.level,
        description: case.description.clone(),
        destructive: case.destructive,
        verdict,
        message,
        expected: None,
        actual: None,
        grade: if !case.tags.is_empty()
            && case
                .tags
                .iter()
                .all(|t| crate::rules::grade(t) == crate::rules::Grade::Tightening)
        {
            crate::rules::Grade::Tightening
        } else {
            crate::rules::Grade::Protocol
        },
        duration_ms: 0.0,
        notes: Vec::new(),
        left_behind: Vec::new(),
        wire: Vec::new(),
    }
}

/// Runs `cases` (a catalog with the suite's sanity cases in it) through `driver`.
pub fn run<D: Driver>(
    driver: &mut D,
    cases: &[Case<D::S>],
    config: &TargetConfig,
    options: &RunOptions,
) -> Report {
    let t0 = Instant::now();
    let started = now_rfc3339();
    let mut run_notes = options.notes.clone();
    run_notes.extend(driver.setup_notes());
    let selected = select(
        cases,
        <D::S as Suite>::SANITY_FIRST,
        <D::S as Suite>::SANITY_LAST,
        &options.filter,
    );
    let total = selected.len();
    let mut reports = Vec::with_capacity(total);
    for (i, case) in selected.iter().enumerate() {
        let start = Instant::now();
        let mut r = if let Some(reason) = config.disabled_reason(&case.id) {
            report_of(
                case,
                Verdict::NotApplicable,
                Some(format!("disabled by the configuration: {reason}")),
            )
        } else if case.destructive && !config.destructive {
            report_of(
                case,
                Verdict::NotApplicable,
                Some(
                    "destructive (it may delete keys it did not create): not run without consent \
                     (--destructive naming the card, or destructive = true in --config)"
                        .into(),
                ),
            )
        } else if let Err(why) = (case.applies)(driver.profile()) {
            report_of(case, Verdict::NotApplicable, Some(why))
        } else {
            let run = driver.run_case(case, case_seed(options.seed, &case.id));
            let (v, message) = expect::verdict(config, &case.id, case.level, &run.outcome);
            let mut r = report_of(case, v, message);
            if let Outcome::Fail(f) = &run.outcome {
                r.expected = f.expected.clone();
                r.actual = Some(f.observed().to_owned());
            }
            r.wire = run.wire;
            r.notes = run.notes;
            r.left_behind = run.left_behind;
            r
        };
        r.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        if options.progress {
            progress(i, total, &r);
        }
        reports.push(r);
    }
    run_notes.extend(stale_config_notes(config, |k| {
        cases.iter().any(|c| matches_id(k, &c.id))
    }));
    let extras = driver.finish(options);
    run_notes.extend(extras.notes);
    finish_report(Finished {
        started,
        target: driver.info(),
        config,
        options,
        cases: reports,
        performance: extras.performance,
        load: extras.load,
        notes: run_notes,
        elapsed_ms: t0.elapsed().as_secs_f64() * 1000.0,
    })
}

/// One progress line on stderr (and the reason of a failure or warning).
pub fn progress(i: usize, total: usize, r: &CaseReport) {
    let _ = writeln!(
        std::io::stderr(),
        "[{:>4}/{total}] {:<16} {} ({:.1} ms){}",
        i + 1,
        r.verdict.as_str(),
        r.id,
        r.duration_ms,
        match (&r.message, r.verdict) {
            (Some(m), Verdict::Fail | Verdict::UnexpectedPass | Verdict::Warning) => {
                format!("\n           {m}")
            }
            _ => String::new(),
        }
    );
}

/// Notes for configuration entries that name no case (`names_case` says whether one does).
pub fn stale_config_notes(config: &TargetConfig, names_case: impl Fn(&str) -> bool) -> Vec<String> {
    let mut notes = Vec::new();
    let keys = config
        .disabled
        .keys()
        .map(|k| ("disabled", k))
        .chain(
            config
                .expected_failures
                .keys()
                .map(|k| ("expected_failures", k)),
        )
        .chain(
            config
                .known_divergences
                .keys()
                .map(|k| ("known_divergences", k)),
        );
    for (table, k) in keys {
        if !names_case(k) {
            notes.push(format!("[{table}] \"{k}\" names no case of the catalog"));
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
            policy: f.config.policy.clone(),
            filter: f.options.filter.clone(),
        },
        summary: Default::default(),
        requirements: Vec::new(),
        cases: f.cases,
        rules: Default::default(),
        performance: f.performance,
        load: f.load,
        crash: None,
        notes: f.notes,
    };
    report.finish(f.elapsed_ms);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_seeds_are_stable_and_distinct() {
        assert_eq!(case_seed(0, "card.a"), case_seed(0, "card.a"));
        assert_ne!(case_seed(0, "card.a"), case_seed(0, "card.b"));
        assert_ne!(case_seed(0, "card.a"), case_seed(1, "card.a"));
    }
}
