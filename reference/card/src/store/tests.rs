#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Card {
    counters: BTreeMap<u16, u32>,
    names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Op {
    Counter(u16, u32),
    Name(String),
}

impl StoreState for Card {
    type Mutation = Op;
    const SCHEMA: u32 = 1;
    fn apply(&mut self, m: &Op) {
        match m {
            Op::Counter(k, v) => {
                self.counters.insert(*k, *v);
            }
            Op::Name(n) => self.names.push(n.clone()),
        }
    }
}

fn opts() -> StoreOptions {
    StoreOptions::default()
}

fn fresh() -> (SimFs, Store<Card, SimFs>) {
    let fs = SimFs::new();
    let store = Store::create(fs.clone(), Card::default(), opts()).unwrap();
    (fs, store)
}

#[test]
fn committed_state_survives_reopen() {
    let (fs, mut s) = fresh();
    s.commit(&[Op::Counter(7, 1), Op::Name("a".into())])
        .unwrap();
    s.commit(&[Op::Counter(7, 2)]).unwrap();
    let want = s.state().clone();
    drop(s);
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), opts()).unwrap();
    assert_eq!(r.state(), &want);
    assert_eq!(r.recovery().replayed, 2);
    assert!(!r.recovery().repaired);
}

#[test]
fn create_refuses_existing_and_open_refuses_empty() {
    let (fs, _s) = fresh();
    assert_eq!(
        Store::create(fs.clone(), Card::default(), opts()).unwrap_err(),
        StoreError::AlreadyExists
    );
    assert_eq!(
        Store::<Card, _>::open(SimFs::new(), opts()).unwrap_err(),
        StoreError::NotFound
    );
}

#[test]
fn journal_without_snapshot_is_an_error_not_an_empty_store() {
    let (fs, mut s) = fresh();
    s.commit(&[Op::Counter(1, 1)]).unwrap();
    let j = fs.peek(JOURNAL).unwrap();
    let lone = SimFs::new();
    lone.poke(JOURNAL, &j);
    assert_eq!(
        Store::<Card, _>::open(lone.clone(), opts()).unwrap_err(),
        StoreError::MissingSnapshot
    );
    // open_or_create must not paper over it either.
    assert_eq!(
        Store::<Card, _>::open_or_create(lone, opts(), Card::default).unwrap_err(),
        StoreError::MissingSnapshot
    );
}

#[test]
fn unknown_version_bad_magic_and_schema_are_typed_errors() {
    let (fs, _s) = fresh();
    let snap = fs.peek(SNAPSHOT).unwrap();

    let mut v = snap.clone();
    v[8..12].copy_from_slice(&2u32.to_le_bytes());
    fs.poke(SNAPSHOT, &v);
    assert_eq!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::UnsupportedVersion {
            file: SNAPSHOT,
            found: 2,
            supported: 1
        }
    );

    let mut m = snap.clone();
    m[0] = b'X';
    fs.poke(SNAPSHOT, &m);
    assert_eq!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::BadMagic { file: SNAPSHOT }
    );

    let mut sc = snap.clone();
    sc[12..16].copy_from_slice(&9u32.to_le_bytes());
    fs.poke(SNAPSHOT, &sc);
    assert!(matches!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::SchemaMismatch {
            found: 9,
            expected: 1,
            ..
        }
    ));

    let mut jv = fs.peek(JOURNAL).unwrap();
    fs.poke(SNAPSHOT, &snap);
    jv[8] = 0xFF;
    fs.poke(JOURNAL, &jv);
    assert!(matches!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::UnsupportedVersion { file: JOURNAL, .. }
    ));
}

#[test]
fn every_snapshot_byte_flip_is_refused() {
    let (fs, _s) = fresh();
    let snap = fs.peek(SNAPSHOT).unwrap();
    for i in 0..snap.len() {
        let mut c = snap.clone();
        c[i] ^= 0x01;
        fs.poke(SNAPSHOT, &c);
        assert!(
            Store::<Card, _>::open(fs.clone(), opts()).is_err(),
            "byte {i}"
        );
    }
}

