//! Newcomer mistakes with `airtight harness issuer`, each answered with what to do instead:
//! the issuer's web page given as `--url` (its start URL is named), and `--issuer-pid`
//! without a hostile-load run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use airtight_harness::issuer::reference::{self, ReferenceOptions};

#[test]
fn the_issuers_web_page_as_url_names_the_start_url() {
    let issuer = reference::start(&ReferenceOptions::default()).unwrap();
    let base = issuer.server.base_url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args([
            "harness",
            "issuer",
            "--quiet",
            "--only",
            "issuer.sanity.first",
        ])
        .arg("--url")
        .arg(format!("{base}/"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("answered with an HTML page"), "{text}");
    assert!(
        text.contains(&format!("try --url {base}/keygen2?init=true")),
        "{text}"
    );
}

#[test]
fn issuer_pid_without_hostile_says_what_it_needs() {
    let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args([
            "harness",
            "issuer",
            "--quiet",
            "--reference",
            "--issuer-pid",
            "1",
        ])
        .args(["--load-rate", "5", "--load-seconds", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "--issuer-pid samples the issuer's memory over a hostile-load run: add --hostile"
        ),
        "{err}"
    );
}
