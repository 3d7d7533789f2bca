//! `airtight harness card|issuer`: the binary's catalog listing, a selected run against the
//! reference card with reports, and the refusals (bad configuration path, unknown transport).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{airtight, airtight_within};

/// The selection used for the runs: a small, fast part of the catalog.
const PREFIX: &str = "card.device.";

fn ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect()
}

#[test]
fn list_prints_the_whole_catalog_one_case_a_line() {
    let out = airtight(&["harness", "card", "--list"]);
    assert!(out.ok(), "{}", out.both());
    let catalog = airtight_harness::card_catalog();
    let listed = ids(&out.stdout);
    let expected: Vec<String> = catalog.iter().map(|c| c.id.clone()).collect();
    assert_eq!(listed, expected);
    assert!(listed.contains(&"card.sanity.first".to_owned()));
    assert!(listed.contains(&"card.sanity.last".to_owned()));
    // id, level, tags, description.
    for (line, case) in out.stdout.lines().zip(&catalog) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[3], case.description, "{line}");
        for t in &case.tags {
            assert!(fields[2].contains(*t), "{line}");
        }
    }
}

#[test]
fn list_honours_only_prefixes() {
    let out = airtight(&[
        "harness",
        "card",
        "--list",
        "--only",
        PREFIX,
        "--only",
        "card.sanity.",
    ]);
    assert!(out.ok(), "{}", out.both());
    let listed = ids(&out.stdout);
    let expected: Vec<String> = airtight_harness::card_catalog()
        .into_iter()
        .map(|c| c.id)
        .filter(|id| id.starts_with(PREFIX) || id.starts_with("card.sanity."))
        .collect();
    assert!(expected.len() > 2, "{expected:?}");
    assert_eq!(listed, expected);
    let none = airtight(&[
        "harness",
        "card",
        "--list",
        "--only",
        "card.no-such-prefix.",
    ]);
    assert!(none.ok(), "{}", none.both());
    assert!(none.stdout.contains("no case selected"), "{}", none.both());
}

#[test]
fn a_selected_run_against_the_reference_writes_three_passing_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("reports");
    let out = airtight_within(
        &[
            "harness",
            "card",
            "--only",
            PREFIX,
            "--out",
            out_dir.to_str().unwrap(),
            "--seed",
            "7",
        ],
        Duration::from_secs(120),
    );
    assert!(out.ok(), "{}", out.both());
    assert_eq!(out.code(), Some(0));
    assert!(out.stdout.contains("Result: PASSED."), "{}", out.both());
    assert!(out.stdout.contains("reports: "), "{}", out.both());
    // Progress goes to stderr, one line per case.
    assert!(out.stderr.contains("card.sanity.first"), "{}", out.both());
    for f in ["report.json", "junit.xml", "report.html"] {
        let p = out_dir.join(f);
        assert!(p.is_file(), "{} missing\n{}", p.display(), out.both());
        assert!(out.stdout.contains(p.to_str().unwrap()), "{}", out.both());
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["passed"], serde_json::Value::Bool(true));
    assert_eq!(json["target"]["transport"], "in-process");
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() > 2);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        assert!(
            id.starts_with(PREFIX) || id.starts_with("card.sanity."),
            "{id}"
        );
    }
    assert_eq!(
        json["summary"]["total"].as_u64().unwrap() as usize,
        cases.len()
    );
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite"), "{junit}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"requirements\""));

    // --quiet: no progress, the same summary.
    let quiet = airtight_within(
        &["harness", "card", "--only", PREFIX, "--quiet"],
        Duration::from_secs(120),
    );
    assert!(quiet.ok(), "{}", quiet.both());
    assert!(
        !quiet.stderr.contains("card.sanity.first"),
        "{}",
        quiet.both()
    );
    assert!(quiet.stdout.contains("Result: PASSED."), "{}", quiet.both());
    assert!(!quiet.stdout.contains("reports: "), "{}", quiet.both());
}

#[test]
fn a_config_file_is_read_and_overridden_by_the_command_line() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../harness/targets/reference-in-process.toml"
    );
    let out = airtight_within(
        &[
            "harness",
            "card",
            "--config",
            config,
            "--transport",
            "apdu-loopback",
            "--only",
            PREFIX,
            "--quiet",
        ],
        Duration::from_secs(120),
    );
    assert!(out.ok(), "{}", out.both());
    assert!(out.stdout.contains("over apdu-loopback"), "{}", out.both());
}

