//! Strict rejection: each error kind, at the top level and nested, for every message type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use airtight_proto::codec::b64url;
use airtight_proto::messages::{
    ErrorKind, InvocationRequest, KeyCreationRequest, KeyGen2Message, Message,
};
use serde_json::{Value, json};

fn recorded(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors/interop/recorded")
        .join(rel)
}

fn load(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(recorded(rel)).unwrap()).unwrap()
}

/// One sample of each message type.
const ONE_OF_EACH: &[&str] = &[
    "user-pin-multiple-keys/01-InvocationRequest.json",
    "user-pin-multiple-keys/02-InvocationResponse.json",
    "kmk-rollover/2-rollover/03-ProvisioningInitializationRequest.json",
    "user-pin-multiple-keys/04-ProvisioningInitializationResponse.json",
    "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
    "unlock/2-unlock/06-CredentialDiscoveryResponse.json",
    "preset-pin-with-puk/05-KeyCreationRequest.json",
    "user-pin-multiple-keys/06-KeyCreationResponse.json",
    "extensions-propertybag-logotype/07-ProvisioningFinalizationRequest.json",
    "user-pin-multiple-keys/08-ProvisioningFinalizationResponse.json",
];

const PRESET: &str = "preset-pin-with-puk/05-KeyCreationRequest.json";
const MULTI: &str = "user-pin-multiple-keys/05-KeyCreationRequest.json";
const FIN: &str = "extensions-propertybag-logotype/07-ProvisioningFinalizationRequest.json";

/// Decodes `v` and expects an error of `kind` at `path`.
fn expect(v: &Value, kind: ErrorKind, path: &str) {
    let e = Message::from_value(v).expect_err("must be rejected");
    assert_eq!((e.kind(), e.path()), (kind, path), "{e}");
    // The byte decoder agrees.
    let e2 = Message::decode(&serde_json::to_vec(v).unwrap()).expect_err("bytes rejected");
    assert_eq!((e2.kind(), e2.path()), (kind, path));
}

/// `sample` with the value at JSON pointer `ptr` replaced by `new`.
fn with(sample: &str, ptr: &str, new: Value) -> Value {
    let mut v = load(sample);
    *v.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = new;
    v
}

fn b64(n: usize) -> Value {
    Value::String(b64url::encode(&vec![0x5a; n]))
}

#[test]
fn samples_decode_before_mutation() {
    for s in ONE_OF_EACH {
        Message::from_value(&load(s)).unwrap();
    }
}

#[test]
fn unknown_property_at_top_level_of_every_message() {
    // [KG2-ENC-004]
    for s in ONE_OF_EACH {
        let mut v = load(s);
        v.as_object_mut().unwrap().insert("extra".into(), json!(1));
        expect(&v, ErrorKind::UnknownProperty, "extra");
    }
}

