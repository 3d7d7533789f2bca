//! `spec/schemas/shim.schema.json` agrees with the codec: every line the codec writes for every
//! method validates, and lines the codec rejects are rejected by the schema too. The example
//! session of `spec/shim.md` section 9 validates line by line.
#![allow(clippy::unwrap_used)]

use airtight_bindings::wire::sample::SampleRng;
use airtight_bindings::{SksCall, SksReturn};
use airtight_proto::sks::SksMethod;
use serde_json::{Value, json};

fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/schemas/shim.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A validator for `#/$defs/<pointer>` of the shim schema.
fn sub(schema: &Value, pointer: &str) -> jsonschema::Validator {
    let mut s = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/$defs/{pointer}"),
    });
    s["$defs"] = schema["$defs"].clone();
    jsonschema::validator_for(&s).unwrap()
}

#[test]
fn schema_is_valid_and_matches_the_codec() {
    // [SHIM-MSG-001] [SHIM-MSG-002] [SHIM-ENC-001] [SHIM-ENC-003]
    let schema = schema();
    assert!(jsonschema::meta::is_valid(&schema));
    let line = jsonschema::validator_for(&schema).unwrap();
    let request = sub(&schema, "request");
    let mut r = SampleRng::new(99);
    for _ in 0..20 {
        for m in SksMethod::ALL {
            let call = SksCall::sample(*m, &mut r);
            let req = json!({"id": 5, "method": m.java_name(), "params": call.to_json_params()});
            assert!(request.is_valid(&req), "{m}: {req}");
            assert!(line.is_valid(&req));
            let ret = SksReturn::sample(*m, &mut r);
            let result = sub(&schema, &format!("result/{}", m.java_name()));
            assert!(result.is_valid(&ret.to_json()), "{m}: {}", ret.to_json());
            assert!(line.is_valid(&json!({"id": 5, "result": ret.to_json()})));
        }
    }
}

#[test]
fn schema_rejects_what_the_codec_rejects() {
    // [SHIM-ENC-002] [SHIM-ENC-004]
    let schema = schema();
    let request = sub(&schema, "request");
    let ok = json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": 1, "authorization": "MTIzNA"}});
    assert!(request.is_valid(&ok));
    for bad in [
        json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": 1, "authorization": "MTIzNA=="}}),
        json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": 1, "authorization": "MTI+NA"}}),
        json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": 1}}),
        json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": 1, "authorization": null, "x": 0}}),
        json!({"id": 1, "method": "deleteKey", "params": {"keyHandle": -1, "authorization": null}}),
        json!({"id": -1, "method": "deleteKey", "params": {"keyHandle": 1, "authorization": null}}),
        json!({"id": 1, "method": "noSuchMethod", "params": {}}),
        json!({"id": 1, "method": "getDeviceInfo", "params": {}, "extra": 1}),
    ] {
        assert!(!request.is_valid(&bad), "{bad}");
        let m = bad["method"].as_str().and_then(SksMethod::from_java_name);
        if let (Some(m), true) = (m, bad.as_object().unwrap().len() == 3) {
            assert!(SksCall::from_json_params(m, &bad["params"]).is_err() || bad["id"] == -1);
        }
    }
}

#[test]
fn spec_example_session_validates() {
    // [SHIM-HEL-001] [SHIM-END-001] [SHIM-ERR-003]
    let schema = schema();
    let line = jsonschema::validator_for(&schema).unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/shim.md"))
        .unwrap();
    let mut n = 0;
    for l in text.lines() {
        let Some(json_text) = l.strip_prefix("→ ").or_else(|| l.strip_prefix("← ")) else {
            continue;
        };
        if let Ok(v) = serde_json::from_str::<Value>(json_text) {
            assert!(line.is_valid(&v), "{json_text}");
            n += 1;
        }
    }
    assert_eq!(n, 9, "the example session has 9 JSON lines");
}
