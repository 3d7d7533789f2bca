//! Rule-by-rule checks of the reference SKS, each naming the spec tags it checks and expecting
//! the exact SKS error code (the Java reference's code where the spec and Java differ; see the
//! card's report).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_card::store::SimFs;
use airtight_card::{CardConfig, ReferenceSks, Storage};
use airtight_pki::DeviceKeyKind;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, ExportProtection, Grouping, InputMethod, PassphraseFormat,
    PatternRestriction,
};
use airtight_proto::session1::{self, Method};
use airtight_proto::sks::{
    ExtensionSubType, KeyHandle, MAX_LENGTH_CRYPTO_DATA, MAX_LENGTH_EXTENSION_DATA,
    PinPolicyHandle, ProvisioningHandle, SecureKeyStore, SksErrorCode,
};
use airtight_testkit::emulator::{self, EmuError, Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn session(seed: u64) -> (ReferenceSks, Issuer) {
    let mut sks = airtight_testkit::card(seed);
    let mut is = Issuer::new(seed);
    is.create_session(&mut sks).unwrap();
    (sks, is)
}

fn open_sessions(sks: &mut ReferenceSks) -> usize {
    let mut n = 0;
    let mut h = ProvisioningHandle::NONE;
    while let Some(s) = sks.enumerate_provisioning_sessions(h, true).unwrap() {
        n += 1;
        h = s.provisioning_handle;
    }
    n
}

#[test]
fn device_info() {
    // [SKS-DEV-001] [SKS-DEV-003] [SKS-DEV-004] [SKS-DEV-005] [SKS-LIM-002]
    let mut sks = airtight_testkit::card(1);
    let a = sks.get_device_info().unwrap();
    let b = sks.get_device_info().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.api_level, 106);
    assert!(a.crypto_data_size as usize >= 16384 && a.extension_data_size as usize >= 65536);
    let fixture = airtight_pki::fixtures::device_p256();
    assert_eq!(a.certificate_path, fixture.certificate_path);
    airtight_pki::verify_path(
        &a.certificate_path,
        &[airtight_pki::fixtures::device_trust_anchor()],
        emulator::TEST_NOW,
    )
    .expect("the device path chains to the test device CA");
    for u in [
        uri::P256,
        uri::RSA2048,
        uri::ED25519,
        uri::ECDSA_SHA512,
        uri::AES_ECB,
        uri::NONE,
    ] {
        assert!(a.supported_algorithms.iter().any(|s| s == u), "{u}");
    }
    assert!(
        !a.supported_algorithms
            .iter()
            .any(|s| s.ends_with("#rsa4096"))
    );
    // [SKS-DEV-006]
    expect_code(sks.update_firmware(b"x"), SksErrorCode::NotAllowed);
}

