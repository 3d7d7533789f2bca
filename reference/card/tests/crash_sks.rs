//! Crash injection into the card at EVERY write point of a full provisioning, of each
//! post-operation (update, clone, delete, unlock), of a KMK roll-over and of every user
//! operation that persists (wrong PIN, wrong PUK, changePin, setPin, unlockKey, setProperty,
//! deleteKey, exportKey).
//!
//! For each operation: a committed starting state is built once on a `SimFs`; the operation is
//! run once without a crash on a copy to learn its number of write points `n` and its end
//! state; then for every `k` in `1..=n` a fresh copy of the starting state is opened, power is
//! cut at write point `k` of the operation, and the durable view is reopened under several
//! crash outcomes (unsynced data dropped, kept, torn, torn with garbage, metadata reordered).
//! The reopened card must: open, show no open session ([SKS-IMP-006]), hold exactly the state
//! before or the state after the operation ([SKS-IMP-007], never a part of it), never show a
//! PIN/PUK error counter below its value before the operation ([SKS-IMP-008]), and its
//! committed keys must still work ([SKS-IMP-005]: every usable key signs or MACs). Finally the
//! uncrashed run is cut right after the operation returned: a result reported to the caller
//! (including an `ERROR_AUTHORIZATION` with its counter increment) is durable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_neg;

use std::sync::Arc;

use proptest::prelude::*;