#[test]
fn unknown_property_nested() {
    // [KG2-ENC-004]
    let cases = [
        (
            PRESET,
            "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/keyEntrySpecifiers/0",
            "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].x",
        ),
        (MULTI, "/pinPolicySpecifiers/0", "pinPolicySpecifiers[0].x"),
        (
            FIN,
            "/issuedCredentials/0/propertyBags/0/properties/1",
            "issuedCredentials[0].propertyBags[0].properties[1].x",
        ),
        (FIN, "/sessionCloseData", "sessionCloseData.x"),
        (
            "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
            "/lookupSpecifiers/1/searchFilter",
            "lookupSpecifiers[1].searchFilter.x",
        ),
        (
            "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
            "/lookupSpecifiers/0/signature/publicKey",
            "lookupSpecifiers[0].signature.publicKey.x",
        ),
        (
            "kmk-rollover/2-rollover/03-ProvisioningInitializationRequest.json",
            "/updatableKeyManagementKeys/0/updatableKeyManagementKeys/0",
            "updatableKeyManagementKeys[0].updatableKeyManagementKeys[0].x",
        ),
        (
            "user-pin-multiple-keys/04-ProvisioningInitializationResponse.json",
            "/deviceId",
            "deviceId.x",
        ),
        (
            "extensions-propertybag-logotype/02-InvocationResponse.json",
            "/clientCapabilities/1/imageAttributes",
            "clientCapabilities[1].imageAttributes.x",
        ),
        (
            "unlock/2-unlock/06-CredentialDiscoveryResponse.json",
            "/lookupResults/0/matchingCredentials/0",
            "lookupResults[0].matchingCredentials[0].x",
        ),
    ];
    for (s, ptr, path) in cases {
        let mut v = load(s);
        // "x" is a real JWK member name elsewhere, so also check that EC keys reject it.
        v.pointer_mut(ptr)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("x".into(), json!("AA"));
        if ptr.ends_with("publicKey") {
            // An EC key already has `x`: use another member.
            let mut v = load(s);
            v.pointer_mut(ptr)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("d".into(), json!("AA"));
            expect(&v, ErrorKind::UnknownProperty, &path.replace(".x", ".d"));
            continue;
        }
        expect(&v, ErrorKind::UnknownProperty, path);
    }
}

#[test]
fn wrong_context_and_qualifier() {
    // [KG2-ENC-002]
    for s in ONE_OF_EACH {
        let v = with(s, "/@context", json!("https://webpki.github.io/keygen2"));
        expect(&v, ErrorKind::WrongContext, "@context");
        let v = with(s, "/@qualifier", json!("Nonsense"));
        expect(&v, ErrorKind::WrongQualifier, "@qualifier");
    }
    // A typed decoder refuses another (valid) message.
    let v = load("user-pin-multiple-keys/02-InvocationResponse.json");
    let e = InvocationRequest::from_value(&v).unwrap_err();
    assert_eq!(
        (e.kind(), e.path()),
        (ErrorKind::WrongQualifier, "@qualifier")
    );
    let mut v = load(ONE_OF_EACH[0]);
    v.as_object_mut().unwrap().remove("@context");
    expect(&v, ErrorKind::Missing, "@context");
}

#[test]
fn bad_ids() {
    // [KG2-ENC-008]
    let long = "A".repeat(33);
    for bad in [
        json!(long),
        json!("Key 1"),
        json!(""),
        json!("Kéy"),
        json!("a\u{7f}"),
    ] {
        expect(
            &with(ONE_OF_EACH[0], "/serverSessionId", bad.clone()),
            ErrorKind::BadId,
            "serverSessionId",
        );
        expect(
            &with(
                PRESET,
                "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/keyEntrySpecifiers/0/id",
                bad.clone(),
            ),
            ErrorKind::BadId,
            "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].id",
        );
        expect(
            &with(FIN, "/clientSessionId", bad.clone()),
            ErrorKind::BadId,
            "clientSessionId",
        );
        expect(
            &with(
                "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
                "/lookupSpecifiers/1/id",
                bad.clone(),
            ),
            ErrorKind::BadId,
            "lookupSpecifiers[1].id",
        );
    }
    // 32 characters in 0x21..0x7E is fine.
    let ok = with(ONE_OF_EACH[0], "/serverSessionId", json!("!~".repeat(16)));
    Message::from_value(&ok).unwrap();
}

#[test]
fn mac_lengths() {
    // [KG2-ENC-009] [CRY-MAC-003]
    for n in [31, 33, 0] {
        expect(
            &with(
                MULTI,
                "/pinPolicySpecifiers/0/keyEntrySpecifiers/1/mac",
                b64(n),
            ),
            ErrorKind::BadLength,
            "pinPolicySpecifiers[0].keyEntrySpecifiers[1].mac",
        );
        expect(
            &with(FIN, "/sessionCloseData/mac", b64(n)),
            ErrorKind::BadLength,
            "sessionCloseData.mac",
        );
        expect(
            &with(
                "user-pin-multiple-keys/08-ProvisioningFinalizationResponse.json",
                "/attestation",
                b64(n),
            ),
            ErrorKind::BadLength,
            "attestation",
        );
    }
    Message::from_value(&with(FIN, "/sessionCloseData/mac", b64(32))).unwrap();
}