#[test]
fn client_session_id_and_session_storage() {
    // [CRY-KDF-011] [SKS-SES-006] [SKS-SES-021]
    let (mut sks, is) = session(2);
    assert_eq!(is.client_session_id.len(), 32);
    assert!(
        is.client_session_id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    let e = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
        .unwrap()
        .unwrap();
    assert_eq!(e.client_time, is.client_time);
    assert_eq!(e.session_life_time, is.session_life_time);
    assert!(!e.privacy_enabled);
    assert_eq!(
        e.session_key_algorithm,
        airtight_proto::sks::ALGORITHM_SESSION_ATTEST_1
    );
}

#[test]
fn session_creation_arguments() {
    // [SKS-SES-002] [SKS-LIM-004] [SKS-ERR-010]
    let mut sks = airtight_testkit::card(3);
    let mut bad = |f: &dyn Fn(&mut Issuer)| {
        let mut is = Issuer::new(3);
        f(&mut is);
        expect_code(is.create_session(&mut sks), SksErrorCode::Option);
    };
    bad(&|is| is.server_session_id = "x".repeat(33));
    bad(&|is| is.server_session_id = String::new());
    bad(&|is| is.server_session_id = "a b".into());
    bad(&|is| is.issuer_uri = String::new());
    bad(&|is| is.issuer_uri = "h".repeat(1001));
    bad(&|is| is.session_key_limit = 0);
    bad(&|is| is.session_life_time = 0);
    // Java codes (the spec says ERROR_ALGORITHM): unknown session algorithm, unsupported
    // ephemeral curve, a KMK that is not RSA-1024/2048 or EC on a supported curve.
    let mut is = Issuer::new(3);
    let eph = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(1));
    let mut p = is.session_params(&eph).unwrap();
    p.session_key_algorithm = "https://webpki.github.io/sks/algorithm#session.2".into();
    expect_code(sks.create_provisioning_session(&p), SksErrorCode::Option);
    let mut p = is.session_params(&eph).unwrap();
    let ed = PrivateKey::generate_ed25519(&mut ChaCha20Rng::seed_from_u64(2));
    p.server_ephemeral_key = ed.public_key().to_spki_der().unwrap();
    expect_code(sks.create_provisioning_session(&p), SksErrorCode::Option);
    let mut p = is.session_params(&eph).unwrap();
    p.key_management_key = Some(ed.public_key().to_spki_der().unwrap());
    expect_code(sks.create_provisioning_session(&p), SksErrorCode::Option);
    let mut p = is.session_params(&eph).unwrap();
    p.key_management_key = Some(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    expect_code(sks.create_provisioning_session(&p), SksErrorCode::Option);
    let mut p = is.session_params(&eph).unwrap();
    p.server_certificate = vec![0; MAX_LENGTH_CRYPTO_DATA + 1];
    expect_code(sks.create_provisioning_session(&p), SksErrorCode::Option);
    // A P-384 server key gives a P-384 session.
    is.ephemeral_curve = Curve::P384;
    is.create_session(&mut sks).unwrap();
}

#[test]
fn namespace_and_ids() {
    // [SKS-NSP-001] [SKS-LIM-004]
    let (mut sks, mut is) = session(4);
    is.create_pin(&mut sks, &PinSpec::new("X")).unwrap();
    expect_code(
        is.create_key(&mut sks, &KeySpec::new("X", uri::P256)),
        SksErrorCode::Option,
    );
    assert_eq!(open_sessions(&mut sks), 0);
    let (mut sks, mut is) = session(5);
    expect_code(
        is.create_pin(&mut sks, &PinSpec::new(&"p".repeat(33))),
        SksErrorCode::Option,
    );
    let (mut sks, mut is) = session(6);
    expect_code(
        is.create_key(&mut sks, &KeySpec::new("a\u{7f}", uri::P256)),
        SksErrorCode::Option,
    );
    // Ids are per session.
    let mut sks = airtight_testkit::card(7);
    for s in [70, 71] {
        let mut is = Issuer::new(s);
        is.create_session(&mut sks).unwrap();
        is.provision_key(&mut sks, &KeySpec::new("Same", uri::P256))
            .unwrap();
        is.close(&mut sks).unwrap();
    }
}

#[test]
fn puk_policy_rules() {
    // [SKS-POL-001] [POL-PUK-001] [POL-FMT-001] [POL-FMT-002] [POL-FMT-006]
    for (puk, format, retry, code) in [
        (
            b"".to_vec(),
            PassphraseFormat::Numeric,
            3,
            Some(SksErrorCode::Option),
        ),
        (
            vec![b'1'; 129],
            PassphraseFormat::Numeric,
            3,
            Some(SksErrorCode::Option),
        ),
        (vec![b'1'; 128], PassphraseFormat::Numeric, 3, None),
        (
            b"12A4".to_vec(),
            PassphraseFormat::Numeric,
            3,
            Some(SksErrorCode::Option),
        ),
        (b"12A4".to_vec(), PassphraseFormat::Alphanumeric, 3, None),
        (
            b"12a4".to_vec(),
            PassphraseFormat::Alphanumeric,
            3,
            Some(SksErrorCode::Option),
        ),
        (b"\x00\x01".to_vec(), PassphraseFormat::Binary, 3, None),
        (
            b"1234".to_vec(),
            PassphraseFormat::Numeric,
            10001,
            Some(SksErrorCode::Option),
        ),
        (b"1234".to_vec(), PassphraseFormat::Numeric, 10000, None),
        (b"1234".to_vec(), PassphraseFormat::Numeric, 0, None),
    ] {
        let (mut sks, mut is) = session(8);
        let r = is.create_puk(&mut sks, "PUK", &puk, format, retry);
        match code {
            Some(c) => {
                expect_code(r, c);
                assert_eq!(open_sessions(&mut sks), 0);
            }
            None => {
                r.unwrap();
            }
        }
    }
}

#[test]
fn pin_policy_rules() {
    // [SKS-POL-002] [SKS-POL-003] [SKS-POL-004] [POL-PAT-005]
    type Mutator = Box<dyn Fn(&mut PinSpec)>;
    let cases: Vec<(Mutator, bool)> = vec![
        (Box::new(|p| p.retry_limit = 0), false),
        (Box::new(|p| p.retry_limit = 10001), false),
        (Box::new(|p| p.min_length = 0), false),
        (Box::new(|p| p.max_length = 129), false),
        (
            Box::new(|p| {
                p.min_length = 5;
                p.max_length = 4
            }),
            false,
        ),
        (
            Box::new(|p| {
                p.pattern_restrictions = [PatternRestriction::MissingGroup].into_iter().collect()
            }),
            false,
        ),
        (
            Box::new(|p| {
                p.format = PassphraseFormat::Binary;
                p.pattern_restrictions = [PatternRestriction::MissingGroup].into_iter().collect()
            }),
            false,
        ),
        (
            Box::new(|p| {
                p.format = PassphraseFormat::String;
                p.pattern_restrictions = [PatternRestriction::MissingGroup].into_iter().collect()
            }),
            true,
        ),
        (
            Box::new(|p| p.puk = Some((airtight_proto::sks::PukPolicyHandle(999), "PUK".into()))),
            false,
        ),
        (Box::new(|p| p.max_length = 128), true),
    ];
    for (f, ok) in cases {
        let (mut sks, mut is) = session(9);
        let mut ps = PinSpec::new("PIN");
        f(&mut ps);
        let r = is.create_pin(&mut sks, &ps);
        if ok {
            r.unwrap();
        } else {
            expect_code(r, SksErrorCode::Option);
        }
    }
}

#[test]
fn key_entry_rules() {
    // [SKS-KEY-003] [SKS-KEY-011] [POL-INP-004] [POL-DEV-001] [POL-PRT-002] [SKS-LIM-001]
    // [CRY-ALG-006] [SKS-ERR-006]
    let check = |seed: u64,
                 f: &dyn Fn(&mut Issuer, &mut ReferenceSks) -> KeySpec,
                 code: Option<SksErrorCode>| {
        let (mut sks, mut is) = session(seed);
        let spec = f(&mut is, &mut sks);
        let r = is.create_key(&mut sks, &spec);
        match code {
            Some(c) => {
                expect_code(r, c);
                assert_eq!(open_sessions(&mut sks), 0);
            }
            None => {
                r.unwrap();
            }
        }
    };
    use SksErrorCode::{Algorithm, Option as Opt};
    // keyEntryAlgorithm other than key.1: ERROR_ALGORITHM (Java and spec agree).
    check(
        10,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.key_entry_algorithm = "urn:x".into();
            k
        },
        Some(Algorithm),
    );
    check(
        11,
        &|_, _| KeySpec::new("K", "https://webpki.github.io/sks/algorithm#rsa4096"),
        Some(Opt),
    );
    check(
        12,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.key_parameters = Some(vec![3]);
            k
        },
        Some(Opt),
    );
    check(13, &|_, _| KeySpec::new("K", uri::RSA1024_EXP), Some(Opt));
    check(
        14,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.server_seed = Some(vec![0; 65]);
            k
        },
        Some(Opt),
    );
    check(
        15,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.pin = Some(b"1234".to_vec());
            k
        },
        Some(Opt),
    );
    check(
        16,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.enable_pin_caching = true;
            k
        },
        Some(Opt),
    );
    check(
        17,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.export_protection = ExportProtection::Pin;
            k
        },
        Some(Opt),
    );
    check(
        18,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.biometric_protection = BiometricProtection::Alternative;
            k
        },
        Some(Opt),
    );
    check(
        19,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.pin_policy = Some((PinPolicyHandle(77), "P".into()));
            k.pin = Some(b"1234".to_vec());
            k
        },
        Some(Opt),
    );
    check(
        20,
        &|is, sks| {
            let h = is.create_pin(sks, &PinSpec::new("P")).unwrap();
            let mut k = KeySpec::new("K", uri::P256).with_pin(h, "P", b"1234");
            k.enable_pin_caching = true;
            k
        },
        Some(Opt),
    );
    check(
        21,
        &|is, sks| {
            let mut ps = PinSpec::new("P");
            ps.input_method = InputMethod::TrustedGui;
            let h = is.create_pin(sks, &ps).unwrap();
            let mut k = KeySpec::new("K", uri::P256).with_pin(h, "P", b"1234");
            k.enable_pin_caching = true;
            k
        },
        None,
    );
    check(
        22,
        &|is, sks| {
            let h = is.create_pin(sks, &PinSpec::new("P")).unwrap();
            let mut k = KeySpec::new("K", uri::P256).with_pin(h, "P", b"1234");
            k.device_pin_protection = true;
            k
        },
        Some(Opt),
    );
    check(
        23,
        &|is, sks| {
            let h = is.create_pin(sks, &PinSpec::new("P")).unwrap();
            let mut k = KeySpec::new("K", uri::P256);
            k.pin_policy = Some((h, "P".into()));
            k
        },
        Some(Opt),
    );
    // Endorsed algorithms: sorted, known, `none` alone (Java: ERROR_OPTION throughout).
    check(
        24,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.endorsed_algorithms = vec![uri::ECDSA_SHA512.into(), uri::ECDSA_SHA256.into()];
            k
        },
        Some(Opt),
    );
    check(
        25,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.endorsed_algorithms = vec![uri::ECDSA_SHA256.into(), uri::ECDSA_SHA256.into()];
            k
        },
        Some(Opt),
    );
    check(
        26,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.endorsed_algorithms = vec!["urn:unknown".into()];
            k
        },
        Some(Opt),
    );
    check(
        27,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.endorsed_algorithms = vec![uri::ECDSA_SHA256.into(), uri::NONE.into()];
            k
        },
        Some(Opt),
    );
    check(
        28,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.friendly_name = Some("f".repeat(1001));
            k
        },
        Some(Opt),
    );
    check(
        29,
        &|_, _| {
            let mut k = KeySpec::new("K", uri::P256);
            k.endorsed_algorithms = vec![uri::NONE.into()];
            k
        },
        None,
    );
}

