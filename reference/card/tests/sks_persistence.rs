//! Persistence: committed state survives a restart (real files in a temporary directory), open
//! sessions do not, handles stay valid and are not reused, and a PIN error counter is durable
//! before the wrong-PIN answer (a power cut right after cannot reset it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::store::{CrashPolicy, SimFs};
use airtight_card::{CardConfig, ReferenceSks, Storage, TEST_TIME};
use airtight_pki::DeviceKeyKind;
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};
use airtight_testkit::expect_code;

fn config(storage: Storage, seed: u64) -> CardConfig {
    let mut c = CardConfig::test_device(
        DeviceKeyKind::P256,
        seed,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    c.storage = storage;
    c
}

#[test]
fn committed_state_survives_reopen_on_real_files() {
    // [SKS-IMP-005] [SKS-IMP-006] [SKS-IMP-009]
    let dir = tempfile::tempdir().unwrap();
    let (key, open_handle) = {
        let mut sks =
            ReferenceSks::open(config(Storage::Dir(dir.path().to_path_buf()), 1)).unwrap();
        let mut is = Issuer::new(1);
        is.create_session(&mut sks).unwrap();
        let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
        let key = is
            .provision_key(
                &mut sks,
                &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
            )
            .unwrap();
        is.close(&mut sks).unwrap();
        expect_code(
            sks.sign_data(
                key.handle,
                uri::ECDSA_SHA256,
                None,
                false,
                Some(b"0000"),
                b"m",
            ),
            SksErrorCode::Authorization,
        );
        // A session left open at the "power cut".
        let mut open = Issuer::new(2);
        open.create_session(&mut sks).unwrap();
        open.provision_key(&mut sks, &KeySpec::new("Lost", uri::P256))
            .unwrap();
        (key, open.handle)
    };
    let mut sks = ReferenceSks::open(config(Storage::Dir(dir.path().to_path_buf()), 2)).unwrap();
    let e = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!(e.key_handle, key.handle);
    assert!(sks.enumerate_keys(e.key_handle).unwrap().is_none());
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
            .unwrap()
            .is_none()
    );
    expect_code(
        sks.abort_provisioning_session(open_handle),
        SksErrorCode::NoSession,
    );
    let info = sks.get_key_protection_info(key.handle).unwrap();
    assert_eq!(info.pin.unwrap().error_count, 1);
    assert_eq!(
        sks.get_key_attributes(key.handle).unwrap().certificate_path,
        key.certificate_path
    );
    sks.sign_data(
        key.handle,
        uri::ECDSA_SHA256,
        None,
        false,
        Some(b"1234"),
        b"m",
    )
    .unwrap();
    assert_eq!(
        sks.get_key_protection_info(key.handle)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        0
    );
    // [SKS-NSP-005] new objects get new handles.
    let mut is = Issuer::new(3);
    is.create_session(&mut sks).unwrap();
    let k2 = is
        .provision_key(&mut sks, &KeySpec::new("Key.2", uri::P256))
        .unwrap();
    assert!(k2.handle.0 > key.handle.0);
    is.close(&mut sks).unwrap();
}

#[test]
fn pin_error_counter_is_durable_before_the_answer() {
    // [SKS-IMP-008]
    let fs = SimFs::new();
    let mut sks = ReferenceSks::open(config(Storage::Vfs(Box::new(fs.clone())), 1)).unwrap();
    let mut is = Issuer::new(1);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let key = is
        .provision_key(
            &mut sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    expect_code(
        sks.sign_data(
            key.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"0000"),
            b"m",
        ),
        SksErrorCode::Authorization,
    );
    // Power cut right after the answer: only fsynced data survives.
    let after = fs.after_crash(CrashPolicy::DropUnsynced);
    drop(sks);
    let mut sks = ReferenceSks::open(config(Storage::Vfs(Box::new(after)), 1)).unwrap();
    assert_eq!(
        sks.get_key_protection_info(key.handle)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        1
    );
}

#[test]
fn a_failing_counter_write_refuses_the_pin_check() {
    // If the counter cannot be made durable the card answers ERROR_STORAGE, never
    // ERROR_AUTHORIZATION with a volatile counter.
    let fs = SimFs::new();
    let mut sks = ReferenceSks::open(config(Storage::Vfs(Box::new(fs.clone())), 1)).unwrap();
    let mut is = Issuer::new(1);
    is.create_session(&mut sks).unwrap();
    let pin = is.create_pin(&mut sks, &PinSpec::new("PIN.1")).unwrap();
    let key = is
        .provision_key(
            &mut sks,
            &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"),
        )
        .unwrap();
    is.close(&mut sks).unwrap();
    fs.set_capacity(Some(0));
    expect_code(
        sks.sign_data(
            key.handle,
            uri::ECDSA_SHA256,
            None,
            false,
            Some(b"0000"),
            b"m",
        ),
        SksErrorCode::Storage,
    );
    fs.set_capacity(None);
    assert_eq!(
        sks.get_key_protection_info(key.handle)
            .unwrap()
            .pin
            .unwrap()
            .error_count,
        0
    );
}
