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

fn bad_cases(report: &airtight_harness::Report) -> Vec<String> {
    report
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| {
            format!(
                "{} {}: {}",
                c.verdict.as_str(),
                c.id,
                c.message.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// A card without biometric and device-PIN support: the cases for such cards run and pass,
/// the biometric cases do not apply.
#[test]
fn reference_card_without_biometrics_or_device_pin() {
    let config = TargetConfig::reference();
    let t = target::Target::Factory(Box::new(|seed| {
        target::reference_card_with(target::DeviceKind::P256, seed, |c| {
            c.biometric_support = false;
            c.device_pin = airtight_card::sks::DevicePin::Unsupported;
        })
    }));
    let options = RunOptions {
        filter: vec!["card.key.".into(), "card.user.".into()],
        ..RunOptions::default()
    };
    let report = run_card(t, &config, &options);
    let bad = bad_cases(&report);
    assert!(bad.is_empty(), "{bad:#?}");
    let get = |id: &str| report.cases.iter().find(|c| c.id == id).map(|c| c.verdict);
    assert_eq!(get("card.key.biometric.unsupported"), Some(Verdict::Pass));
    assert_eq!(get("card.key.device-pin"), Some(Verdict::Pass));
    assert_eq!(
        get("card.user.biometric.exclusive"),
        Some(Verdict::NotApplicable)
    );
}

/// One persistent card for the whole run (as a PC/SC or shim target is): the cases still
/// pass, and the runner cleans up between cases.
#[test]
fn one_shared_card_for_the_whole_run() {
    let config = TargetConfig::reference();
    let card = target::reference_card(target::DeviceKind::P256, 42).expect("card");
    let report = run_card(
        target::Target::Single(card),
        &config,
        &RunOptions::default(),
    );
    let bad = bad_cases(&report);
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(report.cases.len() >= 300);
}

/// The RSA-2048 device identity (RS256 session attestations).
#[test]
fn reference_card_with_an_rsa_device() {
    let mut config = TargetConfig::reference();
    config.target.device = Some(target::DeviceKind::Rsa2048);
    let t = target::open(&config.card_spec().expect("spec")).expect("target");
    let options = RunOptions {
        filter: vec!["card.session.".into(), "card.device.".into()],
        ..RunOptions::default()
    };
    let report = run_card(t, &config, &options);
    let bad = bad_cases(&report);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Every case through the APDU binding (ApduSks -> dispatcher -> reference card).
#[test]
fn every_card_case_passes_through_the_apdu_binding() {
    let mut config = TargetConfig::reference();
    config.target.transport = "apdu-loopback".into();
    let t = target::open(&config.card_spec().expect("spec")).expect("target");
    let report = run_card(t, &config, &RunOptions::default());
    let bad = bad_cases(&report);
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(report.cases.len() >= 300);
}

/// Every case through the JSON-lines shim (a child process serving the reference card; one
/// card for the whole run, no clock the harness can move).
#[test]
fn every_card_case_passes_through_the_shim() {
    let mut config = TargetConfig::reference();
    config.target.transport = "shim".into();
    config.target.command = vec![
        env!("CARGO_BIN_EXE_airtight-harness-reference-shim").to_owned(),
        "7".into(),
    ];
    let t = target::open(&config.card_spec().expect("spec")).expect("target");
    let report = run_card(t, &config, &RunOptions::default());
    let bad = bad_cases(&report);
    assert!(bad.is_empty(), "{bad:#?}");
    let na: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::NotApplicable)
        .map(|c| c.id.as_str())
        .collect();
    assert!(
        na.iter().all(|id| id.starts_with("card.session.lifetime.")
            || *id == "card.key.biometric.unsupported"),
        "{na:?}"
    );
}
