//! Transactional semantics: nothing of an open session is visible, any fatal error tears the
//! whole session down, `ERROR_AUTHORIZATION` never does, and the session lifetime is enforced
//! against the card clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::session1::Method;
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;

fn no_open_sessions(sks: &mut ReferenceSks) -> bool {
    sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
        .unwrap()
        .is_none()
}

#[test]
fn wrong_mac_tears_down_everything_the_session_created() {
    // [SKS-TXN-002] [SKS-IMP-001] [SKS-ERR-004]
    let mut sks = airtight_testkit::card(1);
    // A committed key that must survive ([SKS-TXN-003]).
    let mut first = Issuer::new(1);
    first.create_session(&mut sks).unwrap();
    let kept = first
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    first.close(&mut sks).unwrap();

    let mut is = Issuer::new(2);
    is.create_session(&mut sks).unwrap();
    let puk = is
        .create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let key = is
        .create_key(
            &mut sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    let path = is.certificate_path(&key.public_key).unwrap();
    // A MAC computed at the wrong counter value.
    is.mac(Method::SetCertificatePath, b"skip one counter value")
        .unwrap();
    expect_code(
        is.set_certificate_path(&mut sks, key.key_handle, "Key.1", &key.public_key, &path),
        SksErrorCode::Mac,
    );
    assert!(no_open_sessions(&mut sks));
    // [SKS-TXN-004] the handles of the session and its objects are dead.
    expect_code(
        sks.abort_provisioning_session(is.handle),
        SksErrorCode::NoSession,
    );
    expect_code(
        sks.get_key_handle(is.handle, "Key.1"),
        SksErrorCode::NoSession,
    );
    expect_code(
        sks.set_certificate_path(key.key_handle, &path, &[0; 32]),
        SksErrorCode::NoKey,
    );
    // Only the first key is there.
    let e = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!(e.key_handle, kept.handle);
    assert!(sks.enumerate_keys(e.key_handle).unwrap().is_none());
}

#[test]
fn replayed_mac_is_refused() {
    let mut sks = airtight_testkit::card(3);
    let mut is = Issuer::new(3);
    is.create_session(&mut sks).unwrap();
    let params = is.pin_params(&PinSpec::new("PIN.1")).unwrap();
    sks.create_pin_policy(&params).unwrap();
    let mut again = params.clone();
    again.id = "PIN.2".into();
    // The same MAC (counter 0) replayed at counter 1.
    expect_code(sks.create_pin_policy(&again), SksErrorCode::Mac);
    assert!(no_open_sessions(&mut sks));
}

#[test]
fn open_session_objects_are_invisible_to_the_user_api() {
    // [SKS-TXN-001] [SKS-MGT-006]
    let mut sks = airtight_testkit::card(4);
    let mut is = Issuer::new(4);
    is.create_session(&mut sks).unwrap();
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    expect_code(sks.get_key_attributes(k.handle), SksErrorCode::NoKey);
    expect_code(
        sks.sign_data(k.handle, uri::ECDSA_SHA256, None, false, None, b"x"),
        SksErrorCode::NoKey,
    );
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
            .unwrap()
            .is_none()
    );
    // [SKS-NSP-003]
    assert_eq!(sks.get_key_handle(is.handle, "K").unwrap(), k.handle);
    // An unknown id: ERROR_OPTION and (as in the Java reference) no teardown.
    expect_code(sks.get_key_handle(is.handle, "nope"), SksErrorCode::Option);
    is.close(&mut sks).unwrap();
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_some());
}

