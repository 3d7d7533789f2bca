//! Negative checks: every input limit, bad formats and patterns, grouping violations,
//! protection combinations, unknown algorithms and unsupported curves. Each case expects its
//! precise SKS error code and, inside a session, the transactional teardown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_neg;

use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestriction, PatternRestrictions,
};
use airtight_proto::session1::{self, Property};
use airtight_proto::sks::{
    ExtensionSubType, MAX_LENGTH_CRYPTO_DATA, MAX_LENGTH_EXTENSION_DATA, PukPolicyHandle,
    SecureKeyStore, SksErrorCode,
};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;
use support_neg::{
    OID_BRAINPOOL_P256R1, OID_P256, OID_SECP256K1, ec_spki, open_handles, rsa_spki, session,
    snapshot, world,
};

fn pattern(p: PatternRestriction) -> PatternRestrictions {
    PatternRestrictions::NONE.with(p)
}

/// A createKeyEntry case: an optional PIN policy, the key spec changes, the expected code.
struct KeyCase {
    what: &'static str,
    pin: Option<fn(&mut PinSpec)>,
    pin_value: &'static [u8],
    key: fn(&mut KeySpec),
    code: SksErrorCode,
}

fn key_cases() -> Vec<KeyCase> {
    use SksErrorCode::{Algorithm, Crypto, Option as Opt};
    fn nop(_: &mut PinSpec) {}
    fn alnum(p: &mut PinSpec) {
        p.format = PassphraseFormat::Alphanumeric;
    }
    vec![
        // [SKS-LIM-004] [SKS-LIM-001] ids
        KeyCase {
            what: "id of 33 characters",
            pin: None,
            pin_value: b"",
            key: |k| k.id = "K".repeat(33),
            code: Opt,
        },
        KeyCase {
            what: "empty id",
            pin: None,
            pin_value: b"",
            key: |k| k.id = String::new(),
            code: Opt,
        },
        KeyCase {
            what: "id with a space",
            pin: None,
            pin_value: b"",
            key: |k| k.id = "Key 1".into(),
            code: Opt,
        },
        KeyCase {
            what: "id with DEL",
            pin: None,
            pin_value: b"",
            key: |k| k.id = "Key\u{7f}".into(),
            code: Opt,
        },
        KeyCase {
            what: "id with a non-ASCII character",
            pin: None,
            pin_value: b"",
            key: |k| k.id = "Kéy".into(),
            code: Opt,
        },
        KeyCase {
            what: "id with a control character",
            pin: None,
            pin_value: b"",
            key: |k| k.id = "Key\n".into(),
            code: Opt,
        },
        // [SKS-LIM-001] server seed of 65 bytes (t77)
        KeyCase {
            what: "serverSeed of 65 bytes",
            pin: None,
            pin_value: b"",
            key: |k| k.server_seed = Some(vec![1; 65]),
            code: Opt,
        },
        // [CRY-ALG-002] [SKS-ERR-006] key entry algorithm (t81)
        KeyCase {
            what: "unknown keyEntryAlgorithm",
            pin: None,
            pin_value: b"",
            key: |k| k.key_entry_algorithm = "https://webpki.github.io/sks/algorithm#key.2".into(),
            code: Algorithm,
        },
        // [CRY-ALG-003] key algorithms: ERROR_OPTION at provisioning (the Java reference's code)
        KeyCase {
            what: "unknown key algorithm",
            pin: None,
            pin_value: b"",
            key: |k| k.key_algorithm = "https://webpki.github.io/sks/algorithm#ec.nist.p192".into(),
            code: Opt,
        },
        KeyCase {
            what: "rsa3072 (not supported)",
            pin: None,
            pin_value: b"",
            key: |k| k.key_algorithm = "https://webpki.github.io/sks/algorithm#rsa3072".into(),
            code: Opt,
        },
        KeyCase {
            what: "ed448 (not supported)",
            pin: None,
            pin_value: b"",
            key: |k| k.key_algorithm = "https://webpki.github.io/sks/algorithm#ed448".into(),
            code: Opt,
        },
        KeyCase {
            what: "a signature URI as key algorithm",
            pin: None,
            pin_value: b"",
            key: |k| k.key_algorithm = uri::ECDSA_SHA256.into(),
            code: Opt,
        },
        // [CRY-ALG-004] key parameters: a malformed exponent is ERROR_OPTION, an even one or 1
        // is ERROR_CRYPTO (the Java reference's key generator refuses it)
        KeyCase {
            what: "keyParameters with P-256",
            pin: None,
            pin_value: b"",
            key: |k| k.key_parameters = Some(vec![1, 0, 1]),
            code: Opt,
        },
        KeyCase {
            what: "even RSA exponent",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.key_algorithm = uri::RSA1024_EXP.into();
                k.key_parameters = Some(vec![1, 0, 0]);
            },
            code: Crypto,
        },
        KeyCase {
            what: "RSA exponent of 9 bytes",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.key_algorithm = uri::RSA1024_EXP.into();
                k.key_parameters = Some(vec![1; 9]);
            },
            code: Opt,
        },
        KeyCase {
            what: "RSA exponent 1",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.key_algorithm = uri::RSA1024_EXP.into();
                k.key_parameters = Some(vec![1]);
            },
            code: Crypto,
        },
        KeyCase {
            what: ".exp algorithm without exponent",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.key_algorithm = uri::RSA1024_EXP.into();
                k.key_parameters = None;
            },
            code: Opt,
        },
        // [SKS-KEY-007] endorsed algorithms (t41, t57)
        KeyCase {
            what: "unknown endorsed algorithm",
            pin: None,
            pin_value: b"",
            key: |k| k.endorsed_algorithms = vec!["http://example.com/alg#nothing".into()],
            code: Opt,
        },
        KeyCase {
            what: "unsorted endorsed algorithms",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.endorsed_algorithms = vec![uri::ECDSA_SHA512.into(), uri::ECDSA_SHA256.into()]
            },
            code: Opt,
        },
        KeyCase {
            what: "duplicate endorsed algorithm",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.endorsed_algorithms = vec![uri::ECDSA_SHA256.into(), uri::ECDSA_SHA256.into()]
            },
            code: Opt,
        },
        KeyCase {
            what: "#none with another endorsed algorithm",
            pin: None,
            pin_value: b"",
            key: |k| k.endorsed_algorithms = vec![uri::ECDSA_SHA256.into(), uri::NONE.into()],
            code: Opt,
        },
        // [SKS-KEY-003] PIN value without policy
        KeyCase {
            what: "a PIN value without PIN policy",
            pin: None,
            pin_value: b"",
            key: |k| k.pin = Some(b"1234".to_vec()),
            code: Opt,
        },
        // [SKS-KEY-011] [POL-DEV-001] [POL-INP-004] [POL-BIO-002] [POL-PRT-002] combinations
        KeyCase {
            what: "device PIN together with a PIN policy",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.device_pin_protection = true,
            code: Opt,
        },
        KeyCase {
            what: "PIN caching without trusted-gui",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.enable_pin_caching = true,
            code: Opt,
        },
        KeyCase {
            what: "PIN caching without PIN",
            pin: None,
            pin_value: b"",
            key: |k| k.enable_pin_caching = true,
            code: Opt,
        },
        KeyCase {
            what: "biometric alternative without PIN",
            pin: None,
            pin_value: b"",
            key: |k| k.biometric_protection = BiometricProtection::Alternative,
            code: Opt,
        },
        KeyCase {
            what: "biometric combined without PIN",
            pin: None,
            pin_value: b"",
            key: |k| k.biometric_protection = BiometricProtection::Combined,
            code: Opt,
        },
        KeyCase {
            what: "biometric exclusive with device PIN",
            pin: None,
            pin_value: b"",
            key: |k| {
                k.biometric_protection = BiometricProtection::Exclusive;
                k.device_pin_protection = true;
            },
            code: Opt,
        },
        KeyCase {
            what: "biometric exclusive with PIN policy",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.biometric_protection = BiometricProtection::Exclusive,
            code: Opt,
        },
        KeyCase {
            what: "export protection pin without PIN",
            pin: None,
            pin_value: b"",
            key: |k| k.export_protection = ExportProtection::Pin,
            code: Opt,
        },
        KeyCase {
            what: "export protection puk without PUK",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.export_protection = ExportProtection::Puk,
            code: Opt,
        },
        KeyCase {
            what: "delete protection pin without PIN",
            pin: None,
            pin_value: b"",
            key: |k| k.delete_protection = DeleteProtection::Pin,
            code: Opt,
        },
        KeyCase {
            what: "delete protection puk without PUK",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.delete_protection = DeleteProtection::Puk,
            code: Opt,
        },
        // [SKS-KEY-005] [POL-PIN-002] PIN length
        KeyCase {
            what: "PIN shorter than minLength",
            pin: Some(nop),
            pin_value: b"123",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "PIN longer than maxLength",
            pin: Some(nop),
            pin_value: b"123456789",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "PIN policy without PIN value",
            pin: Some(nop),
            pin_value: b"1234",
            key: |k| k.pin = None,
            code: Opt,
        },
        // [POL-FMT-001] [POL-FMT-002] [POL-FMT-006] formats
        KeyCase {
            what: "numeric PIN with a letter",
            pin: Some(nop),
            pin_value: b"12a4",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "numeric PIN with a space",
            pin: Some(nop),
            pin_value: b"12 4",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "alphanumeric PIN with lower case",
            pin: Some(alnum),
            pin_value: b"AB1c",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "alphanumeric PIN with a symbol",
            pin: Some(alnum),
            pin_value: b"AB1-",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "string PIN over 128 bytes",
            pin: Some(|p| {
                p.format = PassphraseFormat::String;
                p.max_length = 128;
            }),
            pin_value: &[b'a'; 129],
            key: |_| {},
            code: Opt,
        },
        // [POL-PAT-001]..[POL-PAT-007] patterns (t13, t69)
        KeyCase {
            what: "two-in-a-row 1124",
            pin: Some(|p| p.pattern_restrictions = pattern(PatternRestriction::TwoInARow)),
            pin_value: b"1124",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "three-in-a-row 1114",
            pin: Some(|p| p.pattern_restrictions = pattern(PatternRestriction::ThreeInARow)),
            pin_value: b"1114",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "sequence 1234",
            pin: Some(|p| p.pattern_restrictions = pattern(PatternRestriction::Sequence)),
            pin_value: b"1234",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "sequence 9876",
            pin: Some(|p| p.pattern_restrictions = pattern(PatternRestriction::Sequence)),
            pin_value: b"9876",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "repeated 1231",
            pin: Some(|p| p.pattern_restrictions = pattern(PatternRestriction::Repeated)),
            pin_value: b"1231",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "missing-group alphanumeric ABCDEF",
            pin: Some(|p| {
                p.format = PassphraseFormat::Alphanumeric;
                p.pattern_restrictions = pattern(PatternRestriction::MissingGroup);
            }),
            pin_value: b"ABCDEF",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "missing-group alphanumeric 123456",
            pin: Some(|p| {
                p.format = PassphraseFormat::Alphanumeric;
                p.pattern_restrictions = pattern(PatternRestriction::MissingGroup);
            }),
            pin_value: b"123456",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "missing-group string Abc12345",
            pin: Some(|p| {
                p.format = PassphraseFormat::String;
                p.pattern_restrictions = pattern(PatternRestriction::MissingGroup);
            }),
            pin_value: b"Abc12345",
            key: |_| {},
            code: Opt,
        },
        KeyCase {
            what: "missing-group string abc1234!",
            pin: Some(|p| {
                p.format = PassphraseFormat::String;
                p.pattern_restrictions = pattern(PatternRestriction::MissingGroup);
            }),
            pin_value: b"abc1234!",
            key: |_| {},
            code: Opt,
        },
    ]
}

