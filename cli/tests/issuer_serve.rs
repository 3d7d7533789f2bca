//! `airtight issuer serve` as a user runs it: which PKI it trusts (nothing of the repository's
//! test PKI unless asked for by name), its built-in policy, `--bind`, nothing on disk after a
//! failed start, `issuer list --all --json`, and its own harness against its default settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{IssuerServe, issuer_serve, issuer_serve_command};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../reference/pki/fixtures");

fn airtight(args: &[&str], pin: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(args)
        .env("PIN", pin)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Starts `issuer serve ARGS` and waits for its banner (stderr collected).
fn serve(args: &[&str]) -> IssuerServe {
    issuer_serve(args, |c| {
        c.env("RUST_LOG", "warn");
    })
}

/// Runs `issuer serve ARGS`, which must exit by itself (a refusal) within a minute.
fn serve_refused(args: &[&str]) -> (Option<i32>, String) {
    let mut child = issuer_serve_command(args)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("issuer serve {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn enroll(init: &str, card: &Path, pin: &str) -> Output {
    airtight(
        &[
            "enroll",
            init,
            "--card-dir",
            card.to_str().unwrap(),
            "--yes",
            "--pin-env",
            "PIN",
        ],
        pin,
    )
}

fn list(data: &Path, extra: &[&str]) -> String {
    let mut args = vec!["issuer", "list", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = airtight(&args, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The reported reproduction: a policy with no device anchors and no CA. The issuer used to
/// trust the repository's test device CA anyway (and certify with the test issuer CA); now it
/// refuses to start, says how to configure its PKI, and leaves nothing on disk.
#[test]
fn without_a_configured_pki_issuer_serve_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), "action = \"manage\"\n");
    let data = dir.path().join("d");
    let (code, err) = serve_refused(&[
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{err}");
    for needle in [
        "--device-anchor",
        "--ca-key",
        "--ca-chain",
        "--policy",
        "--test-pki",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!data.exists());
    // The built-in policy configures no PKI either.
    let (code, err) = serve_refused(&[
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{err}");
}

/// An issuer with its own device anchor and CA does not accept a card of the test device CA:
/// no issuance, and `issuer list --all` shows the failed session and why.
#[test]
fn an_issuer_with_its_own_anchors_refuses_a_test_card() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), "action = \"manage\"\n");
    let data = dir.path().join("d");
    let card = dir.path().join("c");
    let server = serve(&[
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        // Some other CA than the test device CA.
        "--device-anchor",
        &fixture("issuer-root-ca.cert.pem"),
        "--ca-key",
        &fixture("issuer-ca.key.pem"),
        "--ca-chain",
        &fixture("issuer-ca.chain.pem"),
    ]);
    assert!(!server.stderr.lock().unwrap().contains("--test-pki"));
    let out = enroll(&server.init, &card, "1590");
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(list(&data, &[]).contains("no issuances"));
    let all = list(&data, &["--all"]);
    assert!(all.contains("failed"), "{all}");
    assert!(all.contains("IMP-002") || all.contains("device"), "{all}");

    let json: serde_json::Value = serde_json::from_str(&list(&data, &["--all", "--json"])).unwrap();
    check_schema(&json);
    assert_eq!(json["issuances"].as_array().unwrap().len(), 0);
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{json}");
    assert_eq!(sessions[0]["status"], "failed");
    assert!(sessions[0]["reason"].as_str().unwrap().len() > 10);
}

fn check_schema(value: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../spec/schemas/cli-issuer-list.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{value}");
}

/// `--test-pki` asks for the repository's test PKI by name (with a warning); the built-in
/// policy is `reference/issuer/policies/default.toml` (PIN 1234 is refused by its patterns);
/// `issuer list --json` lists the issuance.
#[test]
fn test_pki_by_name_and_the_builtin_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = serve(&[
        "--test-pki",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let refused = enroll(&server.init, &dir.path().join("c1"), "1234");
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
    let out = enroll(&server.init, &dir.path().join("c2"), "1590");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        server
            .stderr
            .lock()
            .unwrap()
            .contains("warning: --test-pki"),
        "{}",
        server.stderr.lock().unwrap()
    );
    let json: serde_json::Value = serde_json::from_str(&list(&data, &["--json"])).unwrap();
    check_schema(&json);
    let issuances = json["issuances"].as_array().unwrap();
    assert_eq!(issuances.len(), 1);
    assert_eq!(issuances[0]["mode"], "e2es");
    assert_eq!(
        issuances[0]["keys"][0]["friendly_name"],
        "airtight login key"
    );
    assert!(json.get("sessions").is_none());
    // --all: the session whose PIN the middleware refused is still open (a plain init URL
    // has no cancel URL; it is swept once its lifetime is over), besides the completed one.
    let json: serde_json::Value = serde_json::from_str(&list(&data, &["--all", "--json"])).unwrap();
    check_schema(&json);
    let statuses: Vec<&str> = json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["open", "done"], "{json}");
    let table = list(&data, &["--all"]);
    assert!(table.contains("waiting in phase"), "{table}");
}

/// A busy port: nothing is created on disk.
#[test]
fn a_busy_port_leaves_nothing_on_disk() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let (code, err) = serve_refused(&[
        "--test-pki",
        "--bind",
        &addr,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
    assert!(!data.exists(), "{err}");
}

/// `--data-dir` naming a file: a message that says so.
#[test]
fn a_data_dir_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("msg.txt");
    std::fs::write(&file, "hello").unwrap();
    let (code, err) = serve_refused(&[
        "--test-pki",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("is a file"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello");
}

/// `--bind localhost:PORT` is accepted, and the issuer's URL then names localhost, so that
/// the printed URL enrols.
#[test]
fn bind_localhost_is_accepted_and_its_url_enrols() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = serve(&[
        "--test-pki",
        "--bind",
        "localhost:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(
        server
            .banner
            .starts_with("airtight issuer listening on http://localhost:"),
        "{}",
        server.banner
    );
    let out = enroll(&server.init, &dir.path().join("c"), "1590");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The same server under 127.0.0.1: the session attestation fails, and the message says
    // why and what to do.
    let other = server.init.replace("localhost", "127.0.0.1");
    let out = enroll(&other, &dir.path().join("c"), "1590");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("CRY-ATT-005"), "{err}");
    assert!(err.contains("--public-url"), "{err}");
}

/// The done-when item: the issuer catalog passes against `airtight issuer serve --test-pki`
/// with its default settings (timeouts, limits, policy).
#[test]
fn issuer_serve_defaults_pass_the_issuer_harness() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let server = serve(&[
        "--test-pki",
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let out = airtight(
        &[
            "harness",
            "issuer",
            "--url",
            &server.init,
            "--quiet",
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
