//! Every committed vector file: valid against the schema, lint-clean, up to date with its
//! generator, and passed by the implementation.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use airtight_vectors::{
    check, data_dir, format::VectorFile, generated_files, interop_dir, schema_path,
};
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap()
}

/// Every committed vector file of `data/` and `interop/`, named `data/<f>` or `interop/<f>`.
fn committed() -> Vec<(String, Value, VectorFile)> {
    let mut out = Vec::new();
    for (label, dir) in [("data", data_dir()), ("interop", interop_dir())] {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let file: VectorFile = serde_json::from_value(value.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((
                format!("{label}/{}", path.file_name().unwrap().to_string_lossy()),
                value,
                file,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_file_matches_the_schema() {
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let files = committed();
    assert!(!files.is_empty());
    for (name, value, _) in &files {
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn schema_rejects_malformed_files() {
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let (_, good, _) = committed().into_iter().next().unwrap();
    let mut missing_result = good.clone();
    missing_result["testGroups"][0]["tests"][0]
        .as_object_mut()
        .unwrap()
        .remove("result");
    assert!(!validator.is_valid(&missing_result));
    let mut bad_verdict = good.clone();
    bad_verdict["testGroups"][0]["tests"][0]["result"] = Value::from("maybe");
    assert!(!validator.is_valid(&bad_verdict));
    let mut extra = good;
    extra["unexpected"] = Value::from(1);
    assert!(!validator.is_valid(&extra));
}

#[test]
fn every_group_type_is_described_by_the_schema() {
    let schema = schema();
    let described: BTreeSet<String> = schema["$defs"]["group"]["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            c["if"]["properties"]["type"]["const"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    for (name, _, file) in committed() {
        for g in &file.test_groups {
            assert!(
                described.contains(&g.kind),
                "{name}: group type {} has no schema entry",
                g.kind
            );
        }
    }
}

#[test]
fn every_file_is_lint_clean_and_generated() {
    let generated: Vec<(String, String)> = generated_files()
        .into_iter()
        .map(|(dir, name, f)| {
            let label = if dir == interop_dir() {
                "interop"
            } else {
                "data"
            };
            (format!("{label}/{name}"), f.to_canonical_string())
        })
        .collect();
    let files = committed();
    assert_eq!(
        files.iter().map(|f| f.0.clone()).collect::<BTreeSet<_>>(),
        generated
            .iter()
            .map(|g| g.0.clone())
            .collect::<BTreeSet<_>>(),
        "committed vector files and generators differ: run `cargo run -p airtight-vectors -- regen`"
    );
    for (name, text) in generated {
        let on_disk = std::fs::read_to_string(airtight_vectors::vectors_dir().join(&name)).unwrap();
        assert!(
            on_disk == text,
            "{name} is stale: run `cargo run -p airtight-vectors -- regen`"
        );
    }
    for (name, _, file) in files {
        file.lint().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn implementation_passes_every_vector() {
    let mut total = 0;
    let mut failures = Vec::new();
    for (_, _, file) in committed() {
        let r = check::check_file(&file);
        total += r.passed + r.failures.len();
        failures.extend(r.failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(total > 0);
}

#[test]
fn a_corrupted_expectation_is_caught() {
    // The checker must be able to fail: flip the expected output of every valid vector that has
    // an `encoded` or `bytes` field and require a failure for each.
    for (name, _, mut file) in committed() {
        let mut flipped = 0;
        for g in &mut file.test_groups {
            for t in &mut g.tests {
                for key in ["encoded", "bytes"] {
                    if let Some(Value::String(s)) = t.fields.get_mut(key)
                        && !s.is_empty()
                        && t.result == airtight_vectors::Verdict::Valid
                    {
                        let last = if s.ends_with('0') { '1' } else { '0' };
                        s.pop();
                        s.push(last);
                        flipped += 1;
                    }
                }
            }
        }
        if flipped > 0 {
            let r = check::check_file(&file);
            assert_eq!(r.failures.len(), flipped, "{name}: {:#?}", r.failures);
        }
    }
}

/// How to corrupt the expected output of a valid vector of each group type.
enum Corrupt {
    /// Flip the last hex digit.
    Hex(&'static str),
    /// Append a character.
    Str(&'static str),
    /// Add one.
    Int(&'static str),
}

fn corruption(kind: &str) -> Option<&'static [Corrupt]> {
    use Corrupt::{Hex, Int, Str};
    Some(match kind {
        "SerializationTest" | "DeserializationTest" => &[Hex("encoded")],
        "Base64UrlTest" => &[Hex("bytes")],
        "SessionKeyTest" => &[Hex("sessionKey"), Hex("kdfInput"), Hex("z")],
        "SessionAttestationTest" => &[Hex("attestation"), Hex("attestationInput")],
        "MethodMacTest" => &[Hex("mac")],
        "MacDataTest" => &[Hex("data")],
        "KeyAttestationTest" | "CloseAttestationTest" => &[Hex("attestation")],
        "EncryptionTest" => &[Hex("ciphertext"), Hex("plaintext")],
        "EncryptionKeyTest" => &[Hex("encryptionKey")],
        "TargetKeyReferenceTest" => &[Hex("targetKeyReference"), Hex("authorization")],
        "RollOverAuthorizationTest" => &[Hex("signedData"), Hex("authorization")],
        "PropertyBagTest" => &[Hex("blob")],
        "DeviceIdTest" => &[Str("longId"), Str("shortId")],
        "DeviceIdValidationTest" => &[Str("deviceId")],
        "LookupNonceTest" => &[Hex("nonce")],
        "LookupSignatureTest" => &[Hex("signedData")],
        "SpkiTest" => &[Str("keyType")],
        "JwkTest" => &[Hex("spki")],
        "EcdsaSignatureTest" => &[Hex("der"), Hex("raw")],
        "SessionKeyLimitTest" => &[Int("uses")],
        "MacCounterTest" => &[Int("finalCounter")],
        "MessageDecodeTest" => &[Str("qualifier")],
        _ => return None,
    })
}

fn corrupt(t: &mut airtight_vectors::TestCase, how: &Corrupt) -> bool {
    match how {
        Corrupt::Hex(k) => match t.fields.get_mut(*k) {
            Some(Value::String(s)) if !s.is_empty() => {
                let last = if s.ends_with('0') { '1' } else { '0' };
                s.pop();
                s.push(last);
                true
            }
            _ => false,
        },
        Corrupt::Str(k) => match t.fields.get_mut(*k) {
            Some(Value::String(s)) => {
                s.push('Z');
                true
            }
            _ => false,
        },
        Corrupt::Int(k) => match t.fields.get(*k).and_then(Value::as_u64) {
            Some(n) => {
                t.fields.insert((*k).to_owned(), Value::from(n + 1));
                true
            }
            None => false,
        },
    }
}

#[test]
fn every_group_type_can_fail() {
    // For every group type, corrupting one expected output of one valid vector (one field at a
    // time) must make the checker fail; for invalid message vectors, a wrong expected error
    // path must fail too. A checker that cannot fail is a bug (issue 7: a mutation of any MAC,
    // attestation or ciphertext of a recorded sample is caught).
    let mut seen = BTreeSet::new();
    for (name, _, file) in committed() {
        for g in &file.test_groups {
            let rules = corruption(&g.kind)
                .unwrap_or_else(|| panic!("{name}: no corruption rule for {}", g.kind));
            seen.insert(g.kind.clone());
            for t in &g.tests {
                let mut variants = Vec::new();
                if t.result == airtight_vectors::Verdict::Valid {
                    for how in rules {
                        let mut c = t.clone();
                        if corrupt(&mut c, how) {
                            variants.push(c);
                        }
                    }
                } else if g.kind == "MessageDecodeTest" {
                    let mut c = t.clone();
                    if corrupt(&mut c, &Corrupt::Str("errorPath")) {
                        variants.push(c);
                    }
                }
                for c in variants {
                    let one = VectorFile {
                        number_of_tests: 1,
                        test_groups: vec![airtight_vectors::TestGroup {
                            kind: g.kind.clone(),
                            tests: vec![c.clone()],
                        }],
                        ..file.clone()
                    };
                    let r = check::check_file(&one);
                    assert_eq!(
                        r.failures.len(),
                        1,
                        "{name} tcId {} ({}): corrupted {:?} still passes",
                        t.tc_id,
                        g.kind,
                        c.fields.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    assert!(seen.len() >= 20, "{seen:?}");
}

#[test]
fn interop_covers_every_recorded_session() {
    // [CRY-KDF-007] [CRY-ATT-001] [CRY-MAC-001] [CRY-KAT-002] [CRY-CLS-001]
    let recorded = airtight_vectors::generate::recorded::sessions();
    assert_eq!(recorded.len(), 18);
    let files = committed();
    for s in recorded {
        let name = format!("interop/{}.json", s.name);
        let (_, _, file) = files
            .iter()
            .find(|f| f.0 == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let kinds: BTreeSet<&str> = file.test_groups.iter().map(|g| g.kind.as_str()).collect();
        for k in [
            "SessionKeyTest",
            "SessionAttestationTest",
            "MethodMacTest",
            "MacDataTest",
            "CloseAttestationTest",
            "MacCounterTest",
            "MessageDecodeTest",
        ] {
            assert!(kinds.contains(k), "{name} lacks {k}");
        }
        let messages = file
            .test_groups
            .iter()
            .find(|g| g.kind == "MessageDecodeTest")
            .map_or(0, |g| g.tests.len());
        assert_eq!(messages, s.messages.len(), "{name}");
    }
}

#[test]
fn every_spec_tag_of_every_file_exists() {
    let spec = airtight_vectors::vectors_dir()
        .parent()
        .unwrap()
        .join("spec");
    let mut text = String::new();
    for e in std::fs::read_dir(spec).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) == Some("md") {
            text.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    for (name, _, file) in committed() {
        for tag in &file.spec_tags {
            assert!(
                text.contains(&format!("- [{tag}]")),
                "{name}: spec tag {tag} is not defined in spec/*.md"
            );
        }
    }
}

#[test]
fn enough_vectors() {
    let files = committed();
    let total: usize = files.iter().map(|f| f.2.number_of_tests).sum();
    let invalid = files
        .iter()
        .flat_map(|f| f.2.tests().map(|(_, t)| t.result).collect::<Vec<_>>())
        .filter(|r| *r == airtight_vectors::Verdict::Invalid)
        .count();
    assert!(files.len() >= 14 + 18, "{} files", files.len());
    assert!(
        total >= 400 && invalid >= 100,
        "{total} tests, {invalid} invalid"
    );
}
