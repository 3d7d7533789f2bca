//! Crash injection at every write point of the store.
//!
//! A scripted sequence of commits (small counter bumps, multi-mutation batches, whole-state
//! replacements, explicit compactions and, with a tiny compaction threshold, automatic ones)
//! runs on a `SimFs` that loses power at write point k, for every k. For each k, several
//! crash outcomes are tried (unsynced data dropped, kept, torn at a pseudo-random point,
//! torn with garbage). The store is reopened and must hold exactly the state after the last
//! step that returned `Ok`, or the state after the step in flight; never a part of a batch;
//! a counter that was durable is never lower. The reopened store must then keep working, and
//! a second power cut during the recovery itself (which the first write after reopening does:
//! `open` writes nothing) must not change the outcome.
//!
//! The store runs sealed, as the card's does, so every commit also writes the commit counter
//! (two more write points) after the journal's fsync: no cut anywhere may look like a
//! rollback (a reopen never fails with `RolledBack` or `CounterMissing`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use airtight_card::store::{
    CrashPolicy, OnRollback, Recovery, SealKey, SimFault, SimFs, Store, StoreError, StoreOptions,
    StoreState, VfsError,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Card {
    /// PIN error counters, by key id.
    counters: BTreeMap<u16, u32>,
    /// Keys, by id: a name and some opaque bytes.
    keys: BTreeMap<u16, (String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Mutation {
    Bump(u16),
    AddKey(u16, String, Vec<u8>),
    DeleteKey(u16),
}

impl StoreState for Card {
    type Mutation = Mutation;
    const SCHEMA: u32 = 3;
    fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::Bump(k) => {
                let c = self.counters.entry(*k).or_insert(0);
                *c = c.saturating_add(1);
            }
            Mutation::AddKey(id, name, blob) => {
                self.keys.insert(*id, (name.clone(), blob.clone()));
            }
            Mutation::DeleteKey(id) => {
                self.keys.remove(id);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<Mutation>),
    /// Replace the state by the current one without its keys (counters kept).
    ReplaceDropKeys,
    Compact,
}

/// The expected state after `step`, computed on a plain value (no store involved).
fn model(before: &Card, step: &Step) -> Card {
    let mut s = before.clone();
    match step {
        Step::Commit(muts) => muts.iter().for_each(|m| s.apply(m)),
        Step::ReplaceDropKeys => s.keys.clear(),
        Step::Compact => {}
    }
    s
}

fn key(id: u16, len: usize) -> Mutation {
    Mutation::AddKey(id, format!("key-{id}"), vec![id as u8; len])
}

fn script() -> Vec<Step> {
    let mut v = vec![
        Step::Commit(vec![key(1, 40), key(2, 40), Mutation::Bump(1)]),
        Step::Commit(vec![Mutation::Bump(7)]),
        Step::Commit(vec![Mutation::Bump(7)]),
        Step::Commit(vec![key(3, 100), Mutation::DeleteKey(2), Mutation::Bump(3)]),
        Step::Compact,
        Step::Commit(vec![Mutation::Bump(7)]),
        Step::ReplaceDropKeys,
        Step::Commit(vec![Mutation::Bump(1), Mutation::Bump(7)]),
    ];
    // A 50-key batch, then counter bumps that cross the compaction threshold.
    v.push(Step::Commit((100..150).map(|i| key(i, 8)).collect()));
    for _ in 0..4 {
        v.push(Step::Commit(vec![Mutation::Bump(7)]));
    }
    v.push(Step::Commit(vec![
        Mutation::DeleteKey(120),
        Mutation::Bump(120),
    ]));
    v
}

const OPTS: StoreOptions = StoreOptions {
    compact_after_bytes: 400,
};

fn seal() -> Option<SealKey> {
    Some(SealKey::from_device_key(b"store_crash device key"))
}

fn create(fs: &SimFs) -> Result<Store<Card, SimFs>, StoreError> {
    Store::create_with(fs.clone(), Card::default(), OPTS, seal())
}

fn open(fs: SimFs) -> Result<Store<Card, SimFs>, StoreError> {
    Store::open_with(fs, OPTS, seal(), OnRollback::Refuse)
}

/// Result of running a script until it ends or the power goes.
#[derive(Debug)]
struct Run {
    /// states[0] = initial state, states[i] = after step i.
    states: Vec<Card>,
    /// Index into `states` of the last step that returned Ok (None: create did not).
    last_ok: Option<usize>,
    /// Index of the step that was interrupted.
    in_flight: Option<usize>,
    /// Journal generation at the end of a run that was not interrupted.
    generation: u64,
}

fn run(fs: &SimFs, steps: &[Step]) -> Run {
    let mut states = vec![Card::default()];
    for s in steps {
        let next = model(states.last().unwrap(), s);
        states.push(next);
    }
    let mut store = match create(fs) {
        Ok(s) => s,
        Err(e) => {
            assert_eq!(e, StoreError::Vfs(VfsError::Crashed));
            return Run {
                states,
                last_ok: None,
                in_flight: Some(0),
                generation: 0,
            };
        }
    };
    for (i, step) in steps.iter().enumerate() {
        let r = match step {
            Step::Commit(m) => store.commit(m).map(|_| ()),
            Step::ReplaceDropKeys => {
                let mut s = store.state().clone();
                s.keys.clear();
                store.replace(s).map(|_| ())
            }
            Step::Compact => store.compact(),
        };
        match r {
            Ok(()) => assert_eq!(
                store.state(),
                &states[i + 1],
                "in-memory state after step {i}"
            ),
            Err(e) => {
                assert_eq!(e, StoreError::Vfs(VfsError::Crashed), "step {i}");
                assert_eq!(store.state(), &states[i], "a failed step changed memory");
                return Run {
                    states,
                    last_ok: Some(i),
                    in_flight: Some(i + 1),
                    generation: store.generation(),
                };
            }
        }
    }
    Run {
        last_ok: Some(steps.len()),
        in_flight: None,
        generation: store.generation(),
        states,
    }
}

fn policies() -> Vec<CrashPolicy> {
    let mut v = vec![CrashPolicy::DropUnsynced, CrashPolicy::KeepAll];
    for seed in 0..4 {
        v.push(CrashPolicy::Torn {
            seed,
            garbage: false,
            reorder: false,
        });
        v.push(CrashPolicy::Torn {
            seed,
            garbage: true,
            reorder: false,
        });
        v.push(CrashPolicy::Torn {
            seed,
            garbage: seed % 2 == 1,
            reorder: true,
        });
    }
    v
}

/// Reopen `fs` and check the recovered state against `run`. Returns the recovered state
/// (None when nothing was ever committed and nothing is there).
/// Opens a copy, so `fs` itself stays as the power cut left it.
fn check_recovery(fs: &SimFs, run: &Run, what: &str) -> Option<(Card, Recovery)> {
    let opened = open(fs.after_crash(CrashPolicy::KeepAll));
    let Some(last_ok) = run.last_ok else {
        // create never returned Ok: either nothing, or exactly the initial state.
        return match opened {
            Err(StoreError::NotFound) => None,
            Ok(s) => {
                assert_eq!(s.state(), &run.states[0], "{what}");
                Some((s.state().clone(), s.recovery()))
            }
            Err(e) => panic!("{what}: {e}"),
        };
    };
    let store = opened.unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let got = store.state();
    let ok_state = &run.states[last_ok];
    let in_flight_state = run.in_flight.map(|i| &run.states[i]);
    assert!(
        got == ok_state || Some(got) == in_flight_state,
        "{what}: recovered state is neither the last committed one nor the one in flight\n\
         got {got:?}\nlast ok {ok_state:?}"
    );
    // A counter that was durable is never lower.
    for (k, v) in &ok_state.counters {
        assert!(
            got.counters.get(k).copied().unwrap_or(0) >= *v,
            "{what}: counter {k} went back"
        );
    }
    Some((got.clone(), store.recovery()))
}

/// After recovery, the store must keep working: commit, cut the power (dropping all
/// unsynced data), reopen, and find the commit.
fn check_usable(fs: &SimFs, recovered: &Card, what: &str) {
    let mut store = open(fs.clone()).unwrap();
    store.commit(&[Mutation::Bump(999), key(999, 3)]).unwrap();
    let again = open(fs.after_crash(CrashPolicy::DropUnsynced))
        .unwrap_or_else(|e| panic!("{what}: reopen after a post-recovery commit: {e}"));
    let mut want = recovered.clone();
    want.apply(&Mutation::Bump(999));
    want.apply(&key(999, 3));
    assert_eq!(again.state(), &want, "{what}");
}

/// Cut the power again at every write point of the recovery itself: `open` writes nothing,
/// so the recovery is the first commit after it (a repairing compaction when the cut left a
/// torn tail or a stale journal, then the append and the counter).
fn check_nested(fs: &SimFs, recovered: &Card, what: &str) -> u64 {
    let extra = [Mutation::Bump(777)];
    let mut with_extra = recovered.clone();
    with_extra.apply(&extra[0]);
    let probe = fs.after_crash(CrashPolicy::KeepAll);
    let before = probe.write_points();
    open(probe.clone()).unwrap().commit(&extra).unwrap();
    let m = probe.write_points() - before;
    for j in 1..=m {
        for policy in [
            CrashPolicy::DropUnsynced,
            CrashPolicy::Torn {
                seed: j,
                garbage: true,
                reorder: j % 2 == 0,
            },
        ] {
            let f = fs.after_crash(CrashPolicy::KeepAll);
            f.crash_at(j);
            let mut s = open(f.clone()).unwrap();
            assert_eq!(
                s.commit(&extra).unwrap_err(),
                StoreError::Vfs(VfsError::Crashed)
            );
            let again = open(f.after_crash(policy))
                .unwrap_or_else(|e| panic!("{what}: nested crash {j} {policy:?}: {e}"));
            assert!(
                again.state() == recovered || again.state() == &with_extra,
                "{what}: nested crash {j} {policy:?}"
            );
        }
    }
    m
}

#[test]
fn crash_at_every_write_point() {
    let steps = script();
    // A clean run counts the write points and checks the script ends where the model does.
    let clean = SimFs::new();
    let full = run(&clean, &steps);
    assert_eq!(full.last_ok, Some(steps.len()));
    let n = clean.write_points();
    // Generation 1 at create, 2 at the explicit compaction, then automatic ones.
    assert!(
        full.generation >= 4,
        "the script should trigger automatic compactions"
    );

    let mut outcomes = BTreeMap::new();
    let (mut torn_tails, mut stale_journals, mut nested_points) = (0u32, 0u32, 0u64);
    for k in 1..=n {
        let fs = SimFs::new();
        fs.crash_at(k);
        let r = run(&fs, &steps);
        assert!(fs.has_crashed(), "k={k}");
        for policy in policies() {
            let what = format!("crash at write point {k}/{n}, {policy:?}");
            let after = fs.after_crash(policy);
            let Some((recovered, recovery)) = check_recovery(&after, &r, &what) else {
                continue;
            };
            torn_tails += u32::from(recovery.torn_tail);
            stale_journals += u32::from(recovery.stale_journal);
            let landed = Some(&recovered) != r.last_ok.map(|i| &r.states[i]);
            *outcomes.entry(landed).or_insert(0u32) += 1;
            check_usable(&after.after_crash(CrashPolicy::KeepAll), &recovered, &what);
            if matches!(
                policy,
                CrashPolicy::DropUnsynced | CrashPolicy::Torn { seed: 0, .. }
            ) {
                nested_points += check_nested(&after, &recovered, &what);
            }
        }
    }
    // Both outcomes of an interrupted commit occur: the test is not vacuous.
    assert!(
        outcomes.get(&true).copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get(&false).copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert!(nested_points > 0, "recoveries that write were crashed too");
    // Recovery had to drop torn tails and to skip stale journals.
    assert!(
        torn_tails > 0 && stale_journals > 0,
        "{torn_tails} {stale_journals}"
    );
}

#[test]
fn a_returned_commit_survives_every_policy() {
    // Power cut right after each commit returns: the commit is always there.
    let steps = script();
    let fs = SimFs::new();
    let mut store = create(&fs).unwrap();
    let mut want = Card::default();
    for step in &steps {
        if let Step::Commit(m) = step {
            store.commit(m).unwrap();
            want = model(&want, step);
            for policy in policies() {
                let got = open(fs.after_crash(policy)).unwrap();
                assert_eq!(got.state(), &want, "{policy:?}");
            }
        }
    }
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (0u16..6).prop_map(Mutation::Bump),
        2 => (0u16..20, 0usize..64).prop_map(|(id, len)| key(id, len)),
        1 => (0u16..20).prop_map(Mutation::DeleteKey),
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec(arb_mutation(), 0..5).prop_map(Step::Commit),
        1 => Just(Step::ReplaceDropKeys),
        1 => Just(Step::Compact),
    ]
}

fn arb_policy() -> impl Strategy<Value = CrashPolicy> {
    prop_oneof![
        Just(CrashPolicy::DropUnsynced),
        Just(CrashPolicy::KeepAll),
        (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(seed, garbage, reorder)| {
            CrashPolicy::Torn {
                seed,
                garbage,
                reorder,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_random_crash_points(
        steps in prop::collection::vec(arb_step(), 1..16),
        crash in 1u64..200,
        policy in arb_policy(),
    ) {
        let fs = SimFs::new();
        fs.crash_at(crash);
        let r = run(&fs, &steps);
        let what = format!("crash {crash} {policy:?}");
        let after = fs.after_crash(policy);
        if let Some((recovered, _)) = check_recovery(&after, &r, &what) {
            if !fs.has_crashed() {
                // The power went after the script: everything is there.
                prop_assert_eq!(&recovered, r.states.last().unwrap());
            }
            check_usable(&after.after_crash(CrashPolicy::KeepAll), &recovered, &what);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Not only whole write points: the power goes at any write point of the run (`point` is
    /// taken modulo their number) and inside it at any byte offset (`SimFs::crash_inside`:
    /// under `KeepAll` exactly that prefix of the interrupted write survives). The store
    /// reopens with the state of the last commit that returned or the one in flight, nothing
    /// lost, and keeps working.
    #[test]
    fn a_power_cut_at_any_byte_of_any_write(
        steps in prop::collection::vec(arb_step(), 1..12),
        point in any::<u64>(),
        offset in any::<usize>(),
        policy in arb_policy(),
    ) {
        let clean = SimFs::new();
        run(&clean, &steps);
        let k = 1 + point % clean.write_points();
        let fs = SimFs::new();
        fs.crash_inside(k, offset);
        let r = run(&fs, &steps);
        prop_assert!(fs.has_crashed(), "write point {} never came", k);
        let what = format!("cut inside write point {k}/{} at offset {offset} {policy:?}", clean.write_points());
        let after = fs.after_crash(policy);
        if let Some((recovered, _)) = check_recovery(&after, &r, &what) {
            check_usable(&after.after_crash(CrashPolicy::KeepAll), &recovered, &what);
        }
    }
}

/// Run `steps` with transient faults armed; return the set of states a reopen may find.
/// A step that fails with a transient error is *undecided*: it may surface after a crash,
/// until a later step succeeds (the store repairs before writing again).
fn run_with_faults(fs: &SimFs, steps: &[Step]) -> (Vec<Card>, Card, bool) {
    let mut committed = Card::default();
    let Ok(mut store) = create(fs) else {
        // Nothing committed yet; the initial state may or may not be there.
        return (vec![Card::default()], Card::default(), false);
    };
    let mut undecided = Vec::new();
    for step in steps {
        let candidate = model(&committed, step);
        let r = match step {
            Step::Commit(m) => store.commit(m).map(|_| ()),
            Step::ReplaceDropKeys => {
                let mut s = store.state().clone();
                s.keys.clear();
                store.replace(s).map(|_| ())
            }
            Step::Compact => store.compact(),
        };
        match r {
            Ok(()) => {
                committed = candidate;
                undecided.clear();
            }
            Err(StoreError::Vfs(VfsError::Crashed)) => {
                undecided.push(candidate);
                break;
            }
            Err(StoreError::Vfs(VfsError::NoSpace(_) | VfsError::Io { .. })) => {
                assert_eq!(store.state(), &committed, "a failed step changed memory");
                undecided.push(candidate);
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    undecided.push(committed.clone());
    (undecided, committed, true)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn transient_faults_then_a_crash(
        steps in prop::collection::vec(arb_step(), 1..16),
        faults in prop::collection::vec((1u64..120, any::<bool>()), 0..6),
        crash in 1u64..200,
        policy in arb_policy(),
    ) {
        let fs = SimFs::new();
        for (at, no_space) in &faults {
            let kind = if *no_space { SimFault::NoSpace } else { SimFault::Io };
            fs.fail_at(*at, kind);
        }
        fs.crash_at(crash);
        let (allowed, committed, created) = run_with_faults(&fs, &steps);
        let after = fs.after_crash(policy);
        match open(after.clone()) {
            Ok(s) => {
                prop_assert!(allowed.contains(s.state()), "recovered {:?}\nallowed {:?}", s.state(), allowed);
                for (k, v) in &committed.counters {
                    prop_assert!(s.state().counters.get(k).copied().unwrap_or(0) >= *v);
                }
            }
            // Only possible when create itself never completed.
            Err(StoreError::NotFound) => prop_assert!(!created),
            Err(e) => prop_assert!(false, "reopen failed: {}", e),
        }
    }
}

/// The four write points of a commit, named: append the record, fsync the journal, write the
/// counter slot, fsync it. A cut at any of them reopens (never as a rollback); from the
/// counter's write on, the commit is always there, and the counter never gets ahead of the
/// journal. A second commit after each cut rewrites the damaged slot and goes on.
#[test]
fn crash_at_each_write_point_of_a_commit_including_the_counter() {
    let base = SimFs::new();
    let mut s = create(&base).unwrap();
    s.commit(&[Mutation::Bump(1)]).unwrap();
    s.commit(&[Mutation::Bump(1)]).unwrap();
    drop(s);
    let before = open(base.clone()).unwrap().state().clone();
    let mut after = before.clone();
    after.apply(&Mutation::Bump(1));
    // Count the write points of one commit.
    let probe = base.after_crash(CrashPolicy::KeepAll);
    let w0 = probe.write_points();
    open(probe.clone())
        .unwrap()
        .commit(&[Mutation::Bump(1)])
        .unwrap();
    assert_eq!(
        probe.write_points() - w0,
        4,
        "append, fsync, counter, fsync"
    );
    for k in 1..=4u64 {
        for policy in policies() {
            let f = base.after_crash(CrashPolicy::KeepAll);
            let mut s = open(f.clone()).unwrap();
            f.crash_at(k);
            assert_eq!(
                s.commit(&[Mutation::Bump(1)]).unwrap_err(),
                StoreError::Vfs(VfsError::Crashed)
            );
            let what = format!("cut at write point {k} {policy:?}");
            let cut = f.after_crash(policy);
            let mut r = open(cut.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            if k >= 3 {
                assert_eq!(r.state(), &after, "{what}: the journal was fsynced");
            } else {
                assert!(r.state() == &before || r.state() == &after, "{what}");
            }
            let got = r.state().clone();
            r.commit(&[Mutation::Bump(2)]).unwrap();
            r.commit(&[Mutation::Bump(2)]).unwrap();
            let mut want = got;
            want.apply(&Mutation::Bump(2));
            want.apply(&Mutation::Bump(2));
            for p2 in [CrashPolicy::DropUnsynced, CrashPolicy::KeepAll] {
                assert_eq!(
                    open(cut.after_crash(p2)).unwrap().state(),
                    &want,
                    "{what} then {p2:?}"
                );
            }
        }
    }
}
