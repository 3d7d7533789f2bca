//! The PostgreSQL store: the same [`IssuerStore`] as the SQLite [`Store`], for any number of
//! issuer processes ("nodes") sharing one database (`airtight issuer serve --db
//! postgres://…`). Any node can serve any step of any session: the whole session state is in
//! its row, and every write names the version it read.
//!
//! # Exactly once
//!
//! - A step is `UPDATE sessions … WHERE handle = $h AND version = $v AND status = 'open'`:
//!   of two nodes applying a message to the same version, one changes the row and the other
//!   gets [`DbError::Conflict`] ([KG2-ISS-006]).
//! - A completion is **one statement**: the session update, the issuance row and its key rows
//!   are data-modifying parts of one `WITH … INSERT … SELECT` statement, so they commit together
//!   or not at all, and the issuance is inserted only when the versioned update matched. The
//!   unique constraints on `issuances.session_handle` and `issuances.server_session_id` make a
//!   second issuance of a session impossible whatever the code does.
//! - A failure updates the session and records its error in one statement too.
//!
//! # Lost connections and retries
//!
//! Each node keeps a few connections (a small pool of its own). When a connection fails
//! (PostgreSQL restarted, the network dropped) the call reconnects and tries again for up to
//! [`RECONNECT_WINDOW`]; after that it fails with [`DbError::Unavailable`] naming the server,
//! and the HTTP layer turns that into an error page. A write whose answer was lost may have
//! committed: when its retry then meets a conflict, the store looks at what is stored and, if
//! it is exactly what this call wrote (same version and state, same issuance record, same
//! error id), answers as the first attempt would have (an idempotent retry). Otherwise the
//! conflict stands.
//!
//! # Durability
//!
//! Every connection runs with `synchronous_commit = on`: a commit returns once its WAL record
//! is on disk, so [`IssuerStore::wait_durable`] has nothing left to wait for.
//!
//! # Threads
//!
//! tokio-postgres is asynchronous; the [`IssuerStore`] methods are synchronous (the HTTP
//! handlers call the store inline). The store owns a one-thread tokio runtime that drives its
//! connections; a call sends its work there and waits for the answer, inside
//! `tokio::task::block_in_place` when it is made from a multi-threaded runtime's worker (the
//! worker hands its other tasks to another thread meanwhile).
//!
//! # Migrations
//!
//! `schema_version` holds one row per applied migration; [`MIGRATIONS`] are applied in order
//! under a transaction-scoped advisory lock (nodes starting together migrate once). A database
//! whose version is newer than [`PgStore::SCHEMA_VERSION`] is refused
//! ([`DbError::SchemaTooNew`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use airtight_proto::codec::b64url;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncGuard};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::{
    Commit, DbError, ErrorEntry, Issuance, IssuerStore, SessionStatus, SessionSummary,
    StoredSession, issuance_from_columns, paths_to_json, phase_name, redact_url,
    session_from_columns, state_json, wiped,
};
use super::{Prune, Pruned, RowCounts};
use crate::engine::{IssuanceRecord, IssuedKey};
use crate::state::SessionState;

/// How long a call keeps reconnecting before it reports [`DbError::Unavailable`].
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(2);
/// Bound of one connection attempt (unless the URL sets `connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of a whole call (reconnects included).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per node.
pub const DEFAULT_CONNECTIONS: usize = 8;
/// The advisory lock key under which migrations run ("airtight" in ASCII).
const MIGRATION_LOCK: i64 = 0x6169_7274_6967_6874;

