//! End to end in process: the issuer engine <-> the middleware engine (`airtight-client`) <->
//! the reference card (`airtight-card`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use airtight_card::ReferenceSks;
use airtight_issuer::Policy;
use airtight_proto::keys::PublicKey;
use airtight_proto::sks::{KeyHandle, SecureKeyStore};
use common::e2e::{issuer, run_clean};
use der::Decode as _;

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

use airtight_issuer::policy::{
    ExtensionPolicy, KeyPolicy, LogotypePolicy, PinPolicy, PropertyBagPolicy, PropertyPolicy,
    PukPolicy,
};
use airtight_proto::codec::b64url;

const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
const P384: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p384";
const RSA1024_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa1024.exp";
const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";

fn key(id: &str, alg: &str, pin: Option<&str>) -> KeyPolicy {
    KeyPolicy {
        id: id.into(),
        algorithm: alg.into(),
        pin: pin.map(Into::into),
        ..KeyPolicy::default()
    }
}

/// Two PUKs, PIN policies under each and one without PUK, a preset PIN, patterns, grouping,
/// an RSA key with an explicit exponent, imports, extensions, a property bag and a logotype.
fn rich_policy() -> Policy {
    let b = b64url::encode;
    Policy {
        capability_query: vec![
            P256.into(),
            "https://webpki.github.io/keygen2/feature#biometric-support".into(),
            "https://webpki.github.io/keygen2/logotype#card".into(),
        ],
        preferred_languages: vec!["en".into(), "sv".into()],
        target_key_containers: vec!["embedded".into()],
        puk: vec![
            PukPolicy {
                id: "PUK.1".into(),
                value: "01234567".into(),
                ..PukPolicy::default()
            },
            PukPolicy {
                id: "PUK.2".into(),
                value: "76543210".into(),
                format: "numeric".into(),
                retry_limit: 5,
            },
        ],
        pin: vec![
            PinPolicy {
                id: "PIN.1".into(),
                puk: Some("PUK.1".into()),
                patterns: vec!["three-in-a-row".into(), "sequence".into()],
                ..PinPolicy::default()
            },
            PinPolicy {
                id: "PIN.2".into(),
                puk: Some("PUK.2".into()),
                preset_value: Some("2468".into()),
                user_modifiable: false,
                ..PinPolicy::default()
            },
            PinPolicy {
                id: "PIN.3".into(),
                grouping: "signature+standard".into(),
                input_method: "programmatic".into(),
                ..PinPolicy::default()
            },
        ],
        key: vec![
            KeyPolicy {
                friendly_name: Some("login".into()),
                extensions: vec![ExtensionPolicy {
                    extension_type: "https://example.com/ext".into(),
                    data: b(b"plain extension"),
                }],
                encrypted_extensions: vec![ExtensionPolicy {
                    extension_type: "https://example.com/secret".into(),
                    data: b(b"secret extension"),
                }],
                property_bags: vec![PropertyBagPolicy {
                    bag_type: "https://example.com/props".into(),
                    properties: vec![
                        PropertyPolicy {
                            name: "user".into(),
                            value: "john".into(),
                            writable: true,
                        },
                        PropertyPolicy {
                            name: "server".into(),
                            value: "example.com".into(),
                            writable: false,
                        },
                    ],
                }],
                logotypes: vec![LogotypePolicy {
                    logotype_type: "https://webpki.github.io/keygen2/logotype#card".into(),
                    mime_type: "image/png".into(),
                    data: b(b"\x89PNG not really"),
                }],
                ..key("Key.1", P256, Some("PIN.1"))
            },
            KeyPolicy {
                rsa_exponent: Some(3),
                app_usage: "signature".into(),
                ..key("Key.2", RSA1024_EXP, Some("PIN.2"))
            },
            KeyPolicy {
                app_usage: "signature".into(),
                server_seed: Some(b(&[7u8; 64])),
                ..key("Key.3", P384, Some("PIN.3"))
            },
            KeyPolicy {
                app_usage: "encryption".into(),
                ..key("Key.4", P256, Some("PIN.3"))
            },
            KeyPolicy {
                import_symmetric_key: Some(b(&[0x42; 32])),
                endorsed_algorithms: vec![HMAC_SHA256.into()],
                export_protection: "none".into(),
                ..key("Key.5", P256, None)
            },
            KeyPolicy {
                import_private_key: Some(b(&imported_pkcs8())),
                ..key("Key.6", P256, None)
            },
        ],
        ..Policy::default()
    }
}

fn imported_pkcs8() -> Vec<u8> {
    use rand_core::SeedableRng;
    let k = airtight_proto::keys::PrivateKey::generate_ec(
        airtight_proto::keys::Curve::P256,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(99),
    );
    k.to_pkcs8_der().unwrap().to_vec()
}

