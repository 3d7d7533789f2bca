//! End to end in process: the issuer engine <-> the middleware engine (`airtight-client`) <->
//! the reference card (`airtight-card`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::Policy;
use airtight_proto::keys::PublicKey;
use airtight_proto::sks::{KeyHandle, SecureKeyStore};
use common::e2e::{issuer, run_clean};

#[test]
fn default_policy_e2es_p256_device() {
    let iss = issuer(Policy::default());
    let r = run_clean(&iss, ReferenceSks::in_memory_for_tests(1), "1357", 1);
    let rec = r.result.unwrap();
    assert!(!rec.privacy_enabled);
    assert_eq!(rec.device_certificate_path.len(), 2);
    assert!(rec.device_id.is_some());
    assert_eq!(rec.keys.len(), 1);
    // The certificate carries the attested key.
    let k = &rec.keys[0];
    assert_eq!(
        airtight_pki::spki_of_certificate(&k.certificate_path[0]).unwrap(),
        k.public_key_spki
    );
    PublicKey::from_spki_der(&k.public_key_spki).unwrap();
    // The card has the key, in a closed session.
    let mut card = r.card.unwrap();
    assert!(card.enumerate_keys(KeyHandle::NONE).unwrap().is_some());
}

#[test]
fn default_policy_e2es_rsa_device() {
    let iss = issuer(Policy::default());
    let card = ReferenceSks::in_memory_with_device(airtight_pki::DeviceKeyKind::Rsa2048, 2);
    let r = run_clean(&iss, card, "1357", 2);
    r.result.unwrap();
}

#[test]
fn privacy_mode() {
    let iss = issuer(Policy {
        privacy_enabled: true,
        ..Policy::default()
    });
    let r = run_clean(&iss, ReferenceSks::in_memory_for_tests(3), "1357", 3);
    let rec = r.result.unwrap();
    assert!(rec.privacy_enabled);
    assert!(rec.device_certificate_path.is_empty());
}