use airtight_card::env::ManualClock;
use airtight_card::store::{CrashPolicy, SimFs};
use airtight_card::{CardConfig, ReferenceSks, Storage, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::policy::{ExportProtection, Grouping, PassphraseFormat};
use airtight_proto::session1::{self, Property};
use airtight_proto::sks::{
    EnumeratedProvisioningSession, ExtensionSubType, KeyAttributes, KeyHandle, KeyProtectionInfo,
    ProtectionStatus, SecureKeyStore, SksError, SksErrorCode,
};
use airtight_testkit::emulator::{self, EmuError, Issuer, KeySpec, PinSpec, Provisioned, uri};
use airtight_testkit::expect_code;
use support_neg::{BASE_PIN, BASE_PUK, Base, base_key};

/// The RNG seed of the card that builds the starting state; every later boot uses
/// [`BOOT_SEED`] (a reboot with the same seed would replay the same key pairs).
const CARD_SEED: u64 = 77;
const BOOT_SEED: u64 = 78;

fn open(fs: &SimFs) -> Result<ReferenceSks, airtight_card::CardError> {
    open_seeded(fs, BOOT_SEED)
}

fn open_seeded(fs: &SimFs, seed: u64) -> Result<ReferenceSks, airtight_card::CardError> {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        seed,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    c.storage = Storage::Vfs(Box::new(fs.clone()));
    ReferenceSks::open(c)
}

/// The committed starting state of every operation.
#[derive(Debug, Clone)]
struct Start {
    /// Updatable key with PIN "1234" (shared grouping) and PUK "01234567".
    base: Base,
    /// Updatable key whose PIN (shared grouping, PUK "7777") is blocked.
    locked: Base,
    locked_puk: Vec<u8>,
    /// A PIN-less, exportable key with a property bag `urn:bag` (`w` writable).
    plain: Provisioned,
}

/// The journal size above which the store compacts before the next commit
/// (`StoreOptions::default().compact_after_bytes`, which the card uses).
const COMPACT_AFTER: usize = 64 * 1024;

/// [`start`], then property updates until the journal is past the compaction threshold, so
/// that the next commit (the operation under test) first runs a whole compaction.
fn start_near_compaction() -> (SimFs, Start) {
    let (fs, st) = start();
    let mut sks = open_seeded(&fs, CARD_SEED + 1).unwrap();
    let mut i = 0u32;
    while fs.peek("journal.log").map_or(0, |j| j.len()) <= COMPACT_AFTER {
        sks.set_property(st.plain.handle, "urn:bag", "w", &format!("{i:0>100}"))
            .unwrap();
        i += 1;
        assert!(i < 100_000, "the journal does not grow");
    }
    drop(sks);
    (fs, st)
}

/// Builds the starting state on a new `SimFs`.
fn start() -> (SimFs, Start) {
    let fs = SimFs::new();
    let mut sks = open_seeded(&fs, CARD_SEED).unwrap();
    let base = base_key(&mut sks, 1);
    // The locked key: its own session, PUK "7777".
    let mut is = Issuer::new(2).with_kmk(2);
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(&mut sks).unwrap();
    let puk = is
        .create_puk(&mut sks, "PUK", b"7777", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN");
    ps.puk = Some((puk, "PUK".into()));
    ps.grouping = Grouping::Shared;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let lk = is
        .provision_key(
            &mut sks,
            &KeySpec::new("L", uri::P256).with_pin(pin, "PIN", b"4321"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    for _ in 0..3 {
        expect_code(
            support_neg::sign(&mut sks, lk.handle, Some(b"0000")),
            SksErrorCode::Authorization,
        );
    }
    let locked = Base {
        key: lk,
        kmk,
        session: is.handle,
    };
    // The plain key with a property bag.
    let mut is = Issuer::new(3);
    is.create_session(&mut sks).unwrap();
    let mut ks = KeySpec::new("P", uri::P256);
    ks.export_protection = ExportProtection::None;
    let plain = is.provision_key(&mut sks, &ks).unwrap();
    let bag = session1::encode_property_bag(&[Property {
        name: "w".into(),
        writable: true,
        value: "0".into(),
    }])
    .unwrap();
    let ee = plain.certificate_path[0].clone();
    is.add_extension(
        &mut sks,
        plain.handle,
        &ee,
        "urn:bag",
        ExtensionSubType::PropertyBag,
        "",
        &bag,
    )
    .unwrap();
    is.close(&mut sks).unwrap();
    drop(sks);
    (
        fs,
        Start {
            base,
            locked,
            locked_puk: b"7777".to_vec(),
            plain,
        },
    )
}

/// Everything observable of the committed state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    keys: Vec<(KeyHandle, KeyAttributes, KeyProtectionInfo)>,
    sessions: Vec<EnumeratedProvisioningSession>,
}

fn view(sks: &mut ReferenceSks) -> View {
    let keys = support_neg::committed_keys(sks)
        .into_iter()
        .map(|h| {
            (
                h,
                sks.get_key_attributes(h).unwrap(),
                sks.get_key_protection_info(h).unwrap(),
            )
        })
        .collect();
    View {
        keys,
        sessions: support_neg::sessions(sks, false),
    }
}

/// One operation under test: it runs on a card opened on a copy of the starting state.
type Op = fn(&mut ReferenceSks, &Start) -> Result<(), SksError>;

fn full_provisioning(sks: &mut ReferenceSks, _: &Start) -> Result<(), SksError> {
    provision_all(sks).map_err(EmuError::into_sks)
}

fn provision_all(sks: &mut ReferenceSks) -> Result<(), EmuError> {
    let mut is = Issuer::new(10).with_kmk(10);
    is.create_session(sks)?;
    let puk = is.create_puk(sks, "PUK", b"1111", PassphraseFormat::Numeric, 3)?;
    let mut ps = PinSpec::new("PIN");
    ps.puk = Some((puk, "PUK".into()));
    let pin = is.create_pin(sks, &ps)?;
    let k1 = is.provision_key(
        sks,
        &KeySpec::new("K1", uri::P256).with_pin(pin, "PIN", b"2580"),
    )?;
    let k2 = is.provision_key(sks, &KeySpec::new("K2", uri::P384))?;
    is.import_symmetric_key(sks, k2.handle, &k2.certificate_path[0].clone(), &[9; 32])?;
    let ee = k1.certificate_path[0].clone();
    is.add_extension(
        sks,
        k1.handle,
        &ee,
        "urn:e",
        ExtensionSubType::Extension,
        "",
        b"ext",
    )?;
    is.close(sks).map(|_| ())
}

fn post_op(sks: &mut ReferenceSks, st: &Start, which: u8) -> Result<(), SksError> {
    post_session(sks, st, which).map_err(EmuError::into_sks)
}

fn post_session(sks: &mut ReferenceSks, st: &Start, which: u8) -> Result<(), EmuError> {
    let mut is = Issuer::new(20 + u64::from(which)).with_kmk(20);
    is.create_session(sks)?;
    match which {
        0 | 1 => {
            let n = is.provision_key(sks, &KeySpec::new("N", uri::P256))?;
            is.post_update_or_clone(
                sks,
                n.handle,
                &n.certificate_path[0].clone(),
                st.base.key.handle,
                st.base.key.ee(),
                &st.base.kmk,
                which == 0,
            )?;
        }
        2 => {
            is.post_delete_or_unlock(
                sks,
                st.base.key.handle,
                st.base.key.ee(),
                &st.base.kmk,
                true,
            )?;
            is.provision_key(sks, &KeySpec::new("N", uri::P256))?;
        }
        _ => {
            is.post_delete_or_unlock(
                sks,
                st.locked.key.handle,
                st.locked.key.ee(),
                &st.locked.kmk,
                false,
            )?;
            is.provision_key(sks, &KeySpec::new("N", uri::P256))?;
        }
    }
    is.close(sks).map(|_| ())
}

fn post_update(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    post_op(sks, st, 0)
}
fn post_clone(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    post_op(sks, st, 1)
}
fn post_delete(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    post_op(sks, st, 2)
}
fn post_unlock(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    post_op(sks, st, 3)
}
fn kmk_roll_over(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    let new = emulator::kmk(30);
    let auth = session1::sign_kmk_authorization(
        &st.base.kmk,
        &session1::roll_over_signed_data(&new.public_key()).unwrap(),
    )
    .unwrap();
    sks.update_key_management_key(
        st.base.session,
        &new.public_key().to_spki_der().unwrap(),
        &auth,
    )
}
fn wrong_pin(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    support_neg::sign(sks, st.base.key.handle, Some(b"9999")).map(|_| ())
}
fn wrong_puk(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.unlock_key(st.locked.key.handle, b"0000")
}
fn change_pin(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.change_pin(st.base.key.handle, BASE_PIN, b"2468")
}
fn set_pin(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.set_pin(st.locked.key.handle, &st.locked_puk, b"2468")
}
fn unlock(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.unlock_key(st.locked.key.handle, &st.locked_puk)
}
fn set_property(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.set_property(st.plain.handle, "urn:bag", "w", "1")
}
fn delete_key(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.delete_key(st.base.key.handle, Some(BASE_PUK))
        .or_else(|_| sks.delete_key(st.plain.handle, None))
}
fn export_key(sks: &mut ReferenceSks, st: &Start) -> Result<(), SksError> {
    sks.export_key(st.plain.handle, None).map(|_| ())
}

/// A PIN error counter of `k` in `v` (0 when absent).
fn counters(v: &View, k: KeyHandle) -> (u16, u16) {
    v.keys
        .iter()
        .find(|(h, _, _)| *h == k)
        .map_or((0, 0), |(_, _, p)| {
            (
                p.pin.map_or(0, |x| x.error_count),
                p.puk.map_or(0, |x| x.error_count),
            )
        })
}

/// Every committed key that is usable still works: it signs (or MACs) and verifies.
fn keys_work(sks: &mut ReferenceSks, v: &View, pins: &[&[u8]]) {
    for (h, attrs, prot) in &v.keys {
        if prot
            .protection_status
            .contains(ProtectionStatus::PIN_BLOCKED)
        {
            continue;
        }
        if attrs.symmetric_key_length > 0 {
            let pin = prot.pin.is_some().then_some(pins[0]);
            sks.perform_hmac(*h, uri::HMAC_SHA256, None, false, pin, b"m")
                .expect("the symmetric key works");
            continue;
        }
        let spki = airtight_proto::keys::certificate_spki_der(&attrs.certificate_path[0]).unwrap();
        if prot.pin.is_none() {
            support_neg::assert_signs(sks, *h, &spki, None);
            continue;
        }
        // One of the PINs this key may have (old or new) works.
        let ok = pins.iter().any(|p| {
            let r = support_neg::sign(sks, *h, Some(p));
            r.is_ok()
        });
        assert!(ok, "key {h:?} works with none of its PINs");
    }
}

fn policies() -> Vec<CrashPolicy> {
    let mut v = vec![CrashPolicy::DropUnsynced, CrashPolicy::KeepAll];
    for seed in 0..3 {
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
            garbage: true,
            reorder: true,
        });
    }
    v
}

/// Runs `op` with a crash at every write point; returns the number of write points.
fn crash_everywhere(
    name: &str,
    op: Op,
    pins: &[&[u8]],
    big: bool,
    policies: &[CrashPolicy],
) -> u64 {
    let (fs0, st) = if big {
        start_near_compaction()
    } else {
        start()
    };
    // The uncrashed run: its write points, its result and its end state.
    let fs = fs0.after_crash(CrashPolicy::KeepAll);
    let mut sks = open(&fs).unwrap();
    let before = view(&mut sks);
    let wp0 = fs.write_points();
    let result = op(&mut sks, &st);
    let n = fs.write_points() - wp0;
    let after = view(&mut sks);
    assert!(n > 0, "{name}: the operation wrote nothing ({result:?})");
    if let Err(e) = &result {
        assert_eq!(e.code(), SksErrorCode::Authorization, "{name}: {e}");
    }
    // [SKS-IMP-008] [SKS-IMP-005] a reported result is durable: cut the power right after.
    drop(sks);
    let mut sks = open_seeded(&fs.after_crash(CrashPolicy::DropUnsynced), 999).unwrap();
    assert_eq!(
        view(&mut sks),
        after,
        "{name}: the reported result was not durable"
    );
    for k in 1..=n {
        let fs = fs0.after_crash(CrashPolicy::KeepAll);
        let mut sks = open(&fs).unwrap();
        fs.crash_at(k);
        let r = op(&mut sks, &st);
        assert!(
            fs.has_crashed(),
            "{name}: write point {k} of {n} never came"
        );
        assert!(
            r.is_err(),
            "{name}: success reported across a power cut at {k}"
        );
        drop(sks);
        for (pi, &policy) in policies.iter().enumerate() {
            let ctx = format!("{name}: write point {k}/{n}, {policy:?}");
            let after_fs = fs.after_crash(policy);
            let mut sks = open_seeded(&after_fs, 1000 + k * 100 + pi as u64)
                .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            // [SKS-IMP-006]
            assert!(
                support_neg::open_handles(&mut sks).is_empty(),
                "{ctx}: an open session survived"
            );
            // [SKS-IMP-007]
            let v = view(&mut sks);
            assert!(v == before || v == after, "{ctx}: partial state {v:#?}");
            // [SKS-IMP-008] counters never go back (unless the completed operation is an
            // unlock, which resets them by definition).
            let resets = ["postUnlockKey", "setPin", "unlockKey"].contains(&name);
            for (h, _, _) in before.keys.iter().filter(|_| !(resets && v == after)) {
                if v.keys.iter().any(|(x, _, _)| x == h) {
                    let (pb, ub) = counters(&before, *h);
                    let (pv, uv) = counters(&v, *h);
                    assert!(pv >= pb && uv >= ub, "{ctx}: a counter went back");
                }
            }
            // [SKS-IMP-005] committed keys work; the store keeps working.
            keys_work(&mut sks, &v, pins);
            let mut is = Issuer::new(99);
            is.create_session(&mut sks).unwrap();
            is.provision_key(&mut sks, &KeySpec::new("Z", uri::P256))
                .unwrap();
            is.close(&mut sks)
                .unwrap_or_else(|e| panic!("{ctx}: the card does not commit after reboot: {e}"));
        }
    }
    n
}

fn operations() -> Vec<(&'static str, Op, Vec<&'static [u8]>)> {
    vec![
        (
            "full provisioning",
            full_provisioning,
            vec![BASE_PIN, b"2580"],
        ),
        ("postUpdateKey", post_update, vec![BASE_PIN]),
        ("postCloneKeyProtection", post_clone, vec![BASE_PIN]),
        ("postDeleteKey", post_delete, vec![BASE_PIN]),
        ("postUnlockKey", post_unlock, vec![BASE_PIN, b"4321"]),
        ("updateKeyManagementKey", kmk_roll_over, vec![BASE_PIN]),
        ("wrong PIN", wrong_pin, vec![BASE_PIN]),
        ("wrong PUK", wrong_puk, vec![BASE_PIN]),
        ("changePin", change_pin, vec![BASE_PIN, b"2468"]),
        ("setPin", set_pin, vec![BASE_PIN, b"2468", b"4321"]),
        ("unlockKey", unlock, vec![BASE_PIN, b"4321"]),
        ("setProperty", set_property, vec![BASE_PIN]),
        ("deleteKey", delete_key, vec![BASE_PIN]),
        ("exportKey", export_key, vec![BASE_PIN]),
    ]
}

fn run_all(big: bool, policies: &[CrashPolicy]) {
    let mut total = 0;
    let mut report = Vec::new();
    for (name, op, pins) in operations() {
        let n = crash_everywhere(name, op, &pins, big, policies);
        report.push(format!("{name}: {n}"));
        total += n;
    }
    println!(
        "write points covered ({}): {total} ({}), each under {} crash outcomes",
        if big {
            "journal at the compaction threshold"
        } else {
            "journal append"
        },
        report.join(", "),
        policies.len()
    );
    assert!(total >= 14);
}

#[test]
fn crash_at_every_write_point_of_every_persistent_operation() {
    run_all(false, &policies());
}

#[test]
fn crash_at_every_write_point_when_the_operation_compacts_the_store() {
    // The same operations, each forced to run a whole compaction (snapshot and journal
    // rewrites, renames, directory syncs) before its own commit.
    let fewer: Vec<CrashPolicy> = policies().into_iter().take(5).collect();
    run_all(true, &fewer);
}

/// What one operation does without a power cut, from the starting state: its write points and
/// the views before and after.
struct Uncut {
    n: u64,
    before: View,
    after: View,
    result: Result<(), SksError>,
}

fn uncut(fs0: &SimFs, st: &Start, op: Op) -> Uncut {
    let fs = fs0.after_crash(CrashPolicy::KeepAll);
    let mut sks = open(&fs).unwrap();
    let before = view(&mut sks);
    let wp0 = fs.write_points();
    let result = op(&mut sks, st);
    let n = fs.write_points() - wp0;
    let after = view(&mut sks);
    Uncut {
        n,
        before,
        after,
        result,
    }
}

/// [`start`], built once per thread (the property tests start every case from it).
fn start_once() -> &'static (SimFs, Start) {
    thread_local! {
        static START: &'static (SimFs, Start) = Box::leak(Box::new(start()));
    }
    START.with(|s| *s)
}