#[test]
fn encrypted_pin_and_puk_lengths() {
    // [KG2-ENC-010]
    let pin = "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/keyEntrySpecifiers/0/encryptedPin";
    for n in [31, 161] {
        expect(
            &with(PRESET, pin, b64(n)),
            ErrorKind::BadLength,
            "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin",
        );
        expect(
            &with(PRESET, "/pukPolicySpecifiers/0/encryptedPuk", b64(n)),
            ErrorKind::BadLength,
            "pukPolicySpecifiers[0].encryptedPuk",
        );
    }
    for n in [32, 160] {
        Message::from_value(&with(PRESET, pin, b64(n))).unwrap();
    }
}

#[test]
fn close_nonce_length() {
    // [KG2-PFQ-001]
    expect(
        &with(FIN, "/sessionCloseData/nonce", b64(33)),
        ErrorKind::BadLength,
        "sessionCloseData.nonce",
    );
    expect(
        &with(FIN, "/sessionCloseData/nonce", json!("")),
        ErrorKind::BadLength,
        "sessionCloseData.nonce",
    );
    Message::from_value(&with(FIN, "/sessionCloseData/nonce", b64(1))).unwrap();
}

#[test]
fn base64_is_strict() {
    // [KG2-ENC-003]
    let good = b64url::encode(&[0x5a; 32]);
    for bad in [
        format!("{good}="),                      // padding
        good.replace('a', "+"),                  // standard alphabet
        format!("{} ", &good),                   // whitespace
        format!("{}B", &good[..good.len() - 1]), // non-zero trailing bits
    ] {
        if bad == good {
            continue;
        }
        expect(
            &with(FIN, "/sessionCloseData/mac", json!(bad)),
            ErrorKind::BadBase64,
            "sessionCloseData.mac",
        );
    }
    let padded = format!("{}==", b64url::encode(&[1; 64]).trim_end_matches('='));
    expect(
        &with(
            "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
            "/lookupSpecifiers/0/signature/value",
            json!(padded),
        ),
        ErrorKind::BadBase64,
        "lookupSpecifiers[0].signature.value",
    );
}

#[test]
fn endorsed_algorithms_sorted() {
    // [KG2-KCQ-007]
    let p = "/pinPolicySpecifiers/0/keyEntrySpecifiers/0/endorsedAlgorithms";
    let path = "pinPolicySpecifiers[0].keyEntrySpecifiers[0].endorsedAlgorithms[1]";
    let a = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    let b = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256";
    expect(&with(MULTI, p, json!([b, a])), ErrorKind::NotSorted, path);
    expect(&with(MULTI, p, json!([a, a])), ErrorKind::NotSorted, path);
    expect(
        &with(MULTI, p, json!([])),
        ErrorKind::BadLength,
        &path[..path.len() - 3],
    );
}

