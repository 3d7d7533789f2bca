//! The issuer's store: the [`IssuerStore`] trait the HTTP layer uses, its PostgreSQL backend
//! ([`PgStore`], module `postgres`: many issuer nodes on one database) and, below, the SQLite
//! [`Store`] (the default). The store holds sessions in progress (the serialized
//! [`SessionState`] after every step, so that a session survives an issuer restart), every
//! completed issuance (recorded atomically together with the session's final state), and every
//! error shown on the error page.
//!
//! One file under a data directory ([`Store::open_dir`], file [`Store::FILE_NAME`]) or an
//! in-memory database for tests ([`Store::in_memory`]). The schema is versioned through
//! SQLite's `user_version`; a database written by a newer schema is refused
//! ([`DbError::SchemaTooNew`]).
//!
//! # Durability
//!
//! Durable writes only where durability is promised. The file database runs in WAL mode with
//! `synchronous = NORMAL`: every transaction is atomic (after a crash the database holds a
//! prefix of the committed transactions, never part of one), but a commit does not wait for
//! the disk. Two kinds of write differ:
//!
//! - **A completed issuance is durable before it is reported.** [`IssuerStore::complete_session`]
//!   records the issuance together with the session's final state in one transaction and then
//!   waits until the write-ahead log is on disk ([`IssuerStore::commit_completion`] +
//!   [`IssuerStore::wait_durable`]); the HTTP server sends the result redirect only after that.
//!   Many sessions finishing at once share one disk flush (group commit): the first waiter
//!   flushes everything committed so far, the ones queued behind it find their completion
//!   already covered.
//! - **Everything else may be lost on a crash, but never half-applied**: a new session, a
//!   step of a session, a failed session, an error record. After a crash the session is found
//!   at an earlier step (or not at all); the next message of its middleware is then refused
//!   (version or phase mismatch, or unknown session) and nothing is issued.
//!
//! A completion flushes the log, which also makes every earlier transaction durable.
//!
//! # Concurrency
//!
//! Every session row carries a version. [`IssuerStore::update_session`],
//! [`IssuerStore::complete_session`] and [`IssuerStore::fail_session`] take the version that was loaded and
//! fail with [`DbError::Conflict`] when another request advanced the session in between, so
//! one message is applied at most once ([KG2-ISS-006]).
//!
//! # Secrets
//!
//! While a session is open its state holds the server ephemeral key or the session key. They
//! are stored as they are (protect the data directory); the state stored for a finished
//! session has its secrets wiped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use airtight_proto::codec::b64url;
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;
use zeroize::Zeroize;

use crate::engine::{IssuanceRecord, IssuedKey};
use crate::state::SessionState;

mod postgres;
#[cfg(test)]
mod tests;

pub use postgres::PgStore;

/// Why the store failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer schema.
    #[error("database schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// `user_version` found.
        found: u32,
        /// [`Store::SCHEMA_VERSION`].
        supported: u32,
    },
    /// A stored value does not decode (a damaged or foreign database).
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// The session was changed by another request, is unknown or already exists.
    #[error("[KG2-ISS-006] {0}")]
    Conflict(String),
    /// The connection lock was poisoned (a thread panicked while holding it).
    #[error("store lock poisoned")]
    Poisoned,
    /// PostgreSQL reported an error.
    #[error("postgresql: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL could not be reached (down, restarting, or refusing connections) within the
    /// store's reconnect window.
    #[error("postgresql at {location} is unavailable: {reason}")]
    Unavailable {
        /// The server (URL without its password).
        location: String,
        /// The last connection error.
        reason: String,
    },
    /// The URL given for a PostgreSQL store is not usable.
    #[error("--db {0}")]
    Url(String),
    /// The store's own I/O runtime (PostgreSQL backend) could not be started or stopped
    /// answering.
    #[error("store runtime: {0}")]
    Runtime(String),
    /// The write-ahead log could not be flushed to disk: the last completion is recorded but
    /// may not survive a crash.
    #[error("flushing {path} to disk: {source}")]
    Flush {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where a stored session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Waiting for the next middleware message.
    Open,
    /// Completed: the issuance is recorded.
    Done,
    /// Ended by an error.
    Failed,
}

