//! Issued certificates, decoded with x509-cert's own types: fields, extensions, encodings.
#![allow(clippy::unwrap_used)]

use airtight_pki::ca::{
    self, EKU_CLIENT_AUTH, EKU_SERVER_AUTH, OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS,
    OID_EXT_KEY_USAGE, OID_KEY_USAGE, OID_SUBJECT_KEY_ID, Profile,
};
use airtight_pki::fixtures::{self, FIXTURE_NOT_AFTER, FIXTURE_NOT_BEFORE};
use airtight_pki::keys::{KeyKind, SignatureAlgorithm, SigningKey};
use airtight_pki::{Ca, CaError, Serial, SerialCounter, Validity};
use der::{Decode as _, Encode as _};
use sha1::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};

const NOW: i64 = 1_795_305_600;

fn ext(cert: &Certificate, oid: der::asn1::ObjectIdentifier) -> Option<(bool, &[u8])> {
    cert.tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| (e.critical, e.extn_value.as_bytes()))
}

fn p256_spki(label: &str) -> Vec<u8> {
    SigningKey::generate(KeyKind::P256, &mut fixtures::rng(label))
        .unwrap()
        .public_key_spki_der()
        .unwrap()
}

#[test]
fn end_entity_profile_fields() {
    let ca = fixtures::issuer_ca();
    let spki = p256_spki("ee");
    let profile = Profile::end_entity("CN={user}, OU={key} key {serial}, O=airtight")
        .with_variable("user", "Alice, the tester");
    let der = ca
        .issue(
            &spki,
            &profile,
            &Serial::from_u64(0x1234).unwrap(),
            NOW,
            NOW + 3600,
        )
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.version(), x509_cert::certificate::Version::V3);
    assert_eq!(tbs.serial_number().as_bytes(), &[0x12, 0x34]);
    assert_eq!(
        tbs.subject().to_string(),
        "CN=Alice\\, the tester,OU=P-256 key 1234,O=airtight"
    );
    assert_eq!(
        tbs.issuer().to_der().unwrap(),
        x509_cert::Certificate::from_der(ca.certificate_der())
            .unwrap()
            .tbs_certificate()
            .subject()
            .to_der()
            .unwrap()
    );
    assert_eq!(
        tbs.validity().not_before.to_unix_duration().as_secs(),
        NOW as u64
    );
    assert_eq!(
        tbs.validity().not_after.to_unix_duration().as_secs(),
        (NOW + 3600) as u64
    );
    assert_eq!(tbs.subject_public_key_info().to_der().unwrap(), spki);
    // ecdsa-with-SHA256 from the P-256 issuer CA, parameters absent (RFC 5758).
    assert_eq!(
        cert.signature_algorithm().oid,
        SignatureAlgorithm::EcdsaSha256.oid()
    );
    assert!(cert.signature_algorithm().parameters.is_none());

    let (crit, v) = ext(&cert, OID_BASIC_CONSTRAINTS).unwrap();
    assert!(crit);
    let bc = BasicConstraints::from_der(v).unwrap();
    assert!(!bc.ca);
    let (crit, v) = ext(&cert, OID_KEY_USAGE).unwrap();
    assert!(crit);
    let ku = KeyUsage::from_der(v).unwrap();
    assert!(ku.0.contains(KeyUsages::DigitalSignature));
    for other in [
        KeyUsages::NonRepudiation,
        KeyUsages::KeyEncipherment,
        KeyUsages::DataEncipherment,
        KeyUsages::KeyAgreement,
        KeyUsages::KeyCertSign,
        KeyUsages::CRLSign,
    ] {
        assert!(!ku.0.contains(other));
    }
    let (crit, v) = ext(&cert, OID_EXT_KEY_USAGE).unwrap();
    assert!(!crit);
    assert_eq!(
        ExtendedKeyUsage::from_der(v).unwrap().0,
        vec![EKU_CLIENT_AUTH]
    );
    // SKI = SHA-1 of the subjectPublicKey bits; AKI = the issuer's SKI.
    let (_, v) = ext(&cert, OID_SUBJECT_KEY_ID).unwrap();
    let ski = SubjectKeyIdentifier::from_der(v).unwrap();
    let bits = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    assert_eq!(ski.0.as_bytes(), sha1::Sha1::digest(bits).as_slice());
    let (_, v) = ext(&cert, OID_AUTHORITY_KEY_ID).unwrap();
    let aki = AuthorityKeyIdentifier::from_der(v).unwrap();
    let ca_cert = Certificate::from_der(ca.certificate_der()).unwrap();
    let (_, ca_ski) = ext(&ca_cert, OID_SUBJECT_KEY_ID).unwrap();
    assert_eq!(
        aki.key_identifier.unwrap().as_bytes(),
        SubjectKeyIdentifier::from_der(ca_ski).unwrap().0.as_bytes()
    );
}

