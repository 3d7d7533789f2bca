//! The device-PIN test mode of the reference card through every binding: in process, through
//! APDUs (`ApduSks` -> loopback -> `ApduDispatcher`) and through the shim (`ShimSks` -> pipes ->
//! `serve_shim`). With the mode, a key with `devicePinProtection` signs with the device PIN and
//! refuses a wrong or missing one; without it, `devicePinSupport` is false and such a key is
//! refused. (The shim as a child process, `airtight card shim --test-device-pin`, is tested
//! in `cli/tests/shim_cli.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use airtight_card::env::ManualClock;
use airtight_card::{CardConfig, ReferenceSks, TEST_TIME};
use airtight_proto::sks::{ProtectionStatus, ProvisioningHandle, SecureKeyStore, SksErrorCode};
use airtight_testkit::emulator::{Issuer, KeySpec, uri};
use common::{Binding, through};

const SEED: u64 = 0xde71;
const DEVICE_PIN: &[u8] = b"97531";

/// A test card; with `Some(pin)` in the device-PIN test mode, with `None` without device PIN.
fn card(test_device_pin: Option<&[u8]>) -> ReferenceSks {
    let mut config = CardConfig::test_device(
        airtight_pki::DeviceKeyKind::P256,
        SEED,
        Arc::new(ManualClock::new(TEST_TIME)),
    );
    config.device_pin = airtight_card::DevicePin::Unsupported;
    if let Some(pin) = test_device_pin {
        config = config.with_test_device_pin(pin);
    }
    ReferenceSks::open(config).unwrap()
}

const BINDINGS: [Binding; 3] = [Binding::InProcess, Binding::Apdu, Binding::Shim];

/// Checks `devicePinSupport`, opens a session, and returns the spec of a device-PIN key.
fn session_for_device_pin_key(sks: &mut dyn SecureKeyStore, support: bool) -> (Issuer, KeySpec) {
    assert_eq!(sks.get_device_info().unwrap().device_pin_support, support);
    let mut is = Issuer::new(SEED);
    is.create_session(sks).unwrap();
    let mut spec = KeySpec::new("Key.1", uri::P256);
    spec.device_pin_protection = true;
    (is, spec)
}

#[test]
fn device_pin_key_works_with_the_device_pin_only() {
    // [POL-DEV-001] [POL-DEV-003] [POL-IMP-001]
    for binding in BINDINGS {
        through(binding, card(Some(DEVICE_PIN)), |sks| {
            let (mut is, spec) = session_for_device_pin_key(sks, true);
            let key = is.provision_key(sks, &spec).unwrap();
            is.close(sks).unwrap();
            let info = sks.get_key_protection_info(key.handle).unwrap();
            assert!(
                info.protection_status
                    .contains(ProtectionStatus::DEVICE_PIN)
            );
            let sign = |sks: &mut dyn SecureKeyStore, pin: Option<&[u8]>| {
                sks.sign_data(key.handle, uri::ECDSA_SHA256, None, false, pin, b"data")
            };
            assert!(sign(sks, Some(DEVICE_PIN)).is_ok(), "{binding:?}");
            for wrong in [Some(b"1234".as_slice()), Some(b"97530".as_slice()), None] {
                let e = sign(sks, wrong).unwrap_err();
                assert_eq!(
                    e.code(),
                    SksErrorCode::Authorization,
                    "{binding:?} {wrong:?}"
                );
            }
            // The device PIN still works after the failures (no PIN policy, no lock-out here).
            assert!(sign(sks, Some(DEVICE_PIN)).is_ok(), "{binding:?}");
        });
    }
}

#[test]
fn without_the_mode_the_device_pin_path_is_refused() {
    // [POL-DEV-001]: no device PIN support, so devicePinProtection is ERROR_OPTION and the
    // session is torn down ([SKS-TXN-002]).
    for binding in BINDINGS {
        through(binding, card(None), |sks| {
            let (mut is, spec) = session_for_device_pin_key(sks, false);
            let e = is.create_key(sks, &spec).unwrap_err();
            assert_eq!(e.code(), Some(SksErrorCode::Option), "{binding:?}: {e}");
            assert!(
                sks.enumerate_provisioning_sessions(ProvisioningHandle(0), true)
                    .unwrap()
                    .is_none(),
                "{binding:?}"
            );
        });
    }
}
