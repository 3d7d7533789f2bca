//! The report model and its three renderings: JSON (`report.json`, schema
//! `spec/schemas/harness-report.schema.json`), JUnit XML (`junit.xml`) and one self-contained
//! HTML page (`report.html`).

mod html;
mod junit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Excuse, Pinned, Policy};
use crate::model::{Level, Verdict};
use crate::perf::Performance;
use crate::rules::{self, Grade};
use crate::wire::WireEntry;

pub use html::to_html;
pub use junit::to_junit;

/// The schema id of the JSON report.
pub const REPORT_SCHEMA: &str = "https://airtight.example/schemas/harness-report.schema.json";

/// The file names [`write_all`] writes.
pub const JSON_FILE: &str = "report.json";
/// JUnit XML.
pub const JUNIT_FILE: &str = "junit.xml";
/// HTML.
pub const HTML_FILE: &str = "report.html";

/// What was tested.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetInfo {
    /// Display name.
    pub name: String,
    /// `card` or `issuer`.
    pub kind: String,
    /// Transport.
    pub transport: String,
    /// `vendorName`.
    pub vendor: String,
    /// `vendorDescription`.
    pub description: String,
    /// `apiLevel`.
    pub api_level: u16,
    /// Supported algorithms as used by the run.
    pub algorithms: Vec<String>,
    /// Declared features.
    pub features: Vec<String>,
    /// Device weaknesses (RSA key shorter than 2048 bits, SHA-1 signed or expired or not yet
    /// valid device certificate): warnings, which fail the run only under the policy
    /// `device_weakness_fails_run`.
    pub device_warnings: Vec<String>,
}

/// One case in a report.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// Stable id.
    pub id: String,
    /// Spec tags.
    pub tags: Vec<String>,
    /// MUST or SHOULD.
    pub level: Level,
    /// One line.
    pub description: String,
    /// The case needs consent to destructive cases.
    pub destructive: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// Why (failure text, not-applicable reason naming what is missing, configured reason,
    /// quirk).
    pub message: Option<String>,
    /// A failed case: what the rule requires, when the case states it apart.
    pub expected: Option<String>,
    /// A failed case: the outcome observed (what a known divergence pins).
    pub actual: Option<String>,
    /// `tightening` when every rule the case checks is an airtight tightening, else
    /// `protocol` (each tag's own grade is in the report's `rules`).
    pub grade: Grade,
    /// Wall time.
    pub duration_ms: f64,
    /// Notes the case recorded.
    pub notes: Vec<String>,
    /// What the cleanup after the case could not remove from a shared card.
    pub left_behind: Vec<String>,
    /// The SKS calls (card runs) or HTTP exchanges (issuer runs) the case made.
    pub wire: Vec<WireEntry>,
}

/// The roll-up of one spec tag.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    /// The tag.
    pub tag: String,
    /// The strongest level of the cases citing it.
    pub level: Level,
    /// The worst verdict of its cases (fail > unexpected-pass > warning > expected-failure >
    /// known-divergence > quirk > pass > not-applicable).
    pub verdict: Verdict,
    /// Protocol or airtight tightening (from the spec's rule line).
    pub grade: Grade,
    /// The cases citing it.
    pub cases: Vec<String>,
    /// Those of its cases that failed the run or warned.
    pub failed: Vec<String>,
    /// Why its cases did not apply (distinct reasons, e.g. the missing feature), when none ran.
    pub not_applicable: Vec<String>,
}

/// The text of a rule the report cites (from `spec/*.md`).
#[derive(Debug, Clone, Serialize)]
pub struct RuleText {
    /// `MUST`, `SHOULD`, ...
    pub level: String,
    /// The spec file.
    pub file: String,
    /// Protocol or tightening.
    pub grade: Grade,
    /// Why it is a tightening.
    pub reason: Option<String>,
    /// The rule.
    pub text: String,
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Cases in the report.
    pub total: usize,
    /// Count per verdict name.
    pub verdicts: BTreeMap<String, usize>,
    /// True when no case failed the run.
    pub passed: bool,
    /// What cleanups could not remove from a shared card (case id: what), in run order.
    pub left_behind: Vec<String>,
    /// The cases that failed the run, in run order.
    pub failures: Vec<String>,
    /// The cases with a warning (SHOULD failures, device weaknesses), in run order.
    pub warnings: Vec<String>,
    /// Wall time of the run.
    pub duration_ms: f64,
}

