//! Negative checks: order violations, the id namespace, close-time checks, calls on closed or
//! unknown sessions, expired sessions (injected clock) and an exhausted `sessionKeyLimit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_neg;

use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::sks::{
    ExtensionSubType, KeyHandle, ProvisioningHandle, SecureKeyStore, SksErrorCode,
};
use airtight_testkit::emulator::{self, EmuError, Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use support_neg::{all_passed, case, session, snapshot, world};

/// Creates `ks`, certifies it (for `cert_key` if given, else for the generated key), imports
/// `symmetric` if given, then closes: the first error.
fn provision_and_close(
    sks: &mut ReferenceSks,
    is: &mut Issuer,
    ks: &KeySpec,
    symmetric: Option<&[u8]>,
) -> Result<(), EmuError> {
    let kd = is.create_key(sks, ks)?;
    let path = is.certificate_path(&kd.public_key).unwrap();
    is.set_certificate_path(sks, kd.key_handle, &ks.id, &kd.public_key, &path)?;
    if let Some(s) = symmetric {
        is.import_symmetric_key(sks, kd.key_handle, &path[0], s)?;
    }
    is.close(sks).map(|_| ())
}

#[test]
fn calls_out_of_order() {
    // [SKS-ERR-005] [SKS-TXN-002]
    let (mut sks, _base) = world(200);
    let before = snapshot(&mut sks);
    // setCertificatePath before createKeyEntry: the key handle names no key.
    let mut is = session(&mut sks, 2000);
    let kd_missing = KeyHandle(0x7fff_fff0);
    let spki = PrivateKey::generate_ec(Curve::P256, &mut is.rng)
        .public_key()
        .to_spki_der()
        .unwrap();
    let path = is.certificate_path(&spki).unwrap();
    expect_code(
        sks.set_certificate_path(kd_missing, &path, &[0; 32]),
        SksErrorCode::NoKey,
    );
    assert_eq!(snapshot(&mut sks), before);
    sks.abort_provisioning_session(is.handle).ok();
    // import and addExtension on a key of an unknown handle.
    expect_code(
        sks.import_symmetric_key(kd_missing, &[0; 32], &[0; 32]),
        SksErrorCode::NoKey,
    );
    expect_code(
        sks.import_private_key(kd_missing, &[0; 32], &[0; 32]),
        SksErrorCode::NoKey,
    );
    expect_code(
        sks.add_extension(
            kd_missing,
            "urn:x",
            ExtensionSubType::Extension.into(),
            "",
            b"",
            &[0; 32],
        ),
        SksErrorCode::NoKey,
    );
    assert_eq!(snapshot(&mut sks), before);
    // [SKS-NSP-001] ids share one namespace per session.
    let mut failures = Vec::new();
    case(
        &mut failures,
        "PIN policy with the id of a PUK policy",
        || {
            let mut is = session(&mut sks, 2001);
            is.create_puk(&mut sks, "X", b"1234", PassphraseFormat::Numeric, 3)
                .unwrap();
            fatal!(
                sks,
                is,
                before,
                is.create_pin(&mut sks, &PinSpec::new("X")),
                SksErrorCode::Option
            );
        },
    );
    case(&mut failures, "key with the id of a PIN policy", || {
        let mut is = session(&mut sks, 2002);
        let pin = is.create_pin(&mut sks, &PinSpec::new("X")).unwrap();
        let ks = KeySpec::new("X", uri::P256).with_pin(pin, "X", b"1234");
        fatal!(
            sks,
            is,
            before,
            is.create_key(&mut sks, &ks),
            SksErrorCode::Option
        );
    });
    case(&mut failures, "two keys with one id", || {
        let mut is = session(&mut sks, 2003);
        is.provision_key(&mut sks, &KeySpec::new("X", uri::P256))
            .unwrap();
        fatal!(
            sks,
            is,
            before,
            is.create_key(&mut sks, &KeySpec::new("X", uri::P256)),
            SksErrorCode::Option
        );
    });
    case(&mut failures, "PUK policy with the id of a key", || {
        let mut is = session(&mut sks, 2004);
        is.provision_key(&mut sks, &KeySpec::new("X", uri::P256))
            .unwrap();
        fatal!(
            sks,
            is,
            before,
            is.create_puk(&mut sks, "X", b"1234", PassphraseFormat::Numeric, 3),
            SksErrorCode::Option
        );
    });
    all_passed(&failures);
    // Ids are scoped to their session: the base key's id "Key.1" is free in a new session.
    let mut is = session(&mut sks, 2005);
    is.provision_key(&mut sks, &KeySpec::new("Key.1", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
}

/// [SKS-CRT-003] [SKS-IMX-001] [SKS-IMX-003] [SKS-EXT-001]: ERROR_OPTION and a teardown (the
/// Java reference's code for each of these).
#[test]
fn state_violations() {
    let (mut sks, _base) = world(201);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    case(&mut failures, "setCertificatePath twice", || {
        let mut is = session(&mut sks, 2010);
        let kd = is
            .create_key(&mut sks, &KeySpec::new("K", uri::P256))
            .unwrap();
        let path = is.certificate_path(&kd.public_key).unwrap();
        is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path)
            .unwrap();
        let path2 = is.certificate_path(&kd.public_key).unwrap();
        fatal!(
            sks,
            is,
            before,
            is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path2),
            SksErrorCode::Option
        );
    });
    case(
        &mut failures,
        "importSymmetricKey without certificate",
        || {
            let mut is = session(&mut sks, 2011);
            let kd = is
                .create_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            fatal!(
                sks,
                is,
                before,
                is.import_symmetric_key(&mut sks, kd.key_handle, b"", &[1; 16]),
                SksErrorCode::Option
            );
        },
    );
    case(
        &mut failures,
        "importPrivateKey without certificate",
        || {
            let mut is = session(&mut sks, 2012);
            let kd = is
                .create_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            let pkcs8 = PrivateKey::generate_ec(Curve::P256, &mut is.rng)
                .to_pkcs8_der()
                .unwrap();
            fatal!(
                sks,
                is,
                before,
                is.import_private_key(&mut sks, kd.key_handle, b"", &pkcs8),
                SksErrorCode::Option
            );
        },
    );
    case(&mut failures, "addExtension without certificate", || {
        let mut is = session(&mut sks, 2013);
        let kd = is
            .create_key(&mut sks, &KeySpec::new("K", uri::P256))
            .unwrap();
        fatal!(
            sks,
            is,
            before,
            is.add_extension(
                &mut sks,
                kd.key_handle,
                b"",
                "urn:x",
                ExtensionSubType::Extension,
                "",
                b"d"
            ),
            SksErrorCode::Option
        );
    });
    // [SKS-IMX-003] double imports (t60, t61)
    for (i, (what, first_sym, second_sym)) in [
        ("symmetric key imported twice", true, true),
        ("private key after a symmetric key", true, false),
        ("symmetric key after a private key", false, true),
        ("private key imported twice", false, false),
    ]
    .into_iter()
    .enumerate()
    {
        case(&mut failures, what, || {
            let mut is = session(&mut sks, 2020 + i as u64);
            let gen_key = PrivateKey::generate_ec(Curve::P256, &mut is.rng);
            let pkcs8 = gen_key.to_pkcs8_der().unwrap();
            let kd = is
                .create_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            // The certificate certifies the key to import (so a private import matches).
            let path = is
                .certificate_path(&gen_key.public_key().to_spki_der().unwrap())
                .unwrap();
            is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path)
                .unwrap();
            let ee = path[0].clone();
            let import = |sks: &mut ReferenceSks, is: &mut Issuer, sym: bool| {
                if sym {
                    is.import_symmetric_key(sks, kd.key_handle, &ee, &[3u8; 32])
                } else {
                    is.import_private_key(sks, kd.key_handle, &ee, &pkcs8)
                }
            };
            import(&mut sks, &mut is, first_sym).unwrap();
            fatal!(
                sks,
                is,
                before,
                import(&mut sks, &mut is, second_sym),
                SksErrorCode::Option
            );
        });
    }
    all_passed(&failures);
}