/// Runs every key case: each must fail with its code and tear the session down.
fn run_key_cases() {
    // Each case: [SKS-TXN-002] teardown with the precise code.
    let (mut sks, _base) = world(100);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    for (i, c) in key_cases().into_iter().enumerate() {
        support_neg::case(&mut failures, c.what, || {
            let mut is = session(&mut sks, 1000 + i as u64);
            let mut ks = KeySpec::new("K", uri::P256);
            if let Some(f) = c.pin {
                let mut ps = PinSpec::new("PIN.1");
                f(&mut ps);
                let pin = is
                    .create_pin(&mut sks, &ps)
                    .unwrap_or_else(|e| panic!("{}: PIN policy refused: {e}", c.what));
                ks = ks.with_pin(pin, "PIN.1", c.pin_value);
            }
            (c.key)(&mut ks);
            let r = is.create_key(&mut sks, &ks);
            assert!(r.is_err(), "{}: accepted", c.what);
            fatal!(sks, is, before, r, c.code);
        });
    }
    support_neg::all_passed(&failures);
}

#[test]
fn create_key_entry_limits_formats_and_combinations() {
    // [CRY-ALG-003] [SKS-KEY-007] [CRY-ALG-004]
    run_key_cases();
    let (mut sks, _base) = world(100);
    // Positive controls: the limits themselves are accepted.
    let mut is = session(&mut sks, 999);
    let mut ks = KeySpec::new(&"K".repeat(32), uri::P256);
    ks.server_seed = Some(vec![1; 64]);
    ks.id = "!~Key.1-_".to_owned() + &"x".repeat(23);
    is.provision_key(&mut sks, &ks).unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.pattern_restrictions =
        pattern(PatternRestriction::ThreeInARow).with(PatternRestriction::Sequence);
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    is.provision_key(
        &mut sks,
        &KeySpec::new("K2", uri::P256).with_pin(pin, "PIN.1", b"1124"),
    )
    .unwrap();
    is.provision_key(
        &mut sks,
        &KeySpec::new("K3", uri::P256).with_pin(pin, "PIN.1", b"1235"),
    )
    .unwrap();
    is.close(&mut sks).unwrap();
}

