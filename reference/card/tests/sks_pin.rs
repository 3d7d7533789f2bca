//! PIN and PUK semantics: formats and patterns at key creation, grouping with shared values and
//! error counters, retry limits and lock-out, PUK unlock (retry limit 0 = no lock-out), PIN
//! changes, biometric combinations, device PIN, export and delete protection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use airtight_card::ReferenceSks;
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, PassphraseFormat,
    PatternRestriction,
};
use airtight_proto::sks::{
    KeyHandle, ProtectionStatus, PukPolicyHandle, SecureKeyStore, SksErrorCode,
};
use airtight_testkit::emulator::{EmuError, Issuer, KeySpec, PinSpec, Provisioned, uri};
use airtight_testkit::expect_code;

fn sign(
    sks: &mut ReferenceSks,
    k: KeyHandle,
    pin: Option<&[u8]>,
) -> Result<Vec<u8>, airtight_proto::sks::SksError> {
    sks.sign_data(k, uri::ECDSA_SHA256, None, false, pin, b"m")
}

/// One session with a PUK (retry limit `puk_retry`), a PIN policy of `grouping` and keys of
/// the given appUsages and PINs.
fn provision(
    sks: &mut ReferenceSks,
    seed: u64,
    grouping: Grouping,
    puk_retry: u16,
    keys: &[(AppUsage, &[u8])],
) -> Result<Vec<Provisioned>, EmuError> {
    let mut is = Issuer::new(seed);
    is.create_session(sks)?;
    let puk = is.create_puk(
        sks,
        "PUK.1",
        b"87654321",
        PassphraseFormat::Numeric,
        puk_retry,
    )?;
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    ps.grouping = grouping;
    let pin = is.create_pin(sks, &ps)?;
    let mut out = Vec::new();
    for (i, (usage, value)) in keys.iter().enumerate() {
        let mut ks = KeySpec::new(&format!("Key.{i}"), uri::P256).with_pin(pin, "PIN.1", value);
        ks.app_usage = *usage;
        out.push(is.provision_key(sks, &ks)?);
    }
    is.close(sks)?;
    Ok(out)
}

#[test]
fn grouping_rules_at_key_creation() {
    // [SKS-KEY-005] [POL-GRP-001] [POL-GRP-002] [POL-GRP-003] [POL-GRP-005] [POL-APP-001]
    use AppUsage::*;
    let mut sks = airtight_testkit::card(1);
    expect_code(
        provision(
            &mut sks,
            1,
            Grouping::Shared,
            3,
            &[(Signature, b"1234"), (Signature, b"5678")],
        ),
        SksErrorCode::Option,
    );
    provision(
        &mut sks,
        2,
        Grouping::Shared,
        3,
        &[(Signature, b"1234"), (Encryption, b"1234")],
    )
    .unwrap();
    // signature+standard: signature keys share one PIN, the others another, and the two differ.
    provision(
        &mut sks,
        3,
        Grouping::SignaturePlusStandard,
        3,
        &[
            (Signature, b"1111"),
            (Authentication, b"2222"),
            (Encryption, b"2222"),
        ],
    )
    .unwrap();
    expect_code(
        provision(
            &mut sks,
            4,
            Grouping::SignaturePlusStandard,
            3,
            &[(Signature, b"1111"), (Authentication, b"1111")],
        ),
        SksErrorCode::Option,
    );
    expect_code(
        provision(
            &mut sks,
            5,
            Grouping::SignaturePlusStandard,
            3,
            &[(Authentication, b"1111"), (Encryption, b"2222")],
        ),
        SksErrorCode::Option,
    );
    // unique: equal within an appUsage, different between appUsages.
    provision(
        &mut sks,
        6,
        Grouping::Unique,
        3,
        &[
            (Signature, b"1111"),
            (Signature, b"1111"),
            (Encryption, b"2222"),
        ],
    )
    .unwrap();
    expect_code(
        provision(
            &mut sks,
            7,
            Grouping::Unique,
            3,
            &[(Signature, b"1111"), (Encryption, b"1111")],
        ),
        SksErrorCode::Option,
    );
    expect_code(
        provision(
            &mut sks,
            8,
            Grouping::Unique,
            3,
            &[(Signature, b"1111"), (Signature, b"2222")],
        ),
        SksErrorCode::Option,
    );
}

