//! Issuer-engine MUST rules that had no citing test: the server ephemeral key, the client
//! ephemeral key's curve, the enrolled device ID, the certificate-key check and the encoding of
//! property `writable`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::policy::{PropertyBagPolicy, PropertyPolicy};
use airtight_issuer::{IssuerError, Next, Phase, Policy, RngEntropy, SessionState, StartRequest};
use airtight_proto::codec::b64url;
use airtight_proto::keys::{Curve, PrivateKey, PublicKey};
use airtight_proto::messages::Message;
use common::e2e::{NOW, driver, edit, issuer, run, step_until};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

/// Starts a session on the shared driver and answers the InvocationRequest; returns the
/// state right after the issuer built its ProvisioningInitializationRequest, and that request.
fn up_to_initialization(iss: &airtight_issuer::Issuer, seed: u64) -> (SessionState, Message) {
    let mut d = driver(iss, ReferenceSks::in_memory_for_tests(seed), "1357", seed);
    let req = step_until(&mut d, "ProvisioningInitializationRequest");
    (
        d.issuer_state().unwrap().clone(),
        Message::decode(&req).unwrap(),
    )
}

#[test]
fn fresh_server_ephemeral_key_on_the_configured_curve() {
    // [CRY-KDF-001] one fresh key pair per session, on the configured curve, whose public key
    // is the serverEphemeralKey of the request.
    for (name, curve) in [
        ("P-256", Curve::P256),
        ("P-384", Curve::P384),
        ("P-521", Curve::P521),
    ] {
        let mut p = Policy::default();
        p.session.ephemeral_curve = name.into();
        let iss = issuer(p);
        let mut sent = Vec::new();
        for seed in [31, 32] {
            let (st, m) = up_to_initialization(&iss, seed);
            let Message::ProvisioningInitializationRequest(req) = m else {
                panic!("not an initialization request")
            };
            let private = PrivateKey::from_pkcs8_der(&st.secrets.ephemeral_pkcs8).unwrap();
            assert_eq!(private.public_key().curve(), Some(curve), "{name}");
            let public = PublicKey::from_jwk(&req.server_ephemeral_key).unwrap();
            assert_eq!(public.curve(), Some(curve), "{name}");
            assert_eq!(
                public.to_spki_der().unwrap(),
                private.public_key().to_spki_der().unwrap(),
                "serverEphemeralKey is the session's own key ({name})"
            );
            sent.push(req.server_ephemeral_key.to_json());
        }
        assert_ne!(sent[0], sent[1], "a fresh key per session ({name})");
    }
}

fn rejected_at_init(tamper: impl Fn(&mut Value)) -> IssuerError {
    let iss = issuer(Policy::default());
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(33),
        "1357",
        33,
        NOW,
        StartRequest::default(),
        |i, b| if i == 1 { edit(&b, &tamper) } else { b },
    );
    assert_eq!(r.state.phase, Phase::Failed);
    r.result.expect_err("the session must fail")
}

#[test]
fn client_ephemeral_key_on_another_curve_or_off_the_curve() {
    // [KG2-PIR-003] a valid P-384 point where the server key is on P-256.
    let p384 = PrivateKey::generate_ec(Curve::P384, &mut ChaCha20Rng::seed_from_u64(34))
        .public_key()
        .to_jwk()
        .to_json();
    let e = rejected_at_init(|v| v["clientEphemeralKey"] = p384.clone());
    assert!(matches!(e, IssuerError::ClientEphemeralKey(_)), "{e}");
    // The card's own P-256 point with y changed: not on the curve.
    let e = rejected_at_init(|v| {
        let mut y = b64url::decode(v["clientEphemeralKey"]["y"].as_str().unwrap()).unwrap();
        let last = y.len() - 1;
        y[last] ^= 1;
        v["clientEphemeralKey"]["y"] = Value::String(b64url::encode(&y));
    });
    assert!(matches!(e, IssuerError::ClientEphemeralKey(_)), "{e}");
    // Untampered, the same session succeeds.
    let iss = issuer(Policy::default());
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(33),
        "1357",
        33,
        NOW,
        StartRequest::default(),
        |_, b| b,
    );
    r.result.unwrap();
}