#[test]
fn a_missing_config_file_is_an_io_error_naming_the_file() {
    let out = airtight(&[
        "harness",
        "card",
        "--config",
        "/nonexistent/airtight-target.toml",
    ]);
    // Exit 3, as for a missing `issuer serve --policy` file (4: a file that does not parse).
    assert_eq!(out.code(), Some(3), "{}", out.both());
    assert!(
        out.stderr.contains("/nonexistent/airtight-target.toml")
            && out.stderr.contains("cannot read the target configuration"),
        "{}",
        out.both()
    );
    assert!(out.stdout.is_empty(), "{}", out.both());

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[target]\ntransport = \"teleport\"\n").unwrap();
    let out = airtight(&["harness", "card", "--config", bad.to_str().unwrap()]);
    // A configuration error: exit 4, as under `issuer serve --policy`.
    assert_eq!(out.code(), Some(4), "{}", out.both());
    assert!(out.stderr.contains("teleport"), "{}", out.both());
}

#[test]
fn an_unknown_transport_is_refused() {
    let out = airtight(&["harness", "card", "--transport", "carrier-pigeon"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    assert!(
        out.stderr.contains("carrier-pigeon") && out.stderr.contains("apdu-loopback"),
        "{}",
        out.both()
    );
}

#[test]
fn pcsc_needs_an_atr_allowlist_and_names_the_feature_when_missing() {
    let out = airtight(&["harness", "card", "--reader", "Virtual PCD 00 00"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    assert!(out.stderr.contains("--atr"), "{}", out.both());
    if !cfg!(feature = "pcsc") {
        let out = airtight(&[
            "harness",
            "card",
            "--reader",
            "Virtual PCD 00 00",
            "--atr",
            "3B80800101",
        ]);
        assert_eq!(out.code(), Some(2), "{}", out.both());
        assert!(out.stderr.contains("feature `pcsc`"), "{}", out.both());
    }
}

#[test]
fn the_issuer_harness_runs_against_the_reference_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("issuer");
    let out = airtight_within(
        &[
            "harness",
            "issuer",
            "--reference",
            "--quiet",
            "--load-sessions",
            "2",
            "--load-seconds",
            "1",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert!(out.ok(), "{}", out.both());
    assert!(out.stdout.contains("issuer harness "), "{}", out.both());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["passed"], serde_json::Value::Bool(true));
    assert_eq!(json["target"]["kind"], "issuer");
    assert!(
        json["summary"]["verdicts"]["pass"].as_u64().unwrap() >= 100,
        "{}",
        json["summary"]
    );
    assert!(
        json["load"]["sessions"].as_u64().unwrap() > 0,
        "{}",
        json["load"]
    );
    assert!(
        out.stdout.contains("load: 2 concurrent sessions"),
        "{}",
        out.both()
    );
    assert!(
        json["target"]["name"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:"),
        "{json}"
    );
    let list = airtight(&["harness", "issuer", "--list"]);
    assert!(list.ok(), "{}", list.both());
    assert_eq!(
        list.stdout.lines().filter(|l| l.contains('\t')).count(),
        airtight_harness::issuer_catalog().len()
    );
}

#[test]
fn the_issuer_harness_runs_over_https_against_the_reference_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("issuer-tls");
    let out = airtight_within(
        &[
            "harness",
            "issuer",
            "--reference",
            "--tls",
            "--quiet",
            "--only",
            "issuer.tls.",
            "--only",
            "issuer.init.attestation-flipped",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(out.ok(), "{}", out.both());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let verdicts: Vec<(String, String)> = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(verdicts.len(), 5, "{verdicts:?}");
    assert!(verdicts.iter().all(|(_, v)| v == "pass"), "{verdicts:?}");
    assert!(
        json["target"]["name"]
            .as_str()
            .unwrap()
            .contains("https://127.0.0.1:")
    );
}

#[test]
fn the_issuer_harness_needs_an_issuer() {
    let out = airtight(&["harness", "issuer"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    assert!(out.stderr.contains("--url"), "{}", out.both());
    let both = airtight(&[
        "harness",
        "issuer",
        "--reference",
        "--url",
        "http://127.0.0.1:1/",
    ]);
    assert_eq!(both.code(), Some(2), "{}", both.both());
    // An https:// issuer needs trust anchors; a zero-session load test is refused.
    let https = airtight(&["harness", "issuer", "--url", "https://127.0.0.1:1/keygen2"]);
    assert_eq!(https.code(), Some(2), "{}", https.both());
    assert!(https.stderr.contains("trust anchors"), "{}", https.both());
    let tls_alone = airtight(&[
        "harness",
        "issuer",
        "--tls",
        "--url",
        "http://127.0.0.1:1/k",
    ]);
    assert_eq!(tls_alone.code(), Some(2), "{}", tls_alone.both());
    let zero = airtight(&[
        "harness",
        "issuer",
        "--reference",
        "--load-sessions",
        "0",
        "--load-seconds",
        "1",
    ]);
    assert_eq!(zero.code(), Some(2), "{}", zero.both());
}

#[test]
fn a_failed_run_exits_with_1_and_names_the_case() {
    // A case configured as an expected failure that passes is an unexpected pass: it fails the
    // run (the configuration is stale).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stale.toml");
    std::fs::write(
        &config,
        "destructive = true\n[target]\ntransport = \"in-process\"\n[expected_failures]\n\
         \"card.device.api-level\" = \"pretend the card reports another API level\"\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = airtight(&[
        "harness",
        "card",
        "--config",
        config.to_str().unwrap(),
        "--only",
        "card.device.api-level",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.code(), Some(1), "{}", out.both());
    assert!(out.stdout.contains("1 unexpected-pass"), "{}", out.both());
    assert!(out.stdout.contains("Result: FAILED."), "{}", out.both());
    assert!(
        out.stderr.contains("card.device.api-level"),
        "{}",
        out.both()
    );
    // The reports are written all the same.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["summary"]["passed"], serde_json::Value::Bool(false));
}

#[test]
fn a_shim_without_config_declares_no_feature_and_runs_no_destructive_case() {
    // [issue: safe target defaults] A foreign card with no configuration declares no optional
    // feature and is never destructive: nothing fails on an undeclared feature, nothing is
    // deleted without consent, and the run says what it assumed and how to declare more.
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let shim = format!(
        "{} card shim --card-dir {}",
        common::quote(common::BIN),
        common::quote(card.to_str().unwrap())
    );
    let out_dir = dir.path().join("out");
    let out = airtight_within(
        &[
            "harness",
            "card",
            "--shim",
            &shim,
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(600),
    );
    assert_eq!(out.code(), Some(0), "{}", out.both());
    assert!(out.stdout.contains("Result: PASSED."), "{}", out.both());
    assert!(
        out.stderr.contains("declared optional features: none")
            && out.stderr.contains("--feature NAME")
            && out.stderr.contains("--destructive"),
        "{}",
        out.both()
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["target"]["features"], serde_json::json!([]));
    let notes = json["notes"].to_string();
    assert!(
        notes.contains("declared optional features: none"),
        "{notes}"
    );
    let cases = json["cases"].as_array().unwrap();
    let destructive: Vec<&serde_json::Value> = cases
        .iter()
        .filter(|c| c["destructive"] == serde_json::Value::Bool(true))
        .collect();
    for c in destructive {
        assert_eq!(c["verdict"], "not-applicable", "{c}");
    }
    // The resource-limit cases need a declared feature: not run.
    for c in cases {
        let id = c["id"].as_str().unwrap();
        if id.starts_with("card.session.open-sessions-bounded") {
            assert_eq!(c["verdict"], "not-applicable", "{c}");
        }
    }

    // Consent must name the card the run uses.
    let wrong = airtight(&[
        "harness",
        "card",
        "--shim",
        &shim,
        "--destructive",
        "some other card",
        "--only",
        PREFIX,
    ]);
    assert_eq!(wrong.code(), Some(2), "{}", wrong.both());
    assert!(wrong.stderr.contains("--destructive"), "{}", wrong.both());
    let features = airtight_within(
        &[
            "harness",
            "card",
            "--shim",
            &shim,
            "--destructive",
            &shim,
            "--feature",
            "kmk",
            "--only",
            PREFIX,
            "--quiet",
        ],
        Duration::from_secs(120),
    );
    assert!(features.ok(), "{}", features.both());
    assert!(
        features.stderr.contains("declared optional features: kmk")
            && features.stderr.contains("consent given"),
        "{}",
        features.both()
    );
}
