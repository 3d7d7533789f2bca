#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::engine::{Issuer, StartRequest};
use crate::policy::Policy;
use crate::state::tests::legacy_json;

const NOW: i64 = 1_767_225_600;

fn state(seed: u64) -> SessionState {
    let iss = Issuer::new("http://127.0.0.1:1/keygen2", Vec::new(), Policy::default());
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    iss.start(
        StartRequest::default(),
        &mut rng,
        airtight_proto::time::UnixTime::from_secs(NOW),
    )
    .unwrap()
    .0
}

fn record(ssid: &str) -> IssuanceRecord {
    IssuanceRecord {
        server_session_id: ssid.into(),
        client_session_id: "C-1".into(),
        action: "manage".into(),
        privacy_enabled: false,
        device_certificate_path: vec![vec![0x30, 1, 2], vec![0x30, 3]],
        device_id: Some("ABCD".into()),
        keys: vec![
            IssuedKey {
                id: "Key.1".into(),
                key_algorithm: "https://webpki.github.io/sks/algorithm#ec.nist.p256".into(),
                app_usage: "authentication".into(),
                friendly_name: Some("login".into()),
                public_key_spki: vec![1, 2, 3],
                certificate_path: vec![vec![9, 9], vec![8]],
            },
            IssuedKey {
                id: "Key.2".into(),
                key_algorithm: "https://webpki.github.io/sks/algorithm#rsa2048".into(),
                app_usage: "signature".into(),
                friendly_name: None,
                public_key_spki: vec![4],
                certificate_path: vec![vec![7]],
            },
        ],
        post_operations: Vec::new(),
        server_time: "2026-01-01T00:00:00Z".into(),
        completed_at: NOW + 5,
    }
}

/// The backends every store-trait test runs against: SQLite in memory, and PostgreSQL (a fresh
/// database) when `AIRTIGHT_TEST_POSTGRES` names a server (`scripts/postgres.sh` starts one).
/// With `AIRTIGHT_REQUIRE_POSTGRES=1` a missing or unreachable server fails the test.
fn backends() -> Vec<(&'static str, Box<dyn IssuerStore>)> {
    let mut out: Vec<(&'static str, Box<dyn IssuerStore>)> =
        vec![("sqlite", Box::new(Store::in_memory().unwrap()))];
    if let Some(pg) = pg_store() {
        out.push(("postgres", Box::new(pg)));
    }
    out
}

/// The URL of the test server, if there is one (panics if one is required and missing).
fn pg_url() -> Option<String> {
    match std::env::var("AIRTIGHT_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("AIRTIGHT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "AIRTIGHT_REQUIRE_POSTGRES=1 but AIRTIGHT_TEST_POSTGRES names no server \
                 (run under scripts/postgres.sh)"
            );
            eprintln!("PostgreSQL backend not tested: AIRTIGHT_TEST_POSTGRES is not set");
            None
        }
    }
}

/// A fresh, empty database on the test server; its configuration.
fn fresh_pg_database() -> Option<tokio_postgres::Config> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let url = pg_url()?;
    let name = format!(
        "airtight_t{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("AIRTIGHT_TEST_POSTGRES={url} does not answer: {e}"));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.dbname(&name);
    Some(config)
}

fn pg_store() -> Option<PgStore> {
    let config = fresh_pg_database()?;
    Some(PgStore::with_config(config, 4).unwrap())
}