/// Migration `i` brings the schema from version `i` to `i + 1`. Migration 2 changes no table
/// (see the SQLite store's `SCHEMA_V2`): it marks that states may be in the compact format,
/// so that nodes of schema 1 refuse the database; states of the earlier form are still read.
pub const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE sessions (
    seq               BIGSERIAL NOT NULL UNIQUE,
    handle            TEXT PRIMARY KEY,
    server_session_id TEXT NOT NULL UNIQUE,
    status            TEXT NOT NULL CHECK (status IN ('open', 'done', 'failed')),
    phase             TEXT NOT NULL,
    version           BIGINT NOT NULL,
    state             TEXT NOT NULL,
    failure           TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX sessions_open_by_age ON sessions (created_at) WHERE status = 'open';
CREATE TABLE issuances (
    id                      BIGSERIAL PRIMARY KEY,
    session_handle          TEXT NOT NULL UNIQUE REFERENCES sessions(handle),
    server_session_id       TEXT NOT NULL UNIQUE,
    client_session_id       TEXT NOT NULL,
    action                  TEXT NOT NULL,
    privacy_enabled         BOOLEAN NOT NULL,
    device_id               TEXT,
    device_certificate_path TEXT NOT NULL,
    server_time             TEXT NOT NULL,
    completed_at            BIGINT NOT NULL,
    record                  TEXT NOT NULL
);
CREATE TABLE issued_keys (
    issuance_id      BIGINT NOT NULL REFERENCES issuances(id),
    position         INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    key_algorithm    TEXT NOT NULL,
    app_usage        TEXT NOT NULL,
    friendly_name    TEXT,
    public_key_spki  BYTEA NOT NULL,
    certificate_path TEXT NOT NULL,
    PRIMARY KEY (issuance_id, position)
);
CREATE TABLE errors (
    seq            BIGSERIAL NOT NULL UNIQUE,
    id             TEXT PRIMARY KEY,
    session_handle TEXT,
    reason         TEXT NOT NULL,
    at             BIGINT NOT NULL
);
CREATE INDEX errors_by_session ON errors (session_handle);
",
    "
COMMENT ON COLUMN sessions.state IS
    'SessionState as JSON; byte strings as Base64URL text (schema 2) or number arrays (1)';
",
];

const SELECT_BY_HANDLE: &str = "SELECT handle, status, version, state, failure, created_at, \
     updated_at FROM sessions WHERE handle = $1";
const SELECT_BY_SSID: &str = "SELECT handle, status, version, state, failure, created_at, \
     updated_at FROM sessions WHERE server_session_id = $1";
const INSERT_SESSION: &str = "INSERT INTO sessions (handle, server_session_id, status, phase, \
     version, state, failure, created_at, updated_at) \
     VALUES ($1, $2, 'open', $3, 1, $4, NULL, $5, $5) ON CONFLICT DO NOTHING";
const ADVANCE: &str = "UPDATE sessions SET status = $1, phase = $2, version = version + 1, \
     state = $3, failure = $4, updated_at = $5 \
     WHERE handle = $6 AND version = $7 AND status = 'open'";
const COMPLETE: &str = "
WITH s AS (
    UPDATE sessions SET status = 'done', phase = $3, version = version + 1, state = $4,
                        failure = NULL, updated_at = $5
    WHERE handle = $1 AND version = $2 AND status = 'open'
    RETURNING handle
), i AS (
    INSERT INTO issuances (session_handle, server_session_id, client_session_id, action,
                           privacy_enabled, device_id, device_certificate_path, server_time,
                           completed_at, record)
    SELECT s.handle, $6, $7, $8, $9, $10, $11, $12, $13, $14 FROM s
    RETURNING id
), k AS (
    INSERT INTO issued_keys (issuance_id, position, key_id, key_algorithm, app_usage,
                             friendly_name, public_key_spki, certificate_path)
    SELECT i.id, (k.ord - 1)::integer, k.key_id, k.key_algorithm, k.app_usage,
           k.friendly_name, k.spki, k.path
    FROM i, unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::bytea[],
                   $20::text[])
            WITH ORDINALITY AS k(key_id, key_algorithm, app_usage, friendly_name, spki, path,
                                 ord)
)
SELECT id FROM i";
const FAIL: &str = "
WITH s AS (
    UPDATE sessions SET status = 'failed', phase = $3, version = version + 1, state = $4,
                        failure = $5, updated_at = $6
    WHERE handle = $1 AND status = 'open' AND ($2::bigint IS NULL OR version = $2)
    RETURNING handle
)
INSERT INTO errors (id, session_handle, reason, at) SELECT $7, s.handle, $5, $6 FROM s";
const INSERT_ERROR: &str = "INSERT INTO errors (id, session_handle, reason, at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";
const SELECT_ERROR: &str = "SELECT id, session_handle, reason, at FROM errors WHERE id = $1";
const ERROR_OF_SESSION: &str =
    "SELECT id FROM errors WHERE session_handle = $1 ORDER BY at DESC, seq DESC LIMIT 1";