#[test]
fn bad_enum_names() {
    // [KG2-ENC-015] [KG2-INV-001] [CRY-LUP-002]
    let pin = "/pukPolicySpecifiers/0/pinPolicySpecifiers/0";
    let key = "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/keyEntrySpecifiers/0";
    let pin_path = "pukPolicySpecifiers[0].pinPolicySpecifiers[0]";
    let key_path = "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0]";
    let cases: Vec<(String, String)> = vec![
        (format!("{pin}/format"), format!("{pin_path}.format")),
        (
            format!("{pin}/inputMethod"),
            format!("{pin_path}.inputMethod"),
        ),
        (
            format!("{pin}/patternRestrictions/2"),
            format!("{pin_path}.patternRestrictions[2]"),
        ),
        (
            format!("{key}/exportProtection"),
            format!("{key_path}.exportProtection"),
        ),
        (
            format!("{key}/deleteProtection"),
            format!("{key_path}.deleteProtection"),
        ),
        (format!("{key}/appUsage"), format!("{key_path}.appUsage")),
        (
            "/pukPolicySpecifiers/0/format".into(),
            "pukPolicySpecifiers[0].format".into(),
        ),
    ];
    for (ptr, path) in cases {
        expect(
            &with(PRESET, &ptr, json!("Numeric")),
            ErrorKind::BadEnum,
            &path,
        );
    }
    expect(
        &with(
            MULTI,
            "/pinPolicySpecifiers/0/grouping",
            json!("signature-standard"),
        ),
        ErrorKind::BadEnum,
        "pinPolicySpecifiers[0].grouping",
    );
    let mut v = load(MULTI);
    v.pointer_mut("/pinPolicySpecifiers/0/keyEntrySpecifiers/2")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("biometricProtection".into(), json!("always"));
    // Inserted at the end, but read in Java order: the enum is checked before anything else fails.
    expect(
        &v,
        ErrorKind::BadEnum,
        "pinPolicySpecifiers[0].keyEntrySpecifiers[2].biometricProtection",
    );
    expect(
        &with(ONE_OF_EACH[0], "/action", json!("create")),
        ErrorKind::BadEnum,
        "action",
    );
    expect(
        &with(ONE_OF_EACH[0], "/targetKeyContainers/1", json!("cloud")),
        ErrorKind::BadEnum,
        "targetKeyContainers[1]",
    );
    expect(
        &with(
            "unlock/2-unlock/05-CredentialDiscoveryRequest.json",
            "/lookupSpecifiers/0/signature/algorithm",
            json!("ES384"),
        ),
        ErrorKind::BadEnum,
        "lookupSpecifiers[0].signature.algorithm",
    );
    expect(
        &with(ONE_OF_EACH[2], "/serverEphemeralKey/crv", json!("P-255")),
        ErrorKind::BadEnum,
        "serverEphemeralKey.crv",
    );
}

#[test]
fn bad_times() {
    // [KG2-ENC-011] [KG2-PIQ-001] [KG2-PIR-002]
    let init = "user-pin-multiple-keys/03-ProvisioningInitializationRequest.json";
    let resp = "user-pin-multiple-keys/04-ProvisioningInitializationResponse.json";
    for bad in [
        "2026-11-22T13:16:18.000Z",
        "2026-11-22T13:16:18+00:00",
        "2026-11-31T13:16:18Z",
        "yesterday",
    ] {
        expect(
            &with(init, "/serverTime", json!(bad)),
            ErrorKind::BadTime,
            "serverTime",
        );
    }
    expect(
        &with(resp, "/clientTime", json!("2026-11-22T13:16:18Z")),
        ErrorKind::BadTime,
        "clientTime",
    );
    expect(
        &with(resp, "/clientTime", json!("2026-11-22T13:16:18.5+00:00")),
        ErrorKind::BadTime,
        "clientTime",
    );
    let ok = with(resp, "/clientTime", json!("2026-11-22T14:16:18+01:00"));
    Message::from_value(&ok).unwrap();
}