impl SessionStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Done => "done",
            SessionStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "open" => Ok(SessionStatus::Open),
            "done" => Ok(SessionStatus::Done),
            "failed" => Ok(SessionStatus::Failed),
            other => Err(DbError::Corrupt(format!("session status {other:?}"))),
        }
    }
}

/// A session as stored.
#[derive(Debug, Clone)]
pub struct StoredSession {
    /// The HTTP session handle (the cookie value).
    pub handle: String,
    /// Status.
    pub status: SessionStatus,
    /// Version (incremented by every write).
    pub version: i64,
    /// The engine state after the last step.
    pub state: SessionState,
    /// Why the session failed.
    pub failure: Option<String>,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last write.
    pub updated_at: i64,
}

/// A session without its engine state: what `airtight issuer list --all` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The HTTP session handle (the cookie value, a secret while the session is open).
    pub handle: String,
    /// Its `serverSessionId`.
    pub server_session_id: String,
    /// Status.
    pub status: SessionStatus,
    /// The engine phase it reached (the message it waited for, or the final phase).
    pub phase: String,
    /// Why the session failed (including why it was abandoned: expired or cancelled).
    pub failure: Option<String>,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last write.
    pub updated_at: i64,
}

/// A recorded issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// Row id (1, 2, ... in completion order).
    pub id: i64,
    /// The HTTP session handle (the result page is `/result/<handle>`).
    pub session_handle: String,
    /// The engine's record (device, keys, certificates, times, session ids).
    pub record: IssuanceRecord,
}

/// An error shown on the error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEntry {
    /// Its id (the error page is `/error/<id>`).
    pub id: String,
    /// The session it ended, if one was known.
    pub session_handle: Option<String>,
    /// The reason.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
}

/// What [`IssuerStore::prune`] deletes: the rows a flood of session starts that never go on,
/// or of refused requests, leaves behind. A completed session and its issuance are never
/// deleted, and neither is a session still open (the sweep ends an expired one first,
/// [`IssuerStore::expire_open_sessions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// Failed sessions (ended by an error, cancelled, or expired without an answer) created
    /// before this time (Unix seconds) are deleted.
    pub failed_created_before: i64,
    /// Error records older than this (Unix seconds) are deleted.
    pub errors_before: i64,
    /// At most this many error records are kept (the newest).
    pub max_errors: u64,
}

/// What one [`IssuerStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Failed sessions deleted.
    pub sessions: u64,
    /// Error records deleted.
    pub errors: u64,
}

/// How many rows the store holds ([`IssuerStore::row_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RowCounts {
    /// Sessions of any status.
    pub sessions: u64,
    /// Recorded issuances.
    pub issuances: u64,
    /// Error records.
    pub errors: u64,
}

impl RowCounts {
    /// All rows.
    pub fn total(&self) -> u64 {
        self.sessions + self.issuances + self.errors
    }
}