#[test]
fn corruption_inside_the_journal_is_refused_not_truncated() {
    let (fs, mut s) = fresh();
    for i in 0..3 {
        s.commit(&[Op::Counter(i, i.into())]).unwrap();
    }
    let j = fs.peek(JOURNAL).unwrap();
    // Flip one payload byte of the first record (after the header and 12 bytes of framing).
    let mut c = j.clone();
    c[format::JOURNAL_HEADER_LEN + 13] ^= 0x20;
    fs.poke(JOURNAL, &c);
    assert!(matches!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::Corrupt { file: JOURNAL, .. }
    ));
    // A corrupt last record is indistinguishable from a torn one: it is dropped.
    let mut t = j.clone();
    let last = t.len() - 1;
    t[last] ^= 0x20;
    fs.poke(JOURNAL, &t);
    let r = Store::<Card, _>::open(fs.clone(), opts()).unwrap();
    assert_eq!(r.state().counters.len(), 2);
    assert!(r.recovery().torn_tail && r.recovery().repaired);
}

#[test]
fn checksummed_but_undecodable_payload_is_a_decode_error() {
    let fs = SimFs::new();
    let snap = format::encode_snapshot(Card::SCHEMA, 1, b"[1,2,3]").unwrap();
    fs.poke(SNAPSHOT, &snap);
    assert!(matches!(
        Store::<Card, _>::open(fs, opts()).unwrap_err(),
        StoreError::Decode { file: SNAPSHOT, .. }
    ));
}

#[test]
fn journal_ahead_of_snapshot_is_refused() {
    let fs = SimFs::new();
    let snap = format::encode_snapshot(Card::SCHEMA, 1, b"{\"counters\":{},\"names\":[]}").unwrap();
    fs.poke(SNAPSHOT, &snap);
    fs.poke(JOURNAL, &format::encode_journal_header(Card::SCHEMA, 2));
    assert_eq!(
        Store::<Card, _>::open(fs, opts()).unwrap_err(),
        StoreError::GenerationAhead {
            snapshot: 1,
            journal: 2
        }
    );
}

#[test]
fn full_disk_is_typed_and_loses_nothing() {
    let (fs, mut s) = fresh();
    s.commit(&[Op::Counter(1, 5)]).unwrap();
    let used: usize = [SNAPSHOT, JOURNAL]
        .iter()
        .map(|n| fs.peek(n).unwrap().len())
        .sum();
    fs.set_capacity(Some(used + 10));
    let err = s.commit(&[Op::Counter(1, 6)]).unwrap_err();
    assert_eq!(err, StoreError::Vfs(VfsError::NoSpace(JOURNAL.into())));
    assert_eq!(s.state().counters[&1], 5);
    // Reopen sees the last committed value.
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::KeepAll), opts()).unwrap();
    assert_eq!(r.state().counters[&1], 5);
    // Space comes back: the store carries on.
    fs.set_capacity(None);
    s.commit(&[Op::Counter(1, 6)]).unwrap();
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), opts()).unwrap();
    assert_eq!(r.state().counters[&1], 6);
}

#[test]
fn failed_fsync_forces_repair_and_never_resurfaces_after_a_later_commit() {
    let (fs, mut s) = fresh();
    s.commit(&[Op::Counter(1, 1)]).unwrap();
    // The append succeeds, its fsync fails: the batch is undecided.
    fs.fail_at(2, SimFault::Io);
    assert!(matches!(
        s.commit(&[Op::Name("ghost".into())]),
        Err(StoreError::Vfs(VfsError::Io { .. }))
    ));
    assert!(s.state().names.is_empty());
    assert!(s.needs_compaction());
    s.commit(&[Op::Counter(1, 2)]).unwrap();
    for policy in [CrashPolicy::KeepAll, CrashPolicy::DropUnsynced] {
        let r = Store::<Card, _>::open(fs.after_crash(policy), opts()).unwrap();
        assert!(r.state().names.is_empty(), "{policy:?}");
        assert_eq!(r.state().counters[&1], 2);
    }
}