#[test]
fn create_pin_policy_limits() {
    // [SKS-POL-002] [SKS-POL-003] [SKS-POL-004] [POL-PIN-001] [POL-PIN-003] [POL-PAT-005]
    let (mut sks, _base) = world(101);
    let before = snapshot(&mut sks);
    type Tweak = fn(&mut PinSpec);
    let cases: Vec<(&str, Tweak)> = vec![
        ("retryLimit 0", |p| p.retry_limit = 0),
        ("retryLimit 10001", |p| p.retry_limit = 10001),
        ("minLength 0", |p| p.min_length = 0),
        ("minLength > maxLength", |p| {
            p.min_length = 8;
            p.max_length = 4;
        }),
        ("maxLength 129", |p| p.max_length = 129),
        ("missing-group with numeric", |p| {
            p.pattern_restrictions = pattern(PatternRestriction::MissingGroup)
        }),
        ("missing-group with binary", |p| {
            p.format = PassphraseFormat::Binary;
            p.pattern_restrictions = pattern(PatternRestriction::MissingGroup);
        }),
        ("id of 33 characters", |p| p.id = "P".repeat(33)),
        ("id with a space", |p| p.id = "PIN 1".into()),
        ("unknown PUK policy handle", |p| {
            p.puk = Some((PukPolicyHandle(0x7fff_0000), "PUK.X".into()))
        }),
    ];
    let mut failures = Vec::new();
    for (i, (what, f)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1100 + i as u64);
            let mut ps = PinSpec::new("PIN.1");
            f(&mut ps);
            let r = is.create_pin(&mut sks, &ps);
            assert!(r.is_err(), "{what}: accepted");
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    support_neg::all_passed(&failures);
    // [SKS-POL-003] a PUK policy of another open session.
    let mut other = session(&mut sks, 1150);
    let puk = other
        .create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    let before_other = snapshot(&mut sks);
    let mut is = session(&mut sks, 1151);
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    fatal!(
        sks,
        is,
        before_other,
        is.create_pin(&mut sks, &ps),
        SksErrorCode::Option
    );
    assert!(open_handles(&mut sks).contains(&other.handle));
    sks.abort_provisioning_session(other.handle).unwrap();
    // [SKS-KEY-003] a PIN policy of another open session.
    let mut other = session(&mut sks, 1152);
    let pin = other.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let mut is = session(&mut sks, 1153);
    fatal!(
        sks,
        is,
        before_other,
        is.create_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234")
        ),
        SksErrorCode::Option
    );
    sks.abort_provisioning_session(other.handle).unwrap();
}