#[test]
fn none_endorsed_disables_every_user_operation() {
    // [SKS-USR-002] [CRY-ALG-006] [POL-APP-002]
    let (mut sks, mut is) = session(30);
    let mut k = KeySpec::new("K", uri::P256);
    k.endorsed_algorithms = vec![uri::NONE.into()];
    k.export_protection = ExportProtection::None;
    let k = is.provision_key(&mut sks, &k).unwrap();
    let mut any = KeySpec::new("A", uri::P256);
    any.app_usage = AppUsage::Encryption;
    let any = is.provision_key(&mut sks, &any).unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    expect_code(
        sks.sign_data(k.handle, uri::NONE, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    // Still exportable (the "password" use of facts §3.10).
    sks.export_key(k.handle, None).unwrap();
    // appUsage encryption does not stop signing.
    sks.sign_data(any.handle, uri::ECDSA_SHA256, None, false, None, b"x")
        .unwrap();
    // Wrong family and wrong operation: ERROR_ALGORITHM [SKS-ERR-006].
    expect_code(
        sks.sign_data(any.handle, uri::RSA_SHA256, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    expect_code(
        sks.sign_data(any.handle, uri::HMAC_SHA256, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    expect_code(
        sks.sign_data(any.handle, "urn:nope", None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    expect_code(
        sks.asymmetric_key_decrypt(any.handle, uri::RSA_PKCS1, None, false, None, b"x"),
        SksErrorCode::Algorithm,
    );
    // [SKS-LIM-001] data over cryptoDataSize; parameters where none apply.
    expect_code(
        sks.sign_data(
            any.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            None,
            &vec![0; MAX_LENGTH_CRYPTO_DATA + 1],
        ),
        SksErrorCode::Option,
    );
    expect_code(
        sks.sign_data(any.handle, uri::ECDSA_SHA256, Some(b"p"), false, None, b"x"),
        SksErrorCode::Option,
    );
    // [SKS-ERR-005]
    expect_code(
        sks.sign_data(KeyHandle(9999), uri::ECDSA_SHA256, None, false, None, b"x"),
        SksErrorCode::NoKey,
    );
}

#[test]
fn certificate_path_rules() {
    // [SKS-CRT-001] [SKS-CRT-002] [SKS-CRT-004] [SKS-LIM-001]
    let (mut sks, mut is) = session(31);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &[]),
        SksErrorCode::Option,
    );
    let (mut sks, mut is) = session(32);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.set_certificate_path(
            &mut sks,
            kd.key_handle,
            "K",
            &kd.public_key,
            &[vec![0x30; MAX_LENGTH_CRYPTO_DATA + 1]],
        ),
        SksErrorCode::Option,
    );
    let (mut sks, mut is) = session(33);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.set_certificate_path(
            &mut sks,
            kd.key_handle,
            "K",
            &kd.public_key,
            &[b"not DER".to_vec()],
        ),
        SksErrorCode::Option,
    );
    // Any certificate is accepted here (the MAC binds it); a second call is refused
    // (Java: ERROR_OPTION).
    let (mut sks, mut is) = session(34);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let other = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(3));
    let path = is
        .certificate_path(&other.public_key().to_spki_der().unwrap())
        .unwrap();
    is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path)
        .unwrap();
    let spki = other.public_key().to_spki_der().unwrap();
    let path2 = is.certificate_path(&spki).unwrap();
    expect_code(
        is.set_certificate_path(&mut sks, kd.key_handle, "K", &spki, &path2),
        SksErrorCode::Option,
    );
}

#[test]
fn import_rules() {
    // [SKS-IMX-005] [SKS-IMX-006] [SKS-LIM-001] [CRY-IMP-003]
    let (mut sks, mut is) = session(35);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.import_symmetric_key(&mut sks, k.handle, k.ee(), &[1; 129]),
        SksErrorCode::Option,
    );
    let (mut sks, mut is) = session(36);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.import_symmetric_key(&mut sks, k.handle, k.ee(), &[]),
        SksErrorCode::Option,
    );
    // Garbage ciphertext with a valid MAC: ERROR_CRYPTO, one text for every decryption failure.
    let mut texts = Vec::new();
    for (seed, ct) in [
        (37u64, vec![0u8; 32]),
        (38, vec![0u8; 33]),
        (39, vec![0u8; 8]),
    ] {
        let (mut sks, mut is) = session(seed);
        let k = is
            .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
            .unwrap();
        let data = session1::import_key_data(k.ee(), &ct).unwrap();
        let mac = is.mac(Method::ImportSymmetricKey, &data).unwrap();
        let e = expect_code(
            sks.import_symmetric_key(k.handle, &ct, &mac),
            SksErrorCode::Crypto,
        );
        texts.push(e.message().to_owned());
        assert_eq!(open_sessions(&mut sks), 0);
    }
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
    // Import before the certificate, and a second import (Java: ERROR_OPTION).
    let (mut sks, mut is) = session(40);
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.import_symmetric_key(&mut sks, kd.key_handle, b"", &[1; 16]),
        SksErrorCode::Option,
    );
    let (mut sks, mut is) = session(41);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.import_symmetric_key(&mut sks, k.handle, k.ee(), &[1; 16])
        .unwrap();
    expect_code(
        is.import_symmetric_key(&mut sks, k.handle, k.ee(), &[1; 16]),
        SksErrorCode::Option,
    );
    // A private key that is not the certificate's: refused at import (RSA) or at close (EC).
    let (mut sks, mut is) = session(42);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let other = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(4));
    is.import_private_key(&mut sks, k.handle, k.ee(), &other.to_pkcs8_der().unwrap())
        .unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    let (mut sks, mut is) = session(43);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        is.import_private_key(&mut sks, k.handle, k.ee(), b"not pkcs8"),
        SksErrorCode::Crypto,
    );
    let (mut sks, mut is) = session(44);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let rsa = PrivateKey::generate_rsa(1024, 65537, &mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    expect_code(
        is.import_private_key(&mut sks, k.handle, k.ee(), &rsa.to_pkcs8_der().unwrap()),
        SksErrorCode::Option,
    );
}

