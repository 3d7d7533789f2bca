//! The committed fixtures equal the generator output, and the loaders give working identities.
#![allow(clippy::unwrap_used)]

use airtight_pki::fixtures::{self, FIXTURE_NOT_AFTER, FIXTURE_NOT_BEFORE};
use airtight_pki::keys::{EcdsaEncoding, KeyKind, SignatureAlgorithm};
use airtight_pki::{DeviceIdentity, DeviceKeyKind, verify_path};
use der::Decode as _;
use x509_cert::Certificate;

#[test]
fn committed_fixtures_equal_generator_output() {
    let generated = fixtures::generate().unwrap();
    assert_eq!(generated.len(), fixtures::FILES.len());
    for ((name, contents), (fname, fcontents)) in generated.iter().zip(fixtures::FILES.iter()) {
        assert_eq!(name, fname);
        assert_eq!(
            contents, fcontents,
            "fixtures/{name} differs from the generator: run `cargo run -p airtight-pki --bin airtight-pki-fixtures`"
        );
    }
    // No stray files in the directory either.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = generated.iter().map(|(n, _)| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(on_disk, expected);
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(fixtures::generate().unwrap(), fixtures::generate().unwrap());
}

#[test]
fn loaders_give_the_documented_identities() {
    let p256 = fixtures::device_p256();
    assert_eq!(p256.signing_key.kind(), KeyKind::P256);
    assert_eq!(p256.certificate_path.len(), 2);
    let rsa = fixtures::device_rsa2048();
    assert_eq!(rsa.signing_key.kind(), KeyKind::RSA2048);
    assert_eq!(
        fixtures::device(DeviceKeyKind::P256).device_certificate(),
        p256.device_certificate()
    );
    assert_eq!(
        fixtures::device(DeviceKeyKind::Rsa2048).device_certificate(),
        rsa.device_certificate()
    );

    let ca = fixtures::device_ca();
    assert_eq!(
        ca.subject(),
        "CN=airtight Test Device CA,O=airtight test fixtures"
    );
    assert_eq!(p256.certificate_path[1], ca.certificate_der());
    assert_eq!(rsa.certificate_path[1], ca.certificate_der());
    assert_eq!(ca.not_after(), FIXTURE_NOT_AFTER);

    let issuer = fixtures::issuer_ca();
    assert_eq!(
        issuer.subject(),
        "CN=airtight Test Issuer CA,O=airtight test fixtures"
    );
    assert_eq!(issuer.certificate_path().len(), 2);
    assert_eq!(
        issuer.certificate_path()[1],
        fixtures::issuer_root_ca().certificate_der()
    );
    assert_eq!(fixtures::issuer_root_ca().key().kind(), KeyKind::P384);

    for dev in [&p256, &rsa] {
        let cert = Certificate::from_der(dev.device_certificate()).unwrap();
        let tbs = cert.tbs_certificate();
        let subject = tbs.subject().to_string();
        let label = dev.signing_key.kind().label();
        assert!(
            subject.starts_with(&format!(
                "CN=airtight Reference SKS ({label}),SERIALNUMBER="
            )),
            "{subject}"
        );
        // SERIALNUMBER carries the certificate serial in hex.
        let hex: String = tbs
            .serial_number()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert!(subject.ends_with(&hex));
        assert_eq!(
            tbs.validity().not_before.to_unix_duration().as_secs(),
            FIXTURE_NOT_BEFORE as u64
        );
    }
    // Both device certificates validate under the device anchor.
    for dev in [&p256, &rsa] {
        verify_path(
            &dev.certificate_path,
            &[fixtures::device_trust_anchor()],
            FIXTURE_NOT_BEFORE + 1,
        )
        .unwrap();
    }
}

#[test]
fn device_keys_sign_attestations() {
    // [CRY-ATT-006] RSA device: PKCS#1 v1.5 SHA-256, length of the modulus.
    let rsa = fixtures::device_rsa2048();
    let sig = rsa
        .signing_key
        .sign_raw(SignatureAlgorithm::RsaSha256, b"A")
        .unwrap();
    assert_eq!(sig.len(), 256);
    // [CRY-ATT-007] EC device: ECDSA SHA-256, raw r || s.
    let ec = fixtures::device_p256();
    let sig = ec
        .signing_key
        .sign_raw(SignatureAlgorithm::EcdsaSha256, b"A")
        .unwrap();
    assert_eq!(sig.len(), 64);
    let spki = airtight_pki::spki_of_certificate(ec.device_certificate()).unwrap();
    airtight_pki::PublicKey::from_spki_der(&spki)
        .unwrap()
        .verify_encoded(
            SignatureAlgorithm::EcdsaSha256,
            b"A",
            &sig,
            EcdsaEncoding::Raw,
        )
        .unwrap();
}