/// What the HTTP layer needs of a store, whatever the database: the embedded SQLite
/// [`Store`] (the default, one issuer process) or [`PgStore`] (PostgreSQL, any number of issuer
/// processes sharing one database). The methods are synchronous: the HTTP handlers run a
/// request's store work inline (SQLite: microseconds under a lock); [`PgStore`] drives its
/// network I/O on a runtime of its own and lets the calling runtime worker step aside while it
/// waits (`tokio::task::block_in_place`), so both fit behind one `Arc<dyn IssuerStore>`.
///
/// The rules every backend keeps (tested against both in `db/tests.rs`):
///
/// - **One message is applied once** ([KG2-ISS-006]): every session row carries a version;
///   [`IssuerStore::update_session`], [`IssuerStore::commit_completion`] and
///   [`IssuerStore::fail_session`] apply only at the version that was loaded and return
///   [`DbError::Conflict`] otherwise. A retried store call whose first attempt did land (the
///   connection was lost before the answer) is recognised and answered as the first one was;
///   a retried *request* (the same middleware message again) meets the engine's phase check
///   and is refused, as it is with SQLite.
/// - **An issuance is recorded atomically with the session's end**, once per session and once
///   per `serverSessionId` (unique constraints), and is durable before
///   [`IssuerStore::wait_durable`] returns.
/// - **A database written by a newer schema is refused** ([`DbError::SchemaTooNew`]).
pub trait IssuerStore: Send + Sync + std::fmt::Debug {
    /// Where the database lives (a path, `:memory:`, or a PostgreSQL URL without password).
    fn location(&self) -> &str;
    /// The schema version of the open database.
    fn schema_version(&self) -> Result<u32, DbError>;
    /// Stores a new session under `handle` (version 1); [`DbError::Conflict`] if the handle or
    /// the `serverSessionId` is already used.
    fn insert_session(&self, handle: &str, state: &SessionState, now: i64) -> Result<(), DbError>;
    /// The session stored under `handle`.
    fn load_session(&self, handle: &str) -> Result<Option<StoredSession>, DbError>;
    /// The session with this `serverSessionId`.
    fn find_by_server_session_id(
        &self,
        server_session_id: &str,
    ) -> Result<Option<StoredSession>, DbError>;
    /// Stores the state after a step; returns the new version.
    fn update_session(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        now: i64,
    ) -> Result<i64, DbError>;
    /// Records a completed issuance and closes the session in one transaction; durable once
    /// [`IssuerStore::wait_durable`] returns for the [`Commit`]. Returns the issuance id.
    fn commit_completion(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        record: &IssuanceRecord,
        now: i64,
    ) -> Result<(i64, Commit), DbError>;
    /// Waits until the commit `c` is durable (may block for a disk flush: call it off the
    /// async runtime).
    fn wait_durable(&self, c: Commit) -> Result<(), DbError>;
    /// [`IssuerStore::commit_completion`] then [`IssuerStore::wait_durable`].
    fn complete_session(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        record: &IssuanceRecord,
        now: i64,
    ) -> Result<i64, DbError> {
        let (id, commit) = self.commit_completion(handle, expected_version, state, record, now)?;
        self.wait_durable(commit)?;
        Ok(id)
    }
    /// Ends a session with an error and records the error, in one transaction.
    fn fail_session(
        &self,
        handle: &str,
        expected_version: Option<i64>,
        state: &SessionState,
        error_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError>;
    /// Records an error that no open session can carry.
    fn record_error(
        &self,
        error_id: &str,
        session_handle: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError>;
    /// The error with this id.
    fn error(&self, id: &str) -> Result<Option<ErrorEntry>, DbError>;
    /// The newest error recorded for the session `handle`, if any.
    fn error_of_session(&self, handle: &str) -> Result<Option<String>, DbError>;
    /// Every recorded issuance, oldest first.
    fn issuances(&self) -> Result<Vec<Issuance>, DbError>;
    /// The issuance of the session `handle`.
    fn issuance_by_handle(&self, handle: &str) -> Result<Option<Issuance>, DbError>;
    /// Every session, oldest first, without its engine state.
    fn session_summaries(&self) -> Result<Vec<SessionSummary>, DbError>;
    /// Number of sessions per status (open, done, failed).
    fn session_counts(&self) -> Result<(i64, i64, i64), DbError>;
    /// Ends (failed, secrets wiped) every open session created before `created_before`;
    /// returns how many.
    fn expire_open_sessions(&self, created_before: i64, now: i64) -> Result<usize, DbError>;
    /// Deletes failed sessions and old error records as [`Prune`] says, never a completed
    /// session, its issuance, or an open session; returns what was deleted.
    fn prune(&self, p: &Prune) -> Result<Pruned, DbError>;
    /// How many rows the store holds.
    fn row_counts(&self) -> Result<RowCounts, DbError>;
}

/// Opens the store named by `--db`: a `postgres://` or `postgresql://` URL opens
/// [`PgStore`]; anything else is refused with [`DbError::Url`] (the SQLite store is opened
/// from a data directory, [`Store::open_dir`]).
pub fn open_url(url: &str) -> Result<std::sync::Arc<dyn IssuerStore>, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url)?))
    } else {
        Err(DbError::Url(format!(
            "{}: give a postgres://USER@HOST:PORT/DATABASE URL (the SQLite store is the \
             default: --data-dir)",
            redact_url(url)
        )))
    }
}

/// `url` without a password (`user:secret@` becomes `user@`).
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The store. Cheap to share behind an `Arc`; every call takes the connection lock briefly
/// (no call waits for the disk while holding it).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    location: String,
    durability: Durability,
}

