//! The three report files: JSON valid against `spec/schemas/harness-report.schema.json`,
//! JUnit XML with one testcase per case, and a self-contained HTML page.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use airtight_harness::{RunOptions, TargetConfig, reports, run_card, target};

fn schema() -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/schemas/harness-report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("schema file")).expect("schema JSON")
}

fn small_report() -> airtight_harness::Report {
    let mut config = TargetConfig::reference();
    config.disabled.insert(
        "card.device.update-firmware".into(),
        "exercise the disabled verdict".into(),
    );
    let t = target::open(&config.card_spec().unwrap()).unwrap();
    let options = RunOptions {
        filter: vec!["card.device.".into(), "card.session.create.ed25519".into()],
        perf_sessions: 8,
        ..RunOptions::default()
    };
    run_card(t, &config, &options)
}

#[test]
fn json_report_validates_against_the_schema() {
    let report = small_report();
    let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is not vacuous: an unknown verdict and a missing field are rejected.
    let mut bad = value.clone();
    bad["cases"][0]["verdict"] = serde_json::json!("maybe");
    assert!(!validator.is_valid(&bad));
    let mut bad = value.clone();
    bad.as_object_mut().unwrap().remove("summary");
    assert!(!validator.is_valid(&bad));
    let mut bad = value;
    bad["requirements"][0]["tag"] = serde_json::json!("NOT-A-TAG");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn report_content_and_files() {
    let report = small_report();
    // Sanity first and last, the filtered cases in between, the disabled one not applicable.
    assert_eq!(report.cases.first().unwrap().id, "card.sanity.first");
    assert_eq!(report.cases.last().unwrap().id, "card.sanity.last");
    assert!(report.cases.iter().all(|c| c.id.starts_with("card.sanity.")
        || c.id.starts_with("card.device.")
        || c.id.starts_with("card.session.create.ed25519")));
    let fw = report
        .cases
        .iter()
        .find(|c| c.id == "card.device.update-firmware")
        .unwrap();
    assert_eq!(fw.verdict, airtight_harness::Verdict::NotApplicable);
    assert!(
        fw.message
            .as_deref()
            .unwrap()
            .contains("exercise the disabled verdict")
    );
    let ed = report
        .cases
        .iter()
        .find(|c| c.id == "card.session.create.ed25519-ephemeral")
        .unwrap();
    assert_eq!(ed.verdict, airtight_harness::Verdict::Pass);
    assert!(!ed.wire.is_empty(), "the wire log records the SKS calls");
    assert!(report.summary.passed);
    let perf = report.performance.as_ref().unwrap();
    assert_eq!((perf.sessions, perf.errors), (8, 0));
    assert!(perf.methods.contains_key("createKeyEntry"));
    assert_eq!(perf.methods["createKeyEntry"].n, 8);
    assert!(perf.calibration.is_some() && perf.session.is_some());

    let dir = tempfile::tempdir().unwrap();
    let files = reports::write_all(&report, dir.path()).unwrap();
    assert_eq!(files.len(), 3);
    let junit = std::fs::read_to_string(dir.path().join(reports::JUNIT_FILE)).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), report.cases.len());
    assert!(junit.contains("<skipped"));
    assert!(junit.starts_with("<?xml"));
    let html = std::fs::read_to_string(dir.path().join(reports::HTML_FILE)).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("id=\"requirements\"") && html.contains("SKS-DEV-001"));
    assert!(html.contains("<svg"), "latency charts are inline SVG");
    assert!(html.contains("wire log"));
    // Self-contained: no scripts, no external stylesheets, images or fonts.
    for bad in ["<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(bad), "HTML contains {bad}");
    }
    let json = std::fs::read_to_string(dir.path().join(reports::JSON_FILE)).unwrap();
    assert!(json.contains("\"card.sanity.first\""));
}

#[test]
fn performance_over_the_apdu_binding_counts_apdus() {
    let mut config = TargetConfig::reference();
    config.target.transport = "apdu-loopback".into();
    let t = target::open(&config.card_spec().unwrap()).unwrap();
    let options = RunOptions {
        filter: vec!["card.device.api-level".into()],
        perf_sessions: 4,
        ..RunOptions::default()
    };
    let report = run_card(t, &config, &options);
    let link = report
        .performance
        .as_ref()
        .unwrap()
        .link
        .as_ref()
        .expect("APDU counters");
    // At least one command APDU per SKS call of an honest session: createProvisioningSession,
    // getDeviceInfo, createPinPolicy, createKeyEntry, setCertificatePath, close, signData,
    // deleteKey.
    assert!(link.apdus >= 8.0, "{link:?}");
    assert!(link.bytes_to_card > link.apdus * 4.0 && link.bytes_from_card >= link.apdus * 2.0);
    let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    assert!(validator.is_valid(&value));
}