#[test]
fn io_error_at_every_write_point_of_a_compaction_keeps_the_store_usable() {
    for k in 1..=8 {
        let (fs, mut s) = fresh();
        s.commit(&[Op::Counter(3, 1)]).unwrap();
        fs.fail_at(k, SimFault::Io);
        assert!(s.compact().is_err(), "k={k}");
        assert_eq!(s.state().counters[&3], 1);
        s.commit(&[Op::Counter(3, 2)]).unwrap();
        for policy in [CrashPolicy::KeepAll, CrashPolicy::DropUnsynced] {
            let r = Store::<Card, _>::open(fs.after_crash(policy), opts()).unwrap();
            assert_eq!(r.state().counters[&3], 2, "k={k} {policy:?}");
        }
    }
}

#[test]
fn commit_then_runs_only_after_durable_write() {
    let (fs, mut s) = fresh();
    fs.fail_at(1, SimFault::NoSpace);
    let mut ran = false;
    let r = s.commit_then(&[Op::Counter(7, 3)], |_| ran = true);
    assert!(r.is_err());
    assert!(!ran);
    let seen = s
        .commit_then(&[Op::Counter(7, 3)], |st| {
            // At this point the counter is on disk.
            let durable = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), opts())
                .unwrap()
                .state()
                .counters[&7];
            (st.counters[&7], durable)
        })
        .unwrap();
    assert_eq!(seen, (3, 3));
}

#[test]
fn replace_and_compaction_threshold() {
    let fs = SimFs::new();
    let o = StoreOptions {
        compact_after_bytes: 200,
    };
    let mut s = Store::create(fs.clone(), Card::default(), o).unwrap();
    let g0 = s.generation();
    for i in 0..20u32 {
        s.commit(&[Op::Counter(1, i)]).unwrap();
    }
    assert!(s.generation() > g0, "the journal was compacted");
    let mut new = Card::default();
    new.names.push("replaced".into());
    s.replace(new.clone()).unwrap();
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), o).unwrap();
    assert_eq!(r.state(), &new);
}

#[test]
fn real_fs_store_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let fs = RealFs::open(tmp.path()).unwrap();
        let mut s = Store::open_or_create(fs, opts(), Card::default).unwrap();
        s.commit(&[Op::Counter(9, 4)]).unwrap();
        s.compact().unwrap();
        s.commit(&[Op::Name("x".into())]).unwrap();
    }
    let fs = RealFs::open(tmp.path()).unwrap();
    let s = Store::<Card, _>::open_or_create(fs, opts(), Card::default).unwrap();
    assert_eq!(s.state().counters[&9], 4);
    assert_eq!(s.state().names, vec!["x".to_owned()]);
    // A corrupt real file is refused, not replaced by an empty store.
    std::fs::write(tmp.path().join(SNAPSHOT), b"garbage").unwrap();
    let fs = RealFs::open(tmp.path()).unwrap();
    assert_eq!(
        Store::<Card, _>::open_or_create(fs, opts(), Card::default).unwrap_err(),
        StoreError::BadMagic { file: SNAPSHOT }
    );
}

/// The same operations the criterion bench times, run once as a test; it measures nothing.
#[test]
fn bench_workload_runs_on_real_fs() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = RealFs::open(tmp.path()).unwrap();
    let mut s = Store::create(fs, Card::default(), opts()).unwrap();
    for i in 0..50u16 {
        s.commit(&[Op::Counter(i, 0), Op::Name(format!("key-{i}"))])
            .unwrap();
    }
    let big = s.state().clone();
    s.replace(big.clone()).unwrap();
    s.commit(&[Op::Counter(7, 1)]).unwrap();
    assert_eq!(s.state().names.len(), 50);
    assert_eq!(s.state().counters[&7], 1);
}
