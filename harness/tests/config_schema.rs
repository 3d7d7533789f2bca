//! The target configuration schema (`spec/schemas/harness-target.schema.json`) and the TOML
//! loader agree: every example target validates and loads, and each broken variant is refused
//! by both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use airtight_harness::TargetConfig;

fn validator() -> jsonschema::Validator {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/schemas/harness-target.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p).expect("schema file"))
            .expect("schema JSON");
    jsonschema::draft202012::new(&schema).expect("valid schema")
}

fn as_json(toml_text: &str) -> serde_json::Value {
    let v: toml::Value = toml::from_str(toml_text).expect("TOML");
    serde_json::to_value(v).expect("JSON")
}

#[test]
fn every_example_target_validates_and_loads() {
    let v = validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("targets");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let errors: Vec<String> = v
                .iter_errors(&as_json(&text))
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", p.display());
            TargetConfig::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 4, "{n} example targets");
    // The built-in reference configuration too, written as TOML.
    let reference = as_json(&toml::to_string(&TargetConfig::reference()).expect("TOML"));
    let errors: Vec<String> = v.iter_errors(&reference).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn broken_targets_are_refused_by_the_schema_and_the_loader() {
    let v = validator();
    for (what, text) in [
        ("unknown top-level key", "colour = \"red\"\n"),
        ("unknown target key", "[target]\nspeed = 3\n"),
        ("unknown transport", "[target]\ntransport = \"bluetooth\"\n"),
        (
            "pcsc without an allowlist",
            "[target]\ntransport = \"pcsc\"\nreader = \"R\"\n",
        ),
        ("shim without a command", "[target]\ntransport = \"shim\"\n"),
        ("unknown feature", "[features]\ndeclared = [\"teleport\"]\n"),
        ("empty reason", "[disabled]\n\"card.x\" = \"  \"\n"),
        (
            "device key without chain",
            "[issuer]\ndevice_key = \"k.pem\"\n",
        ),
        ("unknown issuer key", "[issuer]\nretries = 3\n"),
        ("negative timeout", "[issuer]\ntimeout_ms = -1\n"),
        (
            "unpinned divergence",
            "[known_divergences]\n\"card.x\" = \"no clock\"\n",
        ),
        (
            "divergence with an empty actual",
            "[known_divergences]\n\"card.x\" = { actual = \"\", reason = \"r\" }\n",
        ),
        (
            "divergence by prefix",
            "[known_divergences]\n\"card.\" = { actual = \"accepted\", reason = \"r\" }\n",
        ),
        (
            "expected failure by prefix",
            "[expected_failures]\n\"card.mac.\" = \"bug\"\n",
        ),
        ("unknown policy key", "[policy]\nstrict = true\n"),
        (
            "destructive pcsc without a reader",
            "destructive = true\n[target]\ntransport = \"pcsc\"\natr_allowlist = [\"3B00\"]\n",
        ),
    ] {
        assert!(!v.is_valid(&as_json(text)), "schema accepted {what}");
        assert!(
            TargetConfig::from_toml(text).is_err(),
            "loader accepted {what}"
        );
    }
}
