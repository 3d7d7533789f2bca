//! The report model and its three renderings: JSON (`report.json`, schema
//! `spec/schemas/harness-report.schema.json`), JUnit XML (`junit.xml`) and one self-contained
//! HTML page (`report.html`).

mod html;
mod junit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::case::{Level, Verdict};
use crate::perf::Performance;
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
    /// The verdict.
    pub verdict: Verdict,
    /// Why (failure text, not-applicable reason, configured reason, quirk).
    pub message: Option<String>,
    /// Wall time.
    pub duration_ms: f64,
    /// Notes the case recorded.
    pub notes: Vec<String>,
    /// The SKS calls the case made.
    pub wire: Vec<WireEntry>,
}

/// The roll-up of one spec tag.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    /// The tag.
    pub tag: String,
    /// The strongest level of the cases citing it.
    pub level: Level,
    /// The worst verdict of its cases (fail > unexpected-pass > expected-failure >
    /// known-divergence > quirk > pass > not-applicable).
    pub verdict: Verdict,
    /// The cases citing it.
    pub cases: Vec<String>,
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
    /// Expected failures and reasons.
    pub expected_failures: BTreeMap<String, String>,
    /// Known divergences and reasons.
    pub known_divergences: BTreeMap<String, String>,
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
    /// Performance figures, when measured.
    pub performance: Option<Performance>,
    /// Issuer load test figures (issuer runs with a load test only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::issuer::load::LoadReport>,
    /// Run-level notes (e.g. configuration entries that matched no case).
    pub notes: Vec<String>,
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Fail => 6,
        Verdict::UnexpectedPass => 5,
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
            passed: !self.cases.iter().any(|c| c.verdict.fails_run()),
            duration_ms,
        };
        let mut by: BTreeMap<String, Requirement> = BTreeMap::new();
        for c in &self.cases {
            for t in &c.tags {
                let r = by.entry(t.clone()).or_insert_with(|| Requirement {
                    tag: t.clone(),
                    level: c.level,
                    verdict: Verdict::NotApplicable,
                    cases: Vec::new(),
                });
                if c.level == Level::Must {
                    r.level = Level::Must;
                }
                if severity(c.verdict) > severity(r.verdict) {
                    r.verdict = c.verdict;
                }
                r.cases.push(c.id.clone());
            }
        }
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