#[test]
fn numeric_ranges_and_types() {
    // [KG2-ENC-013] [KG2-PIQ-003]
    let init = "user-pin-multiple-keys/03-ProvisioningInitializationRequest.json";
    expect(
        &with(init, "/sessionKeyLimit", json!(65536)),
        ErrorKind::OutOfRange,
        "sessionKeyLimit",
    );
    expect(
        &with(init, "/sessionKeyLimit", json!(-1)),
        ErrorKind::OutOfRange,
        "sessionKeyLimit",
    );
    expect(
        &with(init, "/sessionLifeTime", json!(70000)),
        ErrorKind::OutOfRange,
        "sessionLifeTime",
    );
    expect(
        &with(init, "/sessionKeyLimit", json!(1.5)),
        ErrorKind::WrongType,
        "sessionKeyLimit",
    );
    expect(
        &with(init, "/sessionKeyLimit", json!("100")),
        ErrorKind::WrongType,
        "sessionKeyLimit",
    );
    expect(
        &with(init, "/sessionKeyLimit", json!(u64::MAX)),
        ErrorKind::OutOfRange,
        "sessionKeyLimit",
    );
    expect(
        &with(PRESET, "/pukPolicySpecifiers/0/retryLimit", json!(10001)),
        ErrorKind::OutOfRange,
        "pukPolicySpecifiers[0].retryLimit",
    );
    Message::from_value(&with(PRESET, "/pukPolicySpecifiers/0/retryLimit", json!(0))).unwrap();
    expect(
        &with(MULTI, "/pinPolicySpecifiers/0/retryLimit", json!(0)),
        ErrorKind::OutOfRange,
        "pinPolicySpecifiers[0].retryLimit",
    );
    expect(
        &with(MULTI, "/pinPolicySpecifiers/0/maxLength", json!(129)),
        ErrorKind::OutOfRange,
        "pinPolicySpecifiers[0].maxLength",
    );
    expect(
        &with(MULTI, "/pinPolicySpecifiers/0/maxLength", json!(3)),
        ErrorKind::OutOfRange,
        "pinPolicySpecifiers[0].maxLength",
    );
    expect(
        &with(ONE_OF_EACH[3], "/serverSessionId", json!(5)),
        ErrorKind::WrongType,
        "serverSessionId",
    );
    expect(
        &with(
            PRESET,
            "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/userModifiable",
            json!("false"),
        ),
        ErrorKind::WrongType,
        "pukPolicySpecifiers[0].pinPolicySpecifiers[0].userModifiable",
    );
    expect(
        &with(FIN, "/issuedCredentials", json!({})),
        ErrorKind::WrongType,
        "issuedCredentials",
    );
    expect(
        &with(FIN, "/sessionCloseData", json!([])),
        ErrorKind::WrongType,
        "sessionCloseData",
    );
}

#[test]
fn missing_required() {
    let mut v = load(FIN);
    v.pointer_mut("/issuedCredentials/0/logotypes/1")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("mimeType");
    expect(
        &v,
        ErrorKind::Missing,
        "issuedCredentials[0].logotypes[1].mimeType",
    );
    let mut v = load(MULTI);
    v.as_object_mut().unwrap().remove("keyEntryAlgorithm");
    expect(&v, ErrorKind::Missing, "keyEntryAlgorithm");
    let mut v = load(ONE_OF_EACH[1]);
    v.pointer_mut("/clientCapabilities/0")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("supported");
    expect(&v, ErrorKind::Missing, "clientCapabilities[0]");
}

#[test]
fn conflicts() {
    // [KG2-KCQ-005] [KG2-KCQ-002]
    // A PIN group must not mix preset and user-defined PINs.
    let mut v = load(MULTI);
    v.pointer_mut("/pinPolicySpecifiers/0/keyEntrySpecifiers/1")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("encryptedPin".into(), b64(48));
    expect(
        &v,
        ErrorKind::Conflict,
        "pinPolicySpecifiers[0].keyEntrySpecifiers",
    );
    // A preset PIN without a PIN policy.
    let mut v = load("update-key/2-update/07-KeyCreationRequest.json");
    v.pointer_mut("/keyEntrySpecifiers/0")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("encryptedPin".into(), b64(48));
    expect(
        &v,
        ErrorKind::Conflict,
        "keyEntrySpecifiers[0].encryptedPin",
    );
}

