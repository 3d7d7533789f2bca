//! Negative checks of the management and User API: wrong PIN with counter increments and
//! lock-out, PUK unlock, PUK retry limit 0, changePin/setPin rules, the export and delete
//! protection matrix, endorsed-algorithm enforcement (#none included), biometric rules, wrong
//! handles, data limits, extensions and property bags. ERROR_AUTHORIZATION never tears down an
//! open session.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_neg;

use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, DevicePin, ReferenceSks, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::policy::{
    BiometricProtection, DeleteProtection, ExportProtection, Grouping, PassphraseFormat,
    PatternRestriction, PatternRestrictions,
};
use airtight_proto::session1::{self, Property};
use airtight_proto::sks::{
    ExtensionSubType, KeyBackup, KeyHandle, ProtectionStatus, SecureKeyStore, SksErrorCode,
};
use airtight_testkit::emulator::{self, Issuer, KeySpec, PinSpec, Provisioned, uri};
use airtight_testkit::expect_code;
use support_neg::{all_passed, case, open_handles, pin_errors, puk_errors, session, sign};

/// The keys of [`user_world`].
struct Keys {
    /// PIN "1234" (policy P1: shared, retry 3, PUK "01234567" retry 3); export pin, delete puk.
    a: Provisioned,
    /// Same PIN policy as `a` (shared group).
    b: Provisioned,
    /// No PIN; non-exportable, non-deletable.
    c: Provisioned,
    /// No PIN; exportable, endorses ECDSA-SHA256 only.
    d: Provisioned,
    /// No PIN; endorses #none; exportable.
    e: Provisioned,
    /// A 32-byte symmetric key, no PIN, no endorsement.
    s: Provisioned,
    /// A symmetric key with PIN "1234" (policy P1).
    sp: Provisioned,
    /// PIN "5678" of a policy that is not user-modifiable (PUK as `a`).
    h: Provisioned,
    /// PIN "2468" of a policy whose PUK "0000" has retry limit 0.
    z: Provisioned,
    /// Ed25519, no PIN.
    x: Provisioned,
    /// Biometric alternative (PIN policy P1).
    alt: Provisioned,
    /// Biometric combined (PIN policy P1).
    comb: Provisioned,
    /// Biometric exclusive.
    excl: Provisioned,
    /// A key with a property bag (`urn:bag`: `w` writable, `r` read-only) and an extension.
    ext: Provisioned,
}

const PUK: &[u8] = b"01234567";

