//! Issue 4's "Done when" list: every tampered middleware response is rejected with its own
//! error, the session is marked failed, and nothing is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::policy::KeyPolicy;
use airtight_issuer::{IssuerError, Phase, Policy, StartRequest};
use airtight_proto::codec::b64url;
use airtight_testkit::driver::{Driver, Party, StepOutcome};
use common::e2e::{NOW, driver, edit, issuer, run, step_until};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

/// Index of each middleware message in `run`'s tamper hook.
const INV: usize = 0;
const INIT: usize = 1;
const KEYS: usize = 2;
const FIN: usize = 3;

fn two_keys() -> Policy {
    let mut p = Policy::default();
    p.key.push(KeyPolicy {
        id: "Key.2".into(),
        ..KeyPolicy::default()
    });
    p
}

/// Runs a session with `tamper` applied to middleware message `at` and returns the error.
fn rejected(policy: Policy, at: usize, tamper: impl Fn(&mut Value)) -> IssuerError {
    rejected_with(issuer(policy), at, tamper)
}

fn rejected_with(
    iss: airtight_issuer::Issuer,
    at: usize,
    tamper: impl Fn(&mut Value),
) -> IssuerError {
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(11),
        "1357\n1357",
        11,
        NOW,
        StartRequest::default(),
        |i, b| if i == at { edit(&b, &tamper) } else { b },
    );
    assert_eq!(r.state.phase, Phase::Failed);
    assert!(r.state.failure.is_some());
    assert!(r.state.secrets.session_key.is_empty(), "secrets wiped");
    r.result
        .expect_err("the tampered session must not be recorded")
}

fn flip_b64(v: &mut Value) {
    let mut b = b64url::decode(v.as_str().unwrap()).unwrap();
    b[0] ^= 1;
    *v = Value::String(b64url::encode(&b));
}

#[test]
fn wrong_session_attestation() {
    // [CRY-ATT-005]
    let e = rejected(Policy::default(), INIT, |v| flip_b64(&mut v["attestation"]));
    assert_eq!(e, IssuerError::SessionAttestation);
    let e = rejected(
        Policy {
            privacy_enabled: true,
            ..Policy::default()
        },
        INIT,
        |v| flip_b64(&mut v["attestation"]),
    );
    assert_eq!(e, IssuerError::SessionAttestation);
}

#[test]
fn wrong_key_attestation() {
    // [KG2-KCR-003]
    let e = rejected(Policy::default(), KEYS, |v| {
        flip_b64(&mut v["generatedKeys"][0]["attestation"])
    });
    assert_eq!(e, IssuerError::KeyAttestation { id: "Key.1".into() });
}

#[test]
fn substituted_public_key() {
    // A valid P-256 key of the proxy's choosing instead of the card's: the attestation covers
    // the public key, so it fails.
    let other = airtight_proto::keys::PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P256,
        &mut ChaCha20Rng::seed_from_u64(5),
    )
    .public_key()
    .to_jwk()
    .to_json();
    let e = rejected(Policy::default(), KEYS, |v| {
        v["generatedKeys"][0]["publicKey"] = other.clone();
    });
    assert_eq!(e, IssuerError::KeyAttestation { id: "Key.1".into() });
}

#[test]
fn wrong_key_type() {
    // [KG2-KCR-002] an RSA key where P-256 was requested.
    let rsa = serde_json::json!({"kty": "RSA", "n": b64url::encode(&[0xc1; 128]), "e": "AQAB"});
    let e = rejected(Policy::default(), KEYS, |v| {
        v["generatedKeys"][0]["publicKey"] = rsa.clone();
    });
    assert!(matches!(e, IssuerError::KeyType { .. }), "{e}");
}

#[test]
fn device_id_removed_when_e2es_requested() {
    // [KG2-IMP-001] no downgrade to privacy mode.
    let e = rejected(Policy::default(), INIT, |v| {
        v.as_object_mut().unwrap().remove("deviceId");
    });
    assert_eq!(e, IssuerError::DeviceIdMissing);
}

#[test]
fn device_id_added_in_privacy_mode() {
    // [KG2-IMP-001]
    let cert = b64url::encode(airtight_pki::fixtures::device_p256().device_certificate());
    let e = rejected(
        Policy {
            privacy_enabled: true,
            ..Policy::default()
        },
        INIT,
        |v| {
            v["deviceId"] = serde_json::json!({"certificatePath": [cert]});
        },
    );
    assert_eq!(e, IssuerError::DeviceIdInPrivacyMode);
}

#[test]
fn chain_from_an_unknown_root() {
    // [KG2-IMP-002] the issuer trusts another root (its own issuer root, not the device CA).
    let mut iss = issuer(Policy::default());
    iss.device_anchors = vec![airtight_pki::fixtures::issuer_trust_anchor()];
    let e = rejected_with(iss, usize::MAX, |_| {});
    assert!(matches!(e, IssuerError::DeviceUntrusted(_)), "{e}");
    // And no anchors at all.
    let mut iss = issuer(Policy::default());
    iss.device_anchors.clear();
    let e = rejected_with(iss, usize::MAX, |_| {});
    assert!(matches!(e, IssuerError::DeviceUntrusted(_)), "{e}");
}