fn arb_policy() -> impl Strategy<Value = CrashPolicy> {
    prop_oneof![
        2 => Just(CrashPolicy::KeepAll),
        1 => Just(CrashPolicy::DropUnsynced),
        1 => (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(seed, garbage, reorder)| {
            CrashPolicy::Torn { seed, garbage, reorder }
        }),
    ]
}

fn disk_bytes(fs: &SimFs) -> usize {
    use airtight_card::store::Vfs;
    fs.list()
        .unwrap()
        .iter()
        .map(|n| fs.peek(n).map_or(0, |c| c.len()))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// [SKS-IMP-007] Not only the enumerated crash points: the power goes at any write point of
    /// any persistent operation, and inside that write at any byte offset (`SimFs::crash_inside`:
    /// exactly that prefix of the write reaches the disk under `KeepAll`). The card reopens with
    /// no open session, holding exactly the state before or the state after the operation, and
    /// its committed keys work.
    #[test]
    fn a_power_cut_at_any_byte_of_any_write_leaves_the_old_or_the_new_state(
        which in any::<prop::sample::Index>(),
        point in any::<u64>(),
        offset in any::<usize>(),
        policy in arb_policy(),
    ) {
        let ops = operations();
        let (name, op, pins) = &ops[which.index(ops.len())];
        let (fs0, st) = start_once();
        let u = uncut(fs0, st, *op);
        let k = 1 + point % u.n;
        let fs = fs0.after_crash(CrashPolicy::KeepAll);
        let mut sks = open(&fs).unwrap();
        fs.crash_inside(k, offset);
        let r = op(&mut sks, st);
        prop_assert!(fs.has_crashed(), "{}: write point {} of {} never came", name, k, u.n);
        prop_assert!(r.is_err(), "{}: success reported across a power cut", name);
        drop(sks);
        let ctx = format!("{name}: write point {k}/{}, offset {offset}, {policy:?}", u.n);
        let mut sks = open_seeded(&fs.after_crash(policy), 4242)
            .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        prop_assert!(support_neg::open_handles(&mut sks).is_empty(), "{}: open session", ctx);
        let v = view(&mut sks);
        prop_assert!(v == u.before || v == u.after, "{}: partial state", ctx);
        keys_work(&mut sks, &v, pins);
    }

    /// [SKS-IMP-007] ENOSPC on any one write point of any persistent operation: the operation
    /// either completes or fails with a clear `ERROR_STORAGE` that names the full disk; either
    /// way nothing committed is lost (a reboot finds the state before or after) and the card
    /// goes on working once there is space.
    #[test]
    fn no_space_at_any_write_point_is_a_clear_error_and_loses_nothing(
        which in any::<prop::sample::Index>(),
        point in any::<u64>(),
        policy in arb_policy(),
    ) {
        let ops = operations();
        let (name, op, pins) = &ops[which.index(ops.len())];
        let (fs0, st) = start_once();
        let u = uncut(fs0, st, *op);
        let k = 1 + point % u.n;
        let fs = fs0.after_crash(CrashPolicy::KeepAll);
        let mut sks = open(&fs).unwrap();
        fs.fail_at(k, airtight_card::store::SimFault::NoSpace);
        let r = op(&mut sks, st);
        let ctx = format!("{name}: ENOSPC at write point {k}/{}", u.n);
        if let Err(e) = &r
            && (u.result.is_ok() || e.code() != SksErrorCode::Authorization)
        {
            prop_assert_eq!(e.code(), SksErrorCode::Storage, "{}: {}", ctx, e);
            prop_assert!(e.message().contains("no space left"), "{}: unclear error {}", ctx, e);
        }
        drop(sks);
        let mut sks = open_seeded(&fs.after_crash(policy), 4343)
            .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        let v = view(&mut sks);
        prop_assert!(v == u.before || v == u.after, "{}: partial state", ctx);
        if r.is_ok() {
            prop_assert!(v == u.after, "{}: a reported success was lost", ctx);
        }
        keys_work(&mut sks, &v, pins);
    }
}

