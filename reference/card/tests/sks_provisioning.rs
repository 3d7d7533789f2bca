//! Full provisioning flows through the issuer emulator: every key type in E2ES and privacy
//! mode, attestations, and the User API on the result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use airtight_proto::keys::{HashAlg, SignatureAlgorithm};
use airtight_proto::policy::PassphraseFormat;
use airtight_proto::sks::{KeyHandle, SecureKeyStore};
use support::{Issuer, KeySpec, PinSpec, uri};

#[test]
fn p256_key_with_puk_and_pin_e2es() {
    let mut sks = support::card(1);
    let mut is = Issuer::new(1);
    is.create_session(&mut sks).unwrap();
    let puk = is
        .create_puk(&mut sks, "PUK.1", b"01234567", PassphraseFormat::Numeric, 3)
        .unwrap();
    let mut ps = PinSpec::new("PIN.1");
    ps.puk = Some((puk, "PUK.1".into()));
    let pin = is.create_pin(&mut sks, &ps).unwrap();
    let key = is
        .provision_key(&mut sks, &KeySpec::new("Key.1", uri::P256).with_pin(pin, "PIN.1", b"1234"))
        .unwrap();
    is.close(&mut sks).unwrap();
    let first = sks.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert_eq!(first.key_handle, key.handle);
    let sig = sks
        .sign_data(key.handle, uri::ECDSA_SHA256, None, false, Some(b"1234"), b"hello")
        .unwrap();
    support::public_key(&key.public_key)
        .verify(SignatureAlgorithm::Ecdsa(HashAlg::Sha256), b"hello", &sig)
        .unwrap();
}
