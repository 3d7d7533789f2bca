//! The engine against the 18 recorded Java sessions: the issuer's recorded requests go in, a
//! fake SKS returns what the Java SKS returned, and every response the engine builds must be
//! byte for byte the recorded Java response (after the Java pretty printer), with the SKS
//! called with the recorded context (issuerUri, serverCertificate, clientTime).
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::UnixTime;
use airtight_client::{ClientConfig, ManualClock, Middleware, PinSource, SessionContext};
use airtight_proto::messages::Message;
use airtight_proto::policy::AppUsage;
use support::*;

/// Replays one recorded session through the engine with `sks`.
fn replay(rel: &str, sks: &mut FakeSks) {
    let msgs = session_messages(rel);
    let sec = secrets(rel);
    sks.script(&msgs);
    let issuer_uri = sec["issuerUri"].as_str().unwrap().to_owned();
    let ctx = SessionContext {
        issuer_uri: issuer_uri.clone(),
        issuer_origin: "http://127.0.0.1:18080".into(),
        server_certificate: b64(&sec["serverCertificate"]),
    };
    let pins: Vec<String> = sec["userEnteredPins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pin"].as_str().unwrap().to_owned())
        .collect();
    let client_time = sec["clientTimeUnixSeconds"].as_i64().unwrap();
    let config = ClientConfig {
        client_attributes: vec![(
            "https://webpki.github.io/keygen2/clientattr#ip-address".into(),
            vec!["127.0.0.1".into()],
        )],
        ..ClientConfig::default()
    };
    let calls_before = sks.session_params.len();
    let mut mw = Middleware::new(&mut *sks, ctx)
        .with_pin_source(PinSource::from_lines(&pins.join("\n")))
        .with_clock(Box::new(ManualClock::new(UnixTime::from_secs(client_time))))
        .with_config(config);
    for pair in msgs.chunks(2) {
        let [(req_name, _, req), (resp_name, resp_bytes, _)] = pair else {
            panic!("{rel}: odd number of messages");
        };
        let produced = mw
            .handle(req.clone())
            .unwrap_or_else(|e| panic!("{rel}/{req_name}: {e}"));
        assert_same_as_recorded(&produced, resp_bytes, &format!("{rel}/{resp_name}"));
    }
    assert!(mw.is_done(), "{rel}: not done");
    drop(mw);
    // The SKS saw the recorded session context.
    let p = &sks.session_params[calls_before];
    assert_eq!(p.issuer_uri, issuer_uri);
    assert_eq!(p.server_certificate, b64(&sec["serverCertificate"]));
    assert_eq!(i64::from(p.client_time), client_time);
    assert_eq!(p.privacy_enabled, sec["privacyEnabled"].as_bool().unwrap());
    let init = msgs
        .iter()
        .find_map(|(_, _, m)| match m {
            Message::ProvisioningInitializationRequest(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(p.server_ephemeral_key, spki_of(&init.server_ephemeral_key));
    assert_eq!(p.session_key_limit, init.session_key_limit);
    assert_eq!(p.session_life_time, init.session_life_time);
    assert_eq!(
        p.key_management_key,
        init.key_management_key.as_ref().map(spki_of)
    );
}

fn device() -> FakeSks {
    FakeSks::new(reference_like_device(Vec::new()))
}

#[test]
fn single_session_scenarios_reproduce_the_java_responses() {
    // [KG2-IRS-002] [KG2-IRS-003] [KG2-PIR-001] [KG2-PIR-002] [KG2-PIR-004] [KG2-KCR-001]
    // [KG2-PFR-001]
    for rel in [
        "e2es-ec-device",
        "e2es-rsa-device",
        "privacy-enabled",
        "preset-pin-with-puk",
        "user-pin-multiple-keys",
        "import-private-key",
        "import-symmetric-key",
        "extensions-propertybag-logotype",
    ] {
        let mut sks = device();
        replay(rel, &mut sks);
    }
}

#[test]
fn user_pins_go_to_their_groups() {
    // [POL-GRP-007] [KG2-KCQ-013]: one PIN per group (authentication, then signature).
    let mut sks = device();
    replay("user-pin-multiple-keys", &mut sks);
    let pin_of = |id: &str| {
        sks.key_params
            .iter()
            .find(|k| k.id == id)
            .unwrap()
            .pin_value
            .as_ref()
            .unwrap()
            .to_vec()
    };
    assert_eq!(pin_of("Key.1"), b"135790");
    assert_eq!(pin_of("Key.3"), b"135790");
    assert_eq!(pin_of("MySigningKey"), b"246813");
    assert!(sks.pin_params[0].user_defined);
}

#[test]
fn preset_pin_reaches_the_card_encrypted() {
    // [KG2-KCQ-005] [POL-USR-002]
    let mut sks = device();
    replay("preset-pin-with-puk", &mut sks);
    let req = session_messages("preset-pin-with-puk")
        .into_iter()
        .find_map(|(_, _, m)| match m {
            Message::KeyCreationRequest(r) => Some(r),
            _ => None,
        })
        .unwrap();
    let key = &req.puk_policy_specifiers[0].pin_policy_specifiers[0].key_entry_specifiers[0];
    assert!(!sks.pin_params[0].user_defined);
    assert_eq!(
        sks.key_params[0].pin_value.as_ref().unwrap().as_slice(),
        key.encrypted_pin.as_ref().unwrap().as_slice()
    );
    // PUK policy, then PIN policy, then key ([KG2-ORD-001]).
    let creates: Vec<&str> = sks
        .methods()
        .into_iter()
        .filter(|m| m.starts_with("create"))
        .collect();
    assert_eq!(
        creates,
        [
            "createProvisioningSession",
            "createPukPolicy",
            "createPinPolicy",
            "createKeyEntry"
        ]
    );
}

#[test]
fn extensions_run_in_subtype_order() {
    // [KG2-ORD-004]
    let mut sks = device();
    replay("extensions-propertybag-logotype", &mut sks);
    let ext: Vec<&String> = sks
        .calls
        .iter()
        .filter(|c| c.starts_with("addExtension") || c.starts_with("setCertificatePath"))
        .collect();
    let subtypes: Vec<&str> = ext.iter().map(|c| c.rsplit(':').next().unwrap()).collect();
    assert!(ext[0].starts_with("setCertificatePath"));
    let mut sorted = subtypes[1..].to_vec();
    sorted.sort();
    assert_eq!(subtypes[1..], sorted[..], "{ext:?}");
    assert!(subtypes.contains(&"2") && subtypes.contains(&"3"));
    // The property bag blob is L(name) ‖ bool(writable) ‖ L(value) per property.
    let bag = sks
        .extensions
        .iter()
        .find(|e| e.2 == airtight_proto::sks::ExtensionSubType::PropertyBag)
        .unwrap();
    let props = airtight_proto::session1::parse_property_bag(&bag.4).unwrap();
    assert!(!props.is_empty());
    // Logotypes carry their MIME type as qualifier.
    assert!(
        sks.extensions
            .iter()
            .filter(|e| e.2 == airtight_proto::sks::ExtensionSubType::Logotype)
            .all(|e| e.3 == "image/png")
    );
}

#[test]
fn two_session_scenarios_reproduce_the_java_responses() {
    // [KG2-CDQ-001] [KG2-CDQ-002] [KG2-CDQ-003] [KG2-CDR-001] [KG2-CDR-002] [KG2-PFQ-006]
    // [KG2-ORD-006]
    for (first, second) in [
        ("update-key/1-initial", "update-key/2-update"),
        (
            "clone-key-protection/1-initial",
            "clone-key-protection/2-clone",
        ),
        ("delete-key/1-initial", "delete-key/2-delete"),
        ("kmk-rollover/1-initial", "kmk-rollover/2-rollover"),
    ] {
        let mut sks = device();
        replay(first, &mut sks);
        replay(second, &mut sks);
    }
}

#[test]
fn unlock_reports_locked_keys_and_unlocks() {
    // [KG2-CDR-003] [KG2-FLW-003]
    let mut sks = device();
    replay("unlock/1-initial", &mut sks);
    // The recorder blocked the PIN with three wrong tries between the sessions.
    for k in &mut sks.keys {
        k.pin_blocked = true;
    }
    replay("unlock/2-unlock", &mut sks);
    assert_eq!(sks.post_ops.len(), 1);
    assert_eq!(sks.post_ops[0].0, "postUnlockKey");
    assert!(!sks.methods().contains(&"createKeyEntry") || sks.key_params.len() == 1);
}

#[test]
fn kmk_rollover_updates_leaves_first() {
    // [KG2-PIQ-008] [KG2-PIQ-009]
    let mut sks = device();
    replay("kmk-rollover/1-initial", &mut sks);
    let first_session = sks.sessions[0].info.provisioning_handle;
    replay("kmk-rollover/2-rollover", &mut sks);
    let init = session_messages("kmk-rollover/2-rollover")
        .into_iter()
        .find_map(|(_, _, m)| match m {
            Message::ProvisioningInitializationRequest(r) => Some(r),
            _ => None,
        })
        .unwrap();
    // K0 -> K1 (the nested entry's parent), then K1 -> K2 (the session KMK).
    let k1 = spki_of(&init.updatable_key_management_keys[0].public_key);
    let k2 = spki_of(init.key_management_key.as_ref().unwrap());
    assert_eq!(sks.kmk_updates.len(), 2);
    assert_eq!(sks.kmk_updates[0].0, first_session);
    assert_eq!(sks.kmk_updates[0].1, k1);
    assert_eq!(
        sks.kmk_updates[0].2,
        init.updatable_key_management_keys[0].updatable_key_management_keys[0].authorization
    );
    assert_eq!(sks.kmk_updates[1].1, k2);
    assert_eq!(
        sks.kmk_updates[1].2,
        init.updatable_key_management_keys[0].authorization
    );
    // Both before createProvisioningSession.
    let m = sks.methods();
    let last_update = m
        .iter()
        .rposition(|c| *c == "updateKeyManagementKey")
        .unwrap();
    let create = m
        .iter()
        .rposition(|c| *c == "createProvisioningSession")
        .unwrap();
    assert!(last_update < create);
}

#[test]
fn discovery_only_sees_keys_of_the_signing_kmk() {
    // [KG2-CDQ-003]: a key under another KMK (or none) is never reported.
    let mut sks = device();
    replay("update-key/1-initial", &mut sks);
    let cert = sks.keys[0].certificate_path.clone();
    sks.add_closed_session(
        "OtherIssuerServerSessionId000000",
        "OtherIssuerClientSessionId000000",
        None,
        vec![("Other.1".into(), AppUsage::Signature, cert)],
    );
    replay("update-key/2-update", &mut sks);
}