fn user_world(seed: u64) -> (ReferenceSks, Keys) {
    let mut sks = airtight_testkit::card(seed);
    let mut is = Issuer::new(seed);
    is.create_session(&mut sks).unwrap();
    let u1 = is
        .create_puk(&mut sks, "U1", PUK, PassphraseFormat::Numeric, 3)
        .unwrap();
    let u0 = is
        .create_puk(&mut sks, "U0", b"0000", PassphraseFormat::Numeric, 0)
        .unwrap();
    let mut p1 = PinSpec::new("P1");
    p1.puk = Some((u1, "U1".into()));
    p1.grouping = Grouping::Shared;
    let p1 = is.create_pin(&mut sks, &p1).unwrap();
    let mut p2 = PinSpec::new("P2");
    p2.user_modifiable = false;
    p2.puk = Some((u1, "U1".into()));
    let p2 = is.create_pin(&mut sks, &p2).unwrap();
    let mut p3 = PinSpec::new("P3");
    p3.puk = Some((u0, "U0".into()));
    p3.pattern_restrictions = PatternRestrictions::NONE.with(PatternRestriction::Sequence);
    let p3 = is.create_pin(&mut sks, &p3).unwrap();
    let mut ka = KeySpec::new("A", uri::P256).with_pin(p1, "P1", b"1234");
    ka.export_protection = ExportProtection::Pin;
    ka.delete_protection = DeleteProtection::Puk;
    let a = is.provision_key(&mut sks, &ka).unwrap();
    let mut kb = KeySpec::new("B", uri::P256).with_pin(p1, "P1", b"1234");
    kb.export_protection = ExportProtection::Puk;
    kb.delete_protection = DeleteProtection::Pin;
    let b = is.provision_key(&mut sks, &kb).unwrap();
    let mut kc = KeySpec::new("C", uri::P256);
    kc.delete_protection = DeleteProtection::NonDeletable;
    let c = is.provision_key(&mut sks, &kc).unwrap();
    let mut kd = KeySpec::new("D", uri::P256);
    kd.export_protection = ExportProtection::None;
    kd.endorsed_algorithms = vec![uri::ECDSA_SHA256.into()];
    let d = is.provision_key(&mut sks, &kd).unwrap();
    let mut ke = KeySpec::new("E", uri::P256);
    ke.export_protection = ExportProtection::None;
    ke.endorsed_algorithms = vec![uri::NONE.into()];
    let e = is.provision_key(&mut sks, &ke).unwrap();
    let s = is
        .provision_key(&mut sks, &KeySpec::new("S", uri::P256))
        .unwrap();
    is.import_symmetric_key(&mut sks, s.handle, &s.certificate_path[0], &[0x11; 32])
        .unwrap();
    let sp = is
        .provision_key(
            &mut sks,
            &KeySpec::new("SP", uri::P256).with_pin(p1, "P1", b"1234"),
        )
        .unwrap();
    is.import_symmetric_key(&mut sks, sp.handle, &sp.certificate_path[0], &[0x22; 32])
        .unwrap();
    let h = is
        .provision_key(
            &mut sks,
            &KeySpec::new("H", uri::P256).with_pin(p2, "P2", b"5678"),
        )
        .unwrap();
    let z = is
        .provision_key(
            &mut sks,
            &KeySpec::new("Z", uri::P256).with_pin(p3, "P3", b"2468"),
        )
        .unwrap();
    let x = is
        .provision_key(&mut sks, &KeySpec::new("X", uri::ED25519))
        .unwrap();
    let mut kalt = KeySpec::new("ALT", uri::P256).with_pin(p1, "P1", b"1234");
    kalt.biometric_protection = BiometricProtection::Alternative;
    let alt = is.provision_key(&mut sks, &kalt).unwrap();
    let mut kcomb = KeySpec::new("COMB", uri::P256).with_pin(p1, "P1", b"1234");
    kcomb.biometric_protection = BiometricProtection::Combined;
    let comb = is.provision_key(&mut sks, &kcomb).unwrap();
    let mut kexcl = KeySpec::new("EXCL", uri::P256);
    kexcl.biometric_protection = BiometricProtection::Exclusive;
    let excl = is.provision_key(&mut sks, &kexcl).unwrap();
    let ext = is
        .provision_key(&mut sks, &KeySpec::new("EXT", uri::P256))
        .unwrap();
    let bag = session1::encode_property_bag(&[
        Property {
            name: "w".into(),
            writable: true,
            value: "1".into(),
        },
        Property {
            name: "r".into(),
            writable: false,
            value: "2".into(),
        },
    ])
    .unwrap();
    let ee = ext.certificate_path[0].clone();
    is.add_extension(
        &mut sks,
        ext.handle,
        &ee,
        "urn:bag",
        ExtensionSubType::PropertyBag,
        "",
        &bag,
    )
    .unwrap();
    is.add_extension(
        &mut sks,
        ext.handle,
        &ee,
        "urn:plain",
        ExtensionSubType::Extension,
        "",
        b"x",
    )
    .unwrap();
    is.close(&mut sks).unwrap();
    (
        sks,
        Keys {
            a,
            b,
            c,
            d,
            e,
            s,
            sp,
            h,
            z,
            x,
            alt,
            comb,
            excl,
            ext,
        },
    )
}