#[test]
fn generated_devices_are_reproducible_and_chain() {
    let now = 1_795_305_600;
    for kind in [DeviceKeyKind::P256, DeviceKeyKind::Rsa2048] {
        let a = DeviceIdentity::generate(kind, &mut fixtures::rng("gen"), now).unwrap();
        let b = DeviceIdentity::generate(kind, &mut fixtures::rng("gen"), now).unwrap();
        assert_eq!(a.certificate_path, b.certificate_path);
        assert_eq!(
            *a.signing_key.to_pkcs8_der().unwrap(),
            *b.signing_key.to_pkcs8_der().unwrap()
        );
        let c = DeviceIdentity::generate(kind, &mut fixtures::rng("other"), now).unwrap();
        assert_ne!(a.certificate_path[0], c.certificate_path[0]);
        verify_path(&a.certificate_path, &[fixtures::device_trust_anchor()], now).unwrap();
        // Cut at the CA's notAfter.
        let late =
            DeviceIdentity::generate(kind, &mut fixtures::rng("late"), FIXTURE_NOT_AFTER - 10)
                .unwrap();
        let v = verify_path(
            &late.certificate_path,
            &[fixtures::device_trust_anchor()],
            FIXTURE_NOT_AFTER,
        )
        .unwrap();
        assert_eq!(v.leaf_not_after, FIXTURE_NOT_AFTER);
        // PEM round trip.
        let (k, c) = a.to_pem().unwrap();
        let back = DeviceIdentity::from_pem(&k, &c).unwrap();
        assert_eq!(back.certificate_path, a.certificate_path);
    }
}

#[test]
fn from_pem_refuses_a_foreign_key() {
    let p256 = fixtures::FILES
        .iter()
        .find(|f| f.0 == "device-p256.key.pem")
        .unwrap()
        .1;
    let rsa_chain = fixtures::FILES
        .iter()
        .find(|f| f.0 == "device-rsa2048.chain.pem")
        .unwrap()
        .1;
    assert!(DeviceIdentity::from_pem(p256, rsa_chain).is_err());
    assert!(DeviceIdentity::from_pem(p256, "").is_err());
}

#[test]
fn tls_server_fixture_names_loopback_and_chains_to_the_issuer_root() {
    use der::Encode as _;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
    let (key, path) = fixtures::tls_server();
    // The generator gives the same identity from its seed label.
    let (key2, path2) = fixtures::tls_server_labelled("tls-server");
    assert_eq!(path, path2);
    assert_eq!(
        key.public_key_spki_der().unwrap(),
        key2.public_key_spki_der().unwrap()
    );
    assert_eq!(path.len(), 3);
    let cert = Certificate::from_der(&path[0]).unwrap();
    assert_eq!(
        cert.tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap(),
        key.public_key_spki_der().unwrap()
    );
    let exts = cert.tbs_certificate().extensions().unwrap();
    let find = |oid: &str| {
        exts.iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
            .unwrap()
    };
    // subjectAltName 2.5.29.17: localhost, 127.0.0.1, ::1 (what TLS clients match).
    let san = SubjectAltName::from_der(&find("2.5.29.17")).unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in san.0 {
        match n {
            GeneralName::DnsName(d) => dns.push(d.to_string()),
            GeneralName::IpAddress(o) => ips.push(o.as_bytes().to_vec()),
            other => panic!("unexpected name {other:?}"),
        }
    }
    assert_eq!(dns, ["localhost"]);
    let mut v6 = vec![0u8; 16];
    v6[15] = 1;
    assert_eq!(ips, [vec![127, 0, 0, 1], v6]);
    // extKeyUsage 2.5.29.37: serverAuth 1.3.6.1.5.5.7.3.1.
    let eku = ExtendedKeyUsage::from_der(&find("2.5.29.37")).unwrap();
    assert_eq!(eku.0.len(), 1);
    assert_eq!(eku.0[0].to_string(), "1.3.6.1.5.5.7.3.1");
    assert!(
        verify_path(
            &path,
            &[fixtures::issuer_trust_anchor()],
            FIXTURE_NOT_BEFORE + 1
        )
        .is_ok()
    );
}
