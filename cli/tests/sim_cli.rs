//! `airtight sim` from outside the repository: the shipped scenarios are listed and run by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn airtight(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn shipped_scenarios_are_listed_and_run_by_name_from_any_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let out = airtight(cwd.path(), &["sim", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("Shipped scenarios"), "{listed}");
    assert!(listed.contains("  smoke "), "{listed}");
    assert!(listed.contains("  morning-wave "), "{listed}");

    let by_name = cwd.path().join("by-name");
    let out = airtight(
        cwd.path(),
        &[
            "sim",
            "run",
            "smoke",
            "--no-transcript",
            "--out",
            by_name.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The same scenario by its path from the repository's root gives the same metrics.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let by_path = cwd.path().join("by-path");
    let out = airtight(
        root,
        &[
            "sim",
            "run",
            "simulator/scenarios/smoke.toml",
            "--no-transcript",
            "--out",
            by_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = std::fs::read(by_name.join("metrics.json")).unwrap();
    let b = std::fs::read(by_path.join("metrics.json")).unwrap();
    assert!(a == b, "metrics.json differs between `smoke` and its path");
}

#[test]
fn an_unknown_scenario_names_the_shipped_ones() {
    let cwd = tempfile::tempdir().unwrap();
    let out = airtight(cwd.path(), &["sim", "run", "morning-wav"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("morning-wav: no such file, and no shipped scenario has that name"),
        "{err}"
    );
    assert!(err.contains("morning-wave"), "{err}");
    // A path that does not exist is not looked up among the shipped scenarios.
    let out = airtight(
        cwd.path(),
        &["sim", "explore", "x/smoke", "--seeds", "0..1"],
    );
    let err = text(&out.stderr);
    assert!(err.contains("x/smoke: no such file;"), "{err}");
}
