//! The card's durable, versioned, power-loss-safe store.
//!
//! # Design choice: typed state with a mutation journal
//!
//! The store is generic over an application state `S: `[`StoreState`] (serde
//! `Serialize + DeserializeOwned`) with its own mutation type `S::Mutation`. The SKS layer
//! therefore works with Rust values, never with bytes, and writes no codec of its own: the
//! state is small (tens of keys) and its payload encoding (JSON) is an internal detail below a
//! binary, checksummed, versioned framing ([`format`]). A byte-oriented store with a codec
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
//! at all. Opening the store replays the journal of the snapshot's generation, drops a torn
//! tail, ignores a journal of an older generation (a compaction cut after the snapshot
//! rename), and repairs both cases by compacting before returning. A file that exists but is
//! corrupt in any other way (bad magic, unknown format version, other schema, checksum failure
//! in the middle of the journal, a journal without a snapshot) is a typed [`StoreError`]:
//! the store never starts empty over a damaged file.
//!
//! # Durability ordering
//!
//! [`Store::commit`] returns `Ok` only after the record is fsynced: on `Ok`, the mutation
//! survives any later crash. [`Store::commit_then`] makes the ordering explicit: the action
//! runs only once the write is durable. The SKS layer uses it for retry counters: make
//! "error counter of key 7 is now 3" durable, then compare the PIN / answer the caller, so a
//! crash can never reset an error counter.
//!
//! A commit that returns `Err` is *not known to be durable* (an fsync error leaves it
//! undecided): it may reappear after a crash, but never after a later successful commit,
//! because any failed write marks the journal as needing repair and the next commit first
//! rewrites the snapshot from the in-memory state (which does not contain the failed batch).

pub mod format;
pub mod simfs;
pub mod vfs;

pub use simfs::{CrashPolicy, SimFault, SimFs};
pub use vfs::{RealFs, Vfs, VfsError};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Name of the snapshot file.
pub const SNAPSHOT: &str = "state.snap";
/// Name of the journal file.
pub const JOURNAL: &str = "journal.log";
const SNAPSHOT_TMP: &str = "state.snap.tmp";
const JOURNAL_TMP: &str = "journal.log.tmp";

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

/// What `open` found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Journal records replayed.
    pub replayed: usize,
    /// A torn tail (an interrupted commit) was discarded.
    pub torn_tail: bool,
    /// The journal was missing or of an older generation (an interrupted compaction).
    pub stale_journal: bool,
    /// `open` compacted to repair the files.
    pub repaired: bool,
}

/// The durable store of one state `S` over a file system `V`.
#[derive(Debug)]
pub struct Store<S: StoreState, V: Vfs> {
    vfs: V,
    state: S,
    opts: StoreOptions,
    /// Generation of the journal records are appended to.
    generation: u64,
    /// Highest generation ever attempted (compactions use strictly higher ones).
    max_generation: u64,
    next_seq: u64,
    journal_len: usize,
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

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Encode(e.to_string()))
}

impl<S: StoreState, V: Vfs> Store<S, V> {
    /// Create a new store holding `initial` in an empty data directory. On `Ok`, the store
    /// is durable. Fails with [`StoreError::AlreadyExists`] if a snapshot or journal exists.
    pub fn create(vfs: V, initial: S, opts: StoreOptions) -> Result<Self, StoreError> {
        if vfs.read(SNAPSHOT)?.is_some() || vfs.read(JOURNAL)?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let mut store = Self {
            vfs,
            state: initial,
            opts,
            generation: 0,
            max_generation: 0,
            next_seq: 1,
            journal_len: 0,
            needs_repair: true,
            recovery: Recovery::default(),
        };
        store.compact()?;
        Ok(store)
    }