#[test]
fn extension_rules() {
    // [SKS-EXT-001] [SKS-EXT-003] [SKS-EXT-004] [SKS-LIM-001]
    type Case = (&'static str, ExtensionSubType, &'static str, Vec<u8>, bool);
    let bag_ok = session1::encode_property_bag(&[session1::Property {
        name: "n".into(),
        writable: true,
        value: "v".into(),
    }])
    .unwrap();
    let cases: Vec<Case> = vec![
        ("", ExtensionSubType::Extension, "", vec![1], false),
        ("urn:x", ExtensionSubType::Extension, "q", vec![1], false),
        ("urn:x", ExtensionSubType::Logotype, "", vec![1], false),
        (
            "urn:x",
            ExtensionSubType::Logotype,
            "image/png",
            vec![1],
            true,
        ),
        (
            "urn:x",
            ExtensionSubType::Extension,
            "",
            vec![0; MAX_LENGTH_EXTENSION_DATA + 1],
            false,
        ),
        (
            "urn:x",
            ExtensionSubType::Extension,
            "",
            vec![0; MAX_LENGTH_EXTENSION_DATA],
            true,
        ),
        ("urn:x", ExtensionSubType::PropertyBag, "", vec![], false),
        (
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            vec![0, 1, b'n', 2, 0, 0],
            false,
        ),
        (
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            vec![0, 0, 1, 0, 0],
            false,
        ),
        ("urn:x", ExtensionSubType::PropertyBag, "", bag_ok, true),
    ];
    for (i, (t, st, q, data, ok)) in cases.into_iter().enumerate() {
        let (mut sks, mut is) = session(50 + i as u64);
        let k = is
            .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
            .unwrap();
        let r = is.add_extension(&mut sks, k.handle, k.ee(), t, st, q, &data);
        if ok {
            r.unwrap();
            expect_code(
                is.add_extension(&mut sks, k.handle, k.ee(), t, st, q, &data),
                SksErrorCode::Option,
            );
        } else {
            expect_code(r, SksErrorCode::Option);
        }
    }
}