#[test]
fn get_key_handle_unknown_id() {
    // [SKS-NSP-004] ERROR_OPTION, and the session stays open (as in the Java reference).
    let (mut sks, _base) = world(202);
    let mut is = session(&mut sks, 2030);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(sks.get_key_handle(is.handle, "nope"), SksErrorCode::Option);
    assert!(
        support_neg::open_handles(&mut sks).contains(&is.handle),
        "the session was torn down"
    );
    assert_eq!(sks.get_key_handle(is.handle, "K").unwrap(), k.handle);
    is.close(&mut sks).unwrap();
}

#[test]
fn close_time_checks() {
    // [SKS-CLS-001] [SKS-CLS-002] [SKS-CLS-003] [SKS-CLS-004] [SKS-CLS-006] [SKS-TXN-002]
    let (mut sks, base) = world(203);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    case(&mut failures, "a key without certificate (t71)", || {
        let mut is = session(&mut sks, 2040);
        is.provision_key(&mut sks, &KeySpec::new("A", uri::P256))
            .unwrap();
        is.create_key(&mut sks, &KeySpec::new("B", uri::P256))
            .unwrap();
        fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
    });
    case(&mut failures, "an unreferenced PIN policy (t2)", || {
        let mut is = session(&mut sks, 2041);
        is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
        is.provision_key(&mut sks, &KeySpec::new("A", uri::P256))
            .unwrap();
        fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
    });
    case(&mut failures, "an unreferenced PUK policy (t3)", || {
        let mut is = session(&mut sks, 2042);
        is.create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
            .unwrap();
        is.provision_key(&mut sks, &KeySpec::new("A", uri::P256))
            .unwrap();
        fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
    });
    case(
        &mut failures,
        "a PUK referenced only by an unreferenced PIN (t4)",
        || {
            let mut is = session(&mut sks, 2043);
            let puk = is
                .create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
                .unwrap();
            let mut ps = PinSpec::new("PIN.1");
            ps.puk = Some((puk, "PUK.1".into()));
            is.create_pin(&mut sks, &ps).unwrap();
            is.provision_key(&mut sks, &KeySpec::new("A", uri::P256))
                .unwrap();
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "a certificate that does not certify the key",
        || {
            let mut is = session(&mut sks, 2044);
            let kd = is
                .create_key(&mut sks, &KeySpec::new("A", uri::P256))
                .unwrap();
            let other = PrivateKey::generate_ec(Curve::P256, &mut is.rng);
            let path = is
                .certificate_path(&other.public_key().to_spki_der().unwrap())
                .unwrap();
            is.set_certificate_path(&mut sks, kd.key_handle, "A", &kd.public_key, &path)
                .unwrap();
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "an end-entity certificate already held by the card (t58)",
        || {
            let mut is = session(&mut sks, 2045);
            let kd = is
                .create_key(&mut sks, &KeySpec::new("A", uri::P256))
                .unwrap();
            is.set_certificate_path(
                &mut sks,
                kd.key_handle,
                "A",
                &kd.public_key,
                &base.key.certificate_path,
            )
            .unwrap();
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "two keys of the session with one certificate",
        || {
            let mut is = session(&mut sks, 2046);
            let x = PrivateKey::generate_ec(Curve::P256, &mut is.rng);
            let pkcs8 = x.to_pkcs8_der().unwrap();
            let path = is
                .certificate_path(&x.public_key().to_spki_der().unwrap())
                .unwrap();
            for id in ["A", "B"] {
                let kd = is
                    .create_key(&mut sks, &KeySpec::new(id, uri::P256))
                    .unwrap();
                is.set_certificate_path(&mut sks, kd.key_handle, id, &kd.public_key, &path)
                    .unwrap();
                is.import_private_key(&mut sks, kd.key_handle, &path[0], &pkcs8)
                    .unwrap();
            }
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    all_passed(&failures);
}

#[test]
fn endorsed_algorithms_must_fit_the_key() {
    // [SKS-CLS-005] [CRY-ALG-007] [SKS-KEY-007] [CRY-ALG-003] [CRY-ALG-009] (t41-t46): the
    // first error of the provisioning (at createKeyEntry or at close) is ERROR_OPTION, the
    // Java reference's code for a misfit and for an AES key of the wrong size.
    let (mut sks, _base) = world(204);
    let before = snapshot(&mut sks);
    let cases: Vec<(&str, &str, &str, Option<&[u8]>)> = vec![
        (
            "RSA signature on a P-256 key",
            uri::P256,
            uri::RSA_SHA256,
            None,
        ),
        (
            "RSA decryption on a P-256 key",
            uri::P256,
            uri::RSA_OAEP_SHA256,
            None,
        ),
        (
            "HMAC on a key without symmetric key",
            uri::P256,
            uri::HMAC_SHA256,
            None,
        ),
        (
            "AES on a key without symmetric key",
            uri::P256,
            uri::AES256_CBC,
            None,
        ),
        (
            "ECDSA on an Ed25519 key",
            uri::ED25519,
            uri::ECDSA_SHA256,
            None,
        ),
        ("ECDH on an Ed25519 key", uri::ED25519, uri::ECDH_RAW, None),
        (
            "Ed25519 signature on a P-256 key",
            uri::P256,
            uri::ED25519_SIG,
            None,
        ),
        (
            "ECDSA on a key with a symmetric key",
            uri::P256,
            uri::ECDSA_SHA256,
            Some(&[1u8; 32]),
        ),
        (
            "AES-128 with a 32-byte key",
            uri::P256,
            uri::AES128_CBC,
            Some(&[1u8; 32]),
        ),
        (
            "AES-256 with a 20-byte key",
            uri::P256,
            uri::AES256_CBC,
            Some(&[1u8; 20]),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, key_alg, endorsed, sym)) in cases.into_iter().enumerate() {
        case(&mut failures, what, || {
            let mut is = session(&mut sks, 2100 + i as u64);
            let mut ks = KeySpec::new("K", key_alg);
            ks.endorsed_algorithms = vec![endorsed.to_owned()];
            let r = provision_and_close(&mut sks, &mut is, &ks, sym);
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    all_passed(&failures);
}

#[test]
fn endorsed_algorithms_that_fit_are_accepted() {
    // [CRY-ALG-007] positive controls: HMAC with a symmetric key, AES-256 with 32 bytes.
    let (mut sks, _base) = world(204);
    let mut is = session(&mut sks, 2199);
    let mut ks = KeySpec::new("K", uri::P256);
    ks.endorsed_algorithms = vec![uri::HMAC_SHA256.into(), uri::AES256_CBC.into()];
    provision_and_close(&mut sks, &mut is, &ks, Some(&[1u8; 32])).unwrap();
}

#[test]
fn closed_and_unknown_sessions() {
    // [SKS-SES-013] [SKS-SES-020] [SKS-ERR-005] [SKS-TXN-004]
    let (mut sks, base) = world(205);
    let before = snapshot(&mut sks);
    let mut is = session(&mut sks, 2200);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    let after_close = snapshot(&mut sks);
    assert_ne!(after_close, before);
    let closed = is.handle;
    // Every provisioning call on the closed session: ERROR_NO_SESSION, nothing changes.
    expect_code(is.close(&mut sks), SksErrorCode::NoSession);
    expect_code(
        is.create_pin(&mut sks, &PinSpec::new("PIN.9")),
        SksErrorCode::NoSession,
    );
    expect_code(
        is.create_puk(&mut sks, "PUK.9", b"1234", PassphraseFormat::Numeric, 3),
        SksErrorCode::NoSession,
    );
    expect_code(
        is.create_key(&mut sks, &KeySpec::new("K9", uri::P256)),
        SksErrorCode::NoSession,
    );
    expect_code(sks.get_key_handle(closed, "K"), SksErrorCode::NoSession);
    expect_code(
        sks.abort_provisioning_session(closed),
        SksErrorCode::NoSession,
    );
    // A committed key is no longer a provisioning object.
    let path = k.certificate_path.clone();
    expect_code(
        sks.set_certificate_path(k.handle, &path, &[0; 32]),
        SksErrorCode::NoKey,
    );
    expect_code(
        is.add_extension(
            &mut sks,
            k.handle,
            &path[0],
            "urn:x",
            ExtensionSubType::Extension,
            "",
            b"d",
        ),
        SksErrorCode::NoKey,
    );
    expect_code(
        is.import_symmetric_key(&mut sks, base.key.handle, base.key.ee(), &[1; 16]),
        SksErrorCode::NoKey,
    );
    assert_eq!(snapshot(&mut sks), after_close);
    // Unknown handles.
    for h in [ProvisioningHandle::NONE, ProvisioningHandle(0x7fff_ffff)] {
        let mut ghost = Issuer::new(2201);
        ghost.handle = h;
        expect_code(sks.abort_provisioning_session(h), SksErrorCode::NoSession);
        expect_code(sks.get_key_handle(h, "K"), SksErrorCode::NoSession);
        expect_code(
            sks.close_provisioning_session(h, &[0; 32], &[0; 32]),
            SksErrorCode::NoSession,
        );
        let mut p = support_neg::puk_params_raw(h);
        p.provisioning_handle = h;
        expect_code(sks.create_puk_policy(&p), SksErrorCode::NoSession);
    }
    assert_eq!(snapshot(&mut sks), after_close);
}

fn clocked_card(seed: u64) -> (ReferenceSks, ManualClock) {
    let clock = ManualClock::new(TEST_TIME);
    let sks = ReferenceSks::open(CardConfig::test_device(
        DeviceKeyKind::P256,
        seed,
        Arc::new(clock.clone()),
    ))
    .unwrap();
    (sks, clock)
}

#[test]
fn expired_sessions_are_torn_down() {
    // [SKS-IMP-003] [SKS-ERR-005] [SKS-TXN-002]: every call on an open session after its
    // lifetime (by the card's injected clock) fails with ERROR_NO_SESSION and tears it down.
    let (mut sks, clock) = clocked_card(206);
    let base = support_neg::base_key(&mut sks, 206);
    let before = snapshot(&mut sks);
    type Step = fn(
        &mut ReferenceSks,
        &mut Issuer,
        &emulator::Provisioned,
        &support_neg::Base,
    ) -> Result<(), EmuError>;
    let steps: Vec<(&str, Step)> = vec![
        ("createPinPolicy", |sks, is, _, _| {
            is.create_pin(sks, &PinSpec::new("PIN.1")).map(|_| ())
        }),
        ("createPukPolicy", |sks, is, _, _| {
            is.create_puk(sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
                .map(|_| ())
        }),
        ("createKeyEntry", |sks, is, _, _| {
            is.create_key(sks, &KeySpec::new("K2", uri::P256))
                .map(|_| ())
        }),
        ("getKeyHandle", |sks, is, _, _| {
            Ok(sks.get_key_handle(is.handle, "K").map(|_| ())?)
        }),
        ("addExtension", |sks, is, k, _| {
            is.add_extension(
                sks,
                k.handle,
                &k.certificate_path[0],
                "urn:x",
                ExtensionSubType::Extension,
                "",
                b"d",
            )
        }),
        ("importSymmetricKey", |sks, is, k, _| {
            is.import_symmetric_key(sks, k.handle, &k.certificate_path[0], &[1; 16])
        }),
        ("postDeleteKey", |sks, is, _, b| {
            is.post_delete_or_unlock(sks, b.key.handle, b.key.ee(), &b.kmk, true)
        }),
        ("closeProvisioningSession", |sks, is, _, _| {
            is.close(sks).map(|_| ())
        }),
    ];
    let mut failures = Vec::new();
    for (i, (what, step)) in steps.into_iter().enumerate() {
        case(&mut failures, what, || {
            let mut is = Issuer::new(2300 + i as u64);
            is.session_life_time = 60;
            is.create_session(&mut sks).unwrap();
            let k = is
                .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            clock.advance(61);
            fatal!(
                sks,
                is,
                before,
                step(&mut sks, &mut is, &k, &base),
                SksErrorCode::NoSession
            );
        });
    }
    all_passed(&failures);
    // Positive control: within the lifetime everything works.
    let mut is = Issuer::new(2399);
    is.session_life_time = 60;
    is.create_session(&mut sks).unwrap();
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    clock.advance(59);
    is.close(&mut sks).unwrap();
}

#[test]
fn exhausted_session_key_limit() {
    // [CRY-LIM-002] [CRY-LIM-003] [CRY-LIM-004] [SKS-SES-011] (t47): facts §3.4 — a PIN
    // policy (1), a key (2), a certificate (1) and close (2) need 6 uses, 7 with a preset PIN.
    let (mut sks, _base) = world(207);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    case(
        &mut failures,
        "limit 5 where 6 are needed (fails at close)",
        || {
            let mut is = Issuer::new(2400);
            is.session_key_limit = 5;
            is.create_session(&mut sks).unwrap();
            let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
            is.provision_key(
                &mut sks,
                &KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234"),
            )
            .unwrap();
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "limit 6 with a preset PIN where 7 are needed",
        || {
            let mut is = Issuer::new(2401);
            is.session_key_limit = 6;
            is.create_session(&mut sks).unwrap();
            let mut ps = PinSpec::new("PIN.1");
            ps.user_defined = false;
            let pin = is.create_pin(&mut sks, &ps).unwrap();
            let mut ks = KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234");
            ks.preset_pin = true;
            is.provision_key(&mut sks, &ks).unwrap();
            fatal!(sks, is, before, is.close(&mut sks), SksErrorCode::Option);
        },
    );
    case(
        &mut failures,
        "limit 1: the key attestation is the second use",
        || {
            let mut is = Issuer::new(2402);
            is.session_key_limit = 1;
            is.create_session(&mut sks).unwrap();
            let p = is.key_params(&KeySpec::new("K", uri::P256)).unwrap();
            fatal!(
                sks,
                is,
                before,
                sks.create_key_entry(&p),
                SksErrorCode::Option
            );
        },
    );
    case(
        &mut failures,
        "limit 2: a PUK (2 uses) then a PIN policy",
        || {
            let mut is = Issuer::new(2403);
            is.session_key_limit = 2;
            is.create_session(&mut sks).unwrap();
            is.create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
                .unwrap();
            fatal!(
                sks,
                is,
                before,
                is.create_pin(&mut sks, &PinSpec::new("PIN.1")),
                SksErrorCode::Option
            );
        },
    );
    case(
        &mut failures,
        "limit 4: an import (2 uses) after key and certificate",
        || {
            let mut is = Issuer::new(2404);
            is.session_key_limit = 4;
            is.create_session(&mut sks).unwrap();
            let k = is
                .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            fatal!(
                sks,
                is,
                before,
                is.import_symmetric_key(&mut sks, k.handle, &k.certificate_path[0], &[1; 16]),
                SksErrorCode::Option
            );
        },
    );
    all_passed(&failures);
    // Positive controls: exactly 6 and 7.
    for (limit, preset) in [(6u16, false), (7, true)] {
        let mut is = Issuer::new(2410 + u64::from(limit));
        is.session_key_limit = limit;
        is.create_session(&mut sks).unwrap();
        let mut ps = PinSpec::new("PIN.1");
        ps.user_defined = !preset;
        let pin = is.create_pin(&mut sks, &ps).unwrap();
        let mut ks = KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234");
        ks.preset_pin = preset;
        is.provision_key(&mut sks, &ks).unwrap();
        is.close(&mut sks).unwrap();
    }
}
