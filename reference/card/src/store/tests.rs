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

fn used_bytes(fs: &SimFs) -> usize {
    [SNAPSHOT, JOURNAL, COUNTERS[0], COUNTERS[1]]
        .iter()
        .map(|n| fs.peek(n).unwrap().len())
        .sum()
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
    v[8..12].copy_from_slice(&3u32.to_le_bytes());
    fs.poke(SNAPSHOT, &v);
    assert_eq!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::UnsupportedVersion {
            file: SNAPSHOT,
            found: 3,
            supported: 2
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
    // A corrupt last record looks like a torn one, but the commit counter recorded it: the
    // store is refused as rolled back, not served without it.
    let mut t = j.clone();
    let last = t.len() - 1;
    t[last] ^= 0x20;
    fs.poke(JOURNAL, &t);
    assert_eq!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::RolledBack {
            store_commit: 2,
            counter_commit: 3
        }
    );
    // A torn tail the counter never recorded (an interrupted append) is dropped, at the next
    // write, not by `open`.
    let mut torn = j.clone();
    torn.extend_from_slice(&[7, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
    fs.poke(JOURNAL, &torn);
    let r = Store::<Card, _>::open(fs.clone(), opts()).unwrap();
    assert_eq!(r.state().counters.len(), 3);
    assert!(r.recovery().torn_tail && !r.recovery().repaired && r.needs_compaction());
    assert_eq!(r.recovery().torn_bytes, 14);
    assert_eq!(fs.peek(JOURNAL).unwrap(), torn, "open wrote nothing");
}

#[test]
fn checksummed_but_undecodable_payload_is_a_decode_error() {
    let fs = SimFs::new();
    let snap = format::encode_snapshot(Card::SCHEMA, 1, 0, 0, b"[1,2,3]").unwrap();
    fs.poke(SNAPSHOT, &snap);
    assert!(matches!(
        Store::<Card, _>::open(fs, opts()).unwrap_err(),
        StoreError::Decode { file: SNAPSHOT, .. }
    ));
}

#[test]
fn journal_ahead_of_snapshot_is_refused() {
    let fs = SimFs::new();
    let snap =
        format::encode_snapshot(Card::SCHEMA, 1, 0, 0, b"{\"counters\":{},\"names\":[]}").unwrap();
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
    let used = used_bytes(&fs);
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
fn nearly_full_disk_still_records_a_counter_when_compaction_is_due() {
    let fs = SimFs::new();
    let o = StoreOptions {
        compact_after_bytes: 100,
    };
    let mut s = Store::create(fs.clone(), Card::default(), o).unwrap();
    s.commit(&[Op::Name("x".repeat(200))]).unwrap();
    assert!(s.needs_compaction());
    let used = used_bytes(&fs);
    // Room for one small record, not for a new snapshot.
    fs.set_capacity(Some(used + 100));
    s.commit(&[Op::Counter(7, 1)]).unwrap();
    assert!(
        fs.peek("state.snap.tmp").is_none(),
        "the failed temporary file was removed"
    );
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::DropUnsynced), o).unwrap();
    assert_eq!(r.state().counters[&7], 1);
    // Once the disk is full, the commit fails with a typed error and loses nothing.
    assert!(matches!(
        s.commit(&[Op::Counter(7, 2)]),
        Err(StoreError::Vfs(VfsError::NoSpace(_)))
    ));
    let r = Store::<Card, _>::open(fs.after_crash(CrashPolicy::KeepAll), o).unwrap();
    assert_eq!(r.state().counters[&7], 1);
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

fn key() -> SealKey {
    SealKey::from_device_key(b"test device key")
}

fn sealed_fresh() -> (SimFs, Store<Card, SimFs>) {
    let fs = SimFs::new();
    let s = Store::create_with(fs.clone(), Card::default(), opts(), Some(key())).unwrap();
    (fs, s)
}

fn open_sealed(fs: &SimFs, on: OnRollback) -> Result<Store<Card, SimFs>, StoreError> {
    Store::open_with(fs.clone(), opts(), Some(key()), on)
}

#[test]
fn sealed_store_holds_no_plaintext_and_needs_its_key() {
    let (fs, mut s) = sealed_fresh();
    s.commit(&[Op::Name("plain-secret-name".into())]).unwrap();
    s.compact().unwrap();
    s.commit(&[Op::Name("second-secret".into())]).unwrap();
    for name in [SNAPSHOT, JOURNAL] {
        let b = fs.peek(name).unwrap();
        for needle in [&b"secret"[..], b"names", b"counters"] {
            assert!(!b.windows(needle.len()).any(|w| w == needle), "{name}");
        }
    }
    let r = open_sealed(&fs, OnRollback::Refuse).unwrap();
    assert_eq!(r.state().names, ["plain-secret-name", "second-secret"]);
    // Another key, no key, a passphrase key: refused with a typed error.
    let other = SealKey::from_device_key(b"another device");
    assert_eq!(
        Store::<Card, _>::open_with(fs.clone(), opts(), Some(other), OnRollback::Refuse)
            .unwrap_err(),
        StoreError::Unseal { file: SNAPSHOT }
    );
    assert_eq!(
        Store::<Card, _>::open(fs.clone(), opts()).unwrap_err(),
        StoreError::SealMismatch {
            found: SealMode::DeviceKey,
            expected: SealMode::None
        }
    );
    let pass = SealKey::from_device_key_and_passphrase(b"test device key", b"pw", 1);
    assert_eq!(
        Store::<Card, _>::open_with(fs.clone(), opts(), Some(pass), OnRollback::Refuse)
            .unwrap_err(),
        StoreError::SealMismatch {
            found: SealMode::DeviceKey,
            expected: SealMode::DeviceKeyAndPassphrase
        }
    );
    // A record moved to another position does not open (its seq is in the AD), even with
    // a fixed-up checksum.
    let j = fs.peek(JOURNAL).unwrap();
    let rec = &j[format::JOURNAL_HEADER_LEN..];
    let len = u32::from_le_bytes(rec[..4].try_into().unwrap()) as usize;
    let payload = &rec[12..12 + len];
    let moved = format::encode_record(s.generation(), 2, payload).unwrap();
    let mut j2 = j.clone();
    j2.extend_from_slice(&moved);
    fs.poke(JOURNAL, &j2);
    assert_eq!(
        open_sealed(&fs, OnRollback::Refuse).unwrap_err(),
        StoreError::Unseal { file: JOURNAL }
    );
}

#[test]
fn an_older_copy_or_a_truncated_journal_is_refused_and_a_loss_can_be_accepted() {
    let (fs, mut s) = sealed_fresh();
    s.commit(&[Op::Counter(1, 1)]).unwrap();
    let old_snap = fs.peek(SNAPSHOT).unwrap();
    let old_journal = fs.peek(JOURNAL).unwrap();
    s.commit(&[Op::Counter(1, 2)]).unwrap();
    s.commit(&[Op::Counter(1, 3)]).unwrap();
    let journal = fs.peek(JOURNAL).unwrap();
    drop(s);
    // Every truncation of the journal that loses a counted commit is refused.
    for cut in format::JOURNAL_HEADER_LEN..journal.len() {
        let f = fs.after_crash(CrashPolicy::KeepAll);
        f.poke(JOURNAL, &journal[..cut]);
        match open_sealed(&f, OnRollback::Refuse).unwrap_err() {
            StoreError::RolledBack {
                counter_commit: 3,
                store_commit,
            } => assert!(store_commit < 3),
            e => panic!("cut {cut}: {e}"),
        }
    }
    // The older full copy is refused; the message says what is missing and what to do.
    fs.poke(SNAPSHOT, &old_snap);
    fs.poke(JOURNAL, &old_journal);
    let e = open_sealed(&fs, OnRollback::Refuse).unwrap_err();
    assert_eq!(
        e,
        StoreError::RolledBack {
            store_commit: 1,
            counter_commit: 3
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("ends at commit 1 but commit 3 was made")
            && msg.contains("2 commit(s) are missing")
            && msg.contains(ACCEPT_LOSS_COMMAND),
        "{msg}"
    );
    // Refusing wrote nothing.
    assert_eq!(fs.peek(JOURNAL).unwrap(), old_journal);
    // Accepting the loss opens it, says so, and the next write makes it consistent.
    let mut r = open_sealed(&fs, OnRollback::AcceptLoss).unwrap();
    assert_eq!(r.state().counters[&1], 1);
    assert_eq!(r.recovery().lost_commits, 2);
    assert!(r.recovery().notices()[0].contains("loss of 2 commit(s) was accepted"));
    r.commit(&[Op::Counter(1, 9)]).unwrap();
    assert!(r.recovery().repaired);
    let again = open_sealed(
        &fs.after_crash(CrashPolicy::DropUnsynced),
        OnRollback::Refuse,
    )
    .unwrap();
    assert_eq!(again.state().counters[&1], 9);
    assert!(again.commit_number() > 3);
}

#[test]
fn a_missing_counter_is_refused_unless_accepted() {
    let (fs, mut s) = sealed_fresh();
    s.commit(&[Op::Counter(1, 1)]).unwrap();
    drop(s);
    let f = fs.after_crash(CrashPolicy::KeepAll);
    f.remove(COUNTERS[0]).unwrap();
    // One slot is enough.
    assert!(open_sealed(&f, OnRollback::Refuse).is_ok());
    f.remove(COUNTERS[1]).unwrap();
    let e = open_sealed(&f, OnRollback::Refuse).unwrap_err();
    assert_eq!(e, StoreError::CounterMissing);
    assert!(e.to_string().contains(ACCEPT_LOSS_COMMAND));
    // A forged (plain-checksum) counter does not count for a sealed store.
    f.poke(
        COUNTERS[0],
        &format::encode_counter(1, format::plain_counter_tag),
    );
    assert_eq!(
        open_sealed(&f, OnRollback::Refuse).unwrap_err(),
        StoreError::CounterMissing
    );
    let mut r = open_sealed(&f, OnRollback::AcceptLoss).unwrap();
    assert!(r.recovery().counter_reset);
    r.compact().unwrap();
    assert_eq!(
        open_sealed(&f, OnRollback::Refuse)
            .unwrap()
            .state()
            .counters[&1],
        1
    );
    // A directory that lost its whole store but kept its counter is not silently recreated.
    let g = fs.after_crash(CrashPolicy::KeepAll);
    g.remove(SNAPSHOT).unwrap();
    g.remove(JOURNAL).unwrap();
    assert!(matches!(
        Store::<Card, _>::open_or_create_with(
            g,
            opts(),
            Some(key()),
            OnRollback::Refuse,
            Card::default
        )
        .unwrap_err(),
        StoreError::RolledBack {
            store_commit: 0,
            counter_commit: 1
        }
    ));
}

#[test]
fn a_format_1_store_is_read_and_sealed_at_the_next_write() {
    let fs = SimFs::new();
    let state = Card {
        names: vec!["legacy-secret".into()],
        ..Card::default()
    };
    let payload = serde_json::to_vec(&state).unwrap();
    fs.poke(
        SNAPSHOT,
        &format::encode_snapshot_v1(Card::SCHEMA, 4, &payload).unwrap(),
    );
    let mut j = format::encode_journal_header_version(1, Card::SCHEMA, 4);
    let rec = serde_json::to_vec(&serde_json::json!({"Batch": [{"Counter": [5, 6]}]})).unwrap();
    j.extend_from_slice(&format::encode_record(4, 1, &rec).unwrap());
    fs.poke(JOURNAL, &j);
    let mut s = open_sealed(&fs, OnRollback::Refuse).unwrap();
    assert_eq!(s.state().names, ["legacy-secret"]);
    assert_eq!(s.state().counters[&5], 6);
    assert!(s.recovery().migrate);
    assert!(s.recovery().notices()[0].contains("older format"));
    assert_eq!(fs.peek(JOURNAL).unwrap(), j, "open wrote nothing");
    s.commit(&[Op::Counter(5, 7)]).unwrap();
    for name in [SNAPSHOT, JOURNAL] {
        let b = fs.peek(name).unwrap();
        assert!(!b.windows(6).any(|w| w == b"legacy"), "{name}");
        assert_eq!(b[8], 2, "{name} is format 2");
    }
    let r = open_sealed(
        &fs.after_crash(CrashPolicy::DropUnsynced),
        OnRollback::Refuse,
    )
    .unwrap();
    assert_eq!(r.state().counters[&5], 7);
    assert!(!r.recovery().migrate);
}

#[test]
fn a_torn_counter_slot_falls_back_to_the_other() {
    let (fs, mut s) = sealed_fresh();
    for i in 0..5 {
        s.commit(&[Op::Counter(1, i)]).unwrap();
    }
    drop(s);
    for slot in COUNTERS {
        let f = fs.after_crash(CrashPolicy::KeepAll);
        let mut c = f.peek(slot).unwrap();
        c.truncate(20);
        f.poke(slot, &c);
        let mut r = open_sealed(&f, OnRollback::Refuse).unwrap();
        assert_eq!(r.state().counters[&1], 4);
        // The next commits rewrite the damaged slot first and keep going.
        r.commit(&[Op::Counter(1, 10)]).unwrap();
        r.commit(&[Op::Counter(1, 11)]).unwrap();
        let back = open_sealed(&f, OnRollback::Refuse).unwrap();
        assert_eq!(back.recovery().counter, Some(7));
    }
}