#[test]
fn create_puk_policy_limits() {
    // [SKS-POL-001] [POL-PUK-001] [POL-PUK-002] [POL-FMT-001] [POL-FMT-002] [POL-FMT-006]
    let (mut sks, _base) = world(102);
    let before = snapshot(&mut sks);
    let long = vec![b'1'; 129];
    let cases: Vec<(&str, &[u8], PassphraseFormat, u16, &str)> = vec![
        (
            "PUK of 129 bytes",
            &long,
            PassphraseFormat::Numeric,
            3,
            "PUK.1",
        ),
        ("empty PUK", b"", PassphraseFormat::Numeric, 3, "PUK.1"),
        (
            "numeric PUK with a letter",
            b"12a4",
            PassphraseFormat::Numeric,
            3,
            "PUK.1",
        ),
        (
            "alphanumeric PUK with lower case",
            b"AB1c",
            PassphraseFormat::Alphanumeric,
            3,
            "PUK.1",
        ),
        (
            "retryLimit 10001",
            b"1234",
            PassphraseFormat::Numeric,
            10001,
            "PUK.1",
        ),
        (
            "id of 33 characters",
            b"1234",
            PassphraseFormat::Numeric,
            3,
            "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, puk, format, retry, id)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1200 + i as u64);
            let r = is.create_puk(&mut sks, id, puk, format, retry);
            assert!(r.is_err(), "{what}: accepted");
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    support_neg::all_passed(&failures);
    // Positive controls: retry limit 0 and 10000, a 128-byte PUK.
    let mut is = session(&mut sks, 1299);
    is.create_puk(&mut sks, "P0", b"1234", PassphraseFormat::Numeric, 0)
        .unwrap();
    is.create_puk(
        &mut sks,
        "P1",
        &[b'7'; 128],
        PassphraseFormat::Numeric,
        10000,
    )
    .unwrap();
    sks.abort_provisioning_session(is.handle).unwrap();
}

#[test]
fn create_provisioning_session_limits_algorithms_and_curves() {
    // [CRY-ALG-002] [CRY-KDF-003] [SKS-SES-003]: ERROR_OPTION (the Java reference's code), but
    // ERROR_CRYPTO for a point off its curve (Java's key agreement refuses it)
    run_session_cases();
}

fn run_session_cases() {
    // No session may appear after a refused createProvisioningSession.
    let (mut sks, _base) = world(103);
    let before = snapshot(&mut sks);
    type Tweak = fn(&mut airtight_proto::sks::CreateProvisioningSessionParams);
    let cases: Vec<(&str, Tweak, SksErrorCode)> = vec![
        // [SKS-SES-002] [SKS-LIM-004] [SKS-LIM-001]
        (
            "serverSessionId of 33 characters",
            |p| p.server_session_id = "s".repeat(33),
            SksErrorCode::Option,
        ),
        (
            "empty serverSessionId",
            |p| p.server_session_id = String::new(),
            SksErrorCode::Option,
        ),
        (
            "serverSessionId with a space",
            |p| p.server_session_id = "a b".into(),
            SksErrorCode::Option,
        ),
        (
            "issuerUri of 1001 bytes",
            |p| p.issuer_uri = format!("https://e.com/{}", "a".repeat(1001 - 14)),
            SksErrorCode::Option,
        ),
        (
            "empty issuerUri",
            |p| p.issuer_uri = String::new(),
            SksErrorCode::Option,
        ),
        (
            "sessionKeyLimit 0",
            |p| p.session_key_limit = 0,
            SksErrorCode::Option,
        ),
        (
            "sessionLifeTime 0",
            |p| p.session_life_time = 0,
            SksErrorCode::Option,
        ),
        // [CRY-ALG-002] (t80)
        (
            "unknown sessionKeyAlgorithm",
            |p| p.session_key_algorithm = "https://webpki.github.io/sks/algorithm#session.2".into(),
            SksErrorCode::Option,
        ),
        // [CRY-KDF-003] (t1)
        (
            "ephemeral key on secp256k1",
            |p| p.server_ephemeral_key = ec_spki(OID_SECP256K1, &[4; 65]),
            SksErrorCode::Option,
        ),
        (
            "ephemeral key on brainpoolP256r1",
            |p| p.server_ephemeral_key = ec_spki(OID_BRAINPOOL_P256R1, &[4; 65]),
            SksErrorCode::Option,
        ),
        (
            "ephemeral point not on P-256",
            |p| {
                let mut pt = vec![4u8];
                pt.extend([1u8; 64]);
                p.server_ephemeral_key = ec_spki(OID_P256, &pt);
            },
            SksErrorCode::Crypto,
        ),
        (
            "RSA ephemeral key",
            |p| p.server_ephemeral_key = rsa_spki(2048),
            SksErrorCode::Option,
        ),
        // [SKS-SES-003] (t66)
        (
            "RSA-512 key-management key",
            |p| p.key_management_key = Some(rsa_spki(512)),
            SksErrorCode::Option,
        ),
        (
            "RSA-1016 key-management key",
            |p| p.key_management_key = Some(rsa_spki(1016)),
            SksErrorCode::Option,
        ),
        (
            "key-management key on secp256k1",
            |p| p.key_management_key = Some(ec_spki(OID_SECP256K1, &[4; 65])),
            SksErrorCode::Option,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, tweak, code)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = Issuer::new(1300 + i as u64);
            let eph = PrivateKey::generate_ec(Curve::P256, &mut is.rng);
            let mut params = is.session_params(&eph).unwrap();
            tweak(&mut params);
            let r = sks.create_provisioning_session(&params);
            if let Ok(ok) = &r {
                sks.abort_provisioning_session(ok.provisioning_handle).ok();
            }
            assert!(r.is_err(), "{what}: accepted");
            expect_code(r, code);
            assert!(
                open_handles(&mut sks).is_empty(),
                "{what}: a session opened"
            );
            assert_eq!(snapshot(&mut sks), before);
        });
    }
    support_neg::all_passed(&failures);
    // Malformed SPKI encodings: an error code, never a panic [SKS-IMP-010].
    let mut is = Issuer::new(1399);
    let eph = PrivateKey::generate_ec(Curve::P256, &mut is.rng);
    for junk in [
        vec![],
        vec![0x30],
        vec![0x30, 0x82, 0xff, 0xff],
        vec![0u8; 91],
    ] {
        let mut params = is.session_params(&eph).unwrap();
        params.server_ephemeral_key = junk.clone();
        assert!(sks.create_provisioning_session(&params).is_err());
        let mut params = is.session_params(&eph).unwrap();
        params.key_management_key = Some(junk);
        assert!(sks.create_provisioning_session(&params).is_err());
    }
    assert!(open_handles(&mut sks).is_empty());
    // Positive controls: 32-character serverSessionId, 1000-byte issuerUri, P-384 and P-521
    // ephemeral keys.
    for (i, curve) in [Curve::P256, Curve::P384, Curve::P521]
        .into_iter()
        .enumerate()
    {
        let mut is = Issuer::new(1390 + i as u64);
        is.server_session_id = "s".repeat(32);
        is.issuer_uri = format!("https://e.com/{}", "a".repeat(1000 - 14));
        is.ephemeral_curve = curve;
        is.create_session(&mut sks).unwrap();
        sks.abort_provisioning_session(is.handle).unwrap();
    }
}

