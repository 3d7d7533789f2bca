//! Three `airtight issuer serve --db postgres://…` nodes on one PostgreSQL under the harness's
//! open-loop load generator (sessions round-robin over the three URLs), with a fault in the
//! middle of the run, then an audit of the database:
//!
//! - one node is killed with SIGKILL: the other two keep completing sessions;
//! - PostgreSQL is stopped (longer than the store's reconnect window, so requests fail with a
//!   clear error) and started again: service resumes without a restart of the nodes.
//!
//! The audit, after each: every session whose result redirect a client received has exactly
//! one issuance; no session or `serverSessionId` is issued twice; every issuance belongs to a
//! finished session and every finished session has its issuance (no half session); an
//! issuance whose redirect no client saw can only be one that was committed while its node
//! died or the database went away (at most one per load connection, and for the SIGKILL run
//! only on the killed node).
//!
//! Needs a server: run under `scripts/postgres.sh` (it sets `AIRTIGHT_TEST_POSTGRES`,
//! `AIRTIGHT_TEST_POSTGRES_CTL` and `AIRTIGHT_REQUIRE_POSTGRES=1`); without one the tests
//! say so and pass, unless `AIRTIGHT_REQUIRE_POSTGRES=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use airtight_harness::TargetConfig;
use airtight_harness::issuer::load::{LoadPlan, LoadReport, Pacing, run_plan};
use airtight_harness::issuer::{IssuerProfile, IssuerTarget};
use airtight_issuer::db::{IssuerStore, SessionStatus, open_url};
use common::{IssuerServe, issuer_serve};

/// The test server's URL, or `None` (and a note) when there is none and none is required.
fn server_url() -> Option<String> {
    match std::env::var("AIRTIGHT_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("AIRTIGHT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "AIRTIGHT_REQUIRE_POSTGRES=1 but AIRTIGHT_TEST_POSTGRES names no server \
                 (run under scripts/postgres.sh)"
            );
            eprintln!("not run: AIRTIGHT_TEST_POSTGRES is not set (see scripts/postgres.sh)");
            None
        }
    }
}

