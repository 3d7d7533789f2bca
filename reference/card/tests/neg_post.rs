//! Negative checks: post-operations (delete, unlock, update, clone) and KMK roll-over with wrong,
//! foreign or replayed authorizations, privacy-mode mismatch, non-updatable targets, and every
//! multiplicity and PIN rule. Each failure tears the session down and leaves the target intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_neg;

use airtight_card::ReferenceSks;
use airtight_proto::keys::PrivateKey;
use airtight_proto::policy::{AppUsage, Grouping, PassphraseFormat};
use airtight_proto::session1::{self, Method};
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore, SksError, SksErrorCode};
use airtight_testkit::emulator::{self, Issuer, KeySpec, PinSpec, Provisioned, uri};
use airtight_testkit::expect_code;
use support_neg::{
    BASE_PIN, Base, all_passed, assert_signs, case, rsa_spki, session, session_kmk, snapshot, world,
};

/// The four post-operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    Delete,
    Unlock,
    Update,
    Clone,
}

/// Sends post-operation `op` with the given `authorization` and a correct MAC.
fn post_with_auth(
    sks: &mut ReferenceSks,
    is: &mut Issuer,
    op: Post,
    new: Option<&Provisioned>,
    target: KeyHandle,
    auth: &[u8],
) -> Result<(), SksError> {
    match op {
        Post::Delete | Post::Unlock => {
            let data = session1::post_delete_or_unlock_data(auth).unwrap();
            if op == Post::Delete {
                let mac = is.mac(Method::PostDeleteKey, &data).unwrap();
                sks.post_delete_key(is.handle, target, auth, &mac)
            } else {
                let mac = is.mac(Method::PostUnlockKey, &data).unwrap();
                sks.post_unlock_key(is.handle, target, auth, &mac)
            }
        }
        Post::Update | Post::Clone => {
            let new = new.expect("a new key");
            let data = session1::post_update_or_clone_data(new.ee(), auth).unwrap();
            if op == Post::Update {
                let mac = is.mac(Method::PostUpdateKey, &data).unwrap();
                sks.post_update_key(new.handle, target, auth, &mac)
            } else {
                let mac = is.mac(Method::PostCloneKeyProtection, &data).unwrap();
                sks.post_clone_key_protection(new.handle, target, auth, &mac)
            }
        }
    }
}

/// Sends `op` on `target` with a correct authorization by `kmk`.
fn post(
    sks: &mut ReferenceSks,
    is: &mut Issuer,
    op: Post,
    new: Option<&Provisioned>,
    target: &Provisioned,
    kmk: &PrivateKey,
) -> Result<(), SksError> {
    let auth = is.authorization(kmk, target.ee()).unwrap();
    post_with_auth(sks, is, op, new, target.handle, &auth)
}

/// A new PIN-less key (appUsage authentication, as the base key) in `is`.
fn new_key(sks: &mut ReferenceSks, is: &mut Issuer, id: &str) -> Provisioned {
    is.provision_key(sks, &KeySpec::new(id, uri::P256)).unwrap()
}

/// The base key still works with its PIN and the committed view is `before`.
#[track_caller]
fn base_intact(sks: &mut ReferenceSks, base: &Base) {
    assert_signs(sks, base.key.handle, &base.key.public_key, Some(BASE_PIN));
}

/// The forgeries whose signature has the right length but does not verify: ERROR_OPTION (the
/// Java reference's code, [SKS-ERR-008]); the empty one has the wrong length: ERROR_CRYPTO.
const NOT_VERIFYING: &[&str] = &[
    "signed by another KMK (t53)",
    "made for another session (replayed)",
    "bound to another device",
    "made for another target certificate",
    "garbage of a signature's length",
];