#[test]
fn ca_profiles() {
    let root = fixtures::issuer_root_ca();
    let cert = Certificate::from_der(root.certificate_der()).unwrap();
    assert_eq!(
        cert.tbs_certificate().issuer(),
        cert.tbs_certificate().subject()
    );
    assert_eq!(
        cert.signature_algorithm().oid,
        SignatureAlgorithm::EcdsaSha384.oid()
    );
    let bc = BasicConstraints::from_der(ext(&cert, OID_BASIC_CONSTRAINTS).unwrap().1).unwrap();
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, None);
    let ku = KeyUsage::from_der(ext(&cert, OID_KEY_USAGE).unwrap().1).unwrap();
    assert!(ku.0.contains(KeyUsages::KeyCertSign | KeyUsages::CRLSign));
    assert!(!ku.0.contains(KeyUsages::DigitalSignature));

    let sub = Certificate::from_der(fixtures::issuer_ca().certificate_der()).unwrap();
    let bc = BasicConstraints::from_der(ext(&sub, OID_BASIC_CONSTRAINTS).unwrap().1).unwrap();
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    assert!(ext(&sub, OID_EXT_KEY_USAGE).is_none());
}

#[test]
fn rsa_issuer_uses_null_parameters() {
    let key = fixtures::device_rsa2048().signing_key;
    let root = Ca::new_root(
        "CN=RSA Root",
        key,
        &Serial::from_u64(1).unwrap(),
        Validity::new(FIXTURE_NOT_BEFORE, FIXTURE_NOT_AFTER),
    )
    .unwrap();
    let cert = Certificate::from_der(root.certificate_der()).unwrap();
    assert_eq!(
        cert.signature_algorithm().oid,
        SignatureAlgorithm::RsaSha256.oid()
    );
    let params = cert.signature_algorithm().parameters.as_ref().unwrap();
    assert_eq!(params.to_der().unwrap(), vec![0x05, 0x00]);
    assert_eq!(cert.signature().raw_bytes().len(), 256);
}

#[test]
fn issuance_is_deterministic() {
    let ca = fixtures::device_ca();
    let spki = p256_spki("det");
    let p = Profile::device("CN=x {ski}");
    let s = Serial::from_u64(5).unwrap();
    assert_eq!(
        ca.issue(&spki, &p, &s, NOW, NOW + 10).unwrap(),
        ca.issue(&spki, &p, &s, NOW, NOW + 10).unwrap()
    );
    let mut r1 = fixtures::rng("serial");
    let mut r2 = fixtures::rng("serial");
    assert_eq!(Serial::random(&mut r1), Serial::random(&mut r2));
    let s = Serial::random(&mut r1);
    assert_eq!(s.as_bytes().len(), 16);
    assert_eq!(s.as_bytes()[0] & 0xc0, 0x40, "positive, no leading zero");
}

#[test]
fn ed25519_and_other_curves_can_be_certified() {
    // [CRY-SPK-005] an Ed25519 SPKI (the SKS generates such keys).
    let mut ed = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    ed.extend_from_slice(&[7u8; 32]);
    let ca = fixtures::issuer_ca();
    let der = ca
        .issue_at(
            &ed,
            &Profile::end_entity("CN={key} key"),
            &Serial::from_u64(1).unwrap(),
            NOW,
        )
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.tbs_certificate().subject().to_string(),
        "CN=Ed25519 key"
    );
    for kind in [KeyKind::P384, KeyKind::P521] {
        let spki = SigningKey::generate(kind, &mut fixtures::rng("c"))
            .unwrap()
            .public_key_spki_der()
            .unwrap();
        let der = ca
            .issue_at(
                &spki,
                &Profile::end_entity("CN={key}"),
                &Serial::from_u64(2).unwrap(),
                NOW,
            )
            .unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        assert_eq!(
            cert.tbs_certificate().subject().to_string(),
            format!("CN={}", kind.label())
        );
    }
    // Not an SPKI at all.
    assert!(matches!(
        ca.issue_at(
            &[0x30, 0x00],
            &Profile::end_entity("CN=x"),
            &Serial::from_u64(3).unwrap(),
            NOW
        ),
        Err(CaError::SubjectKey(_))
    ));
}

