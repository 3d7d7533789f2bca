//! The Java implementation's device certificates (recorded sessions, message 04): parsed, not
//! validated. The extracted public keys are checked independently: they must verify the session
//! attestations the Java SKS produced over the recorded attestation input.
#![allow(clippy::unwrap_used)]

use airtight_pki::keys::{EcdsaEncoding, KeyKind, PublicKey, SignatureAlgorithm};
use airtight_pki::lenient::certificate_parts;
use airtight_pki::path::parse_certificate_spki;
use airtight_pki::{AnchorOptions, PathError, TrustAnchor, spki_of_certificate, verify_path};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use der::Decode as _;

const RECORDED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/interop/recorded"
);

fn b64u(s: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(s).unwrap()
}

struct Sample {
    path: Vec<Vec<u8>>,
    attestation: Vec<u8>,
    attestation_input: Vec<u8>,
}

fn sample(dir: &str) -> Sample {
    let msg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{RECORDED}/{dir}/04-ProvisioningInitializationResponse.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{RECORDED}/{dir}/secrets.json")).unwrap(),
    )
    .unwrap();
    let path = msg["deviceId"]["certificatePath"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| b64u(c.as_str().unwrap()))
        .collect();
    Sample {
        path,
        attestation: b64u(msg["attestation"].as_str().unwrap()),
        attestation_input: b64u(secrets["sessionAttestationInput"].as_str().unwrap()),
    }
}

#[test]
fn rsa_1024_sha1_device_certificate() {
    let s = sample("e2es-rsa-device");
    assert_eq!(s.path.len(), 1);
    let cert = &s.path[0];
    // x509-cert parses it.
    let parsed = x509_cert::Certificate::from_der(cert).unwrap();
    assert_eq!(
        parsed.tbs_certificate().subject().to_string(),
        "CN=TPM Endorsement Key,SERIALNUMBER=SSS/05677553333/A.2"
    );
    assert_eq!(
        SignatureAlgorithm::from_oid(&parsed.signature_algorithm().oid),
        Some(SignatureAlgorithm::RsaSha1)
    );
    // The lenient walk and the strict parse agree on the key.
    let spki = spki_of_certificate(cert).unwrap();
    assert_eq!(parse_certificate_spki(cert).unwrap(), spki);
    let key = PublicKey::from_spki_der(&spki).unwrap();
    assert_eq!(key.kind(), KeyKind::Rsa { bits: 1024 });
    // Independent check: the key verifies the Java SKS's session attestation ([CRY-ATT-006]).
    key.verify(
        SignatureAlgorithm::RsaSha256,
        &s.attestation_input,
        &s.attestation,
    )
    .unwrap();
    // Validation: the issuing "TPM CA" is unknown to us.
    assert_eq!(
        verify_path(
            &s.path,
            &[airtight_pki::fixtures::device_trust_anchor()],
            1_795_305_600
        ),
        Err(PathError::UnknownIssuer)
    );
}

#[test]
fn ec_device_certificate_with_null_parameters() {
    let s = sample("e2es-ec-device");
    assert_eq!(s.path.len(), 1);
    let cert = &s.path[0];
    let parts = certificate_parts(cert).unwrap();
    // The signature AlgorithmIdentifier is ecdsa-with-SHA256 followed by an explicit NULL.
    assert_eq!(
        parts.signature_algorithm,
        [
            0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00
        ]
    );
    let spki = spki_of_certificate(cert).unwrap();
    // [CRY-SPK-002] a P-256 SPKI.
    assert_eq!(spki.len(), 91);
    assert_eq!(parse_certificate_spki(cert).unwrap(), spki);
    let key = PublicKey::from_spki_der(&spki).unwrap();
    assert_eq!(key.kind(), KeyKind::P256);
    // Independent check: the key verifies the Java SKS's attestation, raw r || s ([CRY-ATT-007]).
    key.verify_encoded(
        SignatureAlgorithm::EcdsaSha256,
        &s.attestation_input,
        &s.attestation,
        EcdsaEncoding::Raw,
    )
    .unwrap();
    // It is self-signed: its own key verifies its signature over the TBS bytes.
    let sig = &parts.signature_bits[1..];
    key.verify(SignatureAlgorithm::EcdsaSha256, parts.tbs, sig)
        .unwrap();

    // Validation with itself as anchor: refused by default (NULL parameters, expired in 2021),
    // accepted with the legacy options of [KG2-IMP-004].
    let anchor = TrustAnchor::from_certificate_der(cert).unwrap();
    let now = 1_795_305_600;
    assert!(matches!(
        verify_path(&s.path, std::slice::from_ref(&anchor), now),
        Err(PathError::Malformed { index: 0, .. })
    ));
    let only_params = anchor.clone().with_options(AnchorOptions {
        allow_ecdsa_null_parameters: true,
        ..AnchorOptions::default()
    });
    assert_eq!(
        verify_path(&s.path, &[only_params], now),
        Err(PathError::Expired { index: 0 })
    );
    let legacy = anchor.with_options(AnchorOptions::LEGACY);
    let v = verify_path(&s.path, &[legacy], now).unwrap();
    assert_eq!(v.leaf_subject, "CN=My Little Token");
    assert_eq!(v.leaf_spki_der, spki);
}

#[test]
fn every_recorded_device_path_yields_a_key() {
    let mut seen = 0;
    for entry in std::fs::read_dir(RECORDED).unwrap() {
        let dir = entry.unwrap().path();
        let f = dir.join("04-ProvisioningInitializationResponse.json");
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
        let Some(path) = msg["deviceId"]["certificatePath"].as_array() else {
            continue;
        };
        for c in path {
            let der = b64u(c.as_str().unwrap());
            let spki = spki_of_certificate(&der).unwrap();
            PublicKey::from_spki_der(&spki).unwrap();
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected the recorded device certificates, saw {seen}"
    );
}
