//! The card's durable, versioned, power-loss-safe store.
//!
//! # Design choice: typed state with a mutation journal
//!
//! The store is generic over an application state `S: `[`StoreState`] (serde
//! `Serialize + DeserializeOwned`) with its own mutation type `S::Mutation`. The SKS layer
//! therefore works with Rust values, never with bytes, and writes no codec of its own: the
//! state is small (tens of keys) and its payload encoding (JSON) is an internal detail below a
//! binary, checksummed, versioned framing ([`format`](mod@format)). A byte-oriented store with a codec
//! trait would only move the same serde calls into the SKS layer.
//!
//! Storage is a *snapshot* (`state.snap`: the whole state) plus an append-only *journal*
//! (`journal.log`: checksummed records, each one a batch of mutations or a whole replacement
//! state). A commit appends one record and fsyncs the journal: that is one small write and one
//! flush, which is what a PIN error counter update needs (a whole-state rewrite would cost a
//! temp file, two fsyncs, a rename and a directory fsync per wrong PIN). When the journal grows
//! past [`StoreOptions::compact_after_bytes`], the next commit first *compacts*: the in-memory
//! state goes to `state.snap.tmp` (fsync), is renamed over `state.snap` (directory fsync), and
//! a fresh journal of the next generation replaces the old one the same way.
//!
//! # Atomicity
//!
//! A record either verifies (length, sequence number, generation and SHA-256 all match) or
//! is discarded as a torn tail; a batch of mutations is one record, so it lands whole or not
//! at all. Opening the store replays the journal of the snapshot's generation, skips a torn
//! tail and ignores a journal of an older generation (a compaction cut after the snapshot
//! rename). **Opening writes nothing**: read-only users leave the files exactly as they found
//! them (evidence included), and the repair (a compaction) is done by the next commit, or by
//! [`Store::compact`]. [`Recovery`] says what was found (torn bytes, stale journal, older
//! format) and [`Recovery::notices`] words it for the user. A file that exists but is corrupt
//! in any other way (bad magic, unknown format version, other schema, checksum failure in the
//! middle of the journal, a journal without a snapshot) is a typed [`StoreError`]: the store
//! never starts empty over a damaged file.
//!
//! # Sealing
//!
//! With a [`SealKey`] ([`Store::create_with`], [`Store::open_with`]) every snapshot and record
//! payload is sealed with XChaCha20-Poly1305 ([`seal`]); the key is derived from secrets kept
//! outside the store directory and is never written. A copy of the store files reveals
//! nothing of the state. The plain constructors ([`Store::create`], [`Store::open`]) keep
//! payloads in clear (tests, benches); a plaintext or format-1 store opened with a key is
//! read, and sealed in format 2 by the next write.
//!
//! # Rollback guard
//!
//! Every commit has a number (the snapshot carries the number of its state; record `seq` of
//! its journal is number `snapshot + seq`). After a record is fsynced, its number is written to
//! one of two counter files (`counter.a`, `counter.b`: rewritten alternately, each checksummed
//! and, when sealed, MACed; the slot holding the highest value is never the one overwritten,
//! so a torn counter write leaves the other). The counter is only ever written *after* the
//! journal holds the commit durably, so a power cut at any point leaves the counter at or
//! behind the files: a torn tail is then an uncounted commit and is dropped. Files that end
//! *before* the counter (a truncated journal, an older copy of the journal or snapshot, a
//! counted record damaged) are refused with [`StoreError::RolledBack`], which names the last
//! commit the files hold and the one that was made; a format-2 store without a valid counter
//! is refused with [`StoreError::CounterMissing`]. [`OnRollback::AcceptLoss`] opens such a
//! store anyway (the user's explicit choice) and numbers on past the counter. The guard
//! detects partial rollback (files replaced or cut without the counter); an attacker who
//! restores the counter files along with the rest is not detected (that needs a monotonic
//! counter outside the machine's disk).
//!
//! # Durability ordering
//!
//! [`Store::commit`] returns `Ok` only after the record is fsynced: on `Ok`, the mutation
//! survives any later crash. [`Store::commit_then`] makes the ordering explicit: the action
//! runs only once the write is durable. The SKS layer uses it for retry counters: make
//! "error counter of key 7 is now 3" durable, then compare the PIN / answer the caller, so a
//! crash can never reset an error counter.
//!
//! ```
//! use airtight_card::store::{CrashPolicy, SimFs, Store, StoreOptions, StoreState};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Default, Serialize, Deserialize)]
//! struct Card { pin_errors: u32 }
//! #[derive(Serialize, Deserialize)]
//! enum Change { PinErrors(u32) }
//! impl StoreState for Card {
//!     type Mutation = Change;
//!     const SCHEMA: u32 = 1;
//!     fn apply(&mut self, m: &Change) {
//!         let Change::PinErrors(n) = m;
//!         self.pin_errors = *n;
//!     }
//! }
//!
//! let fs = SimFs::new();
//! let mut store = Store::create(fs.clone(), Card::default(), StoreOptions::default())?;
//! // Count the attempt durably first, then compare the PIN.
//! let n = store.state().pin_errors + 1;
//! let pin_ok = store.commit_then(&[Change::PinErrors(n)], |_| false /* compare here */)?;
//! assert!(!pin_ok);
//! // Whatever the power does now, the counter is 1.
//! let after = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), StoreOptions::default())?;
//! assert_eq!(after.state().pin_errors, 1);
//! # Ok::<(), airtight_card::store::StoreError>(())
//! ```
//!
//! A commit that returns `Err` is *not known to be durable* (an fsync error leaves it
//! undecided): it may reappear after a crash, but never after a later successful commit,
//! because any failed write marks the journal as needing repair and the next commit first
//! rewrites the snapshot from the in-memory state (which does not contain the failed batch).