#[test]
fn dates_from_2050_use_generalized_time() {
    let ca = fixtures::device_ca();
    let in_2060 = 2_840_140_800; // 2060-01-01T00:00:00Z
    let der = ca
        .issue(
            &p256_spki("late"),
            &Profile::device("CN=late"),
            &Serial::from_u64(1).unwrap(),
            NOW,
            in_2060,
        )
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let v = cert.tbs_certificate().validity();
    assert!(matches!(v.not_before, x509_cert::time::Time::UtcTime(_)));
    assert!(matches!(v.not_after, x509_cert::time::Time::GeneralTime(_)));
    assert_eq!(v.not_after.to_unix_duration().as_secs(), in_2060 as u64);
}

#[test]
fn issue_at_cuts_at_the_ca_not_after() {
    let ca = fixtures::device_ca();
    let der = ca
        .issue_at(
            &p256_spki("cut"),
            &Profile::device("CN=cut"),
            &Serial::from_u64(1).unwrap(),
            FIXTURE_NOT_AFTER - 5,
        )
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    assert_eq!(
        cert.tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs(),
        FIXTURE_NOT_AFTER as u64
    );
}

#[test]
fn profile_errors_are_typed() {
    let ca = fixtures::device_ca();
    let spki = p256_spki("err");
    let s = Serial::from_u64(1).unwrap();
    assert!(matches!(
        ca.issue_at(&spki, &Profile::device("CN={missing}"), &s, NOW),
        Err(CaError::Template(_))
    ));
    assert!(matches!(
        ca.issue_at(&spki, &Profile::device("NOPE=x"), &s, NOW),
        Err(CaError::Name { .. })
    ));
    assert!(matches!(
        ca.issue(&spki, &Profile::device("CN=x"), &s, NOW, NOW - 1),
        Err(CaError::Validity { .. })
    ));
    assert!(matches!(
        ca.issue(&spki, &Profile::device("CN=x"), &s, -5, NOW),
        Err(CaError::Validity { .. })
    ));
    // SERIALNUMBER must be a PrintableString.
    assert!(matches!(
        ca.issue_at(&spki, &Profile::device("SERIALNUMBER=a_b"), &s, NOW),
        Err(CaError::Name { .. })
    ));
    // A key that does not match the certificate.
    let other = SigningKey::generate(KeyKind::P256, &mut fixtures::rng("other")).unwrap();
    assert!(matches!(
        Ca::from_parts(other, ca.certificate_path().to_vec()),
        Err(CaError::Certificate(_))
    ));
    assert!(Ca::from_parts(ca.key().clone(), vec![]).is_err());
}

#[test]
fn serial_counter_feeds_issuance() {
    let ca = fixtures::issuer_ca();
    let mut counter = SerialCounter::new(100);
    let spki = p256_spki("cnt");
    let mut serials = Vec::new();
    for _ in 0..3 {
        let s = counter.next_serial().unwrap();
        let der = ca
            .issue_at(&spki, &Profile::end_entity("CN=c"), &s, NOW)
            .unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        serials.push(cert.tbs_certificate().serial_number().as_bytes().to_vec());
    }
    assert_eq!(serials, vec![vec![100], vec![101], vec![102]]);
}

#[test]
fn server_profile_example() {
    // A TLS server certificate for the issuer's HTTPS endpoint (EKU serverAuth).
    let ca = fixtures::issuer_ca();
    let profile = Profile {
        extended_key_usage: vec![EKU_SERVER_AUTH],
        ..Profile::end_entity("CN=localhost")
    };
    let der = ca
        .issue_at(
            &p256_spki("tls"),
            &profile,
            &Serial::from_u64(9).unwrap(),
            NOW,
        )
        .unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let eku = ExtendedKeyUsage::from_der(ext(&cert, OID_EXT_KEY_USAGE).unwrap().1).unwrap();
    assert_eq!(eku.0, vec![EKU_SERVER_AUTH]);
    assert_eq!(ca::key_label(&p256_spki("tls")), "P-256");
}