const ISSUANCES: &str = "SELECT id, session_handle, record FROM issuances ORDER BY id";
const ISSUANCE_BY_HANDLE: &str =
    "SELECT id, session_handle, record FROM issuances WHERE session_handle = $1";
const ALL_KEYS: &str = "SELECT issuance_id, key_id, key_algorithm, app_usage, friendly_name, \
     public_key_spki, certificate_path FROM issued_keys ORDER BY issuance_id, position";
const KEYS_OF: &str = "SELECT issuance_id, key_id, key_algorithm, app_usage, friendly_name, \
     public_key_spki, certificate_path FROM issued_keys WHERE issuance_id = $1 \
     ORDER BY position";
const SUMMARIES: &str = "SELECT handle, server_session_id, status, phase, failure, created_at, \
     updated_at FROM sessions ORDER BY created_at, seq";
const COUNTS: &str = "SELECT count(*) FILTER (WHERE status = 'open'), \
     count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed') \
     FROM sessions";
const OLD_OPEN: &str =
    "SELECT handle, version, state FROM sessions WHERE status = 'open' AND created_at < $1";
const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
const PRUNE_SESSIONS: &str = "DELETE FROM sessions s WHERE s.status = 'failed' \
     AND s.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM issuances i WHERE i.session_handle = s.handle)";
const PRUNE_OLD_ERRORS: &str = "DELETE FROM errors WHERE at < $1";
const PRUNE_EXCESS_ERRORS: &str = "DELETE FROM errors WHERE seq IN \
     (SELECT seq FROM errors ORDER BY at DESC, seq DESC OFFSET $1)";
const ROW_COUNTS: &str = "SELECT (SELECT count(*) FROM sessions), \
     (SELECT count(*) FROM issuances), (SELECT count(*) FROM errors)";

/// One connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    async fn statement(&mut self, sql: &'static str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    async fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        let s = self.statement(sql).await?;
        Ok(self.client.query(&s, params).await?)
    }

    async fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DbError> {
        let s = self.statement(sql).await?;
        Ok(self.client.query_opt(&s, params).await?)
    }

    async fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, DbError> {
        let s = self.statement(sql).await?;
        Ok(self.client.execute(&s, params).await?)
    }
}