/// A fresh database on the server; its URL.
fn fresh_database(server: &str, name: &str) -> String {
    let out = Command::new("psql")
        .arg(server)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {name}"))
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql (Debian package postgresql-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A running node (its init URL in `server.init`) and its log file.
struct Node {
    server: IssuerServe,
    log: PathBuf,
}

fn node(db: &str, log: &Path) -> Node {
    let server = issuer_serve(&["--test-pki", "--bind", "127.0.0.1:0", "--db", db], |c| {
        c.env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(std::fs::File::create(log).unwrap());
    });
    assert!(server.banner.contains("postgresql://"), "{}", server.banner);
    Node {
        server,
        log: log.to_owned(),
    }
}

fn config() -> TargetConfig {
    let mut c = TargetConfig::default();
    c.target.transport = "http".into();
    c
}

/// The load generator's targets and what it learned of the issuer (by running honest
/// sessions on the first node: they are issued before any load run starts).
struct Load {
    targets: Vec<IssuerTarget>,
    profile: IssuerProfile,
}

fn prepare(urls: &[String]) -> Load {
    let config = config();
    let targets: Vec<_> = urls
        .iter()
        .map(|u| airtight_harness::issuer_target(u, &config).unwrap())
        .collect();
    let (profile, _) = airtight_harness::issuer::learn(&targets[0], &config, 0x10ad);
    Load { targets, profile }
}

/// An open-loop run of `rate` sessions/s for `seconds` over the nodes (round-robin).
fn open_loop(load: &Load, rate: f64, seconds: f64) -> LoadReport {
    let plan = LoadPlan {
        pacing: Pacing::Open {
            rate,
            connections: CONNECTIONS,
        },
        seconds,
        extra_targets: load.targets[1..].to_vec(),
        hostile: None,
    };
    run_plan(&load.targets[0], &load.profile, &plan, 0x10ad).expect("load run")
}

/// The sessions issued so far (before a load run: the learning sessions).
fn issued_now(store: &dyn IssuerStore) -> BTreeSet<String> {
    store
        .issuances()
        .unwrap()
        .into_iter()
        .map(|i| i.session_handle)
        .collect()
}

const CONNECTIONS: usize = 6;

/// The session handle of a result redirect (`…/result/<handle>`).
fn handle_of(location: &str) -> String {
    location
        .rsplit_once("/result/")
        .map(|(_, h)| h.to_owned())
        .unwrap_or_else(|| panic!("not a result redirect: {location:?}"))
}

/// What the audit found: the sessions with an issuance, and those of them whose result no
/// client received.
#[derive(Debug)]
struct Audit {
    issued: BTreeSet<String>,
    unseen: BTreeSet<String>,
}

/// Audits the store against the sessions the load generator saw complete (`before`: the
/// sessions issued before the load run).
fn audit(
    store: &dyn IssuerStore,
    completed: &[String],
    before: &BTreeSet<String>,
) -> Result<Audit, String> {
    let issuances = store
        .issuances()
        .map_err(|e| format!("issuances (key rows must match their records): {e}"))?;
    let issued: BTreeSet<String> = issuances.iter().map(|i| i.session_handle.clone()).collect();
    if issued.len() != issuances.len() {
        return Err("a session was issued twice".into());
    }
    let ssids: BTreeSet<&str> = issuances
        .iter()
        .map(|i| i.record.server_session_id.as_str())
        .collect();
    if ssids.len() != issuances.len() {
        return Err("a serverSessionId was issued twice".into());
    }
    let done: BTreeSet<String> = store
        .session_summaries()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| s.status == SessionStatus::Done)
        .map(|s| s.handle)
        .collect();
    if done != issued {
        return Err(format!(
            "half sessions: finished without an issuance {:?}, issued but not finished {:?}",
            done.difference(&issued).collect::<Vec<_>>(),
            issued.difference(&done).collect::<Vec<_>>()
        ));
    }
    let seen: BTreeSet<String> = completed.iter().map(|l| handle_of(l)).collect();
    if seen.len() != completed.len() {
        return Err("the load generator saw a session complete twice".into());
    }
    if let Some(lost) = seen.difference(&issued).next() {
        return Err(format!(
            "a client was sent the result of {lost} but it is not recorded"
        ));
    }
    let unseen = issued
        .difference(&seen)
        .filter(|h| !before.contains(*h))
        .cloned()
        .collect();
    Ok(Audit { issued, unseen })
}

/// Issuances recorded so far.
fn done_count(store: &dyn IssuerStore) -> i64 {
    store
        .issuances()
        .map_or(0, |i| i64::try_from(i.len()).unwrap_or(i64::MAX))
}

/// Waits (bounded) until `n` sessions are issued.
fn wait_done(store: &dyn IssuerStore, n: i64) {
    let started = Instant::now();
    while done_count(store) < n {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no issuances under load"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn three_nodes(db: &str, dir: &Path) -> Vec<Node> {
    (0..3)
        .map(|i| node(db, &dir.join(format!("node-{i}.log"))))
        .collect()
}

#[test]
fn a_node_killed_mid_run_loses_nothing_and_the_others_continue() {
    let Some(server) = server_url() else { return };
    let db = fresh_database(&server, "airtight_nodes_kill");
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(&db, dir.path());
    let urls: Vec<String> = nodes.iter().map(|n| n.server.init.clone()).collect();
    let plan = prepare(&urls);
    let store = open_url(&db).unwrap();
    let before = issued_now(store.as_ref());
    let load = std::thread::spawn(move || open_loop(&plan, 24.0, 7.0));
    wait_done(store.as_ref(), 12);
    nodes[1].server.child.kill().unwrap(); // SIGKILL
    nodes[1].server.child.wait().unwrap();
    let at_kill = done_count(store.as_ref());
    let report = load.join().unwrap();
    assert!(
        report.errors > 0,
        "the load run did not notice the kill: {:?}",
        report.errors_by_cause
    );
    let a = audit(store.as_ref(), &report.completed, &before).unwrap();
    // The other nodes continued after the kill.
    assert!(
        i64::try_from(a.issued.len()).unwrap() > at_kill,
        "nothing completed after the kill ({at_kill} before): {report:?}"
    );
    // An issuance no client saw complete was committed by the killed node as it died.
    let killed_log = std::fs::read_to_string(&nodes[1].log).unwrap();
    assert!(a.unseen.len() <= CONNECTIONS, "{a:?}");
    for h in &a.unseen {
        assert!(
            killed_log.contains(h.as_str()),
            "session {h} was issued without its client seeing it, on a node that was not killed"
        );
    }
    eprintln!(
        "kill: {} sessions completed ({} before the kill), {} errors {:?}, {} issued unseen",
        report.sessions,
        at_kill,
        report.errors,
        report.errors_by_cause,
        a.unseen.len()
    );
}

#[test]
fn postgres_stopped_mid_run_gives_clear_errors_and_service_resumes() {
    let Some(server) = server_url() else { return };
    let Ok(ctl) = std::env::var("AIRTIGHT_TEST_POSTGRES_CTL") else {
        assert!(
            std::env::var("AIRTIGHT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "AIRTIGHT_TEST_POSTGRES_CTL is not set (scripts/postgres.sh sets it)"
        );
        eprintln!("not run: AIRTIGHT_TEST_POSTGRES_CTL is not set");
        return;
    };
    let pg_ctl = |what: &str| {
        let s = Command::new("bash").arg(&ctl).arg(what).status().unwrap();
        assert!(s.success(), "postgres {what}");
    };
    let db = fresh_database(&server, "airtight_nodes_restart");
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(&db, dir.path());
    let urls: Vec<String> = nodes.iter().map(|n| n.server.init.clone()).collect();
    let plan = std::sync::Arc::new(prepare(&urls));
    let before = issued_now(open_url(&db).unwrap().as_ref());
    let shared = plan.clone();
    let load = std::thread::spawn(move || open_loop(&shared, 24.0, 8.0));
    {
        let store = open_url(&db).unwrap();
        wait_done(store.as_ref(), 12);
    }
    pg_ctl("stop");
    // Longer than the store's reconnect window: requests now fail.
    std::thread::sleep(Duration::from_secs(3));
    pg_ctl("start");
    let report = load.join().unwrap();
    assert!(
        report.errors > 0,
        "no request failed while PostgreSQL was down: {report:?}"
    );
    // The nodes said why.
    let logs: String = nodes
        .iter()
        .map(|n| std::fs::read_to_string(&n.log).unwrap())
        .collect();
    assert!(
        logs.contains("postgresql at postgresql://") && logs.contains("is unavailable"),
        "no clear error in the node logs"
    );
    let store = open_url(&db).unwrap();
    let a = audit(store.as_ref(), &report.completed, &before).unwrap();
    assert!(a.unseen.len() <= CONNECTIONS, "{a:?}");
    // Service resumes on all three nodes without restarting them.
    let after = open_loop(&plan, 15.0, 2.0);
    assert!(after.sessions > 0 && after.errors == 0, "{after:?}");
    let mut all = report.completed.clone();
    all.extend(after.completed.iter().cloned());
    let b = audit(store.as_ref(), &all, &before).unwrap();
    assert_eq!(b.issued.len(), a.issued.len() + after.sessions);
    eprintln!(
        "restart: {} sessions completed, {} errors {:?}; afterwards {} sessions, 0 errors",
        report.sessions, report.errors, report.errors_by_cause, after.sessions
    );
}

/// The audit itself fails on each kind of damage it claims to find (a check that cannot
/// fail is a defect): a lost issuance, a session issued twice, a half session.
#[test]
fn the_audit_catches_lost_duplicated_and_half_sessions() {
    let Some(server) = server_url() else { return };
    let db = fresh_database(&server, "airtight_nodes_audit");
    let dir = tempfile::tempdir().unwrap();
    let n = node(&db, &dir.path().join("node.log"));
    let plan = prepare(std::slice::from_ref(&n.server.init));
    let store = open_url(&db).unwrap();
    let before = issued_now(store.as_ref());
    let report = open_loop(&plan, 10.0, 1.0);
    assert!(report.sessions >= 3 && report.errors == 0, "{report:?}");
    drop(n);
    audit(store.as_ref(), &report.completed, &before).unwrap();
    let sql = |q: &str| {
        let out = Command::new("psql")
            .args([db.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", q])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let first = handle_of(&report.completed[0]);
    // A session finished without its issuance (and a client saw a result that is gone).
    sql(&format!(
        "DELETE FROM issued_keys WHERE issuance_id = (SELECT id FROM issuances WHERE \
         session_handle = '{first}'); DELETE FROM issuances WHERE session_handle = '{first}'"
    ));
    let e = audit(store.as_ref(), &report.completed, &before).unwrap_err();
    assert!(e.contains("half sessions"), "{e}");
    // The same session issued twice.
    let second = handle_of(&report.completed[1]);
    sql(&format!(
        "ALTER TABLE issuances DROP CONSTRAINT issuances_session_handle_key; \
         ALTER TABLE issuances DROP CONSTRAINT issuances_server_session_id_key; \
         UPDATE sessions SET status = 'failed' WHERE handle = '{first}'; \
         INSERT INTO issuances (session_handle, server_session_id, client_session_id, action, \
           privacy_enabled, device_id, device_certificate_path, server_time, completed_at, \
           record) SELECT session_handle, server_session_id, client_session_id, action, \
           privacy_enabled, device_id, device_certificate_path, server_time, completed_at, \
           record FROM issuances WHERE session_handle = '{second}'; \
         INSERT INTO issued_keys SELECT (SELECT max(id) FROM issuances), position, key_id, \
           key_algorithm, app_usage, friendly_name, public_key_spki, certificate_path \
           FROM issued_keys WHERE issuance_id = (SELECT min(id) FROM issuances \
           WHERE session_handle = '{second}')"
    ));
    let e = audit(store.as_ref(), &report.completed, &before).unwrap_err();
    assert!(e.contains("issued twice"), "{e}");
    // A completed session whose issuance is gone altogether.
    sql(&format!(
        "DELETE FROM issued_keys WHERE issuance_id IN (SELECT id FROM issuances \
         WHERE session_handle = '{second}'); \
         DELETE FROM issuances WHERE session_handle = '{second}'; \
         UPDATE sessions SET status = 'failed' WHERE handle = '{second}'"
    ));
    let e = audit(store.as_ref(), &report.completed, &before).unwrap_err();
    assert!(e.contains("not recorded"), "{e}");
}
