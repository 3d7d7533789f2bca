//! `airtight harness issuer --reference` with `--hostile` and `--crash-under-load` (bounded: a
//! 1.5 s load twice, two SIGKILL rounds): the report carries the honest figures alone and
//! beside the hostile traffic, what each hostile kind got, the issuer's memory, and the crash
//! rounds with their audit; the JSON report validates against its schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn schema() -> serde_json::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/schemas/harness-report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn hostile_load_and_crash_under_load_go_into_the_report() {
    let dir = tempfile_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(["harness", "issuer", "--quiet", "--reference"])
        .args(["--only", "issuer.sanity", "--seed", "5"])
        .args(["--load-rate", "10", "--load-connections", "4"])
        .args(["--load-seconds", "1.5", "--hostile", "0.5"])
        .args(["--crash-under-load", "2", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("load: hostile share 0.5"), "{stdout}");
    assert!(
        stdout.contains("crash under load: 2 SIGKILL round(s)"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let h = &json["load"]["hostile"];
    assert!(
        h["honest_under_attack"]["sessions"].as_u64().unwrap() > 0,
        "{h}"
    );
    for kind in ["garbage", "oversized", "slowloris", "replay", "flood"] {
        let k = &h["kinds"][kind];
        assert!(k["sent"].as_u64().unwrap() > 0, "{kind}: {k}");
        assert_eq!(k["not_refused"], 0, "{kind}: {k}");
    }
    assert!(h["memory"]["in_process"].as_bool().unwrap(), "{h}");
    let c = &json["crash"];
    assert_eq!(c["passed"], true, "{c}");
    assert_eq!(c["rounds"].as_array().unwrap().len(), 2, "{c}");
    let a = &c["audit"];
    assert!(a["issuances"].as_u64().unwrap() >= a["completed_seen"].as_u64().unwrap());
    assert!(c["resumed_sessions"].as_u64().unwrap() > 0, "{c}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("id=\"hostile\"") && html.contains("<section id=\"crash\">"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_options_are_checked() {
    for (args, wanted) in [
        (
            vec![
                "--load-rate",
                "5",
                "--load-seconds",
                "1",
                "--hostile",
                "1.5",
            ],
            "0 < F < 1",
        ),
        (
            vec![
                "--load-rate",
                "5",
                "--load-seconds",
                "1",
                "--hostile",
                "0.3",
                "--hostile-kinds",
                "garbage,nope",
            ],
            "unknown kind \"nope\"",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
            .args(["harness", "issuer", "--quiet", "--reference"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(wanted), "{stderr}");
    }
}

/// A fresh scratch directory under the system's temporary directory.
fn tempfile_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let d = std::env::temp_dir().join(format!("airtight-hostile-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
