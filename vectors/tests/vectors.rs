//! Every committed vector file: valid against the schema, lint-clean, up to date with its
//! generator, and passed by the implementation.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use airtight_vectors::{check, data_dir, format::VectorFile, generate, schema_path};
use serde_json::Value;

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap()
}

fn committed() -> Vec<(String, Value, VectorFile)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data_dir()).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let file: VectorFile = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            value,
            file,
        ));
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
    let generated: Vec<(String, String)> = generate::all()
        .into_iter()
        .map(|(stem, f)| (format!("{stem}.json"), f.to_canonical_string()))
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
        let on_disk = std::fs::read_to_string(data_dir().join(&name)).unwrap();
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