#[test]
fn several_puks_preset_pin_imports_extensions() {
    let policy = rich_policy();
    policy.validate().unwrap();
    let iss = issuer(policy);
    // PINs for the user-defined policies PIN.1 and PIN.3 (two appUsage groups).
    let r = run_clean(
        &iss,
        ReferenceSks::in_memory_for_tests(4),
        "1357\n2580\n9146\n",
        4,
    );
    let rec = r.result.unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = rec.keys.iter().map(|k| k.id.as_str()).collect();
    // [KG2-ORD-001] execution order: PUK.1/PIN.1, PUK.2/PIN.2, PIN.3, then keys without PIN.
    assert_eq!(ids, ["Key.1", "Key.2", "Key.3", "Key.4", "Key.5", "Key.6"]);
    // The card accepted every createPINPolicy MAC, including PIN.2 nested under the second
    // PUK ([KG2-ORD-002]; facts §6 item 8 would have put it under PUK.1).
    let kcr: serde_json::Value = serde_json::from_slice(&r.transcript[4]).unwrap();
    assert_eq!(
        kcr["pukPolicySpecifiers"][1]["pinPolicySpecifiers"][0]["id"],
        "PIN.2"
    );
}

use airtight_issuer::KmkRollover;
use airtight_issuer::policy::{DiscoveryPolicy, LookupPolicy, PostPolicy};
use common::e2e::{kmk, run};

/// Session 1 with the default policy (its keys are managed by the issuer's KMK), then session 2
/// with `second` on the same card.
fn two_sessions(
    second: Policy,
    configure: impl FnOnce(&mut airtight_issuer::Issuer),
) -> (
    airtight_issuer::IssuanceRecord,
    airtight_issuer::IssuanceRecord,
    ReferenceSks,
) {
    two_sessions_with(Policy::default(), |_| {}, second, configure)
}

fn two_sessions_with(
    first_policy: Policy,
    between: impl FnOnce(&mut ReferenceSks),
    second: Policy,
    configure: impl FnOnce(&mut airtight_issuer::Issuer),
) -> (
    airtight_issuer::IssuanceRecord,
    airtight_issuer::IssuanceRecord,
    ReferenceSks,
) {
    let first = issuer(first_policy);
    let r1 = run_clean(&first, ReferenceSks::in_memory_for_tests(5), "1357", 5);
    let rec1 = r1.result.unwrap();
    let mut card = r1.card.unwrap();
    between(&mut card);
    let mut iss = issuer(second);
    configure(&mut iss);
    let r2 = run_clean(&iss, card, "1357", 6);
    let rec2 = r2.result.unwrap_or_else(|e| panic!("{e}"));
    (rec1, rec2, r2.card.unwrap())
}

fn discovery() -> DiscoveryPolicy {
    DiscoveryPolicy {
        enabled: true,
        lookup: vec![LookupPolicy {
            id: "Lookup.1".into(),
            app_usage: Some("authentication".into()),
            ..LookupPolicy::default()
        }],
    }
}

fn no_pin_key(id: &str) -> Vec<KeyPolicy> {
    vec![key(id, P256, None)]
}

#[test]
fn discovery_and_update_key() {
    let (rec1, rec2, _) = two_sessions(
        Policy {
            discovery: discovery(),
            pin: Vec::new(),
            key: vec![KeyPolicy {
                update_discovered: true,
                ..key("Key.U", P256, None)
            }],
            ..Policy::default()
        },
        |_| {},
    );
    assert_eq!(rec2.post_operations.len(), 1);
    assert_eq!(rec2.post_operations[0].kind, "update");
    assert_eq!(
        rec2.post_operations[0].target_finger_print,
        airtight_proto::keys::sha256(&rec1.keys[0].certificate_path[0]).to_vec()
    );
}

#[test]
fn clone_key_protection() {
    let shared = Policy {
        pin: vec![PinPolicy {
            grouping: "shared".into(),
            ..PinPolicy::default()
        }],
        ..Policy::default()
    };
    let (_, rec2, _) = two_sessions_with(
        shared,
        |_| {},
        Policy {
            discovery: discovery(),
            pin: Vec::new(),
            key: vec![KeyPolicy {
                clone_discovered: true,
                ..key("Key.C", P256, None)
            }],
            ..Policy::default()
        },
        |_| {},
    );
    assert_eq!(rec2.post_operations[0].kind, "clone");
}

#[test]
fn delete_key_with_a_new_key() {
    let (_, rec2, mut card) = two_sessions(
        Policy {
            discovery: discovery(),
            pin: Vec::new(),
            key: no_pin_key("Key.N"),
            post: PostPolicy {
                delete_discovered: true,
                ..PostPolicy::default()
            },
            ..Policy::default()
        },
        |_| {},
    );
    assert_eq!(rec2.post_operations[0].kind, "delete");
    // Only the new key is left.
    let first = card.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
    assert!(card.enumerate_keys(first.key_handle).unwrap().is_none());
}