#[test]
fn fresh_database_has_the_current_schema() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let want = match backend {
            "postgres" => PgStore::SCHEMA_VERSION,
            _ => Store::SCHEMA_VERSION,
        };
        assert_eq!(s.schema_version().unwrap(), want);
        assert!(s.issuances().unwrap().is_empty());
    }
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sqlite3");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    match Store::open(&path) {
        Err(DbError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn session_round_trip_and_versions() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let st = state(1);
        s.insert_session("h1", &st, NOW).unwrap();
        let got = s.load_session("h1").unwrap().unwrap();
        assert_eq!(got.state, st);
        assert_eq!(got.version, 1);
        assert_eq!(got.status, SessionStatus::Open);
        let by_id = s
            .find_by_server_session_id(&st.server_session_id)
            .unwrap()
            .unwrap();
        assert_eq!(by_id.handle, "h1");
        assert!(s.load_session("nope").unwrap().is_none());

        // [KG2-ISS-006] the same handle or serverSessionId cannot start a second session.
        assert!(matches!(
            s.insert_session("h1", &state(2), NOW),
            Err(DbError::Conflict(_))
        ));
        assert!(matches!(
            s.insert_session("h2", &st, NOW),
            Err(DbError::Conflict(_))
        ));

        // A step applies once: a second writer with the old version loses.
        assert_eq!(s.update_session("h1", 1, &st, NOW + 1).unwrap(), 2);
        assert!(matches!(
            s.update_session("h1", 1, &st, NOW + 1),
            Err(DbError::Conflict(_))
        ));
        assert_eq!(s.load_session("h1").unwrap().unwrap().updated_at, NOW + 1);
    }
}

#[test]
fn completion_is_recorded_with_keys_and_closes_the_session() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let st = state(3);
        s.insert_session("h", &st, NOW).unwrap();
        let rec = record(&st.server_session_id);
        let id = s.complete_session("h", 1, &st, &rec, NOW + 5).unwrap();
        let all = s.issuances().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].id, id);
        assert_eq!(all[0].record, rec);
        assert_eq!(s.issuance_by_handle("h").unwrap().unwrap().record, rec);
        let stored = s.load_session("h").unwrap().unwrap();
        assert_eq!(stored.status, SessionStatus::Done);
        // Secrets of a finished session are not kept.
        assert!(stored.state.secrets.ephemeral_pkcs8.is_empty());
        assert!(stored.state.secrets.session_key.is_empty());
        // No second completion, no step after completion.
        assert!(s.complete_session("h", 2, &st, &rec, NOW).is_err());
        assert!(s.update_session("h", 2, &st, NOW).is_err());
        assert_eq!(s.issuances().unwrap().len(), 1);
        assert_eq!(s.session_counts().unwrap(), (0, 1, 0));
    }
}

#[test]
fn a_failed_completion_leaves_nothing_behind() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let a = state(4);
        let b = state(5);
        s.insert_session("a", &a, NOW).unwrap();
        s.insert_session("b", &b, NOW).unwrap();
        s.complete_session("a", 1, &a, &record(&a.server_session_id), NOW)
            .unwrap();
        // The insert of the issuance fails (its serverSessionId is taken) after the session row
        // was updated inside the transaction: the whole transaction rolls back.
        assert!(
            s.complete_session("b", 1, &b, &record(&a.server_session_id), NOW)
                .is_err()
        );
        let b_row = s.load_session("b").unwrap().unwrap();
        assert_eq!(b_row.status, SessionStatus::Open);
        assert_eq!(b_row.version, 1);
        assert_eq!(s.issuances().unwrap().len(), 1);
    }
}

#[test]
fn failure_records_the_error_and_ends_the_session() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let st = state(6);
        s.insert_session("h", &st, NOW).unwrap();
        s.fail_session("h", None, &st, "E1", "[KG2-FLW-001] out of order", NOW)
            .unwrap();
        let row = s.load_session("h").unwrap().unwrap();
        assert_eq!(row.status, SessionStatus::Failed);
        assert_eq!(row.failure.as_deref(), Some("[KG2-FLW-001] out of order"));
        let e = s.error("E1").unwrap().unwrap();
        assert_eq!(e.session_handle.as_deref(), Some("h"));
        assert_eq!(e.reason, "[KG2-FLW-001] out of order");
        // A failed session takes nothing more, and cannot fail twice.
        assert!(s.update_session("h", 2, &st, NOW).is_err());
        assert!(s.fail_session("h", None, &st, "E2", "again", NOW).is_err());
        assert!(s.error("E2").unwrap().is_none());
        // Errors without a session.
        s.record_error("E3", None, "unknown session", NOW).unwrap();
        assert_eq!(s.error("E3").unwrap().unwrap().session_handle, None);
        assert!(s.issuances().unwrap().is_empty());
    }
}