#[test]
fn shared_error_counter_lock_out_and_puk_unlock() {
    // [SKS-USR-003] [SKS-USR-004] [SKS-MGT-003] [SKS-IMP-008] [POL-GRP-006] [POL-PIN-004]
    // [POL-PIN-005] [POL-PUK-004] [SKS-ENU-003]
    use AppUsage::*;
    let mut sks = airtight_testkit::card(2);
    let keys = provision(
        &mut sks,
        10,
        Grouping::Shared,
        2,
        &[(Signature, b"1234"), (Encryption, b"1234")],
    )
    .unwrap();
    let (a, b) = (keys[0].handle, keys[1].handle);
    expect_code(
        sign(&mut sks, a, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    expect_code(
        sign(&mut sks, b, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    let info = sks.get_key_protection_info(a).unwrap();
    assert_eq!(info.pin.unwrap().error_count, 2);
    expect_code(
        sign(&mut sks, a, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    // Blocked: even the right PIN fails, for both keys.
    expect_code(
        sign(&mut sks, a, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    expect_code(
        sign(&mut sks, b, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    assert!(
        sks.get_key_protection_info(b)
            .unwrap()
            .protection_status
            .contains(ProtectionStatus::PIN_BLOCKED)
    );
    // A wrong PUK counts; the right one unlocks both.
    expect_code(sks.unlock_key(a, b"00000000"), SksErrorCode::Authorization);
    assert_eq!(
        sks.get_key_protection_info(a)
            .unwrap()
            .puk
            .unwrap()
            .error_count,
        1
    );
    sks.unlock_key(a, b"87654321").unwrap();
    assert_eq!(
        sks.get_key_protection_info(a)
            .unwrap()
            .puk
            .unwrap()
            .error_count,
        0
    );
    sign(&mut sks, b, Some(b"1234")).unwrap();
    // PUK lock-out after its retry limit.
    expect_code(sks.unlock_key(a, b"0"), SksErrorCode::Authorization);
    expect_code(sks.unlock_key(a, b"0"), SksErrorCode::Authorization);
    expect_code(sks.unlock_key(a, b"87654321"), SksErrorCode::Authorization);
    assert!(
        sks.get_key_protection_info(a)
            .unwrap()
            .protection_status
            .contains(ProtectionStatus::PUK_BLOCKED)
    );
}

#[test]
fn puk_retry_limit_zero_never_locks() {
    // [POL-PUK-004] (retry limit 0: no lock-out; the delay is configured to 0 in tests)
    let mut sks = airtight_testkit::card(3);
    let keys = provision(
        &mut sks,
        20,
        Grouping::None,
        0,
        &[(AppUsage::Signature, b"1234")],
    )
    .unwrap();
    for _ in 0..20 {
        expect_code(
            sks.unlock_key(keys[0].handle, b"1"),
            SksErrorCode::Authorization,
        );
    }
    let info = sks.get_key_protection_info(keys[0].handle).unwrap();
    assert_eq!(info.puk.unwrap().error_count, 0);
    assert!(
        !info
            .protection_status
            .contains(ProtectionStatus::PUK_BLOCKED)
    );
    sks.unlock_key(keys[0].handle, b"87654321").unwrap();
}

#[test]
fn change_and_set_pin() {
    // [SKS-MGT-004] [SKS-MGT-005] [POL-PIN-002] [POL-PIN-008] [POL-GRP-006] [POL-FMT-006]
    let mut sks = airtight_testkit::card(4);
    let keys = provision(
        &mut sks,
        30,
        Grouping::Shared,
        3,
        &[
            (AppUsage::Signature, b"1234"),
            (AppUsage::Encryption, b"1234"),
        ],
    )
    .unwrap();
    let (a, b) = (keys[0].handle, keys[1].handle);
    expect_code(
        sks.change_pin(a, b"9999", b"5555"),
        SksErrorCode::Authorization,
    );
    expect_code(sks.change_pin(a, b"1234", b"12"), SksErrorCode::Option);
    sks.change_pin(a, b"1234", b"5555").unwrap();
    // Spread over the group.
    sign(&mut sks, b, Some(b"5555")).unwrap();
    expect_code(
        sign(&mut sks, b, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    sks.set_pin(b, b"87654321", b"7777").unwrap();
    sign(&mut sks, a, Some(b"7777")).unwrap();
    assert_eq!(
        sks.get_key_protection_info(a)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        0
    );

    // Not user-modifiable: ERROR_NOT_ALLOWED.
    let mut is = Issuer::new(31);
    is.create_session(&mut sks).unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.user_modifiable = false;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let k = is
        .provision_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.change_pin(k.handle, b"1234", b"5678"),
        SksErrorCode::NotAllowed,
    );
    // No PUK.
    expect_code(sks.set_pin(k.handle, b"1", b"5678"), SksErrorCode::Option);
}

#[test]
fn pin_format_and_patterns_at_key_creation() {
    // [SKS-KEY-005] [POL-FMT-002] [POL-PIN-002] [POL-PAT-001] [POL-PAT-002] [POL-PAT-003]
    // [POL-PAT-004] [POL-PAT-006] [POL-PAT-007]
    let cases: &[(PassphraseFormat, &[PatternRestriction], &[u8], bool)] = &[
        (PassphraseFormat::Numeric, &[], b"12a4", false),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::Sequence],
            b"4567",
            false,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::Sequence],
            b"4568",
            true,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::TwoInARow],
            b"1224",
            false,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::ThreeInARow],
            b"1224",
            true,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::Repeated],
            b"1231",
            false,
        ),
        (
            PassphraseFormat::Alphanumeric,
            &[PatternRestriction::MissingGroup],
            b"ABCD",
            false,
        ),
        (
            PassphraseFormat::Alphanumeric,
            &[PatternRestriction::MissingGroup],
            b"AB12",
            true,
        ),
        (PassphraseFormat::Alphanumeric, &[], b"ab12", false),
        (
            PassphraseFormat::String,
            &[PatternRestriction::MissingGroup],
            b"aB1!",
            true,
        ),
        (PassphraseFormat::Binary, &[], b"\x00\xff\x10\x20", true),
        (
            PassphraseFormat::String,
            &[PatternRestriction::MissingGroup],
            b"Abc12345",
            false,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::ThreeInARow],
            b"1114",
            false,
        ),
        (
            PassphraseFormat::Numeric,
            &[PatternRestriction::Sequence],
            b"9876",
            false,
        ),
        (
            PassphraseFormat::Alphanumeric,
            &[PatternRestriction::MissingGroup],
            b"ABCDEF",
            false,
        ),
        (PassphraseFormat::Numeric, &[], b"123", false),
        (PassphraseFormat::Numeric, &[], b"123456789", false),
    ];
    for (i, (format, patterns, pin, ok)) in cases.iter().enumerate() {
        let mut sks = airtight_testkit::card(5);
        let mut is = Issuer::new(40 + i as u64);
        is.create_session(&mut sks).unwrap();
        let mut ps = PinSpec::new("PIN.1");
        ps.format = *format;
        ps.pattern_restrictions = patterns.iter().copied().collect();
        let pin_h = is.create_pin(&mut sks, &ps).unwrap();
        let r = is.create_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin_h, "PIN.1", pin),
        );
        if *ok {
            r.unwrap();
        } else {
            expect_code(r, SksErrorCode::Option);
        }
    }
}

#[test]
fn preset_pin_is_decrypted() {
    // [SKS-KEY-003] [POL-USR-002]
    let mut sks = airtight_testkit::card(6);
    let mut is = Issuer::new(50);
    is.create_session(&mut sks).unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.user_defined = false;
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let mut ks = KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"246810");
    ks.preset_pin = true;
    let k = is.provision_key(&mut sks, &ks).unwrap();
    is.close(&mut sks).unwrap();
    sign(&mut sks, k.handle, Some(b"246810")).unwrap();
    assert!(
        !sks.get_key_protection_info(k.handle)
            .unwrap()
            .pin
            .unwrap()
            .user_defined
    );
}

#[test]
fn biometric_device_pin_and_redundant_authorization() {
    // [POL-BIO-002] [POL-BIO-003] [POL-BIO-004] [POL-BIO-005] [POL-BIO-006] [POL-DEV-003]
    // [SKS-KEY-011]
    let mut sks = airtight_testkit::card(7);
    let mut is = Issuer::new(60);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let mut alt = KeySpec::new("Alt", uri::P256).with_pin(pin, "PIN.1", b"1234");
    alt.biometric_protection = BiometricProtection::Alternative;
    let alt = is.provision_key(&mut sks, &alt).unwrap();
    let mut comb = KeySpec::new("Comb", uri::P256).with_pin(pin, "PIN.1", b"1234");
    comb.biometric_protection = BiometricProtection::Combined;
    let comb = is.provision_key(&mut sks, &comb).unwrap();
    let mut excl = KeySpec::new("Excl", uri::P256);
    excl.biometric_protection = BiometricProtection::Exclusive;
    let excl = is.provision_key(&mut sks, &excl).unwrap();
    let mut dev = KeySpec::new("Dev", uri::P256);
    dev.device_pin_protection = true;
    let dev = is.provision_key(&mut sks, &dev).unwrap();
    let plain = is
        .provision_key(&mut sks, &KeySpec::new("Plain", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    let s = |sks: &mut ReferenceSks, k: KeyHandle, bio: bool, pin: Option<&[u8]>| {
        sks.sign_data(k, uri::ECDSA_SHA256, None, bio, pin, b"m")
            .map(|_| ())
    };
    s(&mut sks, alt.handle, true, None).unwrap();
    s(&mut sks, alt.handle, false, Some(b"1234")).unwrap();
    expect_code(
        s(&mut sks, alt.handle, true, Some(b"1234")),
        SksErrorCode::Option,
    );
    s(&mut sks, comb.handle, true, Some(b"1234")).unwrap();
    expect_code(
        s(&mut sks, comb.handle, false, Some(b"1234")),
        SksErrorCode::Option,
    );
    s(&mut sks, excl.handle, true, None).unwrap();
    expect_code(s(&mut sks, excl.handle, false, None), SksErrorCode::Option);
    expect_code(s(&mut sks, plain.handle, true, None), SksErrorCode::Option);
    expect_code(
        s(&mut sks, plain.handle, false, Some(b"1234")),
        SksErrorCode::Option,
    );
    s(&mut sks, dev.handle, false, Some(b"1234")).unwrap();
    expect_code(
        s(&mut sks, dev.handle, false, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    let info = sks.get_key_protection_info(dev.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::DEVICE_PIN)
    );
    // Exclusive biometric with a PIN policy is refused at creation.
    let mut is = Issuer::new(61);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let mut bad = KeySpec::new("Bad", uri::P256).with_pin(pin, "PIN.1", b"1234");
    bad.biometric_protection = BiometricProtection::Exclusive;
    expect_code(is.create_key(&mut sks, &bad), SksErrorCode::Option);
}

#[test]
fn export_and_delete_protection() {
    // [SKS-MGT-001] [SKS-MGT-002] [POL-PRT-002] [POL-PRT-003]
    let mut sks = airtight_testkit::card(8);
    let mut is = Issuer::new(70);
    is.create_session(&mut sks).unwrap();
    let puk = is
        .create_puk(&mut sks, "PUK.1", b"1111", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let mut a = KeySpec::new("A", uri::P256).with_pin(pin, "PIN.1", b"1234");
    a.export_protection = ExportProtection::Pin;
    a.delete_protection = DeleteProtection::Puk;
    let a = is.provision_key(&mut sks, &a).unwrap();
    let mut b = KeySpec::new("B", uri::P256);
    b.delete_protection = DeleteProtection::NonDeletable;
    let b = is.provision_key(&mut sks, &b).unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.export_key(a.handle, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    let pkcs8 = sks.export_key(a.handle, Some(b"1234")).unwrap();
    assert!(!pkcs8.is_empty());
    expect_code(
        sks.delete_key(a.handle, Some(b"1234")),
        SksErrorCode::Authorization,
    );
    sks.delete_key(a.handle, Some(b"1111")).unwrap();
    expect_code(sks.get_key_attributes(a.handle), SksErrorCode::NoKey);
    expect_code(sks.delete_key(b.handle, None), SksErrorCode::NotAllowed);
    // Protection pin/puk without the objects is refused at creation.
    let mut is = Issuer::new(71);
    is.create_session(&mut sks).unwrap();
    let mut bad = KeySpec::new("Bad", uri::P256);
    bad.export_protection = ExportProtection::Puk;
    expect_code(is.create_key(&mut sks, &bad), SksErrorCode::Option);
    let _ = PukPolicyHandle::NONE;
}

/// A correct PIN or PUK clears its error counter only for a call that goes through: a call it
/// authorized that is then refused for another reason (signData with an algorithm the key
/// cannot use, setPin with a new PIN the policy refuses) leaves the store as it was, the
/// counter included. Found by the `card_calls` fuzz target (its input is in
/// fuzz/regressions/card_calls/): a refused signData had cleared the counter.
#[test]
fn a_refused_call_keeps_the_error_counters() {
    // [SKS-IMP-008] [SKS-USR-003] [SKS-MGT-005]
    let mut sks = airtight_testkit::card(7);
    let keys = provision(
        &mut sks,
        70,
        Grouping::None,
        3,
        &[(AppUsage::Signature, b"1234")],
    )
    .unwrap();
    let k = keys[0].handle;
    let counts = |sks: &mut ReferenceSks| {
        let info = sks.get_key_protection_info(k).unwrap();
        (info.pin.unwrap().error_count, info.puk.unwrap().error_count)
    };
    expect_code(
        sign(&mut sks, k, Some(b"0000")),
        SksErrorCode::Authorization,
    );
    expect_code(
        sks.set_pin(k, b"00000000", b"5555"),
        SksErrorCode::Authorization,
    );
    assert_eq!(counts(&mut sks), (1, 1));
    expect_code(
        sks.sign_data(k, uri::HMAC_SHA256, None, false, Some(b"1234"), b"m"),
        SksErrorCode::Algorithm,
    );
    assert_eq!(counts(&mut sks), (1, 1), "a refused signData");
    expect_code(sks.set_pin(k, b"87654321", b"12"), SksErrorCode::Option);
    assert_eq!(counts(&mut sks), (1, 1), "a refused setPin");
    expect_code(sks.change_pin(k, b"1234", b"12"), SksErrorCode::Option);
    assert_eq!(counts(&mut sks), (1, 1), "a refused changePin");
    // Calls that go through clear them.
    sign(&mut sks, k, Some(b"1234")).unwrap();
    assert_eq!(counts(&mut sks), (0, 1));
    sks.set_pin(k, b"87654321", b"5555").unwrap();
    assert_eq!(counts(&mut sks), (0, 0));
}