/// The configuration echoed into the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigEcho {
    /// Destructive cases allowed.
    pub destructive: bool,
    /// Disabled ids and reasons.
    pub disabled: BTreeMap<String, String>,
    /// Expected failures and reasons (some pinned).
    pub expected_failures: BTreeMap<String, Excuse>,
    /// Known divergences with the outcomes they pin and reasons.
    pub known_divergences: BTreeMap<String, Pinned>,
    /// What fails the run beyond failed MUST cases.
    pub policy: Policy,
    /// Id filter (prefixes).
    pub filter: Vec<String>,
}

/// A whole harness report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    #[serde(rename = "$schema")]
    pub schema: String,
    /// Harness version.
    pub harness_version: String,
    /// Start time (RFC 3339, UTC).
    pub started: String,
    /// The target.
    pub target: TargetInfo,
    /// The configuration.
    pub config: ConfigEcho,
    /// Counts.
    pub summary: Summary,
    /// Per requirement.
    pub requirements: Vec<Requirement>,
    /// Per case, in run order.
    pub cases: Vec<CaseReport>,
    /// The text of every rule the cases cite, by tag (from `spec/*.md`).
    pub rules: BTreeMap<String, RuleText>,
    /// Performance figures, when measured.
    pub performance: Option<Performance>,
    /// Issuer load test figures (issuer runs with a load test only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::issuer::load::LoadReport>,
    /// Issuer crash-under-load run and its audit (`airtight harness issuer
    /// --crash-under-load N` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crash: Option<crate::issuer::crash::CrashReport>,
    /// Run-level notes (e.g. configuration entries that matched no case).
    pub notes: Vec<String>,
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Fail => 7,
        Verdict::UnexpectedPass => 6,
        Verdict::Warning => 5,
        Verdict::ExpectedFailure => 4,
        Verdict::KnownDivergence => 3,
        Verdict::Quirk => 2,
        Verdict::Pass => 1,
        Verdict::NotApplicable => 0,
    }
}

impl Report {
    /// Recomputes the summary and the requirement roll-up from the cases.
    pub fn finish(&mut self, duration_ms: f64) {
        let mut verdicts: BTreeMap<String, usize> = Verdict::ALL
            .iter()
            .map(|v| (v.as_str().to_owned(), 0))
            .collect();
        for c in &self.cases {
            *verdicts.entry(c.verdict.as_str().to_owned()).or_default() += 1;
        }
        self.summary = Summary {
            total: self.cases.len(),
            verdicts,
            passed: !self.cases.iter().any(|c| c.verdict.fails_run())
                && (!self.config.policy.device_weakness_fails_run
                    || self.target.device_warnings.is_empty()),
            left_behind: self
                .cases
                .iter()
                .flat_map(|c| c.left_behind.iter().map(|w| format!("{}: {w}", c.id)))
                .collect(),
            failures: self
                .cases
                .iter()
                .filter(|c| c.verdict.fails_run())
                .map(|c| c.id.clone())
                .collect(),
            warnings: self
                .cases
                .iter()
                .filter(|c| c.verdict == Verdict::Warning)
                .map(|c| c.id.clone())
                .collect(),
            duration_ms,
        };
        let mut by: BTreeMap<String, Requirement> = BTreeMap::new();
        for c in &self.cases {
            for t in &c.tags {
                let r = by.entry(t.clone()).or_insert_with(|| Requirement {
                    tag: t.clone(),
                    level: c.level,
                    verdict: Verdict::NotApplicable,
                    grade: rules::grade(t),
                    cases: Vec::new(),
                    failed: Vec::new(),
                    not_applicable: Vec::new(),
                });
                if c.level == Level::Must {
                    r.level = Level::Must;
                }
                if severity(c.verdict) > severity(r.verdict) {
                    r.verdict = c.verdict;
                }
                r.cases.push(c.id.clone());
                if c.verdict.fails_run() || c.verdict == Verdict::Warning {
                    r.failed.push(c.id.clone());
                }
                if c.verdict == Verdict::NotApplicable
                    && let Some(m) = &c.message
                    && !r.not_applicable.contains(m)
                {
                    r.not_applicable.push(m.clone());
                }
            }
        }
        for r in by.values_mut() {
            if r.verdict != Verdict::NotApplicable {
                r.not_applicable.clear();
            }
        }
        self.rules = by
            .keys()
            .filter_map(|t| {
                rules::get(t).map(|x| {
                    (
                        t.clone(),
                        RuleText {
                            level: x.level.to_owned(),
                            file: x.file.to_owned(),
                            grade: x.grade,
                            reason: x.reason.clone(),
                            text: x.text.clone(),
                        },
                    )
                })
            })
            .collect();
        self.requirements = by.into_values().collect();
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The count of one verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.cases.iter().filter(|c| c.verdict == v).count()
    }
}