#[test]
fn everything_survives_a_reopen_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let open_state = state(7);
    let done_state = state(8);
    {
        let s = Store::open_dir(dir.path()).unwrap();
        s.insert_session("open", &open_state, NOW).unwrap();
        s.insert_session("done", &done_state, NOW).unwrap();
        s.complete_session(
            "done",
            1,
            &done_state,
            &record(&done_state.server_session_id),
            NOW,
        )
        .unwrap();
        // Dropped without any shutdown step, as a killed issuer would.
    }
    let s = Store::open_dir(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), Store::SCHEMA_VERSION);
    // The open session continues with its secrets.
    assert_eq!(s.load_session("open").unwrap().unwrap().state, open_state);
    assert_eq!(
        s.issuances().unwrap()[0].record,
        record(&done_state.server_session_id)
    );
    assert!(dir.path().join(Store::FILE_NAME).exists());
}

#[test]
fn expired_open_sessions_are_ended_and_wiped() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let mut old = state(21);
        // As if the session had reached the session key.
        old.secrets.ephemeral_pkcs8 = vec![1; 40];
        old.secrets.session_key = vec![7; 32];
        s.insert_session("old", &old, NOW - 10_000).unwrap();
        s.insert_session("new", &state(22), NOW).unwrap();
        s.insert_session("failed", &state(23), NOW - 10_000)
            .unwrap();
        s.fail_session("failed", None, &state(23), "E9", "refused", NOW - 9_000)
            .unwrap();
        assert_eq!(s.expire_open_sessions(NOW - 7_200, NOW).unwrap(), 1);
        let row = s.load_session("old").unwrap().unwrap();
        assert_eq!(row.status, SessionStatus::Failed);
        assert!(row.failure.as_deref().unwrap().contains("KG2-IMP-006"));
        assert!(
            row.state.secrets.ephemeral_pkcs8.is_empty()
                && row.state.secrets.session_key.is_empty()
        );
        assert_eq!(
            s.load_session("new").unwrap().unwrap().status,
            SessionStatus::Open
        );
        assert_eq!(
            s.load_session("failed")
                .unwrap()
                .unwrap()
                .failure
                .as_deref(),
            Some("refused")
        );
        // Nothing left to expire.
        assert_eq!(s.expire_open_sessions(NOW - 7_200, NOW).unwrap(), 0);
    }
}

/// Durability rules: a completion flushes the log to disk before it returns; the other writes
/// (a new session, a step, a failure, an error record) do not wait for the disk.
#[test]
fn only_completions_wait_for_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_dir(dir.path()).unwrap();
    let a = state(31);
    let b = state(32);
    s.insert_session("a", &a, NOW).unwrap();
    s.insert_session("b", &b, NOW).unwrap();
    s.update_session("a", 1, &a, NOW).unwrap();
    s.fail_session("b", None, &b, "E1", "refused", NOW).unwrap();
    s.record_error("E2", None, "unknown session", NOW).unwrap();
    assert_eq!(
        s.flush_count(),
        0,
        "a step or a failure waited for the disk"
    );
    s.complete_session("a", 2, &a, &record(&a.server_session_id), NOW)
        .unwrap();
    assert_eq!(s.flush_count(), 1, "a completion returned before its flush");
    // A commit already covered by a flush does not flush again (group commit).
    let c = state(33);
    s.insert_session("c", &c, NOW).unwrap();
    let (_, commit) = s
        .commit_completion("c", 1, &c, &record(&c.server_session_id), NOW)
        .unwrap();
    s.wait_durable(commit).unwrap();
    s.wait_durable(commit).unwrap();
    assert_eq!(s.flush_count(), 2);
    drop(s);
    // What was completed is there after reopening.
    let s = Store::open_dir(dir.path()).unwrap();
    assert_eq!(s.issuances().unwrap().len(), 2);
    assert_eq!(s.session_counts().unwrap(), (0, 2, 1));
}

/// Group commit: completions from many threads at once are all durable when they return,
/// with at most one flush each.
#[test]
fn concurrent_completions_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(Store::open_dir(dir.path()).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..5u64 {
                    let st = state(100 + t * 10 + i);
                    let h = format!("h{t}-{i}");
                    s.insert_session(&h, &st, NOW).unwrap();
                    s.complete_session(&h, 1, &st, &record(&st.server_session_id), NOW)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.issuances().unwrap().len(), 40);
    let flushes = s.flush_count();
    assert!((1..=40).contains(&flushes), "{flushes} flushes");
}