#[test]
fn mac_is_checked_first_and_closed_sessions_take_no_calls() {
    // [CRY-MAC-023] [SKS-ERR-004] [SKS-SES-013] [SKS-SES-010] [SKS-CLS-006] [SKS-ERR-005]
    let (mut sks, mut is) = session(60);
    let mut params = is.pin_params(&PinSpec::new("PIN")).unwrap();
    params.mac[0] ^= 1;
    expect_code(sks.create_pin_policy(&params), SksErrorCode::Mac);
    let (mut sks, mut is) = session(61);
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        is.create_pin(&mut sks, &PinSpec::new("PIN")),
        SksErrorCode::NoSession,
    );
    expect_code(is.close(&mut sks), SksErrorCode::NoSession);
    expect_code(sks.get_key_handle(is.handle, "K"), SksErrorCode::NoSession);
    // A close with a bad MAC tears down; nothing is committed.
    let (mut sks, mut is) = session(62);
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(
        sks.close_provisioning_session(is.handle, &[1; 32], &[0; 32]),
        SksErrorCode::Mac,
    );
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    assert_eq!(open_sessions(&mut sks), 0);
    // Nonce length 1..32.
    let (mut sks, is) = session(63);
    expect_code(
        sks.close_provisioning_session(is.handle, &[1; 33], &[0; 32]),
        SksErrorCode::Option,
    );
    expect_code(
        sks.close_provisioning_session(ProvisioningHandle(777), &[1; 3], &[0; 32]),
        SksErrorCode::NoSession,
    );
}

#[test]
fn post_operation_multiplicity_and_clone_grouping() {
    // [SKS-PST-001] [SKS-PST-007] [SKS-PST-008] [SKS-PST-011] [POL-PRT-005] [POL-OBJ-005]
    let mut sks = airtight_testkit::card(64);
    let mut is = Issuer::new(64).with_kmk(64);
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(&mut sks).unwrap();
    let mut ps = PinSpec::new("PIN");
    ps.grouping = Grouping::None;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let mut t = KeySpec::new("T", uri::P256).with_pin(pin, "PIN", b"1234");
    t.delete_protection = airtight_proto::policy::DeleteProtection::NonDeletable;
    let target = is.provision_key(&mut sks, &t).unwrap();
    is.close(&mut sks).unwrap();
    // Clone needs grouping shared.
    let mut is2 = Issuer::new(65);
    is2.create_session(&mut sks).unwrap();
    let c = is2
        .provision_key(&mut sks, &KeySpec::new("C", uri::P256))
        .unwrap();
    expect_code(
        is2.post_update_or_clone(
            &mut sks,
            c.handle,
            c.ee(),
            target.handle,
            target.ee(),
            &kmk,
            false,
        ),
        SksErrorCode::Option,
    );
    // Two updates of one target; one new key used twice.
    let mut is3 = Issuer::new(66);
    is3.create_session(&mut sks).unwrap();
    let a = is3
        .provision_key(&mut sks, &KeySpec::new("A", uri::P256))
        .unwrap();
    let b = is3
        .provision_key(&mut sks, &KeySpec::new("B", uri::P256))
        .unwrap();
    is3.post_update_or_clone(
        &mut sks,
        a.handle,
        a.ee(),
        target.handle,
        target.ee(),
        &kmk,
        true,
    )
    .unwrap();
    expect_code(
        is3.post_update_or_clone(
            &mut sks,
            b.handle,
            b.ee(),
            target.handle,
            target.ee(),
            &kmk,
            true,
        ),
        SksErrorCode::Option,
    );
    let mut is4 = Issuer::new(67);
    is4.create_session(&mut sks).unwrap();
    let a = is4
        .provision_key(&mut sks, &KeySpec::new("A", uri::P256))
        .unwrap();
    is4.post_update_or_clone(
        &mut sks,
        a.handle,
        a.ee(),
        target.handle,
        target.ee(),
        &kmk,
        true,
    )
    .unwrap();
    expect_code(
        is4.post_delete_or_unlock(&mut sks, target.handle, target.ee(), &kmk, true),
        SksErrorCode::Option,
    );
    // A forged MAC on a post-operation.
    let mut is5 = Issuer::new(68);
    is5.create_session(&mut sks).unwrap();
    let auth = is5.authorization(&kmk, target.ee()).unwrap();
    expect_code(
        sks.post_delete_key(is5.handle, target.handle, &auth, &[0; 32]),
        SksErrorCode::Mac,
    );
    // postDeleteKey ignores delete protection (non-deletable for the user).
    expect_code(
        sks.delete_key(target.handle, Some(b"1234")),
        SksErrorCode::NotAllowed,
    );
    let mut is6 = Issuer::new(69);
    is6.create_session(&mut sks).unwrap();
    is6.post_delete_or_unlock(&mut sks, target.handle, target.ee(), &kmk, true)
        .unwrap();
    is6.close(&mut sks).unwrap();
    expect_code(sks.get_key_attributes(target.handle), SksErrorCode::NoKey);
}