#[test]
fn wrong_pin_counts_locks_out_and_never_tears_down() {
    // [SKS-USR-003] [SKS-USR-004] [POL-PIN-004] [POL-PIN-005] [POL-GRP-006] [SKS-ERR-003]
    // [SKS-ENU-003] (t11, t12)
    let (mut sks, k) = user_world(400);
    // An open session must survive every ERROR_AUTHORIZATION.
    let mut open = session(&mut sks, 4000);
    open.provision_key(&mut sks, &KeySpec::new("Open", uri::P256))
        .unwrap();
    expect_code(
        sign(&mut sks, k.a.handle, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    assert_eq!(pin_errors(&mut sks, k.a.handle), 1);
    // The group shares the counter [POL-GRP-006].
    assert_eq!(pin_errors(&mut sks, k.b.handle), 1);
    expect_code(
        sign(&mut sks, k.b.handle, Some(b"9999")),
        SksErrorCode::Authorization,
    );
    assert_eq!(pin_errors(&mut sks, k.a.handle), 2);
    // A missing PIN on a PIN-protected key is a wrong PIN too.
    expect_code(
        sign(&mut sks, k.a.handle, None),
        SksErrorCode::Authorization,
    );
    assert_eq!(pin_errors(&mut sks, k.a.handle), 3);
    let info = sks.get_key_protection_info(k.a.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::PIN_BLOCKED)
    );
    // Blocked: the right PIN is refused without comparing, the counter stays.
    expect_code(
        sign(&mut sks, k.a.handle, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    expect_code(
        sign(&mut sks, k.b.handle, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    assert_eq!(pin_errors(&mut sks, k.a.handle), 3);
    // Other user operations of a blocked group.
    expect_code(
        sks.perform_hmac(
            k.sp.handle,
            uri::HMAC_SHA256,
            None,
            false,
            Some(b"1234"),
            b"m",
        ),
        SksErrorCode::Authorization,
    );
    expect_code(
        sks.export_key(k.a.handle, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    assert!(
        open_handles(&mut sks).contains(&open.handle),
        "AUTHORIZATION tore down a session"
    );
    open.close(&mut sks).unwrap();
    // The PUK unblocks [SKS-MGT-003].
    expect_code(
        sks.unlock_key(k.a.handle, b"00000000"),
        SksErrorCode::Authorization,
    );
    assert_eq!(puk_errors(&mut sks, k.a.handle), 1);
    sks.unlock_key(k.a.handle, PUK).unwrap();
    assert_eq!(pin_errors(&mut sks, k.b.handle), 0);
    assert_eq!(puk_errors(&mut sks, k.a.handle), 0);
    sign(&mut sks, k.b.handle, Some(b"1234")).unwrap();
}

#[test]
fn wrong_pin_in_every_user_operation() {
    // [SKS-USR-003] [POL-PIN-004]
    let (mut sks, k) = user_world(401);
    let peer = airtight_proto::keys::PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P256,
        &mut emulator::Issuer::new(1).rng,
    )
    .public_key()
    .to_spki_der()
    .unwrap();
    let mut n = 0;
    let mut step = |sks: &mut ReferenceSks, r: Result<(), airtight_proto::sks::SksError>| {
        expect_code(r, SksErrorCode::Authorization);
        n += 1;
        assert_eq!(pin_errors(sks, k.a.handle), n);
    };
    let r = sks
        .key_agreement(k.a.handle, uri::ECDH_RAW, None, false, Some(b"1111"), &peer)
        .map(|_| ());
    step(&mut sks, r);
    let r = sks
        .perform_hmac(
            k.sp.handle,
            uri::HMAC_SHA256,
            None,
            false,
            Some(b"1111"),
            b"m",
        )
        .map(|_| ());
    step(&mut sks, r);
    let r = sks
        .symmetric_key_encrypt(
            k.sp.handle,
            uri::AES256_CBC,
            true,
            None,
            false,
            Some(b"1111"),
            &[0; 16],
        )
        .map(|_| ());
    step(&mut sks, r);
}

#[test]
fn puk_rules() {
    // [POL-PUK-004] [POL-PUK-006] [POL-PUK-007] [SKS-MGT-003] [SKS-MGT-005] (t72)
    let (mut sks, k) = user_world(402);
    // Three wrong PUKs block the PUK; then even the right one fails.
    for i in 1..=3u16 {
        expect_code(
            sks.unlock_key(k.a.handle, b"11111111"),
            SksErrorCode::Authorization,
        );
        assert_eq!(puk_errors(&mut sks, k.a.handle), i);
    }
    let info = sks.get_key_protection_info(k.a.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::PUK_BLOCKED)
    );
    expect_code(sks.unlock_key(k.a.handle, PUK), SksErrorCode::Authorization);
    expect_code(
        sks.set_pin(k.a.handle, PUK, b"4321"),
        SksErrorCode::Authorization,
    );
    // A PUK-protected delete with a blocked PUK.
    expect_code(
        sks.delete_key(k.a.handle, Some(PUK)),
        SksErrorCode::Authorization,
    );
    // Retry limit 0 never blocks.
    for _ in 0..12 {
        expect_code(
            sks.unlock_key(k.z.handle, b"9999"),
            SksErrorCode::Authorization,
        );
    }
    let info = sks.get_key_protection_info(k.z.handle).unwrap();
    assert!(
        !info
            .protection_status
            .contains(ProtectionStatus::PUK_BLOCKED)
    );
    sks.unlock_key(k.z.handle, b"0000").unwrap();
    // setPin with a wrong PUK.
    expect_code(
        sks.set_pin(k.z.handle, b"1111", b"1357"),
        SksErrorCode::Authorization,
    );
    // [POL-PUK-007] the PUK value cannot be changed: it still is "0000".
    sks.set_pin(k.z.handle, b"0000", b"1357").unwrap();
    sign(&mut sks, k.z.handle, Some(b"1357")).unwrap();
}

#[test]
fn change_pin_and_set_pin_rules() {
    // [SKS-MGT-004] [SKS-MGT-005] [POL-PIN-002] [POL-PIN-008] [POL-FMT-006] (t31, t32)
    let (mut sks, k) = user_world(403);
    let mut failures = Vec::new();
    type Case<'a> = (&'a str, KeyHandle, &'a [u8], &'a [u8], bool, SksErrorCode);
    let cases: Vec<Case<'_>> = vec![
        (
            "changePin with a wrong old PIN",
            k.z.handle,
            b"0000",
            b"1357",
            false,
            SksErrorCode::Authorization,
        ),
        (
            "changePin to a too short PIN",
            k.z.handle,
            b"2468",
            b"135",
            false,
            SksErrorCode::Option,
        ),
        (
            "changePin to a too long PIN",
            k.z.handle,
            b"2468",
            b"135791357",
            false,
            SksErrorCode::Option,
        ),
        (
            "changePin to a non-numeric PIN",
            k.z.handle,
            b"2468",
            b"13a7",
            false,
            SksErrorCode::Option,
        ),
        (
            "changePin to a sequence",
            k.z.handle,
            b"2468",
            b"3456",
            false,
            SksErrorCode::Option,
        ),
        (
            "changePin of a non-modifiable PIN",
            k.h.handle,
            b"5678",
            b"1357",
            false,
            SksErrorCode::NotAllowed,
        ),
        (
            "setPin of a non-modifiable PIN",
            k.h.handle,
            PUK,
            b"1357",
            true,
            SksErrorCode::NotAllowed,
        ),
        (
            "setPin to a non-numeric PIN",
            k.z.handle,
            b"0000",
            b"13a7",
            true,
            SksErrorCode::Option,
        ),
        (
            "setPin to a too short PIN",
            k.z.handle,
            b"0000",
            b"13",
            true,
            SksErrorCode::Option,
        ),
        (
            "setPin with a wrong PUK",
            k.z.handle,
            b"1111",
            b"1357",
            true,
            SksErrorCode::Authorization,
        ),
    ];
    for (what, key, auth, new, set, code) in cases {
        case(&mut failures, what, || {
            let r = if set {
                sks.set_pin(key, auth, new)
            } else {
                sks.change_pin(key, auth, new)
            };
            expect_code(r, code);
        });
    }
    all_passed(&failures);
    // Nothing changed: the old PIN works (a later correct old PIN may have reset the counter
    // of the one wrong old PIN).
    assert!(pin_errors(&mut sks, k.z.handle) <= 1);
    sign(&mut sks, k.z.handle, Some(b"2468")).unwrap();
    sign(&mut sks, k.h.handle, Some(b"5678")).unwrap();
}

#[test]
fn export_and_delete_protection_matrix() {
    // [POL-PRT-003] [SKS-MGT-001] [SKS-MGT-002] [SKS-ENU-003] (t33-t38, t44)
    let (mut sks, k) = user_world(404);
    let mut failures = Vec::new();
    case(&mut failures, "export non-exportable", || {
        expect_code(sks.export_key(k.c.handle, None), SksErrorCode::NotAllowed);
    });
    case(&mut failures, "export pin-protected without PIN", || {
        expect_code(
            sks.export_key(k.a.handle, None),
            SksErrorCode::Authorization,
        );
    });
    case(
        &mut failures,
        "export pin-protected with a wrong PIN",
        || {
            expect_code(
                sks.export_key(k.a.handle, Some(b"0000")),
                SksErrorCode::Authorization,
            );
        },
    );
    case(
        &mut failures,
        "export puk-protected with a wrong PUK",
        || {
            expect_code(
                sks.export_key(k.b.handle, Some(b"00000000")),
                SksErrorCode::Authorization,
            );
        },
    );
    case(&mut failures, "export puk-protected with the PIN", || {
        expect_code(
            sks.export_key(k.b.handle, Some(b"1234")),
            SksErrorCode::Authorization,
        );
    });
    case(&mut failures, "delete non-deletable", || {
        expect_code(sks.delete_key(k.c.handle, None), SksErrorCode::NotAllowed);
    });
    case(
        &mut failures,
        "delete puk-protected with a wrong PUK",
        || {
            expect_code(
                sks.delete_key(k.a.handle, Some(b"00000000")),
                SksErrorCode::Authorization,
            );
        },
    );
    case(&mut failures, "delete puk-protected with the PIN", || {
        expect_code(
            sks.delete_key(k.a.handle, Some(b"1234")),
            SksErrorCode::Authorization,
        );
    });
    case(
        &mut failures,
        "delete pin-protected with a wrong PIN",
        || {
            expect_code(
                sks.delete_key(k.b.handle, Some(b"0000")),
                SksErrorCode::Authorization,
            );
        },
    );
    case(&mut failures, "delete pin-protected without PIN", || {
        expect_code(
            sks.delete_key(k.b.handle, None),
            SksErrorCode::Authorization,
        );
    });
    all_passed(&failures);
    // The keys are all still there; EXPORTED is not set by a refused export.
    for h in [k.a.handle, k.b.handle, k.c.handle] {
        let info = sks.get_key_protection_info(h).unwrap();
        assert!(!info.key_backup.contains(KeyBackup::EXPORTED));
    }
    // Positive controls: export with none sets EXPORTED; pin-protected export with the PIN.
    assert!(!sks.export_key(k.d.handle, None).unwrap().is_empty());
    assert!(
        sks.get_key_protection_info(k.d.handle)
            .unwrap()
            .key_backup
            .contains(KeyBackup::EXPORTED)
    );
    // The group's PIN is blocked by now (three wrong PINs above): a pin-protected export with
    // the right PIN fails [POL-PRT-003].
    assert_eq!(pin_errors(&mut sks, k.a.handle), 3);
    expect_code(
        sks.export_key(k.a.handle, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    assert_eq!(
        sks.export_key(k.s.handle, None)
            .map(|_| ())
            .unwrap_err()
            .code(),
        SksErrorCode::NotAllowed
    );
}

#[test]
fn endorsed_algorithm_enforcement() {
    // [SKS-USR-001] [SKS-USR-002] [CRY-ALG-006] [CRY-ALG-003] [SKS-ERR-006] [POL-APP-002]
    // [CRY-ALG-009] (t84)
    let (mut sks, k) = user_world(405);
    let peer = airtight_proto::keys::PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P256,
        &mut emulator::Issuer::new(2).rng,
    )
    .public_key()
    .to_spki_der()
    .unwrap();
    type Call = Box<dyn Fn(&mut ReferenceSks) -> Result<(), airtight_proto::sks::SksError>>;
    let (d, e, s, c, x) = (k.d.handle, k.e.handle, k.s.handle, k.c.handle, k.x.handle);
    let peer2 = peer.clone();
    let cases: Vec<(&str, Call, SksErrorCode)> = vec![
        (
            "a non-endorsed signature algorithm",
            Box::new(move |sks| {
                sks.sign_data(d, uri::ECDSA_SHA384, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "an unknown algorithm URI",
            Box::new(move |sks| {
                sks.sign_data(c, "http://example.com/sig#x", None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "RSA signature with an EC key",
            Box::new(move |sks| {
                sks.sign_data(c, uri::RSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "Ed25519 signature with an EC key",
            Box::new(move |sks| {
                sks.sign_data(c, uri::ED25519_SIG, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "ECDSA with an Ed25519 key",
            Box::new(move |sks| {
                sks.sign_data(x, uri::ECDSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "HMAC with an EC key",
            Box::new(move |sks| {
                sks.perform_hmac(c, uri::HMAC_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "AES with an EC key",
            Box::new(move |sks| {
                sks.symmetric_key_encrypt(c, uri::AES256_CBC, true, None, false, None, &[0; 16])
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "RSA decryption with an EC key",
            Box::new(move |sks| {
                sks.asymmetric_key_decrypt(c, uri::RSA_PKCS1, None, false, None, &[0; 64])
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "ECDH with an Ed25519 key",
            Box::new(move |sks| {
                sks.key_agreement(x, uri::ECDH_RAW, None, false, None, &peer)
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "ECDSA with a symmetric key",
            Box::new(move |sks| {
                sks.sign_data(s, uri::ECDSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "a signature URI for HMAC",
            Box::new(move |sks| {
                sks.perform_hmac(s, uri::ECDSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "#none: signData",
            Box::new(move |sks| {
                sks.sign_data(e, uri::ECDSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "#none: keyAgreement",
            Box::new(move |sks| {
                sks.key_agreement(e, uri::ECDH_RAW, None, false, None, &peer2)
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        (
            "#none as the algorithm of a call",
            Box::new(move |sks| {
                sks.sign_data(c, uri::NONE, None, false, None, b"m")
                    .map(|_| ())
            }),
            SksErrorCode::Algorithm,
        ),
        // [CRY-ALG-009] [SKS-ERR-010] parameter rules of the AES modes
        (
            "aes256-cbc with parameters",
            Box::new(move |sks| {
                sks.symmetric_key_encrypt(
                    s,
                    uri::AES256_CBC,
                    true,
                    Some(&[0; 16]),
                    false,
                    None,
                    &[0; 16],
                )
                .map(|_| ())
            }),
            SksErrorCode::Option,
        ),
        (
            "aes.cbc without IV",
            Box::new(move |sks| {
                sks.symmetric_key_encrypt(s, uri::AES_CBC, true, None, false, None, &[0; 16])
                    .map(|_| ())
            }),
            SksErrorCode::Option,
        ),
        (
            "aes.cbc with a 15-byte IV",
            Box::new(move |sks| {
                sks.symmetric_key_encrypt(
                    s,
                    uri::AES_CBC,
                    true,
                    Some(&[0; 15]),
                    false,
                    None,
                    &[0; 16],
                )
                .map(|_| ())
            }),
            SksErrorCode::Option,
        ),
        (
            "aes.ecb.nopad with 15 bytes of data",
            Box::new(move |sks| {
                sks.symmetric_key_encrypt(s, uri::AES_ECB, true, None, false, None, &[0; 15])
                    .map(|_| ())
            }),
            SksErrorCode::Option,
        ),
    ];
    let mut failures = Vec::new();
    for (what, call, code) in cases {
        case(&mut failures, what, || {
            expect_code(call(&mut sks), code);
        });
    }
    all_passed(&failures);
    // Positive controls: the endorsed algorithm works; #none keys still export.
    sks.sign_data(d, uri::ECDSA_SHA256, None, false, None, b"m")
        .unwrap();
    assert!(!sks.export_key(e, None).unwrap().is_empty());
}

#[test]
fn biometric_rules() {
    // [POL-BIO-003] [POL-BIO-004] [POL-BIO-005] [POL-BIO-006] (t67)
    let (mut sks, k) = user_world(406);
    let mut failures = Vec::new();
    let s = |sks: &mut ReferenceSks, h: KeyHandle, bio: bool, pin: Option<&[u8]>| {
        sks.sign_data(h, uri::ECDSA_SHA256, None, bio, pin, b"m")
            .map(|_| ())
    };
    type Case<'a> = (&'a str, KeyHandle, bool, Option<&'a [u8]>, SksErrorCode);
    let cases: Vec<Case<'_>> = vec![
        (
            "biometricAuth on a key without biometric protection",
            k.c.handle,
            true,
            None,
            SksErrorCode::Option,
        ),
        (
            "PIN on an exclusive-biometric key",
            k.excl.handle,
            true,
            Some(b"1234"),
            SksErrorCode::Option,
        ),
        (
            "exclusive-biometric key without biometric",
            k.excl.handle,
            false,
            None,
            SksErrorCode::Option,
        ),
        (
            "combined without biometric",
            k.comb.handle,
            false,
            Some(b"1234"),
            SksErrorCode::Option,
        ),
        (
            "combined with biometric and a wrong PIN",
            k.comb.handle,
            true,
            Some(b"0000"),
            SksErrorCode::Authorization,
        ),
        (
            "alternative with a wrong PIN",
            k.alt.handle,
            false,
            Some(b"0000"),
            SksErrorCode::Authorization,
        ),
        (
            "PIN on a key without PIN",
            k.c.handle,
            false,
            Some(b"1234"),
            SksErrorCode::Option,
        ),
    ];
    for (what, h, bio, pin, code) in cases {
        case(&mut failures, what, || {
            expect_code(s(&mut sks, h, bio, pin), code);
        });
    }
    all_passed(&failures);
    s(&mut sks, k.alt.handle, true, None).unwrap();
    s(&mut sks, k.comb.handle, true, Some(b"1234")).unwrap();
    s(&mut sks, k.excl.handle, true, None).unwrap();
}

fn card_without(device_pin: bool, biometric: bool) -> ReferenceSks {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        7,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    if !device_pin {
        c.device_pin = DevicePin::Unsupported;
    }
    c.biometric_support = biometric;
    ReferenceSks::open(c).unwrap()
}

#[test]
fn unsupported_device_pin_and_biometrics() {
    // [POL-DEV-001] [POL-BIO-001] [SKS-KEY-011]
    let mut sks = card_without(false, false);
    let info = sks.get_device_info().unwrap();
    assert!(!info.device_pin_support && !info.biometric_support);
    let before = support_neg::snapshot(&mut sks);
    let mut is = session(&mut sks, 4600);
    let mut ks = KeySpec::new("K", uri::P256);
    ks.device_pin_protection = true;
    fatal!(
        sks,
        is,
        before,
        is.create_key(&mut sks, &ks),
        SksErrorCode::Option
    );
    let mut is = session(&mut sks, 4601);
    let mut ks = KeySpec::new("K", uri::P256);
    ks.biometric_protection = BiometricProtection::Exclusive;
    fatal!(
        sks,
        is,
        before,
        is.create_key(&mut sks, &ks),
        SksErrorCode::Option
    );
}

#[test]
fn wrong_key_handles() {
    // [SKS-ERR-005] [SKS-MGT-006] [SKS-TXN-004]
    let (mut sks, k) = user_world(407);
    // A deleted key's handle is dead too.
    sks.delete_key(k.d.handle, None).unwrap();
    let mut failures = Vec::new();
    for (label, h) in [
        ("unknown", KeyHandle(0x7fff_fff5)),
        ("deleted", k.d.handle),
        ("zero", KeyHandle::NONE),
    ] {
        type Call = fn(&mut ReferenceSks, KeyHandle) -> Result<(), airtight_proto::sks::SksError>;
        let calls: Vec<(&str, Call)> = vec![
            ("signData", |s, h| {
                s.sign_data(h, uri::ECDSA_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
            ("getKeyAttributes", |s, h| {
                s.get_key_attributes(h).map(|_| ())
            }),
            ("getKeyProtectionInfo", |s, h| {
                s.get_key_protection_info(h).map(|_| ())
            }),
            ("getExtension", |s, h| {
                s.get_extension(h, "urn:plain").map(|_| ())
            }),
            ("setProperty", |s, h| s.set_property(h, "urn:bag", "w", "v")),
            ("deleteKey", |s, h| s.delete_key(h, None)),
            ("exportKey", |s, h| s.export_key(h, None).map(|_| ())),
            ("unlockKey", |s, h| s.unlock_key(h, PUK)),
            ("changePin", |s, h| s.change_pin(h, b"1234", b"1357")),
            ("setPin", |s, h| s.set_pin(h, PUK, b"1357")),
            ("performHmac", |s, h| {
                s.perform_hmac(h, uri::HMAC_SHA256, None, false, None, b"m")
                    .map(|_| ())
            }),
        ];
        for (name, call) in calls {
            case(
                &mut failures,
                &format!("{name} on a {label} handle"),
                || {
                    expect_code(call(&mut sks, h), SksErrorCode::NoKey);
                },
            );
        }
    }
    all_passed(&failures);
}

#[test]
fn data_limits_extensions_and_properties() {
    // [SKS-LIM-001] [SKS-LIM-002] [SKS-EXT-008] [SKS-EXT-009] [SKS-IMP-004]
    let (mut sks, k) = user_world(408);
    let size = sks.get_device_info().unwrap().crypto_data_size as usize;
    let mut failures = Vec::new();
    case(&mut failures, "signData over cryptoDataSize", || {
        expect_code(
            sks.sign_data(
                k.c.handle,
                uri::ECDSA_SHA256,
                None,
                false,
                None,
                &vec![0; size + 1],
            ),
            SksErrorCode::Option,
        );
    });
    case(&mut failures, "performHmac over cryptoDataSize", || {
        expect_code(
            sks.perform_hmac(
                k.s.handle,
                uri::HMAC_SHA256,
                None,
                false,
                None,
                &vec![0; size + 1],
            ),
            SksErrorCode::Option,
        );
    });
    case(&mut failures, "getExtension of an unknown type", || {
        expect_code(
            sks.get_extension(k.ext.handle, "urn:none"),
            SksErrorCode::Option,
        );
    });
    case(&mut failures, "setProperty of a read-only property", || {
        expect_code(
            sks.set_property(k.ext.handle, "urn:bag", "r", "9"),
            SksErrorCode::NotAllowed,
        );
    });
    case(&mut failures, "setProperty of an unknown property", || {
        expect_code(
            sks.set_property(k.ext.handle, "urn:bag", "q", "9"),
            SksErrorCode::Option,
        );
    });
    case(
        &mut failures,
        "setProperty of an unknown extension type",
        || {
            expect_code(
                sks.set_property(k.ext.handle, "urn:nobag", "w", "9"),
                SksErrorCode::Option,
            );
        },
    );
    all_passed(&failures);
    // Positive controls: exactly cryptoDataSize; the writable property changes.
    sks.sign_data(
        k.c.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        None,
        &vec![0; size],
    )
    .unwrap();
    sks.set_property(k.ext.handle, "urn:bag", "w", "9").unwrap();
    let bag = sks.get_extension(k.ext.handle, "urn:bag").unwrap();
    let props = session1::parse_property_bag(&bag.extension_data).unwrap();
    assert_eq!(props[0].value, "9");
    assert_eq!(props[1].value, "2");
}

#[test]
fn aes_key_size_mismatch_in_the_user_api() {
    // [CRY-ALG-009] [SKS-ERR-006] aes128-cbc on a 32-byte key: ERROR_OPTION, the code of the
    // Java reference's AES key-length check (its other algorithm misfits are ERROR_ALGORITHM).
    let (mut sks, k) = user_world(409);
    expect_code(
        sks.symmetric_key_encrypt(
            k.s.handle,
            uri::AES128_CBC,
            true,
            None,
            false,
            None,
            &[0; 16],
        ),
        SksErrorCode::Option,
    );
}