pub mod b64;
pub mod format;
pub mod seal;
pub mod simfs;
pub mod vfs;

pub use seal::{SealKey, SealMode};
pub use simfs::{CrashPolicy, SimFault, SimFs};
pub use vfs::{RealFs, Vfs, VfsError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// Name of the snapshot file.
pub const SNAPSHOT: &str = "state.snap";
/// Name of the journal file.
pub const JOURNAL: &str = "journal.log";
/// Names of the two commit counter files (format 2), written alternately.
pub const COUNTERS: [&str; 2] = ["counter.a", "counter.b"];
const SNAPSHOT_TMP: &str = "state.snap.tmp";
const JOURNAL_TMP: &str = "journal.log.tmp";

/// The command a user runs to accept the loss of commits (named in the rollback message).
pub const ACCEPT_LOSS_COMMAND: &str = "airtight card repair --accept-loss";

/// An application state kept by a [`Store`].
pub trait StoreState: Serialize + DeserializeOwned {
    /// One change to the state; a commit carries a batch of them, applied in order.
    type Mutation: Serialize + DeserializeOwned;
    /// The application's schema version, recorded in every file; a file of another schema
    /// is refused with [`StoreError::SchemaMismatch`].
    const SCHEMA: u32;
    /// Apply one mutation. Must be deterministic and must not panic (replay after a restart
    /// applies the same mutations again); validate before committing.
    fn apply(&mut self, mutation: &Self::Mutation);
}

/// Every failure of the store. No variant loses committed data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The file layer failed (full disk, I/O error, simulated crash).
    #[error("storage: {0}")]
    Vfs(#[from] VfsError),
    /// `open` found no store in the data directory.
    #[error("no store in the data directory ({SNAPSHOT} is absent)")]
    NotFound,
    /// `create` found a store already there.
    #[error("a store already exists in the data directory")]
    AlreadyExists,
    /// A journal exists but its snapshot does not.
    #[error("{JOURNAL} exists but {SNAPSHOT} is missing")]
    MissingSnapshot,
    /// The file does not start with the expected magic.
    #[error("{file}: not a store file (bad magic)")]
    BadMagic {
        /// The file.
        file: &'static str,
    },
    /// The file's format version is not one this code reads.
    #[error("{file}: unsupported format version {found} (supported: {supported})")]
    UnsupportedVersion {
        /// The file.
        file: &'static str,
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// The file belongs to another application schema.
    #[error("{file}: schema {found}, expected {expected}")]
    SchemaMismatch {
        /// The file.
        file: &'static str,
        /// The schema found.
        found: u32,
        /// The schema expected.
        expected: u32,
    },
    /// The file is damaged.
    #[error("{file}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        file: &'static str,
        /// Where.
        offset: usize,
        /// Which rule is broken.
        reason: &'static str,
    },
    /// The generations of snapshot and journal cannot come from any crash.
    #[error("{JOURNAL} generation {journal} is newer than {SNAPSHOT} generation {snapshot}")]
    GenerationAhead {
        /// Snapshot generation.
        snapshot: u64,
        /// Journal generation.
        journal: u64,
    },
    /// A checksummed payload does not decode as the state or a journal entry.
    #[error("{file}: payload does not decode: {detail}")]
    Decode {
        /// The file.
        file: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The state or a batch does not encode.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// A payload exceeds the format's limit.
    #[error("{file}: payload of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The file.
        file: &'static str,
        /// Payload length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The files end before the last commit the counter recorded: a truncated journal or an
    /// older copy of the store. Nothing is served; nothing is rewritten.
    #[error(
        "the card store ends at commit {store_commit} but commit {counter_commit} was made \
         ({JOURNAL} was truncated or an older copy of the store was restored): \
         {} commit(s) are missing; restore the newest copy of the store directory, or run \
         `{ACCEPT_LOSS_COMMAND}` to continue from commit {store_commit} and lose them",
        counter_commit - store_commit
    )]
    RolledBack {
        /// The last commit the files hold.
        store_commit: u64,
        /// The last commit the commit counter recorded.
        counter_commit: u64,
    },
    /// A format-2 store without a readable commit counter.
    #[error(
        "the card store's commit counter ({} and {}) is missing or damaged, so a truncated or \
         older copy of the store cannot be ruled out; restore the newest copy of the store \
         directory, or run `{ACCEPT_LOSS_COMMAND}` to trust the files as they are",
        COUNTERS[0], COUNTERS[1]
    )]
    CounterMissing,
    /// A sealed payload does not open with the key given.
    #[error(
        "{file}: cannot unseal: the key does not match (a wrong passphrase, or not the device \
         key this store was sealed with) or the file was altered"
    )]
    Unseal {
        /// The file.
        file: &'static str,
    },
    /// The store is sealed another way than the key given can open.
    #[error("the card store is {found}, but it was opened {}", match expected {
        SealMode::None => "without a key",
        SealMode::DeviceKey => "with the device key only (no passphrase given)",
        SealMode::DeviceKeyAndPassphrase => "with a passphrase",
    })]
    SealMismatch {
        /// How the store is sealed.
        found: SealMode,
        /// What the key given opens.
        expected: SealMode,
    },
}