#[test]
fn unlock_action() {
    // Block the PIN of the first session's key (retry limit 3).
    let block = |card: &mut ReferenceSks| {
        let k = card.enumerate_keys(KeyHandle::NONE).unwrap().unwrap();
        for _ in 0..3 {
            let _ = card.sign_data(
                k.key_handle,
                "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
                None,
                false,
                Some(b"0000"),
                b"data",
            );
        }
    };
    let (_, rec2, _) = two_sessions_with(
        Policy::default(),
        block,
        Policy {
            action: "unlock".into(),
            discovery: discovery(),
            post: PostPolicy {
                unlock_discovered: true,
                ..PostPolicy::default()
            },
            ..Policy::default()
        },
        |_| {},
    );
    assert_eq!(rec2.action, "unlock");
    assert!(rec2.keys.is_empty());
    assert_eq!(rec2.post_operations[0].kind, "unlock");
}

#[test]
fn kmk_roll_over_then_update() {
    // Session 1 under K0 = kmk(7) (the default test issuer KMK); session 2 under K2 with the
    // roll-over chain K0 -> K2, discovery signed by K2 and an update authorized by K2.
    let (_, rec2, _) = two_sessions(
        Policy {
            discovery: discovery(),
            pin: Vec::new(),
            key: vec![KeyPolicy {
                update_discovered: true,
                ..key("Key.U", P256, None)
            }],
            ..Policy::default()
        },
        |iss| {
            iss.kmk = Some(kmk(2));
            iss.kmk_rollovers = vec![KmkRollover {
                old: kmk(7),
                children: Vec::new(),
            }];
        },
    );
    assert_eq!(rec2.post_operations[0].kind, "update");
}

#[test]
fn discovery_with_a_foreign_kmk_finds_nothing() {
    let first = issuer(Policy::default());
    let r1 = run_clean(&first, ReferenceSks::in_memory_for_tests(8), "1357", 8);
    r1.result.unwrap();
    let mut iss = issuer(Policy {
        discovery: discovery(),
        pin: Vec::new(),
        key: no_pin_key("Key.N"),
        post: PostPolicy {
            delete_discovered: true,
            ..PostPolicy::default()
        },
        ..Policy::default()
    });
    iss.kmk = Some(kmk(1234));
    let r2 = run(
        &iss,
        r1.card.unwrap(),
        "",
        9,
        common::e2e::NOW,
        airtight_issuer::StartRequest::default(),
        |_, b| b,
    );
    let rec = r2.result.unwrap();
    assert!(rec.post_operations.is_empty());
}

#[test]
fn shipped_default_toml_policy_runs() {
    let p = Policy::from_toml(include_str!("../policies/default.toml")).unwrap();
    let iss = issuer(p);
    let r = run_clean(&iss, ReferenceSks::in_memory_for_tests(30), "1357", 30);
    let rec = r.result.unwrap();
    assert_eq!(
        rec.keys[0].friendly_name.as_deref(),
        Some("airtight login key")
    );
}

#[test]
fn issuer_built_from_a_policy_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/fixtures.toml");
    let iss =
        airtight_issuer::Issuer::from_policy_file(common::e2e::URI, Vec::new(), &path).unwrap();
    assert_eq!(iss.device_anchors.len(), 1);
    assert!(iss.ca.is_some() && iss.kmk.is_some());
    let r = common::e2e::run(
        &iss,
        ReferenceSks::in_memory_for_tests(31),
        "1357",
        31,
        common::e2e::NOW,
        airtight_issuer::StartRequest {
            subject_label: "John Doe".into(),
            ..Default::default()
        },
        |_, b| b,
    );
    let rec = r.result.unwrap();
    let cert = x509_cert::Certificate::from_der(&rec.keys[0].certificate_path[0]).unwrap();
    let subject = cert.tbs_certificate().subject().to_string();
    assert!(subject.contains("CN=John Doe Key.1"), "{subject}");
}

#[test]
fn session_key_limit_accounting_matches_the_card() {
    // [CRY-LIM-003] one PIN policy, one key, a certificate and close need 6 uses (facts §3.4):
    // with 6 the card completes, with 5 the issuer refuses to plan the finalization.
    let mut p = Policy::default();
    p.session.key_limit = 6;
    let r = run_clean(
        &issuer(p.clone()),
        ReferenceSks::in_memory_for_tests(32),
        "1357",
        32,
    );
    r.result.unwrap();
    p.session.key_limit = 5;
    let r = run_clean(
        &issuer(p),
        ReferenceSks::in_memory_for_tests(32),
        "1357",
        32,
    );
    assert_eq!(
        r.result.unwrap_err(),
        airtight_issuer::IssuerError::SessionKeyLimit {
            needed: 6,
            limit: 5
        }
    );
}