#[test]
fn certificate_path_limits() {
    // [SKS-CRT-004] [SKS-LIM-001] [SKS-LIM-002] [SKS-IMP-004] (t76)
    let (mut sks, _base) = world(104);
    let before = snapshot(&mut sks);
    let info = sks.get_device_info().unwrap();
    assert!(info.crypto_data_size as usize >= MAX_LENGTH_CRYPTO_DATA.min(16384));
    let oversize = {
        // A DER SEQUENCE one byte over cryptoDataSize.
        let n = info.crypto_data_size as usize + 1 - 4;
        let mut v = vec![0x30, 0x82, (n >> 8) as u8, n as u8];
        v.extend(vec![0u8; n]);
        v
    };
    type MakePath = Box<dyn Fn(&[Vec<u8>]) -> Vec<Vec<u8>>>;
    let cases: Vec<(&str, MakePath)> = vec![
        (
            "certificate over cryptoDataSize",
            Box::new(move |_| vec![oversize.clone()]),
        ),
        (
            "malformed DER certificate",
            Box::new(|_| vec![vec![0x30, 0x03, 0x02, 0x01]]),
        ),
        ("empty certificate path", Box::new(|_| Vec::new())),
        (
            "certificate with trailing bytes",
            Box::new(|p| {
                let mut c = p[0].clone();
                c.push(0);
                vec![c]
            }),
        ),
        (
            "a path of 17 certificates",
            Box::new(|p| vec![p[0].clone(); 17]),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, make)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1400 + i as u64);
            let kd = is
                .create_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            let good = is.certificate_path(&kd.public_key).unwrap();
            let path = make(&good);
            let r = is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path);
            assert!(r.is_err(), "{what}: accepted");
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    support_neg::all_passed(&failures);
}