/// Tuning of a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Compact (rewrite the snapshot, start a new journal) before the next commit once the
    /// journal holds more than this many bytes.
    pub compact_after_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            compact_after_bytes: 64 * 1024,
        }
    }
}

/// How [`Store::open_with`] treats a store that is behind its commit counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnRollback {
    /// Refuse it with [`StoreError::RolledBack`] / [`StoreError::CounterMissing`] (the default).
    #[default]
    Refuse,
    /// Open it as it is (the user accepted the loss); [`Recovery::lost_commits`] says how much
    /// was lost, and the next write (or [`Store::compact`]) makes the files consistent again.
    AcceptLoss,
}

/// Proof that a commit is durable: the journal generation and record number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Receipt {
    /// Generation of the journal holding the record.
    pub generation: u64,
    /// Sequence number of the record in that journal.
    pub seq: u64,
}

#[derive(Serialize)]
enum EntryRef<'a, S, M> {
    Batch(&'a [M]),
    Replace(&'a S),
}

#[derive(serde::Deserialize)]
enum Entry<S, M> {
    Batch(Vec<M>),
    Replace(S),
}

/// What `open` found on disk. `open` itself never writes: a repair (dropping a torn tail,
/// replacing a stale journal, migrating format 1, accepting a loss) is done by the next
/// compaction, which the next commit runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Journal records replayed.
    pub replayed: usize,
    /// A torn tail (an interrupted commit) follows the valid records; it is not applied.
    pub torn_tail: bool,
    /// Bytes of that torn tail.
    pub torn_bytes: usize,
    /// The journal was missing or of an older generation (an interrupted compaction).
    pub stale_journal: bool,
    /// The store is of format 1 (plaintext payloads, no commit counter) or not sealed the
    /// way the key given seals: the next write rewrites it sealed, in format 2.
    pub migrate: bool,
    /// The commit number of the state the files hold.
    pub commit: u64,
    /// The last commit the counter recorded (`None` without a readable counter).
    pub counter: Option<u64>,
    /// Commits the counter recorded that the files no longer hold, accepted with
    /// [`OnRollback::AcceptLoss`] (0 otherwise).
    pub lost_commits: u64,
    /// The counter was missing or damaged and that was accepted with
    /// [`OnRollback::AcceptLoss`].
    pub counter_reset: bool,
    /// A compaction has since repaired what `open` found.
    pub repaired: bool,
}

