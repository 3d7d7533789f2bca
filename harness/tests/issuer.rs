//! The issuer catalog against the reference issuer on loopback: every case passes against the
//! honest issuer, and each deliberate fault of the issuer makes at least one case fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_harness::issuer::reference::{self, ReferenceOptions};
use airtight_harness::{RunOptions, TargetConfig, Verdict};
use airtight_issuer::{Faults, IssuerFault};

fn config(options: &ReferenceOptions) -> TargetConfig {
    let mut c = TargetConfig::default();
    c.target.transport = "http".into();
    c.target.name = Some("airtight reference issuer (loopback)".into());
    c.issuer.slow_client_ms = Some(options.slow_client_ms());
    c.issuer.timeout_ms = Some(5_000);
    c
}

#[test]
fn the_catalog_has_at_least_100_issuer_cases_with_unique_ids() {
    let cases = airtight_harness::issuer_catalog();
    assert!(cases.len() >= 100, "{} issuer cases", cases.len());
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
    assert!(
        cases
            .iter()
            .all(|c| c.id.starts_with("issuer.") && !c.tags.is_empty())
    );
}

/// Runs the whole catalog against the reference issuer (plain HTTP or HTTPS) and checks that
/// every case passes or is not applicable for a known reason.
fn every_case_passes(tls: bool) {
    let options = ReferenceOptions {
        tls,
        ..ReferenceOptions::default()
    };
    let running = reference::start(&options).expect("reference issuer");
    let mut c = config(&options);
    c.issuer.trust_anchor_der = running.trust_anchors.clone();
    let report = airtight_harness::run_issuer(&running.invocation_url, &c, &RunOptions::default());
    running.server.shutdown().expect("shutdown");
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| format!("{}: {}", c.id, c.message.clone().unwrap_or_default()))
        .collect();
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
    assert!(report.summary.passed);
    let passed = report.count(Verdict::Pass);
    assert!(passed >= 170, "{passed} passed");
    assert!(
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("issuer.discovery."))
            .all(|c| c.verdict == Verdict::Pass || c.id.ends_with(".replayed-with-rewritten-ids")),
        "the discovery cases run against the reference (it runs credential discovery): {:?}",
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("issuer.discovery.") && c.verdict != Verdict::Pass)
            .map(|c| (&c.id, c.verdict, &c.message))
            .collect::<Vec<_>>()
    );
    for c in &report.cases {
        if c.verdict == Verdict::NotApplicable {
            // Not applicable against the reference: the privacy-mode-only case, the TLS
            // cases over plain HTTP, and the id-rewritten replay of a discovery answer (a fresh
            // card has no credentials: two sessions' answers differ in nothing but the ids).
            assert!(
                (!tls && c.id.starts_with("issuer.tls."))
                    || c.id == "issuer.init.privacy-device-id-added"
                    || c.id == "issuer.discovery.replayed-with-rewritten-ids",
                "unexpectedly not applicable: {}: {:?}",
                c.id,
                c.message
            );
        }
        if tls && c.id.starts_with("issuer.tls.") {
            assert_eq!(c.verdict, Verdict::Pass, "{}", c.id);
        }
    }
}

#[test]
fn every_case_passes_against_the_reference_issuer() {
    every_case_passes(false);
}

#[test]
fn every_case_passes_against_the_reference_issuer_over_https() {
    every_case_passes(true);
}

/// Runs the catalog against an issuer with `fault` and returns the ids of the failed cases.
fn failures_with(fault: IssuerFault) -> Vec<String> {
    let options = ReferenceOptions {
        faults: Faults::one(fault),
        ..ReferenceOptions::default()
    };
    let running = reference::start(&options).expect("reference issuer");
    let mut c = config(&options);
    if fault != IssuerFault::IgnoreLifetime {
        // The slow cases cost seconds each and catch none of the other faults.
        for id in [
            "issuer.transport.slow-",
            "issuer.transport.lifetime-expired",
        ] {
            c.disabled
                .insert(id.into(), "not needed for this fault".into());
        }
    }
    let report = airtight_harness::run_issuer(&running.invocation_url, &c, &RunOptions::default());
    running.server.shutdown().expect("shutdown");
    report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id.clone())
        .collect()
}

macro_rules! fault_is_caught {
    ($($name:ident => $fault:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            let failed = failures_with($fault);
            assert!(!failed.is_empty(), "{:?} was caught by no case", $fault);
            eprintln!("{:?} caught by {} cases: {}", $fault, failed.len(), failed.join(", "));
        }
    )*};
}

fault_is_caught! {
    fault_accept_bad_session_attestation => IssuerFault::AcceptBadSessionAttestation,
    fault_accept_bad_key_attestation => IssuerFault::AcceptBadKeyAttestation,
    fault_accept_bad_close_attestation => IssuerFault::AcceptBadCloseAttestation,
    fault_accept_privacy_downgrade => IssuerFault::AcceptPrivacyDowngrade,
    fault_accept_untrusted_device => IssuerFault::AcceptUntrustedDevice,
    fault_ignore_server_time_echo => IssuerFault::IgnoreServerTimeEcho,
    fault_ignore_client_time => IssuerFault::IgnoreClientTime,
    fault_ignore_lifetime => IssuerFault::IgnoreLifetime,
    fault_ignore_session_ids => IssuerFault::IgnoreSessionIds,
    fault_keep_failed_sessions_open => IssuerFault::KeepFailedSessionsOpen,
    fault_no_body_limit => IssuerFault::NoBodyLimit,
    fault_accept_any_key_order => IssuerFault::AcceptAnyKeyOrder,
}

#[test]
fn every_fault_has_a_test() {
    // The macro above lists every fault once.
    assert_eq!(IssuerFault::ALL.len(), 12);
}

#[test]
fn issuer_reports_with_a_load_test_validate_against_the_schema() {
    let options = ReferenceOptions::default();
    let running = reference::start(&options).expect("reference issuer");
    let run = RunOptions {
        filter: vec!["issuer.init.attestation-flipped".into()],
        load: Some((2, 1.0)),
        ..RunOptions::default()
    };
    let report = airtight_harness::run_issuer(&running.invocation_url, &config(&options), &run);
    running.server.shutdown().expect("shutdown");
    // Sanity first and last around the selected case.
    let ids: Vec<&str> = report.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "issuer.sanity.first",
            "issuer.init.attestation-flipped",
            "issuer.sanity.last"
        ]
    );
    assert!(report.summary.passed, "{:?}", report.summary);
    let load = report.load.as_ref().expect("load figures");
    assert!(load.sessions > 0 && load.errors == 0, "{load:?}");
    assert!(load.session.as_ref().is_some_and(|s| s.n == load.sessions));
    // The wire log of the hostile case shows the refusal.
    let case = &report.cases[1];
    assert!(
        case.wire
            .iter()
            .any(|w| w.method == "POST" && w.result.starts_with("302 -> "))
    );
    let dir = tempfile::tempdir().expect("tempdir");
    airtight_harness::reports::write_all(&report, dir.path()).expect("write");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("json"),
    )
    .expect("parse");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../spec/schemas/harness-report.schema.json"),
        )
        .expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("validator");
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("id=\"load\"") && html.contains("HTTP exchanges"));
}
