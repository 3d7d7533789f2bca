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

mod differential {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn fixtures() -> &'static (BTreeMap<&'static str, jsonschema::Validator>, Vec<Value>) {
        static F: OnceLock<(BTreeMap<&'static str, jsonschema::Validator>, Vec<Value>)> =
            OnceLock::new();
        F.get_or_init(|| {
            (
                validators(),
                samples().into_iter().map(|(_, v)| v).collect(),
            )
        })
    }

    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    pointers(x, p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    pointers(x, p, out);
                }
            }
            _ => {}
        }
    }

    fn replacement(k: u8, s: &str) -> Value {
        match k % 10 {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(0),
            3 => json!(129),
            4 => json!(""),
            5 => json!(s),
            6 => json!([s]),
            7 => json!("A".repeat(43)),
            8 => json!("none"),
            _ => json!({}),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the strict decoder accepts, the schema accepts too.
        #[test]
        fn decoder_accepts_implies_schema_accepts(which in any::<prop::sample::Index>(),
                                                   at in any::<prop::sample::Index>(),
                                                   op in 0u8..3, k in any::<u8>(),
                                                   s in "[ -~]{0,8}") {
            let (vs, all) = fixtures();
            let mut v = which.get(all).clone();
            let mut ptrs = Vec::new();
            pointers(&v, String::new(), &mut ptrs);
            let p = at.get(&ptrs).clone();
            let (parent, last) = p.rsplit_once('/').unwrap();
            match op {
                0 => *v.pointer_mut(&p).unwrap() = replacement(k, &s),
                1 => match v.pointer_mut(parent).unwrap() {
                    Value::Object(m) => { m.shift_remove(&last.replace("~1", "/").replace("~0", "~")); }
                    Value::Array(a) => { a.remove(last.parse::<usize>().unwrap()); }
                    _ => {}
                },
                _ => if let Value::Object(m) = v.pointer_mut(parent).unwrap() {
                    m.insert(s.clone(), replacement(k, &s));
                },
            }
            if let Ok(m) = Message::from_value(&v) {
                let q = m.qualifier();
                let errors: Vec<String> = vs[q].iter_errors(&v).map(|e| e.to_string()).collect();
                prop_assert!(errors.is_empty(), "{p}: {errors:?}");
            }
        }
    }
}