impl Recovery {
    /// Whether the next write has anything to repair.
    pub fn needs_repair(&self) -> bool {
        self.torn_tail
            || self.stale_journal
            || self.migrate
            || self.lost_commits > 0
            || self.counter_reset
    }

    /// One sentence per finding, for the user (empty when the store was clean).
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        let when = if self.repaired {
            "it was discarded"
        } else {
            "it will be discarded at the next write"
        };
        if self.torn_tail {
            out.push(format!(
                "{JOURNAL} ends with {} byte(s) of an interrupted commit (after commit {}): \
                 that commit never completed and is not applied; {when}",
                self.torn_bytes, self.commit
            ));
        }
        if self.stale_journal {
            out.push(format!(
                "{JOURNAL} was missing or older than {SNAPSHOT} (an interrupted compaction); \
                 nothing committed is lost; {}",
                if self.repaired {
                    "it was replaced"
                } else {
                    "it will be replaced at the next write"
                }
            ));
        }
        if self.lost_commits > 0 {
            out.push(format!(
                "the loss of {} commit(s) was accepted: the store continues from commit {}",
                self.lost_commits, self.commit
            ));
        }
        if self.counter_reset {
            out.push(
                "the missing or damaged commit counter was accepted and is written anew".into(),
            );
        }
        if self.migrate {
            out.push(if self.repaired {
                "the store was rewritten in format 2 with its secrets sealed".into()
            } else {
                "the store is in an older format with its secrets in clear; it will be \
                 rewritten sealed at the next write (`airtight card repair` does it now)"
                    .into()
            });
        }
        out
    }
}

/// The durable store of one state `S` over a file system `V`.
#[derive(Debug)]
pub struct Store<S: StoreState, V: Vfs> {
    vfs: V,
    state: S,
    opts: StoreOptions,
    seal: Option<SealKey>,
    /// Generation of the journal records are appended to.
    generation: u64,
    /// Highest generation ever attempted (compactions use strictly higher ones).
    max_generation: u64,
    next_seq: u64,
    journal_len: usize,
    /// Commit number of the in-memory state.
    commit: u64,
    /// Highest commit number ever attempted (or recorded by the counter): the next commit and
    /// the next snapshot number from here, so a number is never used for two contents.
    max_commit: u64,
    /// The value each counter slot is known to hold durably (`None`: unknown, torn, absent).
    slots: [Option<u64>; 2],
    /// The counter files must be (re)written before the next snapshot (new store, migration,
    /// accepted loss of the counter).
    init_counters: bool,
    /// The journal may hold bytes we did not account for (a failed write) or does not match
    /// `generation`: compact before the next append.
    needs_repair: bool,
    recovery: Recovery,
}

fn decode<T: DeserializeOwned>(file: &'static str, payload: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(payload).map_err(|e| StoreError::Decode {
        file,
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|e| StoreError::Encode(e.to_string()))
}

fn seal_mode(seal: Option<&SealKey>) -> SealMode {
    seal.map_or(SealMode::None, SealKey::mode)
}

/// Associated data of a snapshot payload.
fn snapshot_ad(schema: u32, generation: u64, commit: u64) -> Vec<u8> {
    let mut ad = b"airtight-store snapshot".to_vec();
    ad.extend_from_slice(&schema.to_le_bytes());
    ad.extend_from_slice(&generation.to_le_bytes());
    ad.extend_from_slice(&commit.to_le_bytes());
    ad
}