#[test]
fn key_protection_info_and_attributes() {
    // [SKS-ENU-001] [SKS-ENU-002] [SKS-ENU-003] [SKS-ENU-004] [POL-INP-003]
    let (mut sks, mut is) = session(70);
    let puk = is
        .create_puk(&mut sks, "PUK", b"ABC1", PassphraseFormat::Alphanumeric, 5)
        .unwrap();
    let mut ps = PinSpec::new("PIN");
    ps.puk = Some((puk, "PUK".into()));
    ps.input_method = InputMethod::TrustedGui;
    ps.grouping = Grouping::Unique;
    ps.retry_limit = 7;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let mut ks = KeySpec::new("K", uri::P256).with_pin(pin, "PIN", b"9876");
    ks.friendly_name = Some("My key".into());
    ks.enable_pin_caching = true;
    ks.app_usage = AppUsage::Signature;
    ks.endorsed_algorithms = vec![uri::ECDSA_SHA256.into()];
    let k = is.provision_key(&mut sks, &ks).unwrap();
    is.close(&mut sks).unwrap();
    let e = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!((e.key_handle, e.provisioning_handle), (k.handle, is.handle));
    let a = sks.get_key_attributes(k.handle).unwrap();
    assert_eq!(a.symmetric_key_length, 0);
    assert_eq!(a.friendly_name.as_deref(), Some("My key"));
    assert_eq!(a.app_usage, AppUsage::Signature);
    assert_eq!(a.endorsed_algorithms, [uri::ECDSA_SHA256]);
    let i = sks.get_key_protection_info(k.handle).unwrap();
    let pin_info = i.pin.unwrap();
    assert_eq!(pin_info.input_method, InputMethod::TrustedGui);
    assert_eq!(pin_info.grouping, Grouping::Unique);
    assert_eq!(pin_info.retry_limit, 7);
    let puk_info = i.puk.unwrap();
    assert_eq!(
        (puk_info.format, puk_info.retry_limit),
        (PassphraseFormat::Alphanumeric, 5)
    );
    assert!(i.enable_pin_caching);
    assert_eq!(i.export_protection, ExportProtection::NonExportable);
    // No secret in any attribute answer.
    let dump = format!("{a:?}{i:?}");
    assert!(!dump.contains("9876") && !dump.contains("ABC1"));
}

#[test]
fn deleting_the_last_key_deletes_its_policies_and_session() {
    // [POL-OBJ-001] [POL-OBJ-004] [POL-OBJ-005] [SKS-MGT-001]
    let (mut sks, mut is) = session(71);
    let puk = is
        .create_puk(&mut sks, "PUK", b"1111", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN");
    ps.puk = Some((puk, "PUK".into()));
    ps.grouping = Grouping::Shared;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let a = is
        .provision_key(
            &mut sks,
            &KeySpec::new("A", uri::P256).with_pin(pin, "PIN", b"1234"),
        )
        .unwrap();
    let b = is
        .provision_key(
            &mut sks,
            &KeySpec::new("B", uri::P256).with_pin(pin, "PIN", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    sks.delete_key(a.handle, None).unwrap();
    // The policy stays for B.
    sks.unlock_key(b.handle, b"1111").unwrap();
    sks.sign_data(
        b.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1234"),
        b"x",
    )
    .unwrap();
    sks.delete_key(b.handle, None).unwrap();
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
            .unwrap()
            .is_none()
    );
}

#[test]
fn storage_failure_at_close_commits_nothing() {
    // [SKS-ERR-007]
    let fs = SimFs::new();
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        1,
        std::sync::Arc::new(airtight_card::env::ManualClock::new(
            airtight_card::TEST_TIME,
        )),
    );
    c.storage = Storage::Vfs(Box::new(fs.clone()));
    let mut sks = ReferenceSks::open(c).unwrap();
    let mut is = Issuer::new(72);
    is.create_session(&mut sks).unwrap();
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    fs.set_capacity(Some(0));
    expect_code(is.close(&mut sks), SksErrorCode::Storage);
    fs.set_capacity(None);
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
}

#[test]
fn close_is_atomic_under_power_loss_at_every_write_point() {
    // [SKS-IMP-007] [SKS-IMP-006]: cut the power at each write point of a close that also
    // deletes and unlocks earlier keys; after reboot either everything or nothing is there.
    use airtight_card::store::CrashPolicy;
    let config = |fs: SimFs| {
        let mut c = CardConfig::test_device(
            DeviceKeyKind::P256,
            1,
            std::sync::Arc::new(airtight_card::env::ManualClock::new(
                airtight_card::TEST_TIME,
            )),
        );
        c.storage = Storage::Vfs(Box::new(fs));
        c
    };
    for point in 1..=12u64 {
        let fs = SimFs::new();
        let mut sks = ReferenceSks::open(config(fs.clone())).unwrap();
        let mut is = Issuer::new(73).with_kmk(73);
        let kmk = is.key_management_key.clone().unwrap();
        is.create_session(&mut sks).unwrap();
        let old = is
            .provision_key(&mut sks, &KeySpec::new("Old", uri::P256))
            .unwrap();
        is.close(&mut sks).unwrap();
        let mut is2 = Issuer::new(74);
        is2.create_session(&mut sks).unwrap();
        let new = is2
            .provision_key(&mut sks, &KeySpec::new("New", uri::P256))
            .unwrap();
        is2.post_delete_or_unlock(&mut sks, old.handle, old.ee(), &kmk, true)
            .unwrap();
        fs.crash_at(point);
        let closed = is2.close(&mut sks).map_err(EmuError::into_sks).is_ok();
        drop(sks);
        for policy in [CrashPolicy::DropUnsynced, CrashPolicy::KeepAll] {
            let mut sks = ReferenceSks::open(config(fs.after_crash(policy))).unwrap();
            let first = sks
                .enumerate_keys(KeyHandle::NONE)
                .unwrap()
                .unwrap()
                .key_handle;
            let only_one = sks.enumerate_keys(first).unwrap().is_none();
            assert!(only_one, "point {point}: exactly one key, old or new");
            assert!(first == old.handle || first == new.handle);
            if closed && policy == CrashPolicy::DropUnsynced {
                assert_eq!(
                    first, new.handle,
                    "point {point}: a close that returned Ok is durable"
                );
            }
            assert_eq!(open_sessions(&mut sks), 0);
        }
    }
}

fn card_with(f: impl FnOnce(&mut CardConfig)) -> ReferenceSks {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        1,
        std::sync::Arc::new(airtight_card::env::ManualClock::new(
            airtight_card::TEST_TIME,
        )),
    );
    f(&mut c);
    ReferenceSks::open(c).unwrap()
}

