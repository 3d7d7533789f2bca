//! The `airtight-pki-fixtures` binary: `--check` passes on the committed files and fails on a
//! modified copy.
#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_airtight-pki-fixtures");

#[test]
fn check_passes_on_committed_fixtures() {
    let out = Command::new(BIN).arg("--check").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn write_then_check_then_detect_a_change() {
    let dir =
        std::env::temp_dir().join(format!("airtight-pki-fixtures-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    assert!(
        Command::new(BIN)
            .args(["--dir", d])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        Command::new(BIN)
            .args(["--check", "--dir", d])
            .output()
            .unwrap()
            .status
            .success()
    );
    let f = dir.join("device-p256.chain.pem");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push('\n');
    std::fs::write(&f, text).unwrap();
    let out = Command::new(BIN)
        .args(["--check", "--dir", d])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("device-p256.chain.pem"));
    std::fs::remove_file(&f).unwrap();
    assert!(
        !Command::new(BIN)
            .args(["--check", "--dir", d])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        !Command::new(BIN)
            .arg("--bogus")
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