/// A committed completion that is not yet known to be on disk: pass it to
/// [`IssuerStore::wait_durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a completion is durable only after Store::wait_durable"]
pub struct Commit(u64);

/// Group commit of the write-ahead log.
#[derive(Debug)]
struct Durability {
    /// The write-ahead log file; `None` for an in-memory database (nothing to flush).
    wal: Option<PathBuf>,
    /// Transactions committed so far (numbered under the connection lock, so in commit order).
    committed: AtomicU64,
    /// The highest commit number known to be on disk. Held while flushing: waiters queue here
    /// and most find their commit covered by the flush before them.
    flushed: Mutex<u64>,
    /// Disk flushes done (for tests and figures: fewer than completions under load).
    flushes: AtomicU64,
}

const SCHEMA_V1: &str = "
CREATE TABLE sessions (
    handle            TEXT PRIMARY KEY,
    server_session_id TEXT NOT NULL UNIQUE,
    status            TEXT NOT NULL CHECK (status IN ('open', 'done', 'failed')),
    phase             TEXT NOT NULL,
    version           INTEGER NOT NULL,
    state             TEXT NOT NULL,
    failure           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE TABLE issuances (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    session_handle          TEXT NOT NULL UNIQUE REFERENCES sessions(handle),
    server_session_id       TEXT NOT NULL UNIQUE,
    client_session_id       TEXT NOT NULL,
    action                  TEXT NOT NULL,
    privacy_enabled         INTEGER NOT NULL,
    device_id               TEXT,
    device_certificate_path TEXT NOT NULL,
    server_time             TEXT NOT NULL,
    completed_at            INTEGER NOT NULL,
    record                  TEXT NOT NULL
);
CREATE TABLE issued_keys (
    issuance_id      INTEGER NOT NULL REFERENCES issuances(id),
    position         INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    key_algorithm    TEXT NOT NULL,
    app_usage        TEXT NOT NULL,
    friendly_name    TEXT,
    public_key_spki  BLOB NOT NULL,
    certificate_path TEXT NOT NULL,
    PRIMARY KEY (issuance_id, position)
);
CREATE TABLE errors (
    id             TEXT PRIMARY KEY,
    session_handle TEXT,
    reason         TEXT NOT NULL,
    at             INTEGER NOT NULL
);
";

/// Schema 2 changes no table: it marks that `sessions.state` may hold the compact state
/// format (byte strings as Base64URL text, see [`SessionState`]), which code of schema 1
/// cannot read; such code then refuses the database ([`DbError::SchemaTooNew`]) instead of
/// failing on every session. States written in the earlier form (arrays of numbers) are
/// still read, so the upgrade rewrites nothing and loses no session in progress.
const SCHEMA_V2: &str = "";

fn paths_to_json(paths: &[Vec<u8>]) -> String {
    let v: Vec<String> = paths.iter().map(|c| b64url::encode(c)).collect();
    serde_json::Value::from(v).to_string()
}

fn phase_name(state: &SessionState) -> String {
    format!("{:?}", state.phase)
}

fn state_json(state: &SessionState) -> Result<String, DbError> {
    state.to_json().map_err(|e| DbError::Corrupt(e.to_string()))
}

/// An issuance row (both backends): the record (JSON) and its key rows, the normalized copy of
/// the record's keys, which must agree with it.
fn issuance_from_columns(
    id: i64,
    session_handle: String,
    record: &str,
    keys: Vec<IssuedKey>,
) -> Result<Issuance, DbError> {
    let record: IssuanceRecord = serde_json::from_str(record)
        .map_err(|e| DbError::Corrupt(format!("issuance {id}: {e}")))?;
    if keys != record.keys {
        return Err(DbError::Corrupt(format!(
            "issuance {id}: key rows differ from the record"
        )));
    }
    Ok(Issuance {
        id,
        session_handle,
        record,
    })
}

/// A session from the columns of its row (both backends select them in this order:
/// `handle, status, version, state, failure, created_at, updated_at`).
fn session_from_columns(
    handle: String,
    status: &str,
    version: i64,
    state: &str,
    failure: Option<String>,
    created_at: i64,
    updated_at: i64,
) -> Result<StoredSession, DbError> {
    Ok(StoredSession {
        handle,
        status: SessionStatus::parse(status)?,
        version,
        state: SessionState::from_json(state)
            .map_err(|e| DbError::Corrupt(format!("session state: {e}")))?,
        failure,
        created_at,
        updated_at,
    })
}

/// A copy of `state` without its secrets (for finished sessions).
fn wiped(state: &SessionState) -> SessionState {
    let mut s = state.clone();
    s.secrets.zeroize();
    s
}

impl Store {
    /// The schema this code writes.
    pub const SCHEMA_VERSION: u32 = 2;
    /// The database file name inside a data directory.
    pub const FILE_NAME: &'static str = "issuer.sqlite3";

    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Self::init(conn, path.display().to_string(), Some(PathBuf::from(wal)))
    }

    /// Opens (or creates) [`Store::FILE_NAME`] inside `dir`, creating the directory.
    pub fn open_dir(dir: &Path) -> Result<Self, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        Self::open(&dir.join(Self::FILE_NAME))
    }

    /// A fresh in-memory database (tests).
    pub fn in_memory() -> Result<Self, DbError> {
        Self::init(Connection::open_in_memory()?, ":memory:".into(), None)
    }

    fn init(conn: Connection, location: String, wal: Option<PathBuf>) -> Result<Self, DbError> {
        // Atomic commits without a disk flush each; completions flush (see "Durability").
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.set_prepared_statement_cache_capacity(32);
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > Self::SCHEMA_VERSION {
            return Err(DbError::SchemaTooNew {
                found,
                supported: Self::SCHEMA_VERSION,
            });
        }
        if found < Self::SCHEMA_VERSION {
            // One transaction: the schema and its version appear together or not at all.
            let mut sql = String::from("BEGIN IMMEDIATE;");
            for step in &[SCHEMA_V1, SCHEMA_V2][found as usize..] {
                sql.push_str(step);
            }
            sql.push_str(&format!(
                " PRAGMA user_version = {}; COMMIT;",
                Self::SCHEMA_VERSION
            ));
            conn.execute_batch(&sql)?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            location,
            durability: Durability {
                wal,
                committed: AtomicU64::new(0),
                flushed: Mutex::new(0),
                flushes: AtomicU64::new(0),
            },
        })
    }

    /// Numbers a transaction just committed (call with the connection lock held).
    fn committed(&self) -> Commit {
        Commit(self.durability.committed.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Disk flushes done by completions so far (fewer than completions when they are grouped).
    pub fn flush_count(&self) -> u64 {
        self.durability.flushes.load(Ordering::Relaxed)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, DbError> {
        self.conn.lock().map_err(|_| DbError::Poisoned)
    }

    fn session_where(&self, clause: &str, key: &str) -> Result<Option<StoredSession>, DbError> {
        let conn = self.lock()?;
        let row = conn
            .prepare_cached(&format!(
                "SELECT handle, status, version, state, failure, created_at, updated_at
                 FROM sessions WHERE {clause} = ?1"
            ))?
            .query_row(params![key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .optional()?;
        let Some((handle, status, version, state, failure, created_at, updated_at)) = row else {
            return Ok(None);
        };
        session_from_columns(
            handle, &status, version, &state, failure, created_at, updated_at,
        )
        .map(Some)
    }

    fn advance(
        tx: &rusqlite::Transaction<'_>,
        handle: &str,
        expected_version: i64,
        status: SessionStatus,
        state: &SessionState,
        failure: Option<&str>,
        now: i64,
    ) -> Result<i64, DbError> {
        let changed = tx
            .prepare_cached(
                "UPDATE sessions SET status = ?1, phase = ?2, version = version + 1, state = ?3,
                                     failure = ?4, updated_at = ?5
                 WHERE handle = ?6 AND version = ?7 AND status = 'open'",
            )?
            .execute(params![
                status.as_str(),
                phase_name(state),
                state_json(state)?,
                failure,
                now,
                handle,
                expected_version
            ])?;
        if changed != 1 {
            return Err(DbError::Conflict(format!(
                "session {handle:?} is not open at version {expected_version} \
                 (a concurrent or replayed message)"
            )));
        }
        Ok(expected_version + 1)
    }

    fn issuances_where(&self, clause: &str, key: &str) -> Result<Vec<Issuance>, DbError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, session_handle, record FROM issuances {clause} ORDER BY id"
        ))?;
        let rows = if clause.is_empty() {
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
        } else {
            stmt.query_map(params![key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
        };
        drop(stmt);
        let mut out = Vec::with_capacity(rows.len());
        for (id, session_handle, record) in rows {
            let keys = Self::keys_of(&conn, id)?;
            out.push(issuance_from_columns(id, session_handle, &record, keys)?);
        }
        Ok(out)
    }

    fn keys_of(conn: &Connection, id: i64) -> Result<Vec<IssuedKey>, DbError> {
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, key_algorithm, app_usage, friendly_name, public_key_spki,
                    certificate_path
             FROM issued_keys WHERE issuance_id = ?1 ORDER BY position",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = Vec::with_capacity(rows.len());
        for (id, key_algorithm, app_usage, friendly_name, public_key_spki, path) in rows {
            let list: Vec<String> = serde_json::from_str(&path)
                .map_err(|e| DbError::Corrupt(format!("certificate path of {id}: {e}")))?;
            let certificate_path = list
                .iter()
                .map(|c| b64url::decode(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| DbError::Corrupt(format!("certificate of {id}: {e}")))?;
            keys.push(IssuedKey {
                id,
                key_algorithm,
                app_usage,
                friendly_name,
                public_key_spki,
                certificate_path,
            });
        }
        Ok(keys)
    }
}

impl IssuerStore for Store {
    /// Waits until the commit `c` is on disk (group commit: one flush covers every transaction
    /// committed before it started). Blocks for a disk flush: call it off the async runtime.
    fn wait_durable(&self, c: Commit) -> Result<(), DbError> {
        let d = &self.durability;
        let Some(wal) = &d.wal else {
            return Ok(());
        };
        let mut flushed = d.flushed.lock().map_err(|_| DbError::Poisoned)?;
        if *flushed >= c.0 {
            return Ok(());
        }
        // Everything numbered up to here is in the log file (or already checkpointed into the
        // database file, which SQLite flushes itself when it checkpoints).
        let upto = d.committed.load(Ordering::SeqCst);
        let flush = |path: &Path| std::fs::File::open(path).and_then(|f| f.sync_data());
        match flush(wal) {
            Ok(()) => {}
            Err(source) => {
                return Err(DbError::Flush {
                    path: wal.clone(),
                    source,
                });
            }
        }
        d.flushes.fetch_add(1, Ordering::Relaxed);
        *flushed = upto.max(*flushed);
        Ok(())
    }

    /// Where the database lives (a path or `:memory:`).
    fn location(&self) -> &str {
        &self.location
    }

    /// The schema version of the open database.
    fn schema_version(&self) -> Result<u32, DbError> {
        Ok(self
            .lock()?
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Stores a new session under `handle` (version 1). Fails with [`DbError::Conflict`] if the
    /// handle or the `serverSessionId` is already used ([KG2-ISS-006]).
    fn insert_session(&self, handle: &str, state: &SessionState, now: i64) -> Result<(), DbError> {
        let json = state_json(state)?;
        let conn = self.lock()?;
        let exists: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM sessions WHERE handle = ?1 OR server_session_id = ?2")?
            .query_row(params![handle, state.server_session_id], |r| r.get(0))
            .optional()?;
        if exists.is_some() {
            return Err(DbError::Conflict(format!(
                "session {handle:?} or serverSessionId {:?} is already in use",
                state.server_session_id
            )));
        }
        conn.prepare_cached(
            "INSERT INTO sessions (handle, server_session_id, status, phase, version, state,
                                   failure, created_at, updated_at)
             VALUES (?1, ?2, 'open', ?3, 1, ?4, NULL, ?5, ?5)",
        )?
        .execute(params![
            handle,
            state.server_session_id,
            phase_name(state),
            json,
            now
        ])?;
        Ok(())
    }

    /// Ends every session still open that was created before `created_before`: its state is
    /// wiped of secrets and it is marked failed ([KG2-IMP-006]: such a session can no longer
    /// receive a valid message, and its session keys must not stay at rest). Returns how many
    /// sessions were ended.
    fn expire_open_sessions(&self, created_before: i64, now: i64) -> Result<usize, DbError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let rows: Vec<(String, i64, String)> = {
            let mut st = tx.prepare(
                "SELECT handle, version, state FROM sessions
                 WHERE status = 'open' AND created_at < ?1",
            )?;
            let it = st.query_map(params![created_before], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            it.collect::<Result<_, _>>()?
        };
        for (handle, version, state) in &rows {
            let state = SessionState::from_json(state)
                .map_err(|e| DbError::Corrupt(format!("session state: {e}")))?;
            Self::advance(
                &tx,
                handle,
                *version,
                SessionStatus::Failed,
                &wiped(&state),
                Some("[KG2-IMP-006] expired without an answer"),
                now,
            )?;
        }
        tx.commit()?;
        Ok(rows.len())
    }

    /// The session stored under `handle`.
    fn load_session(&self, handle: &str) -> Result<Option<StoredSession>, DbError> {
        self.session_where("handle", handle)
    }

    /// The session with this `serverSessionId`.
    fn find_by_server_session_id(
        &self,
        server_session_id: &str,
    ) -> Result<Option<StoredSession>, DbError> {
        self.session_where("server_session_id", server_session_id)
    }

    /// Stores the state after a step; returns the new version.
    fn update_session(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        now: i64,
    ) -> Result<i64, DbError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let v = Self::advance(
            &tx,
            handle,
            expected_version,
            SessionStatus::Open,
            state,
            None,
            now,
        )?;
        tx.commit()?;
        Ok(v)
    }

    /// Records a completed issuance and closes the session, in one transaction, without
    /// waiting for the disk: the completion is durable once [`IssuerStore::wait_durable`] returns
    /// for the returned [`Commit`] (do not report it before). Returns the issuance row id.
    fn commit_completion(
        &self,
        handle: &str,
        expected_version: i64,
        state: &SessionState,
        record: &IssuanceRecord,
        now: i64,
    ) -> Result<(i64, Commit), DbError> {
        let record_json =
            serde_json::to_string(record).map_err(|e| DbError::Corrupt(e.to_string()))?;
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        Self::advance(
            &tx,
            handle,
            expected_version,
            SessionStatus::Done,
            &wiped(state),
            None,
            now,
        )?;
        tx.prepare_cached(
            "INSERT INTO issuances (session_handle, server_session_id, client_session_id, action,
                                    privacy_enabled, device_id, device_certificate_path,
                                    server_time, completed_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            handle,
            record.server_session_id,
            record.client_session_id,
            record.action,
            record.privacy_enabled,
            record.device_id,
            paths_to_json(&record.device_certificate_path),
            record.server_time,
            record.completed_at,
            record_json
        ])?;
        let id = tx.last_insert_rowid();
        for (i, k) in record.keys.iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO issued_keys (issuance_id, position, key_id, key_algorithm, app_usage,
                                          friendly_name, public_key_spki, certificate_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                i64::try_from(i).map_err(|e| DbError::Corrupt(e.to_string()))?,
                k.id,
                k.key_algorithm,
                k.app_usage,
                k.friendly_name,
                k.public_key_spki,
                paths_to_json(&k.certificate_path)
            ])?;
        }
        tx.commit()?;
        // Numbered while the connection lock is still held: in commit order.
        let commit = self.committed();
        drop(conn);
        Ok((id, commit))
    }

    /// Ends a session with an error and records the error (id `error_id`) in one
    /// transaction. With `expected_version` the session must still be at that version;
    /// without, any open session is failed.
    fn fail_session(
        &self,
        handle: &str,
        expected_version: Option<i64>,
        state: &SessionState,
        error_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let version = match expected_version {
            Some(v) => v,
            None => tx
                .prepare_cached("SELECT version FROM sessions WHERE handle = ?1")?
                .query_row(params![handle], |r| r.get(0))
                .optional()?
                .ok_or_else(|| DbError::Conflict(format!("unknown session {handle:?}")))?,
        };
        Self::advance(
            &tx,
            handle,
            version,
            SessionStatus::Failed,
            &wiped(state),
            Some(reason),
            now,
        )?;
        tx.prepare_cached(
            "INSERT INTO errors (id, session_handle, reason, at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![error_id, handle, reason, now])?;
        tx.commit()?;
        Ok(())
    }

    /// Records an error that no open session can carry (unknown session, bad request).
    fn record_error(
        &self,
        error_id: &str,
        session_handle: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<(), DbError> {
        self.lock()?
            .prepare_cached(
                "INSERT INTO errors (id, session_handle, reason, at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![error_id, session_handle, reason, now])?;
        Ok(())
    }

    /// The error with this id.
    fn error(&self, id: &str) -> Result<Option<ErrorEntry>, DbError> {
        Ok(self
            .lock()?
            .prepare_cached("SELECT id, session_handle, reason, at FROM errors WHERE id = ?1")?
            .query_row(params![id], |r| {
                Ok(ErrorEntry {
                    id: r.get(0)?,
                    session_handle: r.get(1)?,
                    reason: r.get(2)?,
                    at: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// Every recorded issuance, oldest first.
    fn issuances(&self) -> Result<Vec<Issuance>, DbError> {
        self.issuances_where("", "")
    }

    /// The issuance of the session `handle`.
    fn issuance_by_handle(&self, handle: &str) -> Result<Option<Issuance>, DbError> {
        Ok(self
            .issuances_where("WHERE session_handle = ?1", handle)?
            .into_iter()
            .next())
    }

    /// The newest error recorded for the session `handle` (its error page), if any.
    fn error_of_session(&self, handle: &str) -> Result<Option<String>, DbError> {
        Ok(self
            .lock()?
            .query_row(
                "SELECT id FROM errors WHERE session_handle = ?1 ORDER BY at DESC, rowid DESC \
                 LIMIT 1",
                params![handle],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every session, oldest first, without its engine state.
    fn session_summaries(&self) -> Result<Vec<SessionSummary>, DbError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT handle, server_session_id, status, phase, failure, created_at, updated_at
             FROM sessions ORDER BY created_at, rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(handle, server_session_id, status, phase, failure, created_at, updated_at)| {
                    Ok(SessionSummary {
                        handle,
                        server_session_id,
                        status: SessionStatus::parse(&status)?,
                        phase,
                        failure,
                        created_at,
                        updated_at,
                    })
                },
            )
            .collect()
    }

    /// Number of sessions per status (open, done, failed).
    fn session_counts(&self) -> Result<(i64, i64, i64), DbError> {
        let conn = self.lock()?;
        let count = |s: &str| -> Result<i64, DbError> {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM sessions WHERE status = ?1",
                params![s],
                |r| r.get(0),
            )?)
        };
        Ok((count("open")?, count("done")?, count("failed")?))
    }

    /// Deletes failed sessions created before [`Prune::failed_created_before`] (with no
    /// issuance: a completed session is never deleted), error records older than
    /// [`Prune::errors_before`], and the oldest error records beyond [`Prune::max_errors`],
    /// in one transaction. Freed pages are reused by later rows, so the file stops growing.
    fn prune(&self, p: &Prune) -> Result<Pruned, DbError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let sessions = tx
            .prepare_cached(
                "DELETE FROM sessions WHERE status = 'failed' AND created_at < ?1
                 AND NOT EXISTS (SELECT 1 FROM issuances i WHERE i.session_handle = sessions.handle)",
            )?
            .execute(params![p.failed_created_before])?;
        let old = tx
            .prepare_cached("DELETE FROM errors WHERE at < ?1")?
            .execute(params![p.errors_before])?;
        let keep = i64::try_from(p.max_errors).unwrap_or(i64::MAX);
        let excess = tx
            .prepare_cached(
                "DELETE FROM errors WHERE rowid IN
                 (SELECT rowid FROM errors ORDER BY at DESC, rowid DESC LIMIT -1 OFFSET ?1)",
            )?
            .execute(params![keep])?;
        tx.commit()?;
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        Ok(Pruned {
            sessions: n(sessions),
            errors: n(old) + n(excess),
        })
    }

    /// How many rows the store holds.
    fn row_counts(&self) -> Result<RowCounts, DbError> {
        let conn = self.lock()?;
        let (sessions, issuances, errors): (i64, i64, i64) = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM issuances),
                    (SELECT COUNT(*) FROM errors)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let n = |x: i64| u64::try_from(x).unwrap_or(0);
        Ok(RowCounts {
            sessions: n(sessions),
            issuances: n(issuances),
            errors: n(errors),
        })
    }
}