#[test]
fn enrolled_device_id_is_recomputed_from_the_attested_certificate() {
    // [CRY-DID-009] / [KG2-IMP-003] the user enrolled with the P-256 test device; the proxy
    // sends the (valid, trusted) path of another device instead. The issuer recomputes the ID
    // from the certificate it got and refuses, before anything else is checked.
    let own = airtight_pki::fixtures::device_p256();
    let enrolled = airtight_proto::session1::device_id_string(own.device_certificate(), true);
    let other = airtight_pki::fixtures::device_rsa2048();
    let path: Vec<Value> = other
        .certificate_path
        .iter()
        .map(|c| Value::String(b64url::encode(c)))
        .collect();
    let iss = issuer(Policy::default());
    let start = StartRequest {
        expected_device_id: Some(enrolled.clone()),
        ..StartRequest::default()
    };
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(35),
        "1357",
        35,
        NOW,
        start.clone(),
        |i, b| {
            if i == 1 {
                edit(&b, |v| {
                    v["deviceId"] = serde_json::json!({ "certificatePath": path.clone() })
                })
            } else {
                b
            }
        },
    );
    match r.result {
        Err(IssuerError::DeviceIdMismatch { expected, actual }) => {
            assert_eq!(expected, enrolled);
            assert_eq!(
                actual,
                airtight_proto::session1::device_id_string(other.device_certificate(), true)
            );
        }
        other => panic!("expected a device ID mismatch, got {other:?}"),
    }
    // The genuine device passes with the same enrolled ID.
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(35),
        "1357",
        35,
        NOW,
        start,
        |_, b| b,
    );
    r.result.unwrap();
}

#[test]
fn certificate_must_carry_the_generated_public_key() {
    // [KG2-ISS-008] the issuer's own finalization request certifies the attested key (adopting
    // it passes); the same request with another key's certificate is refused.
    let iss = issuer(Policy::default());
    let mut d = driver(&iss, ReferenceSks::in_memory_for_tests(36), "1357", 36);
    let kc_resp = step_until(&mut d, "KeyCreationResponse");
    let mut st = d.issuer_state().unwrap().clone();
    let mut rng = ChaCha20Rng::seed_from_u64(36);
    let mut copy = st.clone();
    let Next::Request(Message::ProvisioningFinalizationRequest(own)) =
        iss.handle(&mut copy, &kc_resp, &mut rng, NOW).unwrap()
    else {
        panic!("no finalization request")
    };

    let mut ok = st.clone();
    iss.handle_adopting(
        &mut ok,
        &kc_resp,
        Some(&Message::ProvisioningFinalizationRequest(own.clone())),
        &mut RngEntropy(&mut rng),
        NOW,
    )
    .expect("the issuer's own request is accepted");

    let mut bad = own;
    bad.issued_credentials[0].certificate_path[0] = airtight_pki::fixtures::device_p256()
        .device_certificate()
        .to_vec();
    let e = iss
        .handle_adopting(
            &mut st,
            &kc_resp,
            Some(&Message::ProvisioningFinalizationRequest(bad)),
            &mut RngEntropy(&mut rng),
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        e,
        IssuerError::CertificateKeyMismatch { id: "Key.1".into() }
    );
    assert_eq!(st.phase, Phase::Failed);
}

#[test]
fn writable_is_omitted_when_false() {
    // [KG2-PFQ-008]
    let mut p = Policy::default();
    p.key[0].property_bags.push(PropertyBagPolicy {
        bag_type: "http://example.com/bag".into(),
        properties: vec![
            PropertyPolicy {
                name: "fixed".into(),
                value: "a".into(),
                writable: false,
            },
            PropertyPolicy {
                name: "open".into(),
                value: "b".into(),
                writable: true,
            },
        ],
    });
    let iss = issuer(p);
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(37),
        "1357",
        37,
        NOW,
        StartRequest::default(),
        |_, b| b,
    );
    r.result.unwrap();
    let fin: Value = r
        .transcript
        .iter()
        .map(|b| serde_json::from_slice::<Value>(b).unwrap())
        .find(|v| v["@qualifier"] == "ProvisioningFinalizationRequest")
        .unwrap();
    let props = fin["issuedCredentials"][0]["propertyBags"][0]["properties"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(props.len(), 2);
    assert_eq!(props[0]["name"], "fixed");
    assert!(props[0].get("writable").is_none(), "{}", props[0]);
    assert_eq!(props[1]["name"], "open");
    assert_eq!(props[1]["writable"], Value::Bool(true));
}