#[test]
fn resource_bounds() {
    // [SKS-IMP-004]
    let mut sks = card_with(|c| {
        c.limits.max_objects_per_session = 2;
        c.limits.max_extensions_per_key = 1;
        c.limits.max_certificate_path = 3;
    });
    let mut is = Issuer::new(80);
    is.create_session(&mut sks).unwrap();
    let k = is
        .provision_key(&mut sks, &KeySpec::new("A", uri::P256))
        .unwrap();
    is.add_extension(
        &mut sks,
        k.handle,
        k.ee(),
        "urn:a",
        ExtensionSubType::Extension,
        "",
        b"1",
    )
    .unwrap();
    expect_code(
        is.add_extension(
            &mut sks,
            k.handle,
            k.ee(),
            "urn:b",
            ExtensionSubType::Extension,
            "",
            b"1",
        ),
        SksErrorCode::Storage,
    );
    let mut is = Issuer::new(81);
    is.create_session(&mut sks).unwrap();
    is.create_pin(&mut sks, &PinSpec::new("P1")).unwrap();
    is.create_pin(&mut sks, &PinSpec::new("P2")).unwrap();
    expect_code(
        is.create_pin(&mut sks, &PinSpec::new("P3")),
        SksErrorCode::Storage,
    );
    let mut is = Issuer::new(82);
    is.create_session(&mut sks).unwrap();
    let kd = is
        .create_key(&mut sks, &KeySpec::new("A", uri::P256))
        .unwrap();
    let mut path = is.certificate_path(&kd.public_key).unwrap();
    path.push(path[1].clone());
    expect_code(
        is.set_certificate_path(&mut sks, kd.key_handle, "A", &kd.public_key, &path),
        SksErrorCode::Option,
    );
}

#[test]
fn biometric_and_device_pin_support_switches() {
    // [POL-BIO-001] [POL-DEV-001] [POL-IMP-001]
    let mut sks = card_with(|c| {
        c.biometric_support = false;
        c.device_pin = airtight_card::DevicePin::Unsupported;
    });
    assert!(!sks.get_device_info().unwrap().device_pin_support);
    let mut is = Issuer::new(83);
    is.create_session(&mut sks).unwrap();
    let mut k = KeySpec::new("K", uri::P256);
    k.biometric_protection = BiometricProtection::Exclusive;
    expect_code(is.create_key(&mut sks, &k), SksErrorCode::Option);
    let mut is = Issuer::new(84);
    is.create_session(&mut sks).unwrap();
    let mut k = KeySpec::new("K", uri::P256);
    k.device_pin_protection = true;
    expect_code(is.create_key(&mut sks, &k), SksErrorCode::Option);
    // A platform hook decides the device PIN; nothing is hard-coded.
    let mut sks = card_with(|c| {
        c.device_pin =
            airtight_card::DevicePin::Platform(std::sync::Arc::new(|p: &[u8]| p == b"2468"));
    });
    let mut is = Issuer::new(85);
    is.create_session(&mut sks).unwrap();
    let mut k = KeySpec::new("K", uri::P256);
    k.device_pin_protection = true;
    let k = is.provision_key(&mut sks, &k).unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.sign_data(
            k.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"1234"),
            b"x",
        ),
        SksErrorCode::Authorization,
    );
    sks.sign_data(
        k.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"2468"),
        b"x",
    )
    .unwrap();
    // Production configurations have no device PIN and the Java PUK delay.
    let prod = CardConfig::production(
        zeroize::Zeroizing::new(vec![]),
        vec![],
        std::env::temp_dir(),
    );
    assert!(matches!(
        prod.device_pin,
        airtight_card::DevicePin::Unsupported
    ));
    assert_eq!(prod.puk_delay, std::time::Duration::from_secs(1));
}