#[test]
fn db_urls_are_checked_and_passwords_never_shown() {
    match open_url("mysql://u:secret@127.0.0.1/x") {
        Err(e @ DbError::Url(_)) => {
            let text = e.to_string();
            assert!(text.contains("postgres://"), "{text}");
            assert!(!text.contains("secret"), "{text}");
        }
        other => panic!("expected a URL error, got {other:?}"),
    }
    assert_eq!(
        redact_url("postgres://app:pw@db.internal:5433/issuer"),
        "postgres://app@db.internal:5433/issuer"
    );
    assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    // Nothing answers on port 9: a clear error after the reconnect window, naming the server.
    match PgStore::connect("postgres://app:pw@127.0.0.1:9/issuer") {
        Err(e @ DbError::Unavailable { .. }) => {
            let text = e.to_string();
            assert!(text.contains("127.0.0.1:9"), "{text}");
            assert!(!text.contains("pw"), "{text}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Runs `sql` on the test database of `config` (outside any store).
fn pg_exec(config: &tokio_postgres::Config, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap();
    });
}

#[test]
fn pg_newer_schema_is_refused() {
    let Some(config) = fresh_pg_database() else {
        return;
    };
    drop(PgStore::with_config(config.clone(), 1).unwrap());
    pg_exec(
        &config,
        "INSERT INTO schema_version (version, applied_at) VALUES (99, 0)",
    );
    match PgStore::with_config(config, 1) {
        Err(DbError::SchemaTooNew {
            found: 99,
            supported: PgStore::SCHEMA_VERSION,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// Nodes starting together on an empty database migrate it once.
#[test]
fn pg_nodes_starting_together_migrate_once() {
    let Some(config) = fresh_pg_database() else {
        return;
    };
    let nodes: Vec<_> = (0..3)
        .map(|_| {
            let c = config.clone();
            std::thread::spawn(move || PgStore::with_config(c, 1).unwrap())
        })
        .collect();
    let nodes: Vec<PgStore> = nodes.into_iter().map(|t| t.join().unwrap()).collect();
    for n in &nodes {
        assert_eq!(n.schema_version().unwrap(), PgStore::SCHEMA_VERSION);
    }
    // One row per applied migration: the migration ran once.
    pg_exec(
        &config,
        &format!(
            "DO $$ BEGIN IF (SELECT count(*) FROM schema_version) <> {} THEN \
             RAISE EXCEPTION 'migrated more than once'; END IF; END $$",
            postgres::MIGRATIONS.len()
        ),
    );
}

/// Two nodes on one database: any node serves any step, and of several nodes applying the
/// same message to the same version exactly one succeeds ([KG2-ISS-006]).
#[test]
fn pg_any_node_serves_any_step_and_a_step_applies_once() {
    let Some(config) = fresh_pg_database() else {
        return;
    };
    let a = std::sync::Arc::new(PgStore::with_config(config.clone(), 2).unwrap());
    let b = std::sync::Arc::new(PgStore::with_config(config, 2).unwrap());
    let st = state(41);
    a.insert_session("h", &st, NOW).unwrap();
    // B continues what A started, A continues after B.
    let v = b.load_session("h").unwrap().unwrap().version;
    assert_eq!(b.update_session("h", v, &st, NOW + 1).unwrap(), 2);
    assert_eq!(a.load_session("h").unwrap().unwrap().version, 2);
    assert_eq!(a.update_session("h", 2, &st, NOW + 2).unwrap(), 3);
    // Six nodes' worth of racing steps from version 3: exactly one applies.
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let st = st.clone();
            std::thread::spawn(move || s.update_session("h", 3, &st, NOW + 3))
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(a.load_session("h").unwrap().unwrap().version, 4);
    // Eight racing completions of version 4 on two nodes: exactly one wins.
    let rec = record(&st.server_session_id);
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (st, rec) = (st.clone(), rec.clone());
            std::thread::spawn(move || s.complete_session("h", 4, &st, &rec, NOW + 4))
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(DbError::Conflict(_)))),
        "{results:?}"
    );
    assert_eq!(a.issuances().unwrap().len(), 1);
    assert_eq!(b.session_counts().unwrap(), (0, 1, 0));
    assert_eq!(b.issuance_by_handle("h").unwrap().unwrap().record, rec);
}

/// [`IssuerStore::prune`] deletes failed sessions past the cutoff and old error records, and
/// keeps a completed session (and its issuance), an open session, and a failed session that
/// is younger than the cutoff.
#[test]
fn prune_deletes_expired_failures_and_old_errors_never_an_issuance() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        let done = state(31);
        s.insert_session("done", &done, NOW).unwrap();
        s.complete_session("done", 1, &done, &record(&done.server_session_id), NOW + 1)
            .unwrap();
        let old_failed = state(32);
        s.insert_session("old-failed", &old_failed, NOW).unwrap();
        s.fail_session("old-failed", Some(1), &old_failed, "E-old", "bad", NOW + 1)
            .unwrap();
        s.insert_session("old-open", &state(33), NOW).unwrap();
        let new_failed = state(34);
        s.insert_session("new-failed", &new_failed, NOW + 100)
            .unwrap();
        s.fail_session(
            "new-failed",
            Some(1),
            &new_failed,
            "E-new",
            "bad",
            NOW + 101,
        )
        .unwrap();
        s.record_error("E-stray", None, "garbage", NOW + 2).unwrap();
        assert_eq!(
            s.row_counts().unwrap(),
            RowCounts {
                sessions: 4,
                issuances: 1,
                errors: 3
            }
        );

        let p = Prune {
            failed_created_before: NOW + 50,
            errors_before: NOW + 50,
            max_errors: 100,
        };
        assert_eq!(
            s.prune(&p).unwrap(),
            Pruned {
                sessions: 1,
                errors: 2
            }
        );
        assert!(s.load_session("old-failed").unwrap().is_none());
        assert_eq!(
            s.load_session("new-failed").unwrap().unwrap().status,
            SessionStatus::Failed
        );
        assert_eq!(
            s.load_session("old-open").unwrap().unwrap().status,
            SessionStatus::Open
        );
        assert_eq!(
            s.load_session("done").unwrap().unwrap().status,
            SessionStatus::Done
        );
        assert!(s.issuance_by_handle("done").unwrap().is_some());
        assert_eq!(s.issuances().unwrap().len(), 1);
        assert!(s.error("E-old").unwrap().is_none());
        assert!(s.error("E-stray").unwrap().is_none());
        assert!(s.error("E-new").unwrap().is_some());
        assert_eq!(
            s.row_counts().unwrap(),
            RowCounts {
                sessions: 3,
                issuances: 1,
                errors: 1
            }
        );
        // Idempotent: nothing more to delete.
        assert_eq!(s.prune(&p).unwrap(), Pruned::default());

        // Even a cutoff in the future leaves the completed and the open session.
        let all = Prune {
            failed_created_before: i64::MAX,
            errors_before: i64::MAX,
            max_errors: 0,
        };
        assert_eq!(s.prune(&all).unwrap().sessions, 1);
        assert!(s.load_session("done").unwrap().is_some());
        assert!(s.load_session("old-open").unwrap().is_some());
        assert_eq!(s.issuances().unwrap().len(), 1);
    }
}

/// Beyond [`Prune::max_errors`] the oldest error records go first.
#[test]
fn prune_keeps_the_newest_errors_up_to_the_bound() {
    for (backend, s) in backends() {
        let s = s.as_ref();
        eprintln!("backend: {backend}");
        for i in 0..5 {
            s.record_error(&format!("E{i}"), None, "garbage", NOW + i)
                .unwrap();
        }
        let p = Prune {
            failed_created_before: 0,
            errors_before: 0,
            max_errors: 2,
        };
        assert_eq!(
            s.prune(&p).unwrap(),
            Pruned {
                sessions: 0,
                errors: 3
            }
        );
        for i in 0..3 {
            assert!(s.error(&format!("E{i}")).unwrap().is_none(), "E{i} kept");
        }
        assert!(s.error("E3").unwrap().is_some());
        assert!(s.error("E4").unwrap().is_some());
        assert_eq!(s.row_counts().unwrap().errors, 2);
    }
}

/// Stores a session state of schema 1 (byte strings as number arrays) the way schema-1 code
/// did; returns that state.
fn legacy_row(exec: impl FnOnce(&str)) -> SessionState {
    // Every byte-string field set, secrets included.
    let st = crate::state::tests::rich_state();
    let old = legacy_json(&st);
    // Really the earlier form: the SPKI as numbers.
    assert!(old.contains("\"server_ephemeral_spki\":[48,"), "{old}");
    exec(&format!(
        "INSERT INTO sessions (handle, server_session_id, status, phase, version, state,
                               failure, created_at, updated_at)
         VALUES ('old-session', '{}', 'open', 'AwaitInvocationResponse', 1, '{}', NULL,
                 {NOW}, {NOW})",
        st.server_session_id,
        old.replace('\'', "''")
    ));
    st
}

