//! `airtight issuer serve` under the harness's load generator:
//!
//! - the durability rules under a crash (ARCHITECTURE.md, "Durability rules"): the issuer is
//!   killed with SIGKILL in the middle of a load run, restarted on the same data directory, and
//!   the store is audited: every issuance whose result redirect a client received is there,
//!   none is recorded twice, and no session is half accepted (an issuance without its finished
//!   session, or a finished session without its issuance);
//! - the open-loop load over two issuer URLs (`--url` twice, `--load-rate`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airtight_harness::TargetConfig;
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::{SessionStatus, Store};
use common::{IssuerServe, issuer_serve};

/// A running `airtight issuer serve --test-pki` on `data`.
fn serve(data: &Path) -> IssuerServe {
    issuer_serve(
        &[
            "--test-pki",
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        |c| {
            c.env("RUST_LOG", "error").stderr(Stdio::null());
        },
    )
}

fn config() -> TargetConfig {
    let mut c = TargetConfig::default();
    c.target.transport = "http".into();
    c
}

/// The session handle of a result redirect (`/result/<handle>`).
fn handle_of(location: &str) -> String {
    location
        .rsplit_once("/result/")
        .map(|(_, h)| h.to_owned())
        .unwrap_or_else(|| panic!("not a result redirect: {location:?}"))
}

/// Audits the store: no half session, nothing twice; returns the handles with an issuance.
fn audit(store: &Store) -> BTreeSet<String> {
    let issuances = store
        .issuances()
        .expect("issuances (key rows match their records)");
    let handles: BTreeSet<String> = issuances.iter().map(|i| i.session_handle.clone()).collect();
    let ssids: BTreeSet<&str> = issuances
        .iter()
        .map(|i| i.record.server_session_id.as_str())
        .collect();
    assert_eq!(handles.len(), issuances.len(), "a session issued twice");
    assert_eq!(
        ssids.len(),
        issuances.len(),
        "a serverSessionId issued twice"
    );
    let sessions = store.session_summaries().unwrap();
    let done: BTreeSet<String> = sessions
        .iter()
        .filter(|s| s.status == SessionStatus::Done)
        .map(|s| s.handle.clone())
        .collect();
    // An issuance belongs to a finished session and a finished session has its issuance.
    assert_eq!(done, handles, "half-accepted sessions");
    handles
}

#[test]
fn a_killed_issuer_loses_no_completed_issuance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let mut server = serve(&data);
    let init = server.init.clone();
    let load = std::thread::spawn(move || {
        airtight_harness::issuer_load(&init, 4, 6.0, &config()).expect("load run")
    });
    // Kill it once it has completed some sessions under load (bounded wait).
    let store = Store::open_dir(&data).unwrap();
    let started = Instant::now();
    while store.session_counts().map_or(0, |(_, done, _)| done) < 12 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no issuances under load"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(store);
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let report = load.join().unwrap();
    assert!(report.sessions > 0, "{report:?}");
    assert!(
        report.errors > 0,
        "the load run did not notice the kill: {:?}",
        report.errors_by_cause
    );
    // Restart on the same store.
    let server = serve(&data);
    let store = Store::open_dir(&data).unwrap();
    let issued = audit(&store);
    for location in &report.completed {
        let h = handle_of(location);
        assert!(
            issued.contains(&h),
            "the client was sent the result of {h} but it is not recorded"
        );
    }
    // Service resumes on the same store.
    let after = airtight_harness::issuer_load(&server.init, 2, 1.0, &config()).unwrap();
    assert!(after.sessions > 0 && after.errors == 0, "{after:?}");
    let issued_after = audit(&store);
    assert!(issued_after.len() >= issued.len() + after.sessions);
}

/// `harness issuer --url A --url B --load-rate R`: an open-loop run spread over two nodes,
/// with per-step percentiles in the report.
#[test]
fn open_loop_load_spreads_over_two_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let a = serve(&dir.path().join("a"));
    let b = serve(&dir.path().join("b"));
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(["harness", "issuer", "--quiet", "--only", "issuer.sanity"])
        .args(["--url", &a.init, "--url", &b.init])
        .args(["--load-rate", "20", "--load-connections", "4"])
        .args(["--load-seconds", "2", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("load: open loop at 20 sessions/s over 4 connections on 2 nodes"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let load = &json["load"];
    assert_eq!(load["pacing"]["mode"], "open", "{load}");
    assert_eq!(load["urls"].as_array().unwrap().len(), 2);
    let sessions = load["sessions"].as_u64().unwrap();
    assert!(sessions > 0 && load["errors"] == 0, "{load}");
    assert_eq!(load["session_percentiles"]["n"].as_u64(), Some(sessions));
    for step in ["GET init", "POST ProvisioningFinalizationResponse"] {
        assert!(load["steps"][step]["p99_us"].as_u64().is_some(), "{load}");
    }
    // Keep-alive: far fewer connections than requests.
    assert!(load["connections_opened"].as_u64().unwrap() <= 8, "{load}");
    // Both nodes issued.
    for d in ["a", "b"] {
        let store = Store::open_dir(&dir.path().join(d)).unwrap();
        assert!(
            !store.issuances().unwrap().is_empty(),
            "node {d} issued nothing"
        );
    }
}