fn bad_authorizations(op: Post) {
    // [SKS-PST-001] [CRY-TKR-001] [CRY-TKR-002] [CRY-TKR-004] [SKS-ERR-008] [SKS-TXN-003]
    let (mut sks, base) = world(300);
    let before = snapshot(&mut sks);
    let rsa_device = airtight_pki::fixtures::device(airtight_pki::DeviceKeyKind::Rsa2048)
        .certificate_path[0]
        .clone();
    let mut failures = Vec::new();
    type Forge = fn(&mut ReferenceSks, &mut Issuer, &Base, &[u8]) -> Vec<u8>;
    let forgeries: Vec<(&str, Forge)> = vec![
        ("signed by another KMK (t53)", |_, is, b, _| {
            is.authorization(&emulator::kmk(999), b.key.ee()).unwrap()
        }),
        ("made for another session (replayed)", |sks, _, b, _| {
            let mut other = session(sks, 3099);
            let auth = other.authorization(&b.kmk, b.key.ee()).unwrap();
            sks.abort_provisioning_session(other.handle).unwrap();
            auth
        }),
        ("bound to another device", |_, is, b, dev| {
            let mine = std::mem::replace(&mut is.device_id, dev.to_vec());
            let auth = is.authorization(&b.kmk, b.key.ee()).unwrap();
            is.device_id = mine;
            auth
        }),
        ("made for another target certificate", |_, is, b, _| {
            let mut ee = b.key.ee().to_vec();
            let n = ee.len() - 1;
            ee[n] ^= 1;
            is.authorization(&b.kmk, &ee).unwrap()
        }),
        ("garbage of a signature's length", |_, _, _, _| {
            vec![0x5a; 64]
        }),
        ("empty", |_, _, _, _| Vec::new()),
    ];
    for (i, (what, forge)) in forgeries.into_iter().enumerate() {
        let code = if NOT_VERIFYING.contains(&what) {
            SksErrorCode::Option
        } else {
            SksErrorCode::Crypto
        };
        case(&mut failures, what, || {
            let mut is = session(&mut sks, 3000 + i as u64);
            let nk =
                matches!(op, Post::Update | Post::Clone).then(|| new_key(&mut sks, &mut is, "N"));
            let auth = forge(&mut sks, &mut is, &base, &rsa_device);
            let r = post_with_auth(&mut sks, &mut is, op, nk.as_ref(), base.key.handle, &auth);
            fatal!(sks, is, before, r, code);
        });
    }
    all_passed(&failures);
    base_intact(&mut sks, &base);
}

#[test]
fn malformed_authorizations() {
    // Forged, replayed, garbage and empty authorizations [SKS-ERR-008] [SKS-PST-001]
    for op in [Post::Delete, Post::Unlock, Post::Update, Post::Clone] {
        bad_authorizations(op);
    }
}

#[test]
fn bad_authorizations_fail_and_tear_down() {
    // Whatever the code, a forged authorization never succeeds, never answers
    // ERROR_AUTHORIZATION and always tears the session down [SKS-PST-001] [SKS-TXN-002].
    let (mut sks, base) = world(301);
    let before = snapshot(&mut sks);
    for (i, op) in [Post::Delete, Post::Unlock, Post::Update, Post::Clone]
        .into_iter()
        .enumerate()
    {
        let mut is = session(&mut sks, 3100 + i as u64);
        let nk = matches!(op, Post::Update | Post::Clone).then(|| new_key(&mut sks, &mut is, "N"));
        let auth = is
            .authorization(&emulator::kmk(999), base.key.ee())
            .unwrap();
        let r = post_with_auth(&mut sks, &mut is, op, nk.as_ref(), base.key.handle, &auth);
        let e = r.expect_err("a forged authorization was accepted");
        assert_ne!(e.code(), SksErrorCode::Authorization);
        let code = e.code();
        fatal!(sks, is, before, Err::<(), _>(e), code);
    }
    base_intact(&mut sks, &base);
}