#[test]
fn expected_device_id_mismatch() {
    // [KG2-IMP-003]
    let iss = issuer(Policy::default());
    let other = airtight_proto::session1::device_id_string(
        airtight_pki::fixtures::device_rsa2048().device_certificate(),
        true,
    );
    let r = run(
        &iss,
        ReferenceSks::in_memory_for_tests(12),
        "1357",
        12,
        NOW,
        StartRequest {
            expected_device_id: Some(other),
            ..StartRequest::default()
        },
        |_, b| b,
    );
    assert!(matches!(
        r.result,
        Err(IssuerError::DeviceIdMismatch { .. })
    ));
    // The right one (long and short forms) passes.
    let own = airtight_pki::fixtures::device_p256();
    for long in [true, false] {
        let r = run(
            &iss,
            ReferenceSks::in_memory_for_tests(12),
            "1357",
            12,
            NOW,
            StartRequest {
                expected_device_id: Some(airtight_proto::session1::device_id_string(
                    own.device_certificate(),
                    long,
                )),
                ..StartRequest::default()
            },
            |_, b| b,
        );
        r.result.unwrap();
    }
}

#[test]
fn wrong_server_time_echo() {
    // [KG2-IMP-007] the same instant written differently never reaches the comparison: the
    // strict decoder already refuses any serverTime form but `YYYY-MM-DDThh:mm:ssZ`.
    let e = rejected(Policy::default(), INIT, |v| {
        let t = v["serverTime"].as_str().unwrap().replace('Z', ".000Z");
        v["serverTime"] = Value::String(t);
    });
    assert!(matches!(e, IssuerError::Decode(_)), "{e}");
    // Another instant.
    let e = rejected(Policy::default(), INIT, |v| {
        let t = v["serverTime"].as_str().unwrap().replace(":00Z", ":01Z");
        v["serverTime"] = Value::String(t);
    });
    assert!(matches!(e, IssuerError::ServerTimeEcho { .. }), "{e}");
}

#[test]
fn client_time_outside_the_window() {
    // [KG2-IMP-005] the middleware's clock is an hour off.
    let e = rejected(Policy::default(), INIT, |v| {
        v["clientTime"] = Value::String("2025-12-31T23:00:00+00:00".into());
    });
    assert!(matches!(e, IssuerError::ClientTimeSkew { .. }), "{e}");
}

#[test]
fn reordered_and_missing_keys() {
    // [KG2-KCR-001]
    let e = rejected(two_keys(), KEYS, |v| {
        v["generatedKeys"].as_array_mut().unwrap().swap(0, 1);
    });
    assert!(matches!(e, IssuerError::KeyOrder(_)), "{e}");
    let e = rejected(two_keys(), KEYS, |v| {
        v["generatedKeys"].as_array_mut().unwrap().pop();
    });
    assert!(matches!(e, IssuerError::KeyOrder(_)), "{e}");
    let e = rejected(two_keys(), KEYS, |v| {
        let k = v["generatedKeys"][0].clone();
        v["generatedKeys"].as_array_mut().unwrap().push(k);
    });
    assert!(matches!(e, IssuerError::KeyOrder(_)), "{e}");
}

#[test]
fn wrong_close_attestation() {
    // [KG2-ISS-003]
    let e = rejected(Policy::default(), FIN, |v| flip_b64(&mut v["attestation"]));
    assert_eq!(e, IssuerError::CloseAttestation);
}

#[test]
fn capability_answers_must_match_the_query() {
    // [KG2-IRS-004]
    let p = Policy {
        capability_query: vec!["https://webpki.github.io/sks/algorithm#ec.nist.p256".into()],
        ..Policy::default()
    };
    let e = rejected(p.clone(), INV, |v| {
        v.as_object_mut().unwrap().remove("clientCapabilities");
    });
    assert!(matches!(e, IssuerError::Capabilities(_)), "{e}");
    let e = rejected(p, INV, |v| {
        v["clientCapabilities"][0]["type"] =
            Value::String("https://webpki.github.io/sks/algorithm#ec.nist.p384".into());
    });
    assert!(matches!(e, IssuerError::Capabilities(_)), "{e}");
}