#[test]
fn puk_without_retry_limit_waits_before_comparing() {
    // [POL-PUK-006] [POL-IMP-003] [POL-PUK-007] (with a short configured delay)
    let delay = std::time::Duration::from_millis(30);
    let mut sks = card_with(|c| c.puk_delay = delay);
    let mut is = Issuer::new(86);
    is.create_session(&mut sks).unwrap();
    let puk = is
        .create_puk(&mut sks, "PUK", b"5555", PassphraseFormat::Numeric, 0)
        .unwrap();
    let mut ps = PinSpec::new("PIN");
    ps.puk = Some((puk, "PUK".into()));
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let k = is
        .provision_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin, "PIN", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    let t = std::time::Instant::now();
    expect_code(
        sks.unlock_key(k.handle, b"0000"),
        SksErrorCode::Authorization,
    );
    assert!(t.elapsed() >= delay);
    // setPin changes the PIN, never the PUK.
    sks.set_pin(k.handle, b"5555", b"4321").unwrap();
    sks.unlock_key(k.handle, b"5555").unwrap();
}

#[test]
fn grouping_none_keeps_values_and_counters_apart() {
    // [POL-GRP-004]
    let (mut sks, mut is) = session(87);
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN")).unwrap();
    let a = is
        .provision_key(
            &mut sks,
            &KeySpec::new("A", uri::P256).with_pin(pin, "PIN", b"1111"),
        )
        .unwrap();
    let b = is
        .provision_key(
            &mut sks,
            &KeySpec::new("B", uri::P256).with_pin(pin, "PIN", b"2222"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.sign_data(
            a.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"0000"),
            b"x",
        ),
        SksErrorCode::Authorization,
    );
    assert_eq!(
        sks.get_key_protection_info(a.handle)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        1
    );
    assert_eq!(
        sks.get_key_protection_info(b.handle)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        0
    );
    sks.change_pin(a.handle, b"1111", b"3333").unwrap();
    sks.sign_data(
        b.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"2222"),
        b"x",
    )
    .unwrap();
}

#[test]
fn roll_over_failure_changes_nothing() {
    // [CRY-ROL-003] [SKS-KMK-001] (state checks; a bad newKMK is ERROR_OPTION as in Java)
    let mut sks = airtight_testkit::card(88);
    let mut is = Issuer::new(88).with_kmk(88);
    let kmk = is.key_management_key.clone().unwrap();
    is.create_session(&mut sks).unwrap();
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    let new = emulator::kmk(89);
    let new_spki = new.public_key().to_spki_der().unwrap();
    let data = session1::roll_over_signed_data(&new.public_key()).unwrap();
    let forged = session1::sign_kmk_authorization(&new, &data).unwrap();
    expect_code(
        sks.update_key_management_key(is.handle, &new_spki, &forged),
        SksErrorCode::Option,
    );
    let e = sks
        .enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
        .unwrap()
        .unwrap();
    assert_eq!(
        e.key_management_key,
        Some(kmk.public_key().to_spki_der().unwrap())
    );
    // Truncated signature: ERROR_CRYPTO (Java: a signature-length exception).
    expect_code(
        sks.update_key_management_key(is.handle, &new_spki, &forged[..10]),
        SksErrorCode::Crypto,
    );
    // Not a session / an open session.
    expect_code(
        sks.update_key_management_key(ProvisioningHandle(999), &new_spki, &forged),
        SksErrorCode::NoSession,
    );
    let mut open = Issuer::new(90);
    open.create_session(&mut sks).unwrap();
    expect_code(
        sks.update_key_management_key(open.handle, &new_spki, &forged),
        SksErrorCode::NotAllowed,
    );
}

mod garbage {
    //! [SKS-IMP-010]: random bytes where DER, SPKI, PKCS#8, certificates, property bags and
    //! ciphertexts are expected give error codes, never a panic.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
        #[test]
        fn parsers_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..300), which in 0u8..6) {
            let (mut sks, mut is) = session(91);
            let eph = PrivateKey::generate_ec(Curve::P256, &mut ChaCha20Rng::seed_from_u64(1));
            let r: Result<(), airtight_proto::sks::SksError> = match which {
                0 => {
                    let mut p = is.session_params(&eph).unwrap();
                    p.server_ephemeral_key = blob.clone();
                    sks.create_provisioning_session(&p).map(|_| ())
                }
                1 => {
                    let mut p = is.session_params(&eph).unwrap();
                    p.key_management_key = Some(blob.clone());
                    sks.create_provisioning_session(&p).map(|_| ())
                }
                2 => {
                    let kd = is.create_key(&mut sks, &KeySpec::new("K", uri::P256)).unwrap();
                    is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, std::slice::from_ref(&blob)).map_err(EmuError::into_sks)
                }
                3 => {
                    let k = is.provision_key(&mut sks, &KeySpec::new("K", uri::P256)).unwrap();
                    is.add_extension(&mut sks, k.handle, k.ee(), "urn:b", ExtensionSubType::PropertyBag, "", &blob).map_err(EmuError::into_sks)
                }
                4 => {
                    let k = is.provision_key(&mut sks, &KeySpec::new("K", uri::P256)).unwrap();
                    is.import_private_key(&mut sks, k.handle, k.ee(), &blob).map_err(EmuError::into_sks)
                }
                _ => {
                    let k = is.provision_key(&mut sks, &KeySpec::new("K", uri::P256)).unwrap();
                    let data = session1::import_key_data(k.ee(), &blob).unwrap();
                    let mac = is.mac(Method::ImportSymmetricKey, &data).unwrap();
                    sks.import_symmetric_key(k.handle, &blob, &mac)
                }
            };
            if let Err(e) = r {
                prop_assert!(e.code() != SksErrorCode::Internal, "{e}");
            }
        }
    }
}
