//! Every recorded message validates against its JSON Schema (spec/schemas), and typical
//! invalid mutations fail it (as they fail the strict decoder).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airtight_proto::messages::Message;
use serde_json::{Value, json};

const NAMES: [&str; 10] = [
    "InvocationRequest",
    "InvocationResponse",
    "ProvisioningInitializationRequest",
    "ProvisioningInitializationResponse",
    "CredentialDiscoveryRequest",
    "CredentialDiscoveryResponse",
    "KeyCreationRequest",
    "KeyCreationResponse",
    "ProvisioningFinalizationRequest",
    "ProvisioningFinalizationResponse",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validators() -> BTreeMap<&'static str, jsonschema::Validator> {
    NAMES
        .iter()
        .map(|n| {
            let p = root().join(format!("spec/schemas/{n}.schema.json"));
            let schema: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            assert!(
                jsonschema::meta::is_valid(&schema),
                "{n}: not a valid schema"
            );
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["properties"]["@qualifier"]["const"], *n);
            (*n, jsonschema::validator_for(&schema).unwrap())
        })
        .collect()
}

fn samples() -> Vec<(PathBuf, Value)> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().unwrap().to_str().unwrap().as_bytes()[0].is_ascii_digit() {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("vectors/interop/recorded"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let v = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            (f, v)
        })
        .collect()
}

/// Every `additionalProperties` in a schema is `false`, on every object schema.
fn strict_everywhere(v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if m.get("type") == Some(&json!("object")) {
                assert_eq!(m.get("additionalProperties"), Some(&json!(false)), "{at}");
            }
            for (k, x) in m {
                strict_everywhere(x, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strict_everywhere(x, at)),
        _ => {}
    }
}

#[test]
fn schemas_are_strict() {
    for n in NAMES {
        let p = root().join(format!("spec/schemas/{n}.schema.json"));
        let schema: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        strict_everywhere(&schema, n);
    }
}

#[test]
fn every_sample_is_schema_valid() {
    let vs = validators();
    let all = samples();
    assert_eq!(all.len(), 152);
    for (f, v) in &all {
        let q = v["@qualifier"].as_str().unwrap();
        let errors: Vec<String> = vs[q].iter_errors(v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
}

#[test]
fn invalid_mutations_fail_schema_and_decoder() {
    let vs = validators();
    let all = samples();
    let find = |suffix: &str| {
        all.iter()
            .find(|(f, _)| f.ends_with(suffix))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let fin = "extensions-propertybag-logotype/07-ProvisioningFinalizationRequest.json";
    let kcr = "preset-pin-with-puk/05-KeyCreationRequest.json";
    let key = "/pukPolicySpecifiers/0/pinPolicySpecifiers/0/keyEntrySpecifiers/0";
    let pin = format!("{key}/encryptedPin");
    let usage = format!("{key}/appUsage");
    let cases: Vec<(&str, &str, Option<Value>, &str)> = vec![
        (fin, "", None, "top-level unknown property"),
        (
            fin,
            "/issuedCredentials/0/propertyBags/0/properties/0",
            None,
            "nested unknown property",
        ),
        (kcr, key, None, "deeply nested unknown property"),
        (
            fin,
            "/@context",
            Some(json!("https://webpki.github.io/keygen2")),
            "wrong context",
        ),
        (
            fin,
            "/serverSessionId",
            Some(json!("A".repeat(33))),
            "33-char id",
        ),
        (
            fin,
            "/issuedCredentials/0/id",
            Some(json!("Key 1")),
            "id with a space",
        ),
        (
            fin,
            "/sessionCloseData/mac",
            Some(json!("A".repeat(42))),
            "31-byte mac",
        ),
        (
            fin,
            "/sessionCloseData/mac",
            Some(json!("A".repeat(44))),
            "33-byte mac",
        ),
        (kcr, &pin, Some(json!("A".repeat(215))), "161-byte PIN"),
        (kcr, &pin, Some(json!("A".repeat(42))), "31-byte PIN"),
        (kcr, &usage, Some(json!("Signature")), "bad enum"),
        (
            fin,
            "/sessionCloseData/nonce",
            Some(json!(format!("{}=", "A".repeat(43)))),
            "padded base64",
        ),
        (
            kcr,
            "/pukPolicySpecifiers/0/retryLimit",
            Some(json!(10001)),
            "retryLimit range",
        ),
        (
            "user-pin-multiple-keys/03-ProvisioningInitializationRequest.json",
            "/serverTime",
            Some(json!("2026-11-22T13:16:18.000Z")),
            "subseconds in serverTime",
        ),
    ];
    for (file, ptr, new, what) in cases {
        let mut v = find(file);
        match new {
            Some(x) => *v.pointer_mut(ptr).unwrap() = x,
            None => {
                v.pointer_mut(ptr)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .insert("unexpected".into(), json!(true));
            }
        }
        let q = find(file)["@qualifier"].as_str().unwrap().to_owned();
        assert!(!vs[q.as_str()].is_valid(&v), "schema accepted: {what}");
        assert!(Message::from_value(&v).is_err(), "decoder accepted: {what}");
    }
}
