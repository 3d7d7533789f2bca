//! JUnit XML: one `testsuite` per report, one `testcase` per case (classname = the id up to
//! its last dot). fail and unexpected-pass are `failure`s; not-applicable is `skipped`; a
//! warning passes, with the failure text in its `system-out`.

use super::{Report, esc};
use crate::case::Verdict;

/// The JUnit XML text of a report.
pub fn to_junit(r: &Report) -> String {
    let failures = r.cases.iter().filter(|c| c.verdict.fails_run()).count();
    let skipped = r.count(Verdict::NotApplicable);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
        r.cases.len(),
        r.summary.duration_ms / 1000.0
    ));
    s.push_str(&format!(
        "  <testsuite name=\"airtight-harness {} {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">\n",
        esc(&r.target.kind),
        esc(&r.target.name),
        r.cases.len(),
        r.summary.duration_ms / 1000.0,
        esc(&r.started)
    ));
    for c in &r.cases {
        let (class, name) = match c.id.rfind('.') {
            Some(i) => (&c.id[..i], &c.id[i + 1..]),
            None => ("", c.id.as_str()),
        };
        s.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.4}\">\n",
            esc(class),
            esc(name),
            c.duration_ms / 1000.0
        ));
        let msg = c.message.clone().unwrap_or_default();
        match c.verdict {
            Verdict::Fail | Verdict::UnexpectedPass => s.push_str(&format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                esc(&msg),
                c.verdict.as_str(),
                esc(&format!(
                    "[{}] {}\n{}",
                    c.tags.join(", "),
                    c.description,
                    msg
                ))
            )),
            Verdict::NotApplicable => {
                s.push_str(&format!("      <skipped message=\"{}\"/>\n", esc(&msg)));
            }
            _ => {}
        }
        s.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            esc(&format!(
                "verdict: {}; grade: {}; tags: {}; {}{}",
                c.verdict.as_str(),
                c.grade.as_str(),
                c.tags.join(" "),
                msg,
                match (&c.expected, &c.actual) {
                    (Some(e), Some(a)) => format!("\nexpected: {e}\nactual: {a}"),
                    (None, Some(a)) => format!("\nactual: {a}"),
                    _ => String::new(),
                }
            ))
        ));
        s.push_str("    </testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}