    /// Open the store of a data directory, replaying its journal and repairing what an
    /// interrupted commit or compaction left. [`StoreError::NotFound`] when there is none.
    pub fn open(vfs: V, opts: StoreOptions) -> Result<Self, StoreError> {
        let Some(snap) = vfs.read(SNAPSHOT)? else {
            return Err(if vfs.read(JOURNAL)?.is_some() {
                StoreError::MissingSnapshot
            } else {
                StoreError::NotFound
            });
        };
        let (snap_gen, payload) = format::decode_snapshot(&snap, S::SCHEMA)?;
        let mut state: S = decode(SNAPSHOT, payload)?;
        let mut recovery = Recovery::default();
        let mut next_seq = 1;
        let mut journal_len = 0;
        let mut max_generation = snap_gen;
        match vfs.read(JOURNAL)? {
            None => recovery.stale_journal = true,
            Some(bytes) => {
                let journal_gen = format::decode_journal_header(&bytes, S::SCHEMA)?;
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
                    let scan = format::scan_journal(&bytes, S::SCHEMA)?;
                    for payload in &scan.records {
                        match decode::<Entry<S, S::Mutation>>(JOURNAL, payload)? {
                            Entry::Batch(muts) => muts.iter().for_each(|m| state.apply(m)),
                            Entry::Replace(s) => state = s,
                        }
                    }
                    recovery.replayed = scan.records.len();
                    recovery.torn_tail = scan.torn;
                    next_seq = scan.records.len() as u64 + 1;
                    journal_len = scan.valid_len;
                }
            }
        }
        let needs_repair = recovery.torn_tail || recovery.stale_journal;
        let mut store = Self {
            vfs,
            state,
            opts,
            generation: snap_gen,
            max_generation,
            next_seq,
            journal_len,
            needs_repair,
            recovery,
        };
        if needs_repair {
            store.compact()?;
            store.recovery.repaired = true;
        }
        Ok(store)
    }

    /// [`Store::open`], or [`Store::create`] with `init()` when the directory holds no store.
    pub fn open_or_create(
        vfs: V,
        opts: StoreOptions,
        init: impl FnOnce() -> S,
    ) -> Result<Self, StoreError> {
        if vfs.read(SNAPSHOT)?.is_none() && vfs.read(JOURNAL)?.is_none() {
            return Self::create(vfs, init(), opts);
        }
        Self::open(vfs, opts)
    }

    /// The committed state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// What `open` found and repaired.
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

    /// Whether the next commit will first compact (after a failed write or on a big journal).
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

    fn append(&mut self, payload: &[u8]) -> Result<Receipt, StoreError> {
        if self.needs_compaction() {
            self.compact()?;
        }
        let seq = self.next_seq;
        let record = format::encode_record(self.generation, seq, payload)?;
        // Any failure from here on may leave bytes in the journal: repair before reuse.
        self.needs_repair = true;
        self.vfs.append(JOURNAL, &record)?;
        self.vfs.fsync(JOURNAL)?;
        self.needs_repair = false;
        self.next_seq += 1;
        self.journal_len += record.len();
        Ok(Receipt {
            generation: self.generation,
            seq,
        })
    }

    /// Rewrite the snapshot from the committed state and start an empty journal of a new
    /// generation. Crash-safe at every write point; on error the store stays usable and the
    /// next commit retries.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.needs_repair = true;
        let generation = self.max_generation + 1;
        self.max_generation = generation;
        let snapshot = format::encode_snapshot(S::SCHEMA, generation, &encode(&self.state)?)?;
        self.vfs.write(SNAPSHOT_TMP, &snapshot)?;
        self.vfs.fsync(SNAPSHOT_TMP)?;
        self.vfs.rename(SNAPSHOT_TMP, SNAPSHOT)?;
        self.vfs.fsync_dir()?;
        // From here the snapshot is the truth; an older journal is ignored on open.
        let header = format::encode_journal_header(S::SCHEMA, generation);
        self.vfs.write(JOURNAL_TMP, &header)?;
        self.vfs.fsync(JOURNAL_TMP)?;
        self.vfs.rename(JOURNAL_TMP, JOURNAL)?;
        self.vfs.fsync_dir()?;
        self.generation = generation;
        self.next_seq = 1;
        self.journal_len = header.len();
        self.needs_repair = false;
        Ok(())
    }

    /// Give back the file system.
    pub fn into_vfs(self) -> V {
        self.vfs
    }
}

#[cfg(test)]
mod tests;