/// Whether an error means "the connection is gone": reconnect and try again.
fn transient(e: &DbError) -> bool {
    match e {
        DbError::Unavailable { .. } => true,
        DbError::Postgres(e) => {
            let class = e.code().map(|c| c.code().get(..2).unwrap_or(""));
            e.is_closed()
                || matches!(class, Some("08" | "57"))
                || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
        _ => false,
    }
}

/// Runs `$body` (an async block using the connection `$c`) with a pooled connection,
/// reconnecting and retrying on a lost connection for up to [`RECONNECT_WINDOW`]. Evaluates
/// to `(result, retried)`.
macro_rules! with_conn {
    ($inner:expr, $c:ident => $body:expr) => {{
        let inner: &Inner = $inner;
        let start = Instant::now();
        let mut retried = false;
        let mut pause = Duration::from_millis(20);
        loop {
            let mut slot = inner.checkout().await;
            let r = match inner.ready(&mut slot).await {
                Ok($c) => $body.await,
                Err(e) => Err(e),
            };
            match r {
                Err(e) if transient(&e) => {
                    *slot = None;
                    drop(slot);
                    if start.elapsed() + pause > RECONNECT_WINDOW {
                        break (Err(inner.unavailable(&e)), retried);
                    }
                    tracing::debug!(error = %e, "postgresql connection lost; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(400));
                    retried = true;
                }
                other => break (other, retried),
            }
        }
    }};
}

/// The shared part: configuration and connections.
struct Inner {
    config: Config,
    location: String,
    slots: Vec<AsyncMutex<Option<Conn>>>,
    next: AtomicUsize,
}

impl Inner {
    /// A connection slot: a free one if there is one, else wait for the next in turn.
    async fn checkout(&self) -> AsyncGuard<'_, Option<Conn>> {
        let n = self.slots.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            if let Ok(g) = self.slots[(first + k) % n].try_lock() {
                return g;
            }
        }
        self.slots[first % n].lock().await
    }

    /// The slot's connection, (re)connecting if it has none or it is closed.
    async fn ready<'a>(&self, slot: &'a mut Option<Conn>) -> Result<&'a mut Conn, DbError> {
        let conn = match slot.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.open().await?,
        };
        Ok(slot.insert(conn))
    }

    async fn open(&self) -> Result<Conn, DbError> {
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|e| DbError::Unavailable {
                    location: self.location.clone(),
                    reason: e.to_string(),
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgresql connection ended");
            }
        });
        // A commit returns once it is on disk (whatever the server's default).
        client
            .batch_execute("SET synchronous_commit = on")
            .await
            .map_err(DbError::from)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn unavailable(&self, e: &DbError) -> DbError {
        match e {
            DbError::Unavailable { .. } => DbError::Unavailable {
                location: self.location.clone(),
                reason: format!("{e} (retried for {} s)", RECONNECT_WINDOW.as_secs()),
            },
            other => DbError::Unavailable {
                location: self.location.clone(),
                reason: format!("{other} (retried for {} s)", RECONNECT_WINDOW.as_secs()),
            },
        }
    }

    async fn migrate(&self, now: i64) -> Result<(), DbError> {
        with_conn!(self, c => async {
            let tx = c.client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (
                     version    INTEGER PRIMARY KEY,
                     applied_at BIGINT NOT NULL
                 )",
            )
            .await?;
            let found: i32 = tx.query_one(SCHEMA_VERSION, &[]).await?.try_get(0)?;
            let found = u32::try_from(found)
                .map_err(|_| DbError::Corrupt(format!("schema version {found}")))?;
            if found > PgStore::SCHEMA_VERSION {
                return Err(DbError::SchemaTooNew {
                    found,
                    supported: PgStore::SCHEMA_VERSION,
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                let version = i32::try_from(i + 1)
                    .map_err(|_| DbError::Corrupt("too many migrations".into()))?;
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                    &[&version, &now],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(())
        })
        .0
    }

    async fn schema_version(&self) -> Result<u32, DbError> {
        let v: i32 = with_conn!(self, c => async {
            Ok::<_, DbError>(c.query_opt(SCHEMA_VERSION, &[]).await?.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
        })
        .0?;
        u32::try_from(v).map_err(|_| DbError::Corrupt(format!("schema version {v}")))
    }

    async fn insert_session(
        &self,
        handle: String,
        ssid: String,
        phase: String,
        state: String,
        now: i64,
    ) -> Result<(), DbError> {
        let (n, retried) = with_conn!(self, c => async {
            c.execute(INSERT_SESSION, &[&handle, &ssid, &phase, &state, &now]).await
        });
        if n? == 1 {
            return Ok(());
        }
        if retried
            && let Some(s) = self.load_where(SELECT_BY_HANDLE, &handle).await?
            && s.1 == state
            && s.0.version == 1
        {
            return Ok(()); // our first attempt landed
        }
        Err(DbError::Conflict(format!(
            "session {handle:?} or serverSessionId {ssid:?} is already in use"
        )))
    }

    /// The session of a `SELECT_BY_*` query, with its state as stored.
    async fn load_where(
        &self,
        sql: &'static str,
        key: &str,
    ) -> Result<Option<(StoredSession, String)>, DbError> {
        let row = with_conn!(self, c => async { c.query_opt(sql, &[&key]).await }).0?;
        let Some(r) = row else { return Ok(None) };
        let state: String = r.try_get(3)?;
        let session = session_from_columns(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            &state,
            r.try_get(4)?,
            r.try_get(5)?,
            r.try_get(6)?,
        )?;
        Ok(Some((session, state)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        handle: String,
        expected_version: i64,
        status: SessionStatus,
        phase: String,
        state: String,
        failure: Option<String>,
        now: i64,
    ) -> Result<i64, DbError> {
        let (n, retried) = with_conn!(self, c => async {
            c.execute(
                ADVANCE,
                &[&status.as_str(), &phase, &state, &failure, &now, &handle, &expected_version],
            )
            .await
        });
        if n? == 1 {
            return Ok(expected_version + 1);
        }
        if retried
            && let Some((s, stored)) = self.load_where(SELECT_BY_HANDLE, &handle).await?
            && s.version == expected_version + 1
            && s.status == status
            && stored == state
        {
            return Ok(expected_version + 1); // our first attempt landed
        }
        Err(DbError::Conflict(format!(
            "session {handle:?} is not open at version {expected_version} \
             (a concurrent or replayed message)"
        )))
    }

    async fn complete(
        &self,
        handle: String,
        expected_version: i64,
        phase: String,
        state: String,
        record: IssuanceRecord,
        now: i64,
    ) -> Result<i64, DbError> {
        let record_json =
            serde_json::to_string(&record).map_err(|e| DbError::Corrupt(e.to_string()))?;
        let device_path = paths_to_json(&record.device_certificate_path);
        let ids: Vec<&str> = record.keys.iter().map(|k| k.id.as_str()).collect();
        let algs: Vec<&str> = record
            .keys
            .iter()
            .map(|k| k.key_algorithm.as_str())
            .collect();
        let usages: Vec<&str> = record.keys.iter().map(|k| k.app_usage.as_str()).collect();
        let names: Vec<Option<&str>> = record
            .keys
            .iter()
            .map(|k| k.friendly_name.as_deref())
            .collect();
        let spkis: Vec<&[u8]> = record
            .keys
            .iter()
            .map(|k| k.public_key_spki.as_slice())
            .collect();
        let paths: Vec<String> = record
            .keys
            .iter()
            .map(|k| paths_to_json(&k.certificate_path))
            .collect();
        let (row, retried) = with_conn!(self, c => async {
            c.query_opt(
                COMPLETE,
                &[
                    &handle,
                    &expected_version,
                    &phase,
                    &state,
                    &now,
                    &record.server_session_id,
                    &record.client_session_id,
                    &record.action,
                    &record.privacy_enabled,
                    &record.device_id,
                    &device_path,
                    &record.server_time,
                    &record.completed_at,
                    &record_json,
                    &ids,
                    &algs,
                    &usages,
                    &names,
                    &spkis,
                    &paths,
                ],
            )
            .await
        });
        if let Some(r) = row? {
            return Ok(r.try_get(0)?);
        }
        if retried {
            let found = with_conn!(self, c => async {
                c.query_opt(ISSUANCE_BY_HANDLE, &[&handle]).await
            })
            .0?;
            if let Some(r) = found
                && r.try_get::<_, String>(2)? == record_json
            {
                return Ok(r.try_get(0)?); // our first attempt landed
            }
        }
        Err(DbError::Conflict(format!(
            "session {handle:?} is not open at version {expected_version} \
             (a concurrent or replayed message)"
        )))
    }

    #[allow(clippy::too_many_arguments)]
    async fn fail(
        &self,
        handle: String,
        expected_version: Option<i64>,
        phase: String,
        state: String,
        error_id: String,
        reason: String,
        now: i64,
    ) -> Result<(), DbError> {
        let (n, retried) = with_conn!(self, c => async {
            c.execute(
                FAIL,
                &[&handle, &expected_version, &phase, &state, &reason, &now, &error_id],
            )
            .await
        });
        if n? == 1 {
            return Ok(());
        }
        if retried && self.error(error_id).await?.is_some() {
            return Ok(()); // our first attempt landed
        }
        Err(DbError::Conflict(match expected_version {
            Some(v) => format!("session {handle:?} is not open at version {v}"),
            None => format!("session {handle:?} is unknown or not open"),
        }))
    }

    async fn record_error(
        &self,
        error_id: String,
        handle: Option<String>,
        reason: String,
        now: i64,
    ) -> Result<(), DbError> {
        with_conn!(self, c => async {
            c.execute(INSERT_ERROR, &[&error_id, &handle, &reason, &now]).await
        })
        .0?;
        Ok(())
    }

    async fn error(&self, id: String) -> Result<Option<ErrorEntry>, DbError> {
        let row = with_conn!(self, c => async { c.query_opt(SELECT_ERROR, &[&id]).await }).0?;
        row.map(|r| {
            Ok(ErrorEntry {
                id: r.try_get(0)?,
                session_handle: r.try_get(1)?,
                reason: r.try_get(2)?,
                at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    async fn error_of_session(&self, handle: String) -> Result<Option<String>, DbError> {
        let row =
            with_conn!(self, c => async { c.query_opt(ERROR_OF_SESSION, &[&handle]).await }).0?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Issuances (all, or the one of `handle`) with their key rows, checked against their
    /// records.
    async fn issuances(&self, handle: Option<String>) -> Result<Vec<Issuance>, DbError> {
        let (rows, keys) = with_conn!(self, c => async {
            let rows = match &handle {
                None => c.query(ISSUANCES, &[]).await?,
                Some(h) => c.query(ISSUANCE_BY_HANDLE, &[h]).await?,
            };
            let keys = match (&handle, rows.first()) {
                (None, _) => c.query(ALL_KEYS, &[]).await?,
                (Some(_), Some(r)) => {
                    let id: i64 = r.try_get(0)?;
                    c.query(KEYS_OF, &[&id]).await?
                }
                (Some(_), None) => Vec::new(),
            };
            Ok::<_, DbError>((rows, keys))
        })
        .0?;
        let mut by_issuance: HashMap<i64, Vec<IssuedKey>> = HashMap::new();
        for k in &keys {
            let id: i64 = k.try_get(0)?;
            let key_id: String = k.try_get(1)?;
            let path: String = k.try_get(6)?;
            let list: Vec<String> = serde_json::from_str(&path)
                .map_err(|e| DbError::Corrupt(format!("certificate path of {key_id}: {e}")))?;
            let certificate_path = list
                .iter()
                .map(|c| b64url::decode(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| DbError::Corrupt(format!("certificate of {key_id}: {e}")))?;
            by_issuance.entry(id).or_default().push(IssuedKey {
                id: key_id,
                key_algorithm: k.try_get(2)?,
                app_usage: k.try_get(3)?,
                friendly_name: k.try_get(4)?,
                public_key_spki: k.try_get(5)?,
                certificate_path,
            });
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.try_get(0)?;
            let keys = by_issuance.remove(&id).unwrap_or_default();
            out.push(issuance_from_columns(
                id,
                r.try_get(1)?,
                r.try_get(2)?,
                keys,
            )?);
        }
        Ok(out)
    }

    async fn session_summaries(&self) -> Result<Vec<SessionSummary>, DbError> {
        let rows = with_conn!(self, c => async { c.query(SUMMARIES, &[]).await }).0?;
        rows.iter()
            .map(|r| {
                Ok(SessionSummary {
                    handle: r.try_get(0)?,
                    server_session_id: r.try_get(1)?,
                    status: SessionStatus::parse(r.try_get(2)?)?,
                    phase: r.try_get(3)?,
                    failure: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                    updated_at: r.try_get(6)?,
                })
            })
            .collect()
    }

    async fn session_counts(&self) -> Result<(i64, i64, i64), DbError> {
        let row = with_conn!(self, c => async { c.query_opt(COUNTS, &[]).await }).0?;
        match row {
            Some(r) => Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
            None => Ok((0, 0, 0)),
        }
    }

    async fn expire(&self, created_before: i64, now: i64) -> Result<usize, DbError> {
        let rows = with_conn!(self, c => async { c.query(OLD_OPEN, &[&created_before]).await }).0?;
        let mut ended = 0;
        for r in rows {
            let handle: String = r.try_get(0)?;
            let version: i64 = r.try_get(1)?;
            let state = SessionState::from_json(r.try_get(2)?)
                .map_err(|e| DbError::Corrupt(format!("session state: {e}")))?;
            let wiped = wiped(&state);
            match self
                .advance(
                    handle,
                    version,
                    SessionStatus::Failed,
                    phase_name(&wiped),
                    state_json(&wiped)?,
                    Some("[KG2-IMP-006] expired without an answer".into()),
                    now,
                )
                .await
            {
                Ok(_) => ended += 1,
                // Another node advanced or ended it meanwhile.
                Err(DbError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ended)
    }

    /// [`IssuerStore::prune`]: three idempotent deletes (several nodes may prune at once).
    async fn prune(&self, p: Prune) -> Result<Pruned, DbError> {
        let keep = i64::try_from(p.max_errors).unwrap_or(i64::MAX);
        let (sessions, old, excess) = with_conn!(self, c => async {
            let s = c.execute(PRUNE_SESSIONS, &[&p.failed_created_before]).await?;
            let o = c.execute(PRUNE_OLD_ERRORS, &[&p.errors_before]).await?;
            let e = c.execute(PRUNE_EXCESS_ERRORS, &[&keep]).await?;
            Ok::<_, DbError>((s, o, e))
        })
        .0?;
        Ok(Pruned {
            sessions,
            errors: old + excess,
        })
    }

    async fn row_counts(&self) -> Result<RowCounts, DbError> {
        let row = with_conn!(self, c => async { c.query_opt(ROW_COUNTS, &[]).await }).0?;
        let n = |x: i64| u64::try_from(x).unwrap_or(0);
        match row {
            Some(r) => Ok(RowCounts {
                sessions: n(r.try_get(0)?),
                issuances: n(r.try_get(1)?),
                errors: n(r.try_get(2)?),
            }),
            None => Ok(RowCounts::default()),
        }
    }
}

/// The PostgreSQL store (see the module documentation). Cheap to share behind an `Arc`.
pub struct PgStore {
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    /// Taken (and shut down without waiting) when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.inner.location)
            .field("connections", &self.inner.slots.len())
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Allowed from inside an async context too (a plain drop of a runtime is not).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `postgresql://user@host:port/dbname` of a configuration (never its password).
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgresql://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

impl PgStore {
    /// The schema this code writes.
    pub const SCHEMA_VERSION: u32 = 2;

    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`,
    /// no TLS: keep it on loopback or a private network), applies the missing migrations and
    /// refuses a newer schema. Fails with [`DbError::Unavailable`] if the server cannot be
    /// reached within [`RECONNECT_WINDOW`].
    pub fn connect(url: &str) -> Result<Self, DbError> {
        let config: Config = url
            .parse()
            .map_err(|e| DbError::Url(format!("{}: {e}", redact_url(url))))?;
        Self::with_config(config, DEFAULT_CONNECTIONS)
    }

    /// [`PgStore::connect`] with a parsed configuration and `connections` connections.
    pub fn with_config(mut config: Config, connections: usize) -> Result<Self, DbError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("airtight-issuer");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("airtight-pg")
            .enable_all()
            .build()
            .map_err(|e| DbError::Runtime(e.to_string()))?;
        let inner = Arc::new(Inner {
            location: describe(&config),
            config,
            slots: (0..connections.max(1))
                .map(|_| AsyncMutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        });
        let store = PgStore {
            inner,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        };
        let inner = store.inner.clone();
        store.call(async move { inner.migrate(unix_now()).await })?;
        Ok(store)
    }

    /// Runs `work` on the store's runtime and waits for its answer (bounded by
    /// [`CALL_TIMEOUT`]).
    fn call<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, DbError>> + Send + 'static,
    ) -> Result<T, DbError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let location = self.inner.location.clone();
        self.handle.spawn(async move {
            let r = match tokio::time::timeout(CALL_TIMEOUT, work).await {
                Ok(r) => r,
                Err(_) => Err(DbError::Unavailable {
                    location,
                    reason: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
                }),
            };
            let _ = tx.send(r);
        });
        let wait = move || {
            rx.recv().map_err(|_| {
                DbError::Runtime("the PostgreSQL store's task ended without an answer".into())
            })?
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    fn run<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Inner>) -> F) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, DbError>> + Send + 'static,
    {
        self.call(f(self.inner.clone()))
    }
}

impl IssuerStore for PgStore {
    fn location(&self) -> &str {
        &self.inner.location
    }

    fn schema_version(&self) -> Result<u32, DbError> {
        self.run(|i| async move { i.schema_version().await })
    }

    fn insert_session(&self, handle: &str, state: &SessionState, now: i64) -> Result<(), DbError> {
        let (h, ssid, phase, json) = (
            handle.to_owned(),
            state.server_session_id.clone(),
            phase_name(state),
            state_json(state)?,
        );
        self.run(|i| async move { i.insert_session(h, ssid, phase, json, now).await })
    }

    fn load_session(&self, handle: &str) -> Result<Option<StoredSession>, DbError> {
        let h = handle.to_owned();
        self.run(|i| async move { Ok(i.load_where(SELECT_BY_HANDLE, &h).await?.map(|s| s.0)) })
    }

    fn find_by_server_session_id(
        &self,
        server_session_id: &str,
    ) -> Result<Option<StoredSession>, DbError> {
        let id = server_session_id.to_owned();
        self.run(|i| async move { Ok(i.load_where(SELECT_BY_SSID, &id).await?.map(|s| s.0)) })
    }

    fn update_session(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        now: i64,
    ) -> Result<i64, DbError> {
        let (h, phase, json) = (handle.to_owned(), phase_name(state), state_json(state)?);
        self.run(|i| async move {
            i.advance(
                h,
                expected_version,
                SessionStatus::Open,
                phase,
                json,
                None,
                now,
            )
            .await
        })
    }

    fn commit_completion(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        record: &IssuanceRecord,
        now: i64,
    ) -> Result<(i64, Commit), DbError> {
        let w = wiped(state);
        let (h, phase, json, rec) = (
            handle.to_owned(),
            phase_name(&w),
            state_json(&w)?,
            record.clone(),
        );
        let id = self
            .run(|i| async move { i.complete(h, expected_version, phase, json, rec, now).await })?;
        // synchronous_commit = on: the commit is on disk already.
        Ok((id, Commit(0)))
    }

    fn wait_durable(&self, _c: Commit) -> Result<(), DbError> {
        Ok(())
    }

    fn fail_session(
        &self,
        handle: &str,
        expected_version: Option<i64>,
        state: &SessionState,
        error_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let w = wiped(state);
        let (h, phase, json, id, why) = (
            handle.to_owned(),
            phase_name(&w),
            state_json(&w)?,
            error_id.to_owned(),
            reason.to_owned(),
        );
        self.run(|i| async move { i.fail(h, expected_version, phase, json, id, why, now).await })
    }

    fn record_error(
        &self,
        error_id: &str,
        session_handle: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let (id, h, why) = (
            error_id.to_owned(),
            session_handle.map(str::to_owned),
            reason.to_owned(),
        );
        self.run(|i| async move { i.record_error(id, h, why, now).await })
    }

    fn error(&self, id: &str) -> Result<Option<ErrorEntry>, DbError> {
        let id = id.to_owned();
        self.run(|i| async move { i.error(id).await })
    }

    fn error_of_session(&self, handle: &str) -> Result<Option<String>, DbError> {
        let h = handle.to_owned();
        self.run(|i| async move { i.error_of_session(h).await })
    }

    fn issuances(&self) -> Result<Vec<Issuance>, DbError> {
        self.run(|i| async move { i.issuances(None).await })
    }

    fn issuance_by_handle(&self, handle: &str) -> Result<Option<Issuance>, DbError> {
        let h = handle.to_owned();
        self.run(|i| async move { Ok(i.issuances(Some(h)).await?.into_iter().next()) })
    }

    fn session_summaries(&self) -> Result<Vec<SessionSummary>, DbError> {
        self.run(|i| async move { i.session_summaries().await })
    }

    fn session_counts(&self) -> Result<(i64, i64, i64), DbError> {
        self.run(|i| async move { i.session_counts().await })
    }

    fn expire_open_sessions(&self, created_before: i64, now: i64) -> Result<usize, DbError> {
        self.run(|i| async move { i.expire(created_before, now).await })
    }

    fn prune(&self, p: &Prune) -> Result<Pruned, DbError> {
        let p = *p;
        self.run(move |i| async move { i.prune(p).await })
    }

    fn row_counts(&self) -> Result<RowCounts, DbError> {
        self.run(|i| async move { i.row_counts().await })
    }
}