#[test]
fn post_operation_rules() {
    // [SKS-PST-003] [SKS-PST-006] [SKS-PST-007] [SKS-PST-008] [SKS-PST-009] [SKS-PST-010]
    // [SKS-PST-011] [SKS-ERR-010] [SKS-TXN-002] [SKS-TXN-003] (t14-t29, t56)
    let (mut sks, base) = world(302);
    // A second updatable key whose PIN grouping is none (no clone target), and a key of a
    // session without KMK (non-updatable).
    let mut is = Issuer::new(3200).with_kmk(302);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let lone = is
        .provision_key(
            &mut sks,
            &KeySpec::new("Lone", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    let mut is = session(&mut sks, 3201);
    let plain = new_key(&mut sks, &mut is, "Plain");
    is.close(&mut sks).unwrap();
    let before = snapshot(&mut sks);
    let kmk = base.kmk.clone();
    let b = base.key.clone();

    let mut failures = Vec::new();
    use SksErrorCode::Option as Opt;
    case(
        &mut failures,
        "privacy mode differs from the target's session (t56)",
        || {
            let mut is = Issuer::new(3211);
            is.privacy_enabled = true;
            is.create_session(&mut sks).unwrap();
            fatal!(
                sks,
                is,
                before,
                post(&mut sks, &mut is, Post::Unlock, None, &b, &kmk),
                Opt
            );
        },
    );
    case(
        &mut failures,
        "target of a session without KMK (t15)",
        || {
            let mut is = session(&mut sks, 3212);
            let r = post(&mut sks, &mut is, Post::Delete, None, &plain, &kmk);
            fatal!(sks, is, before, r, Opt);
        },
    );
    for (i, (what, first, second)) in [
        (
            "delete then unlock the same target",
            Post::Delete,
            Post::Unlock,
        ),
        (
            "unlock then delete the same target",
            Post::Unlock,
            Post::Delete,
        ),
        ("delete twice", Post::Delete, Post::Delete),
        (
            "update then delete the same target",
            Post::Update,
            Post::Delete,
        ),
        (
            "clone then delete the same target",
            Post::Clone,
            Post::Delete,
        ),
        (
            "delete then update the same target",
            Post::Delete,
            Post::Update,
        ),
        ("update twice (t19)", Post::Update, Post::Update),
    ]
    .into_iter()
    .enumerate()
    {
        case(&mut failures, what, || {
            let mut is = session(&mut sks, 3220 + i as u64);
            let n1 = new_key(&mut sks, &mut is, "N1");
            let n2 = new_key(&mut sks, &mut is, "N2");
            post(&mut sks, &mut is, first, Some(&n1), &b, &kmk)
                .unwrap_or_else(|e| panic!("first post-operation refused: {e}"));
            let r = post(&mut sks, &mut is, second, Some(&n2), &b, &kmk);
            fatal!(sks, is, before, r, Opt);
        });
    }
    case(
        &mut failures,
        "one new key in an update and a clone (t21)",
        || {
            let mut is = session(&mut sks, 3230);
            let n = new_key(&mut sks, &mut is, "N");
            post(&mut sks, &mut is, Post::Update, Some(&n), &b, &kmk).unwrap();
            let r = post(&mut sks, &mut is, Post::Clone, Some(&n), &b, &kmk);
            fatal!(sks, is, before, r, Opt);
        },
    );
    case(&mut failures, "one new key in two clones", || {
        let mut is = session(&mut sks, 3231);
        let n = new_key(&mut sks, &mut is, "N");
        post(&mut sks, &mut is, Post::Clone, Some(&n), &b, &kmk).unwrap();
        let r = post(&mut sks, &mut is, Post::Clone, Some(&n), &b, &kmk);
        fatal!(sks, is, before, r, Opt);
    });
    for (i, op) in [Post::Update, Post::Clone].into_iter().enumerate() {
        case(
            &mut failures,
            &format!("{op:?} with a new key that has a PIN (t18)"),
            || {
                let mut is = session(&mut sks, 3240 + i as u64);
                let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
                let n = is
                    .provision_key(
                        &mut sks,
                        &KeySpec::new("N", uri::P256).with_pin(pin, "PIN.1", b"1234"),
                    )
                    .unwrap();
                let r = post(&mut sks, &mut is, op, Some(&n), &b, &kmk);
                fatal!(sks, is, before, r, Opt);
            },
        );
    }
    case(&mut failures, "update with another appUsage", || {
        let mut is = session(&mut sks, 3250);
        let mut ks = KeySpec::new("N", uri::P256);
        ks.app_usage = AppUsage::Signature;
        let n = is.provision_key(&mut sks, &ks).unwrap();
        let r = post(&mut sks, &mut is, Post::Update, Some(&n), &b, &kmk);
        fatal!(sks, is, before, r, Opt);
    });
    case(
        &mut failures,
        "clone of a target whose grouping is none (t28)",
        || {
            let mut is = session(&mut sks, 3251);
            let n = new_key(&mut sks, &mut is, "N");
            let r = post(
                &mut sks,
                &mut is,
                Post::Clone,
                Some(&n),
                &lone,
                &emulator::kmk(302),
            );
            fatal!(sks, is, before, r, Opt);
        },
    );
    case(&mut failures, "unknown target handle", || {
        let mut is = session(&mut sks, 3253);
        let auth = is.authorization(&kmk, b.ee()).unwrap();
        let r = post_with_auth(
            &mut sks,
            &mut is,
            Post::Delete,
            None,
            KeyHandle(0x7fff_fff1),
            &auth,
        );
        fatal!(sks, is, before, r, SksErrorCode::NoKey);
    });
    all_passed(&failures);
    base_intact(&mut sks, &base);
    assert_eq!(snapshot(&mut sks), before);
}

#[test]
fn target_in_an_open_session() {
    // ERROR_OPTION, the Java reference's code
    // [SKS-PST-002]
    let (mut sks, base) = world(303);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    case(
        &mut failures,
        "a key of the current session as target",
        || {
            let mut is = session_kmk(&mut sks, 3300, 303);
            let own = new_key(&mut sks, &mut is, "Own");
            let r = post(
                &mut sks,
                &mut is,
                Post::Delete,
                None,
                &own,
                &emulator::kmk(303),
            );
            fatal!(sks, is, before, r, SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "a key of another open session as target",
        || {
            let mut other = session_kmk(&mut sks, 3301, 304);
            let theirs = new_key(&mut sks, &mut other, "Theirs");
            let mut is = session(&mut sks, 3302);
            let r = post(
                &mut sks,
                &mut is,
                Post::Unlock,
                None,
                &theirs,
                &emulator::kmk(304),
            );
            let before_other = before.clone();
            fatal!(sks, is, before_other, r, SksErrorCode::Option);
            sks.abort_provisioning_session(other.handle).unwrap();
        },
    );
    all_passed(&failures);
    base_intact(&mut sks, &base);
}

#[test]
fn post_operation_handles() {
    // [SKS-ERR-005]
    let (mut sks, base) = world(304);
    let before = snapshot(&mut sks);
    // postDeleteKey on an unknown session.
    let mut ghost = Issuer::new(3400);
    ghost.create_session(&mut sks).unwrap();
    let auth = ghost.authorization(&base.kmk, base.key.ee()).unwrap();
    sks.abort_provisioning_session(ghost.handle).unwrap();
    expect_code(
        sks.post_delete_key(ghost.handle, base.key.handle, &auth, &[0; 32]),
        SksErrorCode::NoSession,
    );
    expect_code(
        sks.post_unlock_key(
            ProvisioningHandle(0x7fff_fff2),
            base.key.handle,
            &auth,
            &[0; 32],
        ),
        SksErrorCode::NoSession,
    );
    // postUpdateKey with an unknown new key.
    expect_code(
        sks.post_update_key(KeyHandle(0x7fff_fff3), base.key.handle, &auth, &[0; 32]),
        SksErrorCode::NoKey,
    );
    expect_code(
        sks.post_clone_key_protection(KeyHandle(0x7fff_fff3), base.key.handle, &auth, &[0; 32]),
        SksErrorCode::NoKey,
    );
    // postUpdateKey whose "new key" is a committed key (not of an open session).
    expect_code(
        sks.post_update_key(base.key.handle, base.key.handle, &auth, &[0; 32]),
        SksErrorCode::NoKey,
    );
    assert_eq!(snapshot(&mut sks), before);
    base_intact(&mut sks, &base);
}

fn kmk_of(sks: &mut ReferenceSks, h: ProvisioningHandle) -> Option<Vec<u8>> {
    support_neg::sessions(sks, false)
        .into_iter()
        .find(|s| s.provisioning_handle == h)
        .and_then(|s| s.key_management_key)
}

#[test]
fn kmk_roll_over_refusals() {
    // [SKS-KMK-001] [SKS-KMK-002] [CRY-ROL-001] [CRY-ROL-003] (t78, t79): nothing changes and
    // the code is never ERROR_AUTHORIZATION.
    let (mut sks, base) = world(305);
    let old = kmk_of(&mut sks, base.session).unwrap();
    let new_kmk = emulator::kmk(3500);
    let new_spki = new_kmk.public_key().to_spki_der().unwrap();
    let good = session1::sign_kmk_authorization(
        &base.kmk,
        &session1::roll_over_signed_data(&new_kmk.public_key()).unwrap(),
    )
    .unwrap();
    // An open session ([SKS-KMK-001] allows ERROR_NOT_ALLOWED here).
    let mut is = session_kmk(&mut sks, 3501, 3501);
    expect_code(
        sks.update_key_management_key(is.handle, &new_spki, &good),
        SksErrorCode::NotAllowed,
    );
    new_key(&mut sks, &mut is, "K");
    is.close(&mut sks).unwrap();
    // Unknown handles.
    expect_code(
        sks.update_key_management_key(ProvisioningHandle(0x7fff_fff4), &new_spki, &good),
        SksErrorCode::NoSession,
    );
    expect_code(
        sks.update_key_management_key(ProvisioningHandle::NONE, &new_spki, &good),
        SksErrorCode::NoSession,
    );
    // A closed session without KMK.
    let mut is = session(&mut sks, 3502);
    new_key(&mut sks, &mut is, "K");
    is.close(&mut sks).unwrap();
    expect_code(
        sks.update_key_management_key(is.handle, &new_spki, &good),
        SksErrorCode::NotAllowed,
    );
    assert_eq!(kmk_of(&mut sks, base.session).unwrap(), old);
    // The good authorization works once (positive control) ...
    sks.update_key_management_key(base.session, &new_spki, &good)
        .unwrap();
    assert_eq!(kmk_of(&mut sks, base.session).unwrap(), new_spki);
    let _ = PassphraseFormat::Numeric;
    let _ = Grouping::Shared;
}

/// [SKS-KMK-001] [SKS-KMK-002] [CRY-ROL-003] [SKS-ERR-008] [SKS-SES-003]: a signature that
/// does not verify and an unfit new KMK are ERROR_OPTION (the Java reference's codes).
#[test]
fn kmk_roll_over_bad_inputs() {
    let (mut sks, base) = world(306);
    let old = kmk_of(&mut sks, base.session).unwrap();
    let new_kmk = emulator::kmk(3600);
    let new_spki = new_kmk.public_key().to_spki_der().unwrap();
    let data = session1::roll_over_signed_data(&new_kmk.public_key()).unwrap();
    let mut failures = Vec::new();
    let other_sig = session1::sign_kmk_authorization(&emulator::kmk(3601), &data).unwrap();
    let for_other_key = session1::sign_kmk_authorization(
        &base.kmk,
        &session1::roll_over_signed_data(&emulator::kmk(3602).public_key()).unwrap(),
    )
    .unwrap();
    let rsa_small = rsa_spki(512);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, SksErrorCode)> = vec![
        (
            "signed by another key",
            new_spki.clone(),
            other_sig,
            SksErrorCode::Option,
        ),
        (
            "signed for another new KMK",
            new_spki.clone(),
            for_other_key,
            SksErrorCode::Option,
        ),
        (
            "garbage signature",
            new_spki.clone(),
            vec![1; 64],
            SksErrorCode::Option,
        ),
        (
            "RSA-512 new KMK",
            rsa_small,
            vec![1; 64],
            SksErrorCode::Option,
        ),
        (
            "new KMK on secp256k1",
            support_neg::ec_spki(support_neg::OID_SECP256K1, &[4; 65]),
            vec![1; 64],
            SksErrorCode::Option,
        ),
    ];
    for (what, spki, auth, code) in cases {
        case(&mut failures, what, || {
            expect_code(
                sks.update_key_management_key(base.session, &spki, &auth),
                code,
            );
            assert_eq!(
                kmk_of(&mut sks, base.session).unwrap(),
                old,
                "the KMK changed"
            );
        });
    }
    // A replayed roll-over: K -> N applied, then the same authorization again (now N is the
    // current KMK and did not sign it).
    case(&mut failures, "replayed roll-over authorization", || {
        let good = session1::sign_kmk_authorization(&base.kmk, &data).unwrap();
        sks.update_key_management_key(base.session, &new_spki, &good)
            .unwrap();
        expect_code(
            sks.update_key_management_key(base.session, &new_spki, &good),
            SksErrorCode::Option,
        );
        assert_eq!(kmk_of(&mut sks, base.session).unwrap(), new_spki);
    });
    all_passed(&failures);
}

#[test]
fn kmk_roll_over_refusals_change_nothing() {
    // Whatever the code: a refused roll-over changes nothing and is never ERROR_AUTHORIZATION
    // [SKS-KMK-002] [CRY-ROL-003].
    let (mut sks, base) = world(307);
    let old = kmk_of(&mut sks, base.session).unwrap();
    let new_kmk = emulator::kmk(3700);
    let new_spki = new_kmk.public_key().to_spki_der().unwrap();
    let data = session1::roll_over_signed_data(&new_kmk.public_key()).unwrap();
    let bad = session1::sign_kmk_authorization(&emulator::kmk(3701), &data).unwrap();
    for (spki, auth) in [
        (new_spki.clone(), bad),
        (rsa_spki(512), vec![1; 64]),
        (new_spki.clone(), Vec::new()),
    ] {
        let e = sks
            .update_key_management_key(base.session, &spki, &auth)
            .expect_err("accepted");
        assert_ne!(e.code(), SksErrorCode::Authorization);
        assert_eq!(kmk_of(&mut sks, base.session).unwrap(), old);
    }
    base_intact(&mut sks, &base);
}

#[test]
fn clone_of_a_target_without_pin() {
    // [SKS-PST-011] Only a target PIN policy whose grouping is not `shared` refuses a clone; a
    // target without PIN policy is accepted (the Java reference checks the grouping only when
    // there is a PIN policy) and the clone inherits its absence of PIN protection.
    let (mut sks, _base) = world(308);
    let mut is = Issuer::new(3800).with_kmk(308);
    is.create_session(&mut sks).unwrap();
    let nopin = new_key(&mut sks, &mut is, "NoPin");
    is.close(&mut sks).unwrap();
    let mut is = session(&mut sks, 3801);
    let n = new_key(&mut sks, &mut is, "N");
    post(
        &mut sks,
        &mut is,
        Post::Clone,
        Some(&n),
        &nopin,
        &emulator::kmk(308),
    )
    .unwrap();
    is.close(&mut sks).unwrap();
    assert_signs(&mut sks, n.handle, &n.public_key, None);
    assert_signs(&mut sks, nopin.handle, &nopin.public_key, None);
}