/// A session stored by schema 1 loads after the upgrade with its secrets, continues (a step,
/// then its completion) and is then stored in the compact form.
fn old_session_continues(s: &dyn IssuerStore, st: &SessionState) {
    let loaded = s.load_session("old-session").unwrap().unwrap();
    assert_eq!(loaded.state, *st);
    assert_eq!(loaded.version, 1);
    assert!(!loaded.state.secrets.session_key.is_empty());
    let v = s
        .update_session("old-session", 1, &loaded.state, NOW + 1)
        .unwrap();
    assert_eq!(s.load_session("old-session").unwrap().unwrap().state, *st);
    s.complete_session(
        "old-session",
        v,
        &loaded.state,
        &record(&st.server_session_id),
        NOW + 2,
    )
    .unwrap();
    assert_eq!(
        s.issuance_by_handle("old-session").unwrap().unwrap().record,
        record(&st.server_session_id)
    );
}

#[test]
fn a_schema_1_database_is_upgraded_and_its_sessions_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    let st = {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(&format!("{SCHEMA_V1} PRAGMA user_version = 1;"))
            .unwrap();
        legacy_row(|sql| c.execute_batch(sql).unwrap())
    };
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    old_session_continues(&s, &st);
    let stored: String = s
        .lock()
        .unwrap()
        .query_row(
            "SELECT state FROM sessions WHERE handle = 'old-session'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored.contains("\"server_ephemeral_spki\":\"MF"),
        "{stored}"
    );
}

