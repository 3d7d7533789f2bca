//! Path validation on the generated fixtures: positive cases and one negative case per rule.
#![allow(clippy::unwrap_used)]

use airtight_pki::ca::{BasicConstraints, KeyUsage, Profile, YEAR};
use airtight_pki::fixtures::{self, FIXTURE_NOT_AFTER, FIXTURE_NOT_BEFORE};
use airtight_pki::keys::{KeyKind, SignatureAlgorithm, SigningKey};
use airtight_pki::{
    AnchorOptions, Ca, DeviceIdentity, DeviceKeyKind, PathError, Serial, TrustAnchor, Validity,
    verify_path,
};

/// 2026-11-22T00:00:00Z, inside every fixture validity period.
const NOW: i64 = 1_795_305_600;

fn device_anchors() -> Vec<TrustAnchor> {
    vec![fixtures::device_trust_anchor()]
}

fn foreign_ca(label: &str) -> Ca {
    let mut r = fixtures::rng(label);
    let key = SigningKey::generate(KeyKind::P256, &mut r).unwrap();
    Ca::new_root(
        "CN=Foreign Device CA, O=Elsewhere",
        key,
        &Serial::random(&mut r),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap()
}

#[test]
fn fixture_devices_validate() {
    // [KG2-IMP-002] [KG2-PIR-004]: device certificate first, chained to the configured anchor.
    for dev in [fixtures::device_p256(), fixtures::device_rsa2048()] {
        let v = verify_path(&dev.certificate_path, &device_anchors(), NOW).unwrap();
        assert_eq!(v.anchor_index, 0);
        assert!(v.anchor_in_path);
        assert_eq!(
            v.leaf_spki_der,
            dev.signing_key.public_key_spki_der().unwrap()
        );
        assert!(v.leaf_subject.starts_with("CN=airtight Reference SKS ("));
        // Without the CA certificate in the path, the anchor issues the device certificate.
        let v = verify_path(&dev.certificate_path[..1], &device_anchors(), NOW).unwrap();
        assert!(!v.anchor_in_path);
    }
}

#[test]
fn issuer_chain_and_end_entity_validate() {
    let ca = fixtures::issuer_ca();
    let key = SigningKey::generate(KeyKind::P256, &mut fixtures::rng("ee")).unwrap();
    let spki = key.public_key_spki_der().unwrap();
    let ee = ca
        .issue_at(
            &spki,
            &Profile::end_entity("CN=user {serial}"),
            &Serial::from_u64(7).unwrap(),
            NOW,
        )
        .unwrap();
    let mut path = vec![ee];
    path.extend(ca.certificate_path().iter().cloned());
    let anchors = vec![
        fixtures::device_trust_anchor(),
        fixtures::issuer_trust_anchor(),
    ];
    let v = verify_path(&path, &anchors, NOW).unwrap();
    assert_eq!(v.anchor_index, 1);
    assert_eq!(v.leaf_subject, "CN=user 07");
    assert_eq!(v.leaf_serial, vec![7]);
    assert_eq!(v.leaf_not_after, NOW + 2 * YEAR);
    // The issuer CA has pathLen 0: an end entity below it is fine, another CA below it is not.
    let sub_sub = Ca::new_intermediate(
        &ca,
        "CN=Too Deep CA",
        SigningKey::generate(KeyKind::P256, &mut fixtures::rng("deep")).unwrap(),
        None,
        &Serial::from_u64(8).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let path = sub_sub
        .issue_path_at(
            &spki,
            &Profile::end_entity("CN=deep"),
            &Serial::from_u64(9).unwrap(),
            NOW,
        )
        .unwrap();
    assert_eq!(path.len(), 4);
    assert_eq!(
        verify_path(&path, &anchors, NOW),
        Err(PathError::PathLength { index: 2 })
    );
}

#[test]
fn foreign_root_is_unknown_issuer() {
    let foreign = foreign_ca("foreign");
    let dev =
        DeviceIdentity::generate_under(&foreign, DeviceKeyKind::P256, &mut fixtures::rng("d"), NOW)
            .unwrap();
    assert_eq!(
        verify_path(&dev.certificate_path, &device_anchors(), NOW),
        Err(PathError::UnknownIssuer)
    );
    // No anchors at all.
    assert_eq!(
        verify_path(&fixtures::device_p256().certificate_path, &[], NOW),
        Err(PathError::UnknownIssuer)
    );
}

#[test]
fn same_name_other_key_is_bad_signature() {
    // A foreign CA that copies the device CA's name: names chain, the signature does not.
    let mut r = fixtures::rng("impostor");
    let key = SigningKey::generate(KeyKind::P256, &mut r).unwrap();
    let impostor = Ca::new_root(
        airtight_pki::device::DEVICE_CA_SUBJECT,
        key,
        &Serial::random(&mut r),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let dev = DeviceIdentity::generate_under(
        &impostor,
        DeviceKeyKind::P256,
        &mut fixtures::rng("d2"),
        NOW,
    )
    .unwrap();
    // With the impostor root in the path, it is not the anchor (different key): the path must
    // end at an anchor, and the impostor root is "issued" by the real anchor's name.
    assert_eq!(
        verify_path(&dev.certificate_path, &device_anchors(), NOW),
        Err(PathError::BadSignature { index: 1 })
    );
    assert_eq!(
        verify_path(&dev.certificate_path[..1], &device_anchors(), NOW),
        Err(PathError::BadSignature { index: 0 })
    );
}

/// Flips one byte inside the signature BIT STRING (its last byte).
fn tamper_signature(der: &[u8]) -> Vec<u8> {
    let mut t = der.to_vec();
    let last = t.len() - 1;
    t[last] ^= 0x01;
    t
}

#[test]
fn tampered_signature_byte() {
    for dev in [fixtures::device_p256(), fixtures::device_rsa2048()] {
        let mut path = dev.certificate_path.clone();
        path[0] = tamper_signature(&path[0]);
        let r = verify_path(&path, &device_anchors(), NOW);
        // ECDSA: the DER signature may stay well-formed (BadSignature); RSA: always BadSignature.
        assert!(
            matches!(
                r,
                Err(PathError::BadSignature { index: 0 })
                    | Err(PathError::Malformed { index: 0, .. })
            ),
            "{r:?}"
        );
    }
    // RSA PKCS#1: one flipped bit is always a well-formed but wrong signature.
    let mut path = fixtures::device_rsa2048().certificate_path;
    path[0] = tamper_signature(&path[0]);
    assert_eq!(
        verify_path(&path, &device_anchors(), NOW),
        Err(PathError::BadSignature { index: 0 })
    );
}

#[test]
fn tampered_tbs_byte() {
    // Change one byte of the subject's common name: still well-formed, signature broken.
    let mut path = fixtures::device_p256().certificate_path;
    let pos = path[0].windows(9).position(|w| w == b"Reference").unwrap();
    path[0][pos] = b'A';
    assert_eq!(
        verify_path(&path, &device_anchors(), NOW),
        Err(PathError::BadSignature { index: 0 })
    );
}

#[test]
fn validity_window() {
    let path = fixtures::device_p256().certificate_path;
    let a = device_anchors();
    // Device certificates: notBefore 2025-01-01, notAfter 20 x 365 days later.
    let dev_not_after = FIXTURE_NOT_BEFORE + 20 * YEAR;
    assert!(verify_path(&path, &a, FIXTURE_NOT_BEFORE).is_ok());
    assert!(verify_path(&path, &a, dev_not_after).is_ok());
    assert_eq!(
        verify_path(&path, &a, FIXTURE_NOT_BEFORE - 1),
        Err(PathError::NotYetValid { index: 0 })
    );
    assert_eq!(
        verify_path(&path, &a, dev_not_after + 1),
        Err(PathError::Expired { index: 0 })
    );
    // After the CA expired too, the first failing certificate is still reported.
    assert_eq!(
        verify_path(&path, &a, FIXTURE_NOT_AFTER + 1),
        Err(PathError::Expired { index: 0 })
    );
    // [KG2-IMP-004] an anchor may accept expired certificates, off by default.
    let lenient = vec![fixtures::device_trust_anchor().with_options(AnchorOptions {
        allow_expired: true,
        ..AnchorOptions::default()
    })];
    assert!(verify_path(&path, &lenient, FIXTURE_NOT_AFTER + 1).is_ok());
}

#[test]
fn wrong_order() {
    let mut path = fixtures::device_p256().certificate_path;
    path.reverse();
    assert_eq!(
        verify_path(&path, &device_anchors(), NOW),
        Err(PathError::IssuerMismatch { index: 0 })
    );
}

#[test]
fn leaf_used_as_ca() {
    let dev = fixtures::device_p256();
    let rogue_ca = Ca::from_parts(dev.signing_key.clone(), dev.certificate_path.clone()).unwrap();
    let key = SigningKey::generate(KeyKind::P256, &mut fixtures::rng("victim")).unwrap();
    let cert = rogue_ca
        .issue_at(
            &key.public_key_spki_der().unwrap(),
            &Profile::device("CN=rogue"),
            &Serial::from_u64(1).unwrap(),
            NOW,
        )
        .unwrap();
    let mut path = vec![cert];
    path.extend(dev.certificate_path.iter().cloned());
    assert_eq!(
        verify_path(&path, &device_anchors(), NOW),
        Err(PathError::NotACa { index: 1 })
    );
}

#[test]
fn ca_without_key_cert_sign() {
    let root = fixtures::device_ca();
    let profile = Profile {
        key_usage: Some(KeyUsage::SIGN),
        ..Profile::sub_ca("CN=No Cert Sign CA", None)
    };
    let sub = Ca::new_intermediate_with_profile(
        &root,
        SigningKey::generate(KeyKind::P256, &mut fixtures::rng("nocs")).unwrap(),
        &profile,
        &Serial::from_u64(3).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let dev =
        DeviceIdentity::generate_under(&sub, DeviceKeyKind::P256, &mut fixtures::rng("x"), NOW)
            .unwrap();
    assert_eq!(
        verify_path(&dev.certificate_path, &device_anchors(), NOW),
        Err(PathError::KeyUsage { index: 1 })
    );
    // basicConstraints absent altogether: not a CA.
    let profile = Profile {
        basic_constraints: None,
        ..Profile::sub_ca("CN=No BC CA", None)
    };
    let sub = Ca::new_intermediate_with_profile(
        &root,
        SigningKey::generate(KeyKind::P256, &mut fixtures::rng("nobc")).unwrap(),
        &profile,
        &Serial::from_u64(4).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let dev =
        DeviceIdentity::generate_under(&sub, DeviceKeyKind::P256, &mut fixtures::rng("y"), NOW)
            .unwrap();
    assert_eq!(
        verify_path(&dev.certificate_path, &device_anchors(), NOW),
        Err(PathError::NotACa { index: 1 })
    );
    // cA false explicitly.
    let profile = Profile {
        basic_constraints: Some(BasicConstraints {
            ca: false,
            path_len: None,
        }),
        ..Profile::sub_ca("CN=cA false", None)
    };
    let sub = Ca::new_intermediate_with_profile(
        &root,
        SigningKey::generate(KeyKind::P256, &mut fixtures::rng("cafalse")).unwrap(),
        &profile,
        &Serial::from_u64(5).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let dev =
        DeviceIdentity::generate_under(&sub, DeviceKeyKind::P256, &mut fixtures::rng("z"), NOW)
            .unwrap();
    assert_eq!(
        verify_path(&dev.certificate_path, &device_anchors(), NOW),
        Err(PathError::NotACa { index: 1 })
    );
}

#[test]
fn truncated_der_is_malformed() {
    let path = fixtures::device_p256().certificate_path;
    for cut in [0, 1, 2, 10, path[0].len() / 2, path[0].len() - 1] {
        let p = vec![path[0][..cut].to_vec(), path[1].clone()];
        assert!(
            matches!(
                verify_path(&p, &device_anchors(), NOW),
                Err(PathError::Malformed { index: 0, .. })
            ),
            "cut at {cut}"
        );
    }
    let p = vec![path[0].clone(), path[1][..path[1].len() - 3].to_vec()];
    assert!(matches!(
        verify_path(&p, &device_anchors(), NOW),
        Err(PathError::Malformed { index: 1, .. })
    ));
    // Trailing garbage.
    let mut long = path[0].clone();
    long.push(0);
    assert!(matches!(
        verify_path(&[long], &device_anchors(), NOW),
        Err(PathError::Malformed { index: 0, .. })
    ));
}

#[test]
fn empty_and_too_long() {
    assert_eq!(
        verify_path(&[], &device_anchors(), NOW),
        Err(PathError::Empty)
    );
    let path = fixtures::device_p256().certificate_path;
    let long: Vec<Vec<u8>> = std::iter::repeat_n(path[1].clone(), 9).collect();
    assert_eq!(
        verify_path(&long, &device_anchors(), NOW),
        Err(PathError::TooLong(9))
    );
}

#[test]
fn rsa_signed_certificates_and_sha384() {
    // The RSA-2048 device key as a (test-only) CA: sha256/384/512WithRSAEncryption links.
    let dev = fixtures::device_rsa2048();
    let root_key = dev.signing_key.clone();
    let validity = Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER);
    for alg in [
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha384,
        SignatureAlgorithm::RsaSha512,
    ] {
        let profile = Profile {
            signature_algorithm: Some(alg),
            ..Profile::root_ca("CN=RSA Root, O=test")
        };
        let root = Ca::new_root_with_profile(
            root_key.clone(),
            &profile,
            &Serial::from_u64(1).unwrap(),
            validity,
        )
        .unwrap();
        let leaf_key = SigningKey::generate(KeyKind::P384, &mut fixtures::rng("leaf")).unwrap();
        let leaf = root
            .issue_at(
                &leaf_key.public_key_spki_der().unwrap(),
                &Profile {
                    signature_algorithm: Some(alg),
                    ..Profile::end_entity("CN=leaf")
                },
                &Serial::from_u64(2).unwrap(),
                NOW,
            )
            .unwrap();
        let anchors = vec![TrustAnchor::from_certificate_der(root.certificate_der()).unwrap()];
        verify_path(std::slice::from_ref(&leaf), &anchors, NOW).unwrap();
        verify_path(&[leaf, root.certificate_der().to_vec()], &anchors, NOW).unwrap();
    }
    // An EC CA signing with a hash other than its default.
    let ca = fixtures::device_ca();
    let key = SigningKey::generate(KeyKind::P256, &mut fixtures::rng("e384")).unwrap();
    let leaf = ca
        .issue_at(
            &key.public_key_spki_der().unwrap(),
            &Profile {
                signature_algorithm: Some(SignatureAlgorithm::EcdsaSha384),
                ..Profile::device("CN=sha384")
            },
            &Serial::from_u64(3).unwrap(),
            NOW,
        )
        .unwrap();
    verify_path(&[leaf], &device_anchors(), NOW).unwrap();
    // A mismatching algorithm is refused at issuance.
    assert!(
        ca.issue_at(
            &key.public_key_spki_der().unwrap(),
            &Profile {
                signature_algorithm: Some(SignatureAlgorithm::RsaSha256),
                ..Profile::device("CN=x")
            },
            &Serial::from_u64(3).unwrap(),
            NOW,
        )
        .is_err()
    );
}

#[test]
fn anchor_from_name_and_key() {
    let ca = fixtures::device_ca();
    let cert = x509_parts(ca.certificate_der());
    let a = TrustAnchor::from_name_and_key(&cert.0, &cert.1).unwrap();
    assert_eq!(
        a.subject(),
        "CN=airtight Test Device CA,O=airtight test fixtures"
    );
    let v = verify_path(&fixtures::device_p256().certificate_path, &[a], NOW).unwrap();
    assert!(v.anchor_in_path);
    assert!(TrustAnchor::from_name_and_key(&[0x30], &cert.1).is_err());
    assert!(TrustAnchor::from_certificate_der(&[0x30, 0x00]).is_err());
    assert!(TrustAnchor::from_certificate_pem("nope").is_err());
    let pem =
        airtight_pki::pem::encode(airtight_pki::pem::CERTIFICATE, ca.certificate_der()).unwrap();
    assert_eq!(
        TrustAnchor::from_certificate_pem(&pem).unwrap(),
        fixtures::device_trust_anchor()
    );
}

/// (subject Name DER, SPKI DER) of a certificate via the lenient walk.
fn x509_parts(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let p = airtight_pki::lenient::certificate_parts(der).unwrap();
    (p.subject.to_vec(), p.spki.to_vec())
}

#[test]
fn sha1_needs_the_legacy_option() {
    // The CA can emit sha1WithRSAEncryption when a profile asks for it (legacy tests only);
    // the validator refuses it unless the anchor allows legacy SHA-1.
    let dev = fixtures::device_rsa2048();
    let profile = Profile {
        signature_algorithm: Some(SignatureAlgorithm::RsaSha1),
        ..Profile::root_ca("CN=SHA1 Root")
    };
    let root = Ca::new_root_with_profile(
        dev.signing_key.clone(),
        &profile,
        &Serial::from_u64(1).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let leaf = root
        .issue_at(
            &fixtures::device_p256()
                .signing_key
                .public_key_spki_der()
                .unwrap(),
            &Profile {
                signature_algorithm: Some(SignatureAlgorithm::RsaSha1),
                ..Profile::device("CN=old")
            },
            &Serial::from_u64(2).unwrap(),
            NOW,
        )
        .unwrap();
    let anchor = TrustAnchor::from_certificate_der(root.certificate_der()).unwrap();
    assert_eq!(
        verify_path(
            std::slice::from_ref(&leaf),
            std::slice::from_ref(&anchor),
            NOW
        ),
        Err(PathError::LegacyAlgorithm { index: 0 })
    );
    let legacy = anchor.with_options(AnchorOptions {
        allow_sha1: true,
        ..AnchorOptions::default()
    });
    verify_path(&[leaf], &[legacy], NOW).unwrap();
}

#[test]
fn a_changed_copy_of_the_anchor_in_the_path_is_refused() {
    // [KG2-IMP-002]: the anchor copy at the end of a device path must be the configured anchor
    // byte for byte (the path is recorded with the issuance).
    let dev = fixtures::device_p256();
    let mut path = dev.certificate_path.clone();
    assert_eq!(path.len(), 2);
    let last = path[1].len() - 1;
    path[1][last] ^= 0x01; // inside the copy's signature: name and key unchanged
    assert_eq!(
        verify_path(&path, &device_anchors(), NOW).unwrap_err(),
        PathError::AnchorMismatch { index: 1 }
    );
    // The unchanged path still validates.
    verify_path(&dev.certificate_path, &device_anchors(), NOW).unwrap();
}
