//! Self-test: every card case passes against the reference card in-process, and the reports
//! are written and valid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_harness::{RunOptions, TargetConfig, Verdict, run_card, target};

#[test]
fn every_card_case_passes_against_the_reference_card() {
    let config = TargetConfig::reference();
    let spec = config.card_spec().expect("spec");
    let t = target::open(&spec).expect("in-process target");
    let options = RunOptions {
        progress: std::env::var_os("HARNESS_PROGRESS").is_some(),
        perf_sessions: 5,
        ..RunOptions::default()
    };
    let report = run_card(t, &config, &options);
    let bad: Vec<String> = report
        .cases
        .iter()
        .filter(|c| {
            !matches!(
                c.verdict,
                Verdict::Pass | Verdict::NotApplicable | Verdict::ExpectedFailure
            )
        })
        .map(|c| {
            format!(
                "{} {}: {}",
                c.verdict.as_str(),
                c.id,
                c.message.clone().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} cases did not pass:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(report.summary.passed);
    // Every configured expected failure is still a failure (else it would be an unexpected
    // pass above), and no case is silently not applicable on the reference.
    let na: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::NotApplicable)
        // Cases for cards without biometric support do not apply to the reference.
        .filter(|c| c.id != "card.key.biometric.unsupported")
        .map(|c| c.id.as_str())
        .collect();
    assert!(na.is_empty(), "not applicable on the reference: {na:?}");
    assert_eq!(
        report.cases.first().map(|c| c.id.as_str()),
        Some("card.sanity.first")
    );
    assert_eq!(
        report.cases.last().map(|c| c.id.as_str()),
        Some("card.sanity.last")
    );
    if let Ok(dir) = std::env::var("HARNESS_OUT") {
        airtight_harness::reports::write_all(&report, std::path::Path::new(&dir)).expect("write");
    }
}