/// Associated data of a journal record payload.
fn record_ad(schema: u32, generation: u64, seq: u64) -> Vec<u8> {
    let mut ad = b"airtight-store record".to_vec();
    ad.extend_from_slice(&schema.to_le_bytes());
    ad.extend_from_slice(&generation.to_le_bytes());
    ad.extend_from_slice(&seq.to_le_bytes());
    ad
}

/// Open a payload: plaintext when `sealed_with` is `None`.
fn unseal(
    key: Option<&SealKey>,
    sealed: bool,
    file: &'static str,
    ad: &[u8],
    payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    match (sealed, key) {
        (false, _) => Ok(Zeroizing::new(payload.to_vec())),
        (true, Some(k)) => k.open(ad, payload).map_err(|_| StoreError::Unseal { file }),
        (true, None) => Err(StoreError::Unseal { file }),
    }
}

/// What each counter slot holds (verified); a plain SHA-256 tag is accepted only when the
/// snapshot is not sealed.
fn read_counters<V: Vfs>(
    vfs: &V,
    key: Option<&SealKey>,
    snapshot_sealed: bool,
) -> Result<[Option<u64>; 2], StoreError> {
    let mut slots = [None, None];
    for (i, name) in COUNTERS.iter().enumerate() {
        if let Some(bytes) = vfs.read(name)? {
            slots[i] = format::decode_counter(&bytes, |body, tag| {
                let keyed = key.is_some_and(|k| bool::from(subtle_eq(&k.counter_tag(body), tag)));
                // A plaintext store (or one being migrated to sealing) may hold plain tags.
                keyed || (!snapshot_sealed && format::plain_counter_tag(body)[..] == *tag)
            });
        }
    }
    Ok(slots)
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

impl<S: StoreState, V: Vfs> Store<S, V> {
    /// Create a new store holding `initial` in an empty data directory, not sealed (tests,
    /// benches). On `Ok`, the store is durable. Fails with [`StoreError::AlreadyExists`] if a
    /// snapshot or journal exists.
    pub fn create(vfs: V, initial: S, opts: StoreOptions) -> Result<Self, StoreError> {
        Self::create_with(vfs, initial, opts, None)
    }

    /// [`Store::create`], sealed with `seal` when given.
    pub fn create_with(
        vfs: V,
        initial: S,
        opts: StoreOptions,
        seal: Option<SealKey>,
    ) -> Result<Self, StoreError> {
        if vfs.read(SNAPSHOT)?.is_some() || vfs.read(JOURNAL)?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let mut store = Self {
            vfs,
            state: initial,
            opts,
            seal,
            generation: 0,
            max_generation: 0,
            next_seq: 1,
            journal_len: 0,
            commit: 0,
            max_commit: 0,
            slots: [None, None],
            init_counters: true,
            needs_repair: true,
            recovery: Recovery::default(),
        };
        store.compact()?;
        Ok(store)
    }

    /// Open the store of a data directory (not sealed), replaying its journal. `open` writes
    /// nothing; what an interrupted commit or compaction left is repaired by the next write.
    /// [`StoreError::NotFound`] when there is none.
    pub fn open(vfs: V, opts: StoreOptions) -> Result<Self, StoreError> {
        Self::open_with(vfs, opts, None, OnRollback::Refuse)
    }

    /// [`Store::open`] with the key `seal` (a store of another seal mode is refused, except a
    /// plaintext one, which the next write seals) and a choice about rolled-back stores.
    pub fn open_with(
        vfs: V,
        opts: StoreOptions,
        seal: Option<SealKey>,
        on_rollback: OnRollback,
    ) -> Result<Self, StoreError> {
        let Some(snap) = vfs.read(SNAPSHOT)? else {
            return Err(if vfs.read(JOURNAL)?.is_some() {
                StoreError::MissingSnapshot
            } else {
                StoreError::NotFound
            });
        };
        let snapshot = format::decode_snapshot(&snap, S::SCHEMA)?;
        let found_mode = SealMode::from_byte(snapshot.seal).ok_or(StoreError::Corrupt {
            file: SNAPSHOT,
            offset: 32,
            reason: "unknown seal mode",
        })?;
        let wanted = seal_mode(seal.as_ref());
        let sealed = found_mode != SealMode::None;
        if sealed && found_mode != wanted {
            return Err(StoreError::SealMismatch {
                found: found_mode,
                expected: wanted,
            });
        }
        let legacy = snapshot.version == format::LEGACY_FORMAT_VERSION;
        let mut recovery = Recovery {
            migrate: legacy || found_mode != wanted,
            ..Recovery::default()
        };
        let payload = unseal(
            seal.as_ref(),
            sealed,
            SNAPSHOT,
            &snapshot_ad(S::SCHEMA, snapshot.generation, snapshot.commit),
            snapshot.payload,
        )?;
        let mut state: S = decode(SNAPSHOT, &payload)?;
        drop(payload);
        let snap_gen = snapshot.generation;
        let mut next_seq = 1;
        let mut journal_len = 0;
        let mut max_generation = snap_gen;
        match vfs.read(JOURNAL)? {
            None => recovery.stale_journal = true,
            Some(bytes) => {
                let (journal_version, journal_gen) =
                    format::decode_journal_header(&bytes, S::SCHEMA)?;
                max_generation = max_generation.max(journal_gen);
                if journal_gen > snap_gen {
                    return Err(StoreError::GenerationAhead {
                        snapshot: snap_gen,
                        journal: journal_gen,
                    });
                }
                if journal_gen < snap_gen {
                    recovery.stale_journal = true;
                } else {
                    if journal_version != snapshot.version {
                        return Err(StoreError::Corrupt {
                            file: JOURNAL,
                            offset: 8,
                            reason: "format version differs from the snapshot's",
                        });
                    }
                    let scan = format::scan_journal(&bytes, S::SCHEMA)?;
                    for (i, payload) in scan.records.iter().enumerate() {
                        let seq = i as u64 + 1;
                        let plain = unseal(
                            seal.as_ref(),
                            sealed,
                            JOURNAL,
                            &record_ad(S::SCHEMA, journal_gen, seq),
                            payload,
                        )?;
                        match decode::<Entry<S, S::Mutation>>(JOURNAL, &plain)? {
                            Entry::Batch(muts) => muts.iter().for_each(|m| state.apply(m)),
                            Entry::Replace(s) => state = s,
                        }
                    }
                    recovery.replayed = scan.records.len();
                    recovery.torn_tail = scan.torn;
                    recovery.torn_bytes = bytes.len() - scan.valid_len;
                    next_seq = scan.records.len() as u64 + 1;
                    journal_len = scan.valid_len;
                }
            }
        }
        let commit = snapshot.commit + recovery.replayed as u64;
        recovery.commit = commit;
        let mut max_commit = commit;
        let mut slots = [None, None];
        let mut init_counters = recovery.migrate;
        if !legacy {
            // The rollback guard: the files must hold every commit the counter recorded.
            slots = read_counters(&vfs, seal.as_ref(), sealed)?;
            let counter = slots.iter().flatten().copied().max();
            recovery.counter = counter;
            match counter {
                Some(c) if c > commit => match on_rollback {
                    OnRollback::Refuse => {
                        return Err(StoreError::RolledBack {
                            store_commit: commit,
                            counter_commit: c,
                        });
                    }
                    OnRollback::AcceptLoss => {
                        recovery.lost_commits = c - commit;
                        // Number on past the counter: the next snapshot carries commit `c`.
                        max_commit = c;
                    }
                },
                Some(_) => {}
                None => match on_rollback {
                    OnRollback::Refuse => return Err(StoreError::CounterMissing),
                    OnRollback::AcceptLoss => {
                        recovery.counter_reset = true;
                        init_counters = true;
                    }
                },
            }
        }
        let needs_repair = recovery.needs_repair();
        Ok(Self {
            vfs,
            state,
            opts,
            seal,
            generation: snap_gen,
            max_generation,
            next_seq,
            journal_len,
            commit,
            max_commit,
            slots,
            init_counters,
            needs_repair,
            recovery,
        })
    }

    /// [`Store::open`], or [`Store::create`] with `init()` when the directory holds no store.
    pub fn open_or_create(
        vfs: V,
        opts: StoreOptions,
        init: impl FnOnce() -> S,
    ) -> Result<Self, StoreError> {
        Self::open_or_create_with(vfs, opts, None, OnRollback::Refuse, init)
    }

    /// [`Store::open_with`], or [`Store::create_with`] with `init()` when the directory holds
    /// no store. A directory whose commit counter records commits but holds no store at all
    /// is a lost store, refused like a rolled-back one (unless the loss is accepted).
    pub fn open_or_create_with(
        vfs: V,
        opts: StoreOptions,
        seal: Option<SealKey>,
        on_rollback: OnRollback,
        init: impl FnOnce() -> S,
    ) -> Result<Self, StoreError> {
        if vfs.read(SNAPSHOT)?.is_none() && vfs.read(JOURNAL)?.is_none() {
            if on_rollback == OnRollback::Refuse {
                let slots = read_counters(&vfs, seal.as_ref(), false)?;
                if let Some(c) = slots.iter().flatten().copied().max().filter(|&c| c > 0) {
                    return Err(StoreError::RolledBack {
                        store_commit: 0,
                        counter_commit: c,
                    });
                }
            }
            return Self::create_with(vfs, init(), opts, seal);
        }
        Self::open_with(vfs, opts, seal, on_rollback)
    }

    /// The committed state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// What `open` found (and whether it has been repaired since).
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The file system.
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    /// The current journal generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The commit number of the committed state.
    pub fn commit_number(&self) -> u64 {
        self.commit
    }

    /// Whether the next commit will first compact (after a failed write, to repair what open
    /// found, or on a big journal).
    pub fn needs_compaction(&self) -> bool {
        self.needs_repair || self.journal_len > self.opts.compact_after_bytes
    }

    /// Apply `mutations` atomically and durably: on `Ok`, all of them are in [`Store::state`]
    /// and survive any crash; on `Err`, none is in the state (see the module docs for the
    /// durability of a failed commit). An empty batch writes a record too.
    pub fn commit(&mut self, mutations: &[S::Mutation]) -> Result<Receipt, StoreError> {
        let payload = encode(&EntryRef::<S, S::Mutation>::Batch(mutations))?;
        let receipt = self.append(&payload)?;
        for m in mutations {
            self.state.apply(m);
        }
        Ok(receipt)
    }

    /// Commit `mutations`, then, only once they are durable, run `act` on the new state.
    /// This is the ordering hook for retry counters: the action that depends on the
    /// counter cannot run before the counter is on disk.
    pub fn commit_then<T>(
        &mut self,
        mutations: &[S::Mutation],
        act: impl FnOnce(&S) -> T,
    ) -> Result<T, StoreError> {
        self.commit(mutations)?;
        Ok(act(&self.state))
    }

    /// Replace the whole state atomically and durably (same guarantees as [`Store::commit`]).
    pub fn replace(&mut self, state: S) -> Result<Receipt, StoreError> {
        let payload = encode(&EntryRef::<S, S::Mutation>::Replace(&state))?;
        let receipt = self.append(&payload)?;
        self.state = state;
        Ok(receipt)
    }

    fn seal_payload(&self, ad: &[u8], plain: &[u8]) -> Vec<u8> {
        match &self.seal {
            Some(k) => k.seal(ad, plain),
            None => plain.to_vec(),
        }
    }

    fn append(&mut self, payload: &[u8]) -> Result<Receipt, StoreError> {
        if self.needs_compaction()
            && let Err(e) = self.compact()
            && self.needs_repair
        {
            return Err(e);
        }
        // (A compaction asked for by size alone that failed before touching the live files
        // leaves the journal valid: append anyway, so a nearly full disk can still record a
        // PIN error.)
        let seq = self.next_seq;
        // The number is used up even if the write fails: it never labels two contents.
        let commit = self.max_commit + 1;
        self.max_commit = commit;
        let sealed = self.seal_payload(&record_ad(S::SCHEMA, self.generation, seq), payload);
        let record = format::encode_record(self.generation, seq, &sealed)?;
        // Any failure from here on may leave bytes in the journal: repair before reuse.
        self.needs_repair = true;
        self.vfs.append(JOURNAL, &record)?;
        self.vfs.fsync(JOURNAL)?;
        self.needs_repair = false;
        self.next_seq += 1;
        self.journal_len += record.len();
        self.commit = commit;
        // Only now, with the record durable, may the counter say so: a power cut before this
        // point leaves the counter behind the journal, which is a torn tail, not a rollback.
        if let Err(e) = self.write_counter(commit) {
            // The record is durable but the caller sees a failure and does not apply the
            // batch: compact from the in-memory state first, so the batch cannot resurface
            // after a later successful commit (as for any failed commit).
            self.needs_repair = true;
            return Err(e);
        }
        Ok(Receipt {
            generation: self.generation,
            seq,
        })
    }

    /// Record `commit` in the counter slot that does not hold the highest durable value, so
    /// a torn write leaves the other slot intact.
    fn write_counter(&mut self, commit: u64) -> Result<(), StoreError> {
        let slot = match self.slots {
            [Some(a), Some(b)] => usize::from(a > b),
            [Some(_), None] => 1,
            _ => 0,
        };
        let bytes = self.counter_bytes(commit);
        self.slots[slot] = None;
        self.vfs.write(COUNTERS[slot], &bytes)?;
        self.vfs.fsync(COUNTERS[slot])?;
        self.slots[slot] = Some(commit);
        Ok(())
    }

    fn counter_bytes(&self, commit: u64) -> Vec<u8> {
        match &self.seal {
            Some(k) => format::encode_counter(commit, |b| k.counter_tag(b)),
            None => format::encode_counter(commit, format::plain_counter_tag),
        }
    }

    /// Write both counter slots with the commit number the files hold now (never more than
    /// the live files hold, so a cut here cannot look like a rollback).
    fn init_counter_files(&mut self) -> Result<(), StoreError> {
        let value = self.commit;
        let bytes = self.counter_bytes(value);
        for (i, name) in COUNTERS.iter().enumerate() {
            self.slots[i] = None;
            self.vfs.write(name, &bytes)?;
            self.vfs.fsync(name)?;
            self.slots[i] = Some(value);
        }
        self.vfs.fsync_dir()?;
        self.init_counters = false;
        Ok(())
    }

    /// Rewrite the snapshot from the committed state and start an empty journal of a new
    /// generation (which also repairs what `open` found: a torn tail, a stale journal, an older
    /// format, an accepted loss). Crash-safe at every write point; on error the store stays
    /// usable and the next commit retries.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        if self.init_counters {
            // Before any format-2 snapshot exists, so that a format-2 store without its
            // counter can only mean tampering or damage.
            self.init_counter_files()?;
        }
        let generation = self.max_generation + 1;
        self.max_generation = generation;
        let commit = self.max_commit;
        let plain = encode(&self.state)?;
        let sealed = self.seal_payload(&snapshot_ad(S::SCHEMA, generation, commit), &plain);
        drop(plain);
        let snapshot = format::encode_snapshot(
            S::SCHEMA,
            generation,
            commit,
            seal_mode(self.seal.as_ref()).to_byte(),
            &sealed,
        )?;
        // These two steps touch only the temporary file: on failure the live files are intact.
        if let Err(e) = self
            .vfs
            .write(SNAPSHOT_TMP, &snapshot)
            .and_then(|()| self.vfs.fsync(SNAPSHOT_TMP))
        {
            // Best effort: give the space back (the file is ignored by `open` anyway).
            let _ = self.vfs.remove(SNAPSHOT_TMP);
            return Err(e.into());
        }
        // From the rename on, the journal may no longer match the snapshot until the end.
        self.needs_repair = true;
        self.vfs.rename(SNAPSHOT_TMP, SNAPSHOT)?;
        self.vfs.fsync_dir()?;
        // From here the snapshot is the truth; an older journal is ignored on open.
        self.commit = commit;
        let header = format::encode_journal_header(S::SCHEMA, generation);
        self.vfs.write(JOURNAL_TMP, &header)?;
        self.vfs.fsync(JOURNAL_TMP)?;
        self.vfs.rename(JOURNAL_TMP, JOURNAL)?;
        self.vfs.fsync_dir()?;
        self.generation = generation;
        self.next_seq = 1;
        self.journal_len = header.len();
        self.needs_repair = false;
        if self.recovery.needs_repair() {
            self.recovery.repaired = true;
        }
        Ok(())
    }

    /// Give back the file system.
    pub fn into_vfs(self) -> V {
        self.vfs
    }
}

#[cfg(test)]
mod tests;
