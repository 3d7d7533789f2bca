//! `airtight-card`: the reference SKS (secure element): [`ReferenceSks`] implements
//! `airtight_proto::sks::SecureKeyStore` with the exact SKS semantics, on a persistent
//! power-loss-safe store, with injected time and randomness.
//!
//! Quick start (tests): `let mut sks = ReferenceSks::in_memory_for_tests(seed);` gives a card
//! with the P-256 test device of `airtight-pki`, in-memory storage and a fixed clock
//! ([`TEST_TIME`]). For anything else build a [`CardConfig`] (device key and certificate path,
//! vendor fields, [`Storage`], clock, [`RngSource`], [`Limits`]) and call [`ReferenceSks::open`].
//!
//! Test hooks (interop replay of sessions recorded from another SKS, never for production):
//! [`CardConfig::entropy`] takes a [`Recorded`] that hands out the recorded client session id,
//! ephemeral key and key pairs instead of drawing them ([`FromRng`], the default, draws from
//! the card's RNG exactly as before); [`CardConfig::device_signer`] takes
//! [`DeviceSigner::RecordedAttestationsForTests`] to use a recorded device certificate path
//! whose private key the card does not hold (each recorded E2ES session attestation is
//! returned only if it verifies over the card's own attestation input). The defaults are
//! strict. Used by `reference/client/tests/interop_card.rs`.
//!
//! Module map:
//! - [`sks`]: the SKS itself (provisioning, management, User API).
//! - [`store`]: a durable, versioned, power-loss-safe store of a typed state
//!   ([`store::Store`]), over a file-system seam ([`store::Vfs`]) with a real implementation
//!   ([`store::RealFs`]) and a crash-simulating one ([`store::SimFs`]).
//! - [`env`](mod@env): the injected [`env::Clock`] and the card's random generator [`env::CardRng`].
//!
//! # Durability model
//!
//! The committed state lives in the files of the data directory: `state.snap` (a whole-state
//! snapshot of generation *g* and commit number *c*), `journal.log` (generation *g*: a header,
//! then one checksummed record per commit) and `counter.a` / `counter.b` (the number of the
//! last durable commit, written after it). The state is the snapshot with the journal's
//! records replayed in order. Every file starts with a magic and the format version (2; 1 is
//! still read), plus the application's schema number; unknown versions, foreign schemas and
//! damaged files are refused with typed errors, and a torn last record (an interrupted
//! commit) is skipped. Files that hold fewer commits than the counter recorded (a truncated
//! journal, an older copy) are refused (`StoreError::RolledBack`) unless the user accepts the
//! loss ([`CardConfig::accept_store_loss`]).
//!
//! Secrets at rest: the card's store is sealed (XChaCha20-Poly1305) under a key derived from
//! the device key ([`StoreSeal`], optionally with a passphrase), so the store files alone
//! reveal no private key, symmetric key, PIN or PUK; on a real directory the directory is
//! 0700 and every file 0600 (tightened, with a notice, when found looser).
//!
//! A commit is durable when [`store::Store::commit`] returns `Ok`, and not before. The
//! promise: after a power cut at any moment, reopening yields exactly the state of the last
//! commit that returned `Ok`, or that state plus the whole batch that was in flight; never
//! part of a batch, never less. Opening writes nothing ([`ReferenceSks::store_notices`] says
//! what it found); the first commit repairs.
//!
//! # Write points
//!
//! Every write-class file operation is a *write point*, where the crash tests cut the power:
//!
//! | operation              | write points, in order                                                     |
//! |------------------------|----------------------------------------------------------------------------|
//! | commit / replace       | append record to `journal.log`; fsync `journal.log`; write the counter slot; fsync it |
//! | compaction             | write `state.snap.tmp`; fsync it; rename to `state.snap`; fsync directory; |
//! |                        | write `journal.log.tmp`; fsync it; rename to `journal.log`; fsync directory |
//! | create, migration      | write and fsync `counter.a`, then `counter.b`; fsync directory; a compaction |
//! | open                   | none                                                                       |
//!
//! A commit runs a compaction first when the journal is larger than
//! [`store::StoreOptions::compact_after_bytes`], after a failed write, or when open found
//! something to repair (torn tail, missing or stale journal, an older format, an accepted
//! loss). (A compaction that fails on its temporary file removes it, one more write point,
//! best effort; when only the size asked for it, the commit then appends to the still valid
//! journal.) The order of the compaction makes every cut safe: before the snapshot rename is
//! durable the old snapshot and journal hold the state; after it, the new snapshot holds the
//! state and the old journal (an older generation) is ignored and replaced on the next write.
#![forbid(unsafe_code)]

pub mod env;
pub mod sks;
pub mod store;

pub use sks::entropy::{CardEntropy, FromRng, KeyPairRequest, KeyPairSpec, Recorded};
pub use sks::{
    BoxVfs, CardConfig, CardError, DevicePin, DeviceSigner, Limits, ReferenceSks, RngSource,
    Storage, StoreSeal, TEST_TIME,
};