#[test]
fn syntax_and_duplicates() {
    // [KG2-ENC-001] [KG2-ENC-005]
    let e = Message::decode(b"{\"@context\":").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    let e = Message::decode(b"[]").unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::WrongType, ""));
    let e = Message::decode(&[0xff, 0xfe]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    let text = std::fs::read_to_string(recorded(ONE_OF_EACH[0])).unwrap();
    let dup = text.replacen(
        "\"action\": \"manage\",",
        "\"action\": \"manage\",\n  \"action\": \"manage\",",
        1,
    );
    let e = Message::decode(dup.as_bytes()).unwrap_err();
    assert_eq!(
        (e.kind(), e.path()),
        (ErrorKind::DuplicateProperty, "action")
    );
    let deep = "[".repeat(10_000);
    assert_eq!(
        Message::decode(deep.as_bytes()).unwrap_err().kind(),
        ErrorKind::Syntax
    );
}

#[test]
fn typed_decoders_and_defaults() {
    let k = KeyCreationRequest::decode(&std::fs::read(recorded(PRESET)).unwrap()).unwrap();
    let pin = &k.puk_policy_specifiers[0].pin_policy_specifiers[0];
    assert!(!pin.user_modifiable());
    assert_eq!(pin.pattern_set().to_byte(), 0x0f);
    assert!(pin.preset());
    let m = KeyCreationRequest::decode(&std::fs::read(recorded(MULTI)).unwrap()).unwrap();
    let key = m.keys()[2];
    assert_eq!(
        key.export_protection(),
        airtight_proto::policy::ExportProtection::NonExportable
    );
    assert!(m.pin_policy_specifiers[0].user_modifiable());
    assert_eq!(m.keys().len(), 3);
}