#[test]
fn extension_limits() {
    // [SKS-EXT-001] [SKS-EXT-003] [SKS-EXT-004] [CRY-PBG-003] [CRY-PBG-004] [SKS-LIM-001]
    // [SKS-LIM-002] (t73)
    let (mut sks, _base) = world(105);
    let before = snapshot(&mut sks);
    let ext_size = sks.get_device_info().unwrap().extension_data_size as usize;
    assert!(ext_size >= MAX_LENGTH_EXTENSION_DATA.min(65536));
    let bag = |props: &[(&str, bool, &str)]| {
        session1::encode_property_bag(
            &props
                .iter()
                .map(|(n, w, v)| Property {
                    name: (*n).into(),
                    writable: *w,
                    value: (*v).into(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    };
    let good_bag = bag(&[("a", true, "1")]);
    let mut dup_bag = bag(&[("a", true, "1")]);
    dup_bag.extend(bag(&[("a", false, "2")]));
    let mut cut_bag = good_bag.clone();
    cut_bag.pop();
    let long_type = format!("urn:x:{}", "t".repeat(1000));
    let big = vec![0u8; ext_size + 1];
    let long_mime = "i".repeat(129);
    let cases: Vec<(&str, &str, ExtensionSubType, &str, Vec<u8>)> = vec![
        (
            "type URI over 1000 bytes",
            &long_type,
            ExtensionSubType::Extension,
            "",
            b"d".to_vec(),
        ),
        (
            "empty type URI",
            "",
            ExtensionSubType::Extension,
            "",
            b"d".to_vec(),
        ),
        (
            "data over extensionDataSize",
            "urn:x",
            ExtensionSubType::Extension,
            "",
            big,
        ),
        (
            "logotype without MIME type",
            "urn:x",
            ExtensionSubType::Logotype,
            "",
            b"png".to_vec(),
        ),
        (
            "logotype MIME type of 129 bytes",
            "urn:x",
            ExtensionSubType::Logotype,
            &long_mime,
            b"png".to_vec(),
        ),
        (
            "extension with a qualifier",
            "urn:x",
            ExtensionSubType::Extension,
            "text/plain",
            b"d".to_vec(),
        ),
        (
            "property bag with a qualifier",
            "urn:x",
            ExtensionSubType::PropertyBag,
            "text/plain",
            good_bag.clone(),
        ),
        (
            "empty property bag",
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            Vec::new(),
        ),
        (
            "truncated property bag",
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            cut_bag,
        ),
        (
            "property bag with a duplicate name",
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            dup_bag,
        ),
        (
            "property bag with a bad boolean",
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            vec![0, 1, b'a', 2, 0, 1, b'v'],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, ty, st, q, data)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1500 + i as u64);
            let k = is
                .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            let ee = k.ee().to_vec();
            let r = is.add_extension(&mut sks, k.handle, &ee, ty, st, q, &data);
            assert!(r.is_err(), "{what}: accepted");
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    support_neg::all_passed(&failures);
    // [SKS-EXT-003] a second extension of the same type (any subType).
    let mut is = session(&mut sks, 1590);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let ee = k.ee().to_vec();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:x",
        ExtensionSubType::Extension,
        "",
        b"1",
    )
    .unwrap();
    fatal!(
        sks,
        is,
        before,
        is.add_extension(
            &mut sks,
            k.handle,
            &ee,
            "urn:x",
            ExtensionSubType::PropertyBag,
            "",
            &good_bag
        ),
        SksErrorCode::Option
    );
    // Positive control: exactly extensionDataSize bytes.
    let mut is = session(&mut sks, 1591);
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let ee = k.ee().to_vec();
    is.add_extension(
        &mut sks,
        k.handle,
        &ee,
        "urn:x",
        ExtensionSubType::Extension,
        "",
        &vec![0u8; ext_size],
    )
    .unwrap();
    is.close(&mut sks).unwrap();
}

#[test]
fn import_limits_and_mismatches() {
    // [SKS-IMX-004] [SKS-IMX-005] [SKS-ERR-008] [SKS-LIM-001] (t62-t65)
    let (mut sks, _base) = world(106);
    let before = snapshot(&mut sks);
    // Symmetric keys of 0 and 129 bytes.
    for (i, len) in [0usize, 129].into_iter().enumerate() {
        let mut is = session(&mut sks, 1600 + i as u64);
        let k = is
            .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
            .unwrap();
        let ee = k.ee().to_vec();
        fatal!(
            sks,
            is,
            before,
            is.import_symmetric_key(&mut sks, k.handle, &ee, &vec![1u8; len]),
            SksErrorCode::Option
        );
    }
}

/// [SKS-IMX-004] private keys that do not match the certificate, and non-PKCS#8 data: the
/// first error (at the import or, for a key of the same family, at close) carries the code,
/// ERROR_OPTION for a mismatch (the Java reference's code), ERROR_CRYPTO for a key that does not
/// parse, and the session is torn down.
#[test]
fn import_mismatch() {
    let (mut sks, _base) = world(106);
    let before = snapshot(&mut sks);
    let mut failures = Vec::new();
    type Make = fn(&mut Issuer) -> Vec<u8>;
    let cases: Vec<(&str, Make, SksErrorCode)> = vec![
        (
            "another P-256 private key",
            |is| {
                PrivateKey::generate_ec(Curve::P256, &mut is.rng)
                    .to_pkcs8_der()
                    .unwrap()
                    .to_vec()
            },
            SksErrorCode::Option,
        ),
        (
            "a P-384 private key for a P-256 certificate",
            |is| {
                PrivateKey::generate_ec(Curve::P384, &mut is.rng)
                    .to_pkcs8_der()
                    .unwrap()
                    .to_vec()
            },
            SksErrorCode::Option,
        ),
        (
            "an Ed25519 private key for a P-256 certificate",
            |is| {
                PrivateKey::generate_ed25519(&mut is.rng)
                    .to_pkcs8_der()
                    .unwrap()
                    .to_vec()
            },
            SksErrorCode::Option,
        ),
        (
            "not PKCS#8",
            |_| b"not a PKCS#8 key".to_vec(),
            SksErrorCode::Crypto,
        ),
    ];
    for (i, (what, make, code)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1610 + i as u64);
            let k = is
                .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
                .unwrap();
            let pkcs8 = make(&mut is);
            let ee = k.ee().to_vec();
            let r = is
                .import_private_key(&mut sks, k.handle, &ee, &pkcs8)
                .and_then(|()| is.close(&mut sks).map(|_| ()));
            fatal!(sks, is, before, r, code);
        });
    }
    support_neg::all_passed(&failures);
}