/// [SKS-IMP-007] A full disk (every write fails with ENOSPC): every persistent operation fails
/// with `ERROR_STORAGE` naming the full disk, the card's state, in memory and after a reboot,
/// is the state before, and once space comes back the same operation succeeds as it does on a
/// disk with room.
#[test]
fn a_full_disk_fails_every_persistent_operation_cleanly_and_loses_nothing() {
    let (fs0, st) = start();
    for (name, op, pins) in operations() {
        let u = uncut(&fs0, &st, op);
        let fs = fs0.after_crash(CrashPolicy::KeepAll);
        let mut sks = open(&fs).unwrap();
        fs.set_capacity(Some(disk_bytes(&fs)));
        let e = op(&mut sks, &st).expect_err(name);
        assert_eq!(e.code(), SksErrorCode::Storage, "{name}: {e}");
        assert!(e.message().contains("no space left"), "{name}: {e}");
        assert_eq!(view(&mut sks), u.before, "{name}: memory changed");
        drop(sks);
        for policy in [CrashPolicy::DropUnsynced, CrashPolicy::KeepAll] {
            let mut sks = open_seeded(&fs.after_crash(policy), 4444).unwrap();
            assert_eq!(view(&mut sks), u.before, "{name}: {policy:?}");
            keys_work(&mut sks, &u.before, &pins);
        }
        fs.set_capacity(None);
        let mut sks = open(&fs).unwrap();
        let again = op(&mut sks, &st);
        assert_eq!(
            again.map_err(|e| e.code()),
            u.result.as_ref().map(|_| ()).map_err(SksError::code),
            "{name}: after space came back"
        );
    }
}