#[test]
fn pg_a_schema_1_database_is_upgraded_and_its_sessions_continue() {
    let Some(config) = fresh_pg_database() else {
        return;
    };
    pg_exec(
        &config,
        &format!(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT \
             NULL); {} INSERT INTO schema_version VALUES (1, 0);",
            postgres::MIGRATIONS[0]
        ),
    );
    let st = legacy_row(|sql| pg_exec(&config, sql));
    let s = PgStore::with_config(config, 1).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    old_session_continues(&s, &st);
}

/// Completes one session in `s`, lets `tamper` change a key row behind the store's back, and
/// checks that reading the issuances reports the disagreement instead of returning either copy.
fn a_changed_key_row_is_reported(s: &dyn IssuerStore, tamper: impl FnOnce()) {
    let st = state(5);
    s.insert_session("h", &st, NOW).unwrap();
    let rec = record(&st.server_session_id);
    s.complete_session("h", 1, &st, &rec, NOW + 5).unwrap();
    assert_eq!(s.issuances().unwrap()[0].record, rec);
    tamper();
    for r in [
        s.issuances().map(|_| ()),
        s.issuance_by_handle("h").map(|_| ()),
    ] {
        match r {
            Err(DbError::Corrupt(m)) => assert!(m.contains("key rows differ"), "{m}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn key_rows_that_differ_from_the_record_are_reported_as_corrupt() {
    let s = Store::in_memory().unwrap();
    a_changed_key_row_is_reported(&s, || {
        s.lock()
            .unwrap()
            .execute_batch("UPDATE issued_keys SET key_id = 'Other'")
            .unwrap();
    });
    if let Some(config) = fresh_pg_database() {
        let p = PgStore::with_config(config.clone(), 1).unwrap();
        a_changed_key_row_is_reported(&p, || {
            pg_exec(&config, "UPDATE issued_keys SET key_id = 'Other'")
        });
    }
}