#[test]
fn grouping_violations() {
    // [POL-GRP-001] [POL-GRP-002] [POL-GRP-003] [POL-GRP-005] [SKS-KEY-005] (t49)
    let (mut sks, _base) = world(107);
    let before = snapshot(&mut sks);
    type TwoKeys<'a> = [(AppUsage, &'a [u8]); 2];
    let cases: Vec<(&str, Grouping, TwoKeys<'_>)> = vec![
        (
            "shared: different PINs",
            Grouping::Shared,
            [
                (AppUsage::Authentication, b"1234"),
                (AppUsage::Authentication, b"5678"),
            ],
        ),
        (
            "shared: different PINs across appUsages",
            Grouping::Shared,
            [
                (AppUsage::Signature, b"1234"),
                (AppUsage::Encryption, b"5678"),
            ],
        ),
        (
            "signature+standard: signature PIN equals the other PIN",
            Grouping::SignaturePlusStandard,
            [
                (AppUsage::Signature, b"1234"),
                (AppUsage::Authentication, b"1234"),
            ],
        ),
        (
            "signature+standard: two standard keys with different PINs",
            Grouping::SignaturePlusStandard,
            [
                (AppUsage::Authentication, b"1234"),
                (AppUsage::Encryption, b"5678"),
            ],
        ),
        (
            "signature+standard: two signature keys with different PINs",
            Grouping::SignaturePlusStandard,
            [
                (AppUsage::Signature, b"1234"),
                (AppUsage::Signature, b"5678"),
            ],
        ),
        (
            "unique: same appUsage, different PINs",
            Grouping::Unique,
            [
                (AppUsage::Encryption, b"1234"),
                (AppUsage::Encryption, b"5678"),
            ],
        ),
        (
            "unique: different appUsages, same PIN",
            Grouping::Unique,
            [
                (AppUsage::Encryption, b"1234"),
                (AppUsage::Universal, b"1234"),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (what, grouping, keys)) in cases.into_iter().enumerate() {
        support_neg::case(&mut failures, what, || {
            let mut is = session(&mut sks, 1700 + i as u64);
            let mut ps = PinSpec::new("PIN.1");
            ps.grouping = grouping;
            let pin = is.create_pin(&mut sks, &ps).unwrap();
            let mut k1 = KeySpec::new("K1", uri::P256).with_pin(pin, "PIN.1", keys[0].1);
            k1.app_usage = keys[0].0;
            is.provision_key(&mut sks, &k1)
                .unwrap_or_else(|e| panic!("{what}: first key refused: {e}"));
            let mut k2 = KeySpec::new("K2", uri::P256).with_pin(pin, "PIN.1", keys[1].1);
            k2.app_usage = keys[1].0;
            let r = is.create_key(&mut sks, &k2);
            assert!(r.is_err(), "{what}: accepted");
            fatal!(sks, is, before, r, SksErrorCode::Option);
        });
    }
    support_neg::all_passed(&failures);
    // [POL-GRP-004] grouping none: no equality or inequality required (positive control).
    let mut is = session(&mut sks, 1790);
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    is.provision_key(
        &mut sks,
        &KeySpec::new("K1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
    )
    .unwrap();
    is.provision_key(
        &mut sks,
        &KeySpec::new("K2", uri::P256).with_pin(pin, "PIN.1", b"1234"),
    )
    .unwrap();
    is.provision_key(
        &mut sks,
        &KeySpec::new("K3", uri::P256).with_pin(pin, "PIN.1", b"5678"),
    )
    .unwrap();
    is.close(&mut sks).unwrap();
    let _ = InputMethod::Any;
}

#[test]
fn preset_pin_format_violation() {
    // [POL-USR-002] [POL-FMT-006] [SKS-KEY-005]: a preset PIN is checked after decryption.
    let (mut sks, _base) = world(108);
    let before = snapshot(&mut sks);
    for (i, (pin, pattern_bits)) in [
        (&b"12a4"[..], PatternRestrictions::NONE),
        (&b"123"[..], PatternRestrictions::NONE),
        (&b"1111"[..], pattern(PatternRestriction::ThreeInARow)),
    ]
    .into_iter()
    .enumerate()
    {
        let mut is = session(&mut sks, 1800 + i as u64);
        let mut ps = PinSpec::new("PIN.1");
        ps.user_defined = false;
        ps.pattern_restrictions = pattern_bits;
        let h = is.create_pin(&mut sks, &ps).unwrap();
        let mut ks = KeySpec::new("K", uri::P256).with_pin(h, "PIN.1", pin);
        ks.preset_pin = true;
        fatal!(
            sks,
            is,
            before,
            is.create_key(&mut sks, &ks),
            SksErrorCode::Option
        );
    }
}