/// Drives two sessions side by side (two drivers) and feeds a message of one to the other.
#[test]
fn response_replayed_from_another_session() {
    // [KG2-FLW-002] / [KG2-ISS-006]
    let iss = issuer(Policy::default());
    let mut a = driver(&iss, ReferenceSks::in_memory_for_tests(1), "1357", 1);
    let mut b = driver(&iss, ReferenceSks::in_memory_for_tests(2), "1357", 2);
    let resp_a = step_until(&mut a, "InvocationResponse");
    // B's own InvocationRequest is lost; A's InvocationResponse reaches B's issuer.
    b.drop_next();
    b.inject(Party::Issuer, resp_a.clone());
    let refused = |d: &mut Driver| {
        let t = d.step();
        assert!(
            matches!(t.outcome, StepOutcome::IssuerRefused(_)),
            "{:?}",
            t.outcome
        );
        d.last_issuer_error().unwrap().clone()
    };
    let e = refused(&mut b);
    assert!(
        matches!(e, IssuerError::ServerSessionIdMismatch { .. }),
        "{e}"
    );
    assert!(b.issuer_state().unwrap().is_failed());
    // A failed session accepts nothing more.
    b.inject(Party::Issuer, resp_a.clone());
    assert_eq!(refused(&mut b), IssuerError::SessionClosed("failed"));
    // Session A itself goes on; replaying its InvocationResponse a second time is refused.
    assert_eq!(a.step().outcome, StepOutcome::Continue);
    a.inject(Party::Issuer, resp_a);
    let e = refused(&mut a);
    assert!(matches!(e, IssuerError::UnexpectedMessage { .. }), "{e}");
}

#[test]
fn initialization_response_replayed_into_another_session() {
    // Both sessions reach the initialization step; A's ProvisioningInitializationResponse is
    // given to B (its serverSessionId names A).
    let iss = issuer(Policy::default());
    let up_to_init = |seed: u64| {
        let mut d = driver(&iss, ReferenceSks::in_memory_for_tests(seed), "1357", seed);
        let init = step_until(&mut d, "ProvisioningInitializationResponse");
        (d, init)
    };
    let refused = |d: &mut Driver, body: Vec<u8>| {
        d.inject(Party::Issuer, body);
        let t = d.step();
        assert!(
            matches!(t.outcome, StepOutcome::IssuerRefused(_)),
            "{:?}",
            t.outcome
        );
        d.last_issuer_error().unwrap().clone()
    };
    let (_a, init_a) = up_to_init(1);
    let (mut b, _init_b) = up_to_init(2);
    let e = refused(&mut b, init_a.clone());
    assert!(
        matches!(e, IssuerError::ServerSessionIdMismatch { .. }),
        "{e}"
    );
    // Rewriting the serverSessionId does not help: the attestation binds it.
    let (mut c, _) = up_to_init(3);
    let ssid = c.issuer_state().unwrap().server_session_id.clone();
    let forged = edit(&init_a, |v| v["serverSessionId"] = Value::String(ssid));
    let e = refused(&mut c, forged);
    assert!(
        matches!(
            e,
            IssuerError::SessionAttestation | IssuerError::ServerTimeEcho { .. }
        ),
        "{e}"
    );
}

#[test]
fn oversized_body() {
    // [KG2-IMP-009] refused before parsing.
    let mut p = Policy::default();
    p.session.max_body_bytes = 64;
    let iss = issuer(p);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut st, _) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let e = iss.handle(&mut st, &[b' '; 65], &mut rng, NOW).unwrap_err();
    assert_eq!(
        e,
        IssuerError::BodyTooLarge {
            size: 65,
            limit: 64
        }
    );
    assert!(st.is_failed());
}

#[test]
fn session_lifetime() {
    // [KG2-IMP-006] the initialization response arrives after serverTime + sessionLifeTime.
    let iss = issuer(Policy::default());
    let mut d = driver(&iss, ReferenceSks::in_memory_for_tests(4), "1357", 4);
    step_until(&mut d, "ProvisioningInitializationResponse");
    d.advance(3601);
    let t = d.step();
    assert!(
        matches!(t.outcome, StepOutcome::IssuerRefused(_)),
        "{:?}",
        t.outcome
    );
    let e = d.last_issuer_error().unwrap();
    assert!(matches!(e, IssuerError::SessionExpired { .. }), "{e}");
}

#[test]
fn message_out_of_order_and_garbage() {
    // [KG2-FLW-001]
    let iss = issuer(Policy::default());
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (mut st, m) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let e = iss
        .handle(&mut st, &m.to_bytes(), &mut rng, NOW)
        .unwrap_err();
    assert!(matches!(e, IssuerError::UnexpectedMessage { .. }), "{e}");
    let (mut st, _) = iss.start(StartRequest::default(), &mut rng, NOW).unwrap();
    let e = iss
        .handle(&mut st, b"{not json", &mut rng, NOW)
        .unwrap_err();
    assert!(matches!(e, IssuerError::Decode(_)), "{e}");
}

#[test]
fn every_error_names_its_rule() {
    for e in [
        IssuerError::SessionAttestation,
        IssuerError::DeviceIdMissing,
        IssuerError::CloseAttestation,
        IssuerError::BodyTooLarge { size: 2, limit: 1 },
    ] {
        let rule = e.rule().unwrap();
        assert!(e.to_string().contains(rule), "{e}");
    }
}