#[test]
fn close_checks_tear_down() {
    // [SKS-CLS-001] a key without certificate
    let mut sks = airtight_testkit::card(5);
    let mut is = Issuer::new(5);
    is.create_session(&mut sks).unwrap();
    is.create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    assert!(no_open_sessions(&mut sks));
    // [SKS-CLS-002] an unreferenced PIN policy
    let mut is = Issuer::new(6);
    is.create_session(&mut sks).unwrap();
    is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    // an unreferenced PUK policy
    let mut is = Issuer::new(7);
    is.create_session(&mut sks).unwrap();
    is.create_puk(&mut sks, "PUK.1", b"1234", PassphraseFormat::Numeric, 3)
        .unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    // [SKS-CLS-003] a certificate for another key
    let mut is = Issuer::new(8);
    is.create_session(&mut sks).unwrap();
    let kd = is
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    let other = is
        .create_key(&mut sks, &KeySpec::new("L", uri::P256))
        .unwrap();
    let path = is.certificate_path(&other.public_key).unwrap();
    is.set_certificate_path(&mut sks, kd.key_handle, "K", &kd.public_key, &path)
        .unwrap();
    let path2 = is.certificate_path(&other.public_key).unwrap();
    is.set_certificate_path(&mut sks, other.key_handle, "L", &other.public_key, &path2)
        .unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    // [SKS-CLS-004] the same certificate as a committed key
    let mut is = Issuer::new(9);
    is.create_session(&mut sks).unwrap();
    let k = is
        .provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is.close(&mut sks).unwrap();
    let mut is2 = Issuer::new(10);
    is2.create_session(&mut sks).unwrap();
    let kd = is2
        .create_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    is2.set_certificate_path(
        &mut sks,
        kd.key_handle,
        "K",
        &kd.public_key,
        &k.certificate_path,
    )
    .unwrap();
    expect_code(is2.close(&mut sks), SksErrorCode::Option);
    // [SKS-CLS-005] an RSA algorithm endorsed for an EC key
    let mut is = Issuer::new(11);
    is.create_session(&mut sks).unwrap();
    let mut ks = KeySpec::new("K", uri::P256);
    ks.endorsed_algorithms = vec![uri::RSA_SHA256.into()];
    is.provision_key(&mut sks, &ks).unwrap();
    expect_code(is.close(&mut sks), SksErrorCode::Option);
    assert!(no_open_sessions(&mut sks));
    // Only the key of session 9 was ever committed.
    let e = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!(e.key_handle, k.handle);
    assert!(sks.enumerate_keys(e.key_handle).unwrap().is_none());
}

#[test]
fn abort_deletes_the_session() {
    // [SKS-SES-020]
    let mut sks = airtight_testkit::card(12);
    let mut is = Issuer::new(12);
    is.create_session(&mut sks).unwrap();
    is.provision_key(&mut sks, &KeySpec::new("K", uri::P256))
        .unwrap();
    sks.abort_provisioning_session(is.handle).unwrap();
    assert!(no_open_sessions(&mut sks));
    expect_code(
        sks.abort_provisioning_session(is.handle),
        SksErrorCode::NoSession,
    );
    expect_code(is.close(&mut sks), SksErrorCode::NoSession);
}

#[test]
fn session_lifetime_is_enforced_by_the_card_clock() {
    // [SKS-IMP-003]: creation time + sessionLifeTime by the injected card clock; clientTime
    // (here far in the past) plays no part.
    let clock = ManualClock::new(TEST_TIME);
    let mut sks = ReferenceSks::open(CardConfig::test_device(
        DeviceKeyKind::P256,
        1,
        Arc::new(clock.clone()),
    ))
    .unwrap();
    let mut is = Issuer::new(13);
    is.session_life_time = 100;
    is.client_time = 1_000;
    is.create_session(&mut sks).unwrap();
    clock.advance(100);
    is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    clock.advance(1);
    expect_code(
        is.create_pin(&mut sks, &PinSpec::new("PIN.2")),
        SksErrorCode::NoSession,
    );
    assert!(no_open_sessions(&mut sks));
}

#[test]
fn authorization_errors_do_not_touch_open_sessions() {
    // [SKS-ERR-003]: a wrong PIN in the User API while a session is open.
    let mut sks = airtight_testkit::card(14);
    let mut a = Issuer::new(14);
    a.create_session(&mut sks).unwrap();
    let pin = a.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let k = a
        .provision_key(
            &mut sks,
            &KeySpec::new("K", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    a.close(&mut sks).unwrap();
    let mut b = Issuer::new(15);
    b.create_session(&mut sks).unwrap();
    expect_code(
        sks.sign_data(
            k.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"0000"),
            b"x",
        ),
        SksErrorCode::Authorization,
    );
    assert!(!no_open_sessions(&mut sks));
    b.provision_key(&mut sks, &KeySpec::new("L", uri::P256))
        .unwrap();
    b.close(&mut sks).unwrap();
}

#[test]
fn too_many_open_sessions() {
    // [SKS-SES-008]
    let mut sks = airtight_testkit::card(16);
    for i in 0..8 {
        Issuer::new(100 + i).create_session(&mut sks).unwrap();
    }
    expect_code(
        Issuer::new(200).create_session(&mut sks),
        SksErrorCode::Storage,
    );
}