#[test]
fn field_rules_of_the_spec() {
    let inv = ONE_OF_EACH[0];
    // [KG2-INV-003]
    let v = with(inv, "/targetKeyContainers/1", json!("software"));
    expect(&v, ErrorKind::Conflict, "targetKeyContainers[1]");
    let v = with(
        inv,
        "/clientCapabilityQuery/3",
        json!("https://webpki.github.io/sks/algorithm#rsa2048"),
    );
    expect(&v, ErrorKind::Conflict, "clientCapabilityQuery[3]");
    // [KG2-PIQ-003]
    let init = "user-pin-multiple-keys/03-ProvisioningInitializationRequest.json";
    expect(
        &with(init, "/sessionKeyLimit", json!(0)),
        ErrorKind::OutOfRange,
        "sessionKeyLimit",
    );
    expect(
        &with(init, "/sessionLifeTime", json!(0)),
        ErrorKind::OutOfRange,
        "sessionLifeTime",
    );
    // [KG2-PIQ-005]
    let ed = json!({"kty":"OKP","crv":"Ed25519","x":"6mGAUaHdzO-mEiD6aM3PTqSJ_mZui4zMfVl1ilUQs7E"});
    expect(
        &with(init, "/serverEphemeralKey", ed.clone()),
        ErrorKind::BadEnum,
        "serverEphemeralKey.kty",
    );
    let k1 = json!({"kty":"EC","crv":"https://webpki.github.io/sks/algorithm#ec.secg.p256k1",
                    "x":"Vy8t9BJLAnZhfOc1hhKULqT2-i1iHfdBCvurhNwLOXo","y":"ImjHHpPJpU8iyNHUQVSSwr-CSNrl31vAqQZxh1q7vl4"});
    expect(
        &with(init, "/serverEphemeralKey", k1),
        ErrorKind::BadEnum,
        "serverEphemeralKey.crv",
    );
    let resp = "user-pin-multiple-keys/04-ProvisioningInitializationResponse.json";
    expect(
        &with(resp, "/clientEphemeralKey", ed.clone()),
        ErrorKind::BadEnum,
        "clientEphemeralKey.kty",
    );
    // [KG2-PIQ-006]
    let roll = "kmk-rollover/2-rollover/03-ProvisioningInitializationRequest.json";
    expect(
        &with(roll, "/keyManagementKey", ed.clone()),
        ErrorKind::BadEnum,
        "keyManagementKey.kty",
    );
    let mut v = load(roll);
    v.as_object_mut().unwrap().remove("keyManagementKey");
    expect(&v, ErrorKind::Conflict, "updatableKeyManagementKeys");
    // [KG2-PFQ-004]
    let mut v = load("import-private-key/07-ProvisioningFinalizationRequest.json");
    let ipk = v
        .pointer("/issuedCredentials/0/importPrivateKey")
        .unwrap()
        .clone();
    v.pointer_mut("/issuedCredentials/0")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("importSymmetricKey".into(), ipk);
    expect(
        &v,
        ErrorKind::Conflict,
        "issuedCredentials[0].importPrivateKey",
    );
    let mut v = load("update-key/2-update/09-ProvisioningFinalizationRequest.json");
    let up = v.pointer("/issuedCredentials/0/updateKey").unwrap().clone();
    v.pointer_mut("/issuedCredentials/0")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert("cloneKeyProtection".into(), up);
    expect(
        &v,
        ErrorKind::Conflict,
        "issuedCredentials[0].cloneKeyProtection",
    );
    // [KG2-PFQ-006]
    let upd = "update-key/2-update/09-ProvisioningFinalizationRequest.json";
    expect(
        &with(upd, "/issuedCredentials/0/updateKey/fingerPrint", b64(20)),
        ErrorKind::BadLength,
        "issuedCredentials[0].updateKey.fingerPrint",
    );
    // [KG2-PFQ-007]
    expect(
        &with(
            FIN,
            "/issuedCredentials/0/logotypes/0/type",
            json!("https://example.com/logo"),
        ),
        ErrorKind::BadEnum,
        "issuedCredentials[0].logotypes[0].type",
    );
    // [KG2-KCQ-008]
    expect(
        &with(
            MULTI,
            "/pinPolicySpecifiers/0/keyEntrySpecifiers/1/serverSeed",
            b64(65),
        ),
        ErrorKind::BadLength,
        "pinPolicySpecifiers[0].keyEntrySpecifiers[1].serverSeed",
    );
    Message::from_value(&with(
        MULTI,
        "/pinPolicySpecifiers/0/keyEntrySpecifiers/1/serverSeed",
        b64(64),
    ))
    .unwrap();
    // [KG2-KCQ-010]
    expect(
        &with(MULTI, "/keyEntryAlgorithm", json!("u".repeat(1001))),
        ErrorKind::BadLength,
        "keyEntryAlgorithm",
    );
    // [KG2-KCQ-003]
    let mut v = load(MULTI);
    v.as_object_mut().unwrap().remove("pinPolicySpecifiers");
    expect(&v, ErrorKind::Missing, "keyEntrySpecifiers");
    // [KG2-PIR-004]
    expect(
        &with(resp, "/deviceId/certificatePath", json!([])),
        ErrorKind::BadLength,
        "deviceId.certificatePath",
    );
    // [KG2-ENC-014]
    expect(
        &with(FIN, "/issuedCredentials/0/extensions", json!([])),
        ErrorKind::BadLength,
        "issuedCredentials[0].extensions",
    );
    expect(
        &with(inv, "/preferredLanguages", Value::Null),
        ErrorKind::WrongType,
        "preferredLanguages",
    );
    // [CRY-LUP-001]
    let cdq = "unlock/2-unlock/05-CredentialDiscoveryRequest.json";
    expect(
        &with(cdq, "/lookupSpecifiers/0/nonce", b64(31)),
        ErrorKind::BadLength,
        "lookupSpecifiers[0].nonce",
    );
    // An empty searchFilter is refused (the Java decoder refuses it too).
    expect(
        &with(cdq, "/lookupSpecifiers/1/searchFilter", json!({})),
        ErrorKind::BadLength,
        "lookupSpecifiers[1].searchFilter",
    );
    // [CRY-LUP-002] the key type must match the algorithm.
    let rsa = json!({"kty":"RSA","n":"wQ","e":"AQAB"});
    expect(
        &with(cdq, "/lookupSpecifiers/0/signature/publicKey", rsa),
        ErrorKind::Conflict,
        "lookupSpecifiers[0].signature.publicKey",
    );
}