/// Writes `report.json`, `junit.xml` and `report.html` into `out_dir` (created if needed);
/// returns the paths written.
pub fn write_all(report: &Report, out_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let mut out = Vec::new();
    for (name, text) in [
        (JSON_FILE, report.to_json()),
        (JUNIT_FILE, to_junit(report)),
        (HTML_FILE, to_html(report)),
    ] {
        let p = out_dir.join(name);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    Ok(out)
}

/// Escapes text for XML and HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faulty::{Fault, FaultyCard};
    use crate::target::{DeviceKind, OpenedCard, Target, reference_card};
    use crate::{RunOptions, TargetConfig};

    /// The card catalog (a part of it) against a card with two deliberate faults, as a vendor
    /// would see it: with `HARNESS_REPORT_OUT=DIR` the three files are written there (for a
    /// screenshot).
    fn faulty_report() -> Report {
        let target = Target::Factory(Box::new(|seed| {
            let c = reference_card(DeviceKind::P256, seed)?;
            let inner = FaultyCard::new(c.sks, Fault::AcceptBadMac);
            Ok(OpenedCard {
                sks: Box::new(FaultyCard::new(Box::new(inner), Fault::IgnoreAbort)),
                clock: c.clock,
                link: c.link,
            })
        }));
        let mut config = TargetConfig::reference();
        config.target.name = Some("reference SKS with two deliberate faults".into());
        config.policy.should_fails_run = false;
        let options = RunOptions {
            filter: vec![
                "card.mac.create-key-entry.".into(),
                "card.session.".into(),
                "card.device.".into(),
            ],
            ..RunOptions::default()
        };
        crate::runner::run_cases(target, &crate::cases::card::all(), &config, &options)
    }

    #[test]
    fn a_failed_run_shows_its_failures_first_with_rule_and_evidence() {
        let r = faulty_report();
        if let Some(dir) = std::env::var_os("HARNESS_REPORT_OUT") {
            write_all(&r, Path::new(&dir)).expect("write the reports");
        }
        assert!(!r.summary.passed);
        assert!(!r.summary.failures.is_empty());
        let html = to_html(&r);
        let failures = html.find("id=\"failures\"").expect("a failures list");
        let requirements = html.find("id=\"requirements\"").expect("requirements");
        let cases = html.find("id=\"cases\"").expect("cases");
        assert!(failures < requirements && requirements < cases);
        for id in &r.summary.failures {
            let c = r.cases.iter().find(|c| &c.id == id).expect("case");
            // Linked to its case row and to its rules' text, with the evidence.
            assert!(html[failures..requirements].contains(&format!("href=\"#{id}\"")));
            for t in &c.tags {
                assert!(html[failures..requirements].contains(&format!("href=\"#rule-{t}\"")));
                assert!(
                    html.contains(&format!("id=\"rule-{t}\"")),
                    "{t} text embedded"
                );
            }
            assert!(c.actual.is_some(), "{id}: the observed outcome is kept");
        }
        // A requirement row names its failed cases only; the others are counted.
        let q = r
            .requirements
            .iter()
            .find(|q| !q.failed.is_empty())
            .expect("a failed requirement");
        assert!(q.failed.len() < q.cases.len() || q.cases.len() == 1);
        // The rule texts carry their grade.
        assert!(r.rules.values().any(|x| x.grade == Grade::Tightening));
        assert!(r.rules.values().any(|x| x.grade == Grade::Protocol));
    }

    #[test]
    fn not_applicable_rows_name_the_missing_feature() {
        let mut config = TargetConfig::reference();
        config.features.declared.clear();
        let t = crate::target::open(&config.card_spec().expect("spec")).expect("target");
        let options = RunOptions {
            filter: vec!["card.session.open-sessions-bounded".into()],
            ..RunOptions::default()
        };
        let r = crate::runner::run_cases(t, &crate::cases::card::all(), &config, &options);
        let q = r
            .requirements
            .iter()
            .find(|q| q.tag == "SKS-SES-008")
            .expect("SKS-SES-008");
        assert_eq!(q.verdict, Verdict::NotApplicable);
        assert!(
            q.not_applicable
                .iter()
                .any(|m| m.contains("resource-limits")),
            "{:?}",
            q.not_applicable
        );
        // A device weakness is a warning; it fails the run only under the policy.
        let mut r = r;
        assert!(r.summary.passed);
        r.target
            .device_warnings
            .push("the device key is RSA-1024".into());
        r.config.policy.device_weakness_fails_run = false;
        r.finish(0.0);
        assert!(r.summary.passed);
        assert!(to_html(&r).contains("RSA-1024"));
        r.config.policy.device_weakness_fails_run = true;
        r.finish(0.0);
        assert!(!r.summary.passed);
    }
}
