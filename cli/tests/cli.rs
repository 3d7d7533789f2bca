//! The `airtight` binary: `demo`, `issuer list`, `enroll` + `card info|keys|sign`, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Output};
use std::sync::Arc;

use airtight_cli::issuer::test_pki_issuer as build_issuer;
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::Store;
use airtight_issuer::http::{AppState, ServerConfig, ServerHandle, invocation_urls, issuer_uri_of};
use airtight_issuer::{IssuanceRecord, IssuedKey, Issuer, Policy, StartRequest};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn airtight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(args)
        .env("AIRTIGHT_TEST_PIN", "1357")
        .env("AIRTIGHT_WRONG_PIN", "9999")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_succeeds() {
    let work = tempfile::tempdir().unwrap();
    let out = airtight(&["demo", "--work-dir", work.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    for needle in [
        "== 1. provisioning in E2ES mode ==",
        "== 2. provisioning in privacy mode ==",
        "ProvisioningFinalizationResponse",
        "= the card's own device ID",
        "privacy mode: no device certificate was sent or recorded",
        "demo OK: 2 provisioning sessions (E2ES and privacy), 2 issuances recorded, 2 signatures verified",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // The demo's database is an ordinary issuer database.
    let list = airtight(&[
        "issuer",
        "list",
        "--data-dir",
        work.path().join("issuer-data").to_str().unwrap(),
    ]);
    assert!(list.status.success());
    let l = text(&list.stdout);
    assert!(l.contains(" E2ES ") && l.contains(" privacy "), "{l}");
}

/// A database with one synthetic issuance (fixed values, a real fixture certificate).
fn database_with_one_issuance(dir: &std::path::Path) {
    let store = Store::open_dir(dir).unwrap();
    let iss = Issuer::new("http://127.0.0.1:1/keygen2", Vec::new(), Policy::default());
    let (state, _) = iss
        .start(
            StartRequest::default(),
            &mut ChaCha20Rng::seed_from_u64(5),
            airtight_proto::time::UnixTime::from_secs(1_767_225_600),
        )
        .unwrap();
    store
        .insert_session("handle-of-the-snapshot-test", &state, 1_767_225_600)
        .unwrap();
    let cert = airtight_pki::fixtures::issuer_ca()
        .certificate_der()
        .to_vec();
    let record = IssuanceRecord {
        server_session_id: "S.snapshot".into(),
        client_session_id: "C.snapshot".into(),
        action: "manage".into(),
        privacy_enabled: false,
        device_certificate_path: vec![cert.clone()],
        device_id: Some("AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHJJJJ".into()),
        keys: vec![IssuedKey {
            id: "Key.1".into(),
            key_algorithm: "https://webpki.github.io/sks/algorithm#ec.nist.p256".into(),
            app_usage: "authentication".into(),
            friendly_name: None,
            public_key_spki: vec![1, 2, 3],
            certificate_path: vec![cert],
        }],
        post_operations: Vec::new(),
        server_time: "2026-01-01T00:00:00Z".into(),
        completed_at: 1_767_225_605,
    };
    store
        .complete_session(
            "handle-of-the-snapshot-test",
            1,
            &state,
            &record,
            1_767_225_605,
        )
        .unwrap();
}

#[test]
fn issuer_list_output() {
    let dir = tempfile::tempdir().unwrap();
    database_with_one_issuance(dir.path());
    let out = airtight(&["issuer", "list", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Regression snapshot of the table layout.
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn enroll_then_use_the_card() {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        move |base| {
            let iss = build_issuer(&issuer_uri_of(base), Policy::default());
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    let url = invocation_urls(server.base_url(), "clitestsessionhandle00000001").intent;
    let card = tempfile::tempdir().unwrap();
    let card_dir = card.path().to_str().unwrap();

    let out = airtight(&[
        "enroll",
        &url,
        "--card-dir",
        card_dir,
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("keys created: Key.1"));
    assert!(text(&out.stderr).contains("-> ProvisioningFinalizationResponse"));
    let rec = store.issuances().unwrap().remove(0).record;

    let info = airtight(&["card", "info", "--card-dir", card_dir]);
    assert!(info.status.success());
    let info = text(&info.stdout);
    // The device ID the card reports is the one the issuer recorded.
    assert!(info.contains(rec.device_id.as_deref().unwrap()), "{info}");

    let keys = airtight(&["card", "keys", "--card-dir", card_dir]);
    assert!(
        text(&keys.stdout).contains("CN=airtight Key.1"),
        "{}",
        text(&keys.stdout)
    );

    let file = card.path().join("message.txt");
    std::fs::write(&file, b"sign me").unwrap();
    let file = file.to_str().unwrap();
    let signed = airtight(&[
        "card",
        "sign",
        "--card-dir",
        card_dir,
        "--key",
        "1",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        file,
    ]);
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    assert!(text(&signed.stderr).contains("signature verified"));
    // The signature verifies, independently of the CLI, with the certificate's public key.
    let sig = airtight_proto::codec::b64url::decode(text(&signed.stdout).trim()).unwrap();
    let pk =
        airtight_proto::keys::certificate_public_key(&rec.keys[0].certificate_path[0]).unwrap();
    pk.verify(
        airtight_proto::keys::SignatureAlgorithm::ES256,
        b"sign me",
        &sig,
    )
    .unwrap();

    // A wrong PIN is refused by the card: exit code 6.
    let wrong = airtight(&[
        "card",
        "sign",
        "--card-dir",
        card_dir,
        "--key",
        "1",
        "--pin-env",
        "AIRTIGHT_WRONG_PIN",
        file,
    ]);
    assert_eq!(wrong.status.code(), Some(6), "{}", text(&wrong.stderr));
}

#[test]
fn failures_have_clear_messages_and_exit_codes() {
    let empty = tempfile::tempdir().unwrap();
    let d = empty.path().to_str().unwrap();

    let out = airtight(&["issuer", "list", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(5));
    assert!(text(&out.stderr).contains("no issuer database"));

    let out = airtight(&["card", "keys", "--card-dir", d]);
    assert_eq!(out.status.code(), Some(6));
    assert!(text(&out.stderr).contains("no card in"));

    let out = airtight(&[
        "enroll",
        "ftp://example.invalid/x",
        "--card-dir",
        d,
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert!(text(&out.stderr).contains("invocation URL"));

    // Nothing listens there: a transport error, and the message says where.
    let out = airtight(&[
        "enroll",
        "http://127.0.0.1:9/keygen2?init=true",
        "--card-dir",
        d,
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert!(text(&out.stderr).contains("127.0.0.1:9"));

    let out = airtight(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn issuer_serve_with_a_policy_file_then_enroll_and_list() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().unwrap();
    let card = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reference/issuer/policies/default.toml"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args([
            "issuer",
            "serve",
            "--test-pki",
            "--bind",
            "127.0.0.1:0",
            "--policy",
            policy,
            "--data-dir",
        ])
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let outcome = std::panic::catch_unwind(|| {
        assert!(
            first.starts_with("airtight issuer listening on http://127.0.0.1:"),
            "{first}"
        );
        let init = second.strip_prefix("enrol with: airtight enroll ").unwrap();
        let out = airtight(&[
            "enroll",
            init,
            "--card-dir",
            card.path().to_str().unwrap(),
            "--yes",
            "--pin-env",
            "AIRTIGHT_TEST_PIN",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // The policy file's key has a friendly name.
        let keys = airtight(&["card", "keys", "--card-dir", card.path().to_str().unwrap()]);
        assert!(
            text(&keys.stdout).contains("airtight login key"),
            "{}",
            text(&keys.stdout)
        );
        let list = airtight(&[
            "issuer",
            "list",
            "--data-dir",
            data.path().to_str().unwrap(),
        ]);
        assert!(list.status.success());
        assert!(
            text(&list.stdout).contains(" E2ES "),
            "{}",
            text(&list.stdout)
        );
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn issuer_serve_refuses_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.toml");
    std::fs::write(&policy, "no_such_field = 1\n").unwrap();
    let out = airtight(&[
        "issuer",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--policy",
        policy.to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bad.toml"));
}

/// `issuer serve` killed (SIGKILL) in the middle of a session and started again on the same
/// data directory and address: the session continues, and the completed issuance survives a
/// second kill.
#[test]
fn issuer_killed_mid_session_loses_nothing() {
    use std::io::{BufRead, BufReader};
    use std::time::Duration;

    use airtight_card::ReferenceSks;
    use airtight_client::engine::{Middleware, SessionContext};
    use airtight_client::ui::{AutoUi, PinSource};

    let data = tempfile::tempdir().unwrap();
    let serve = |bind: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_airtight"))
            .args([
                "issuer",
                "serve",
                "--test-pki",
                "--bind",
                bind,
                "--data-dir",
            ])
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .strip_prefix("airtight issuer listening on ")
            .and_then(|r| r.split('/').nth(2))
            .map(|hostport| format!("http://{hostport}"))
            .unwrap();
        (child, base)
    };
    // A fresh agent per request: no pooled connection to a killed server.
    let agent = || {
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(Duration::from_secs(30)))
                .build(),
        )
    };
    let cookie = "airtight_session=killtestsessionhandle00000001";
    let post = |base: &str, body: &[u8]| {
        let mut r = agent()
            .post(format!("{base}/keygen2"))
            .header("Content-Type", "application/json")
            .header("Cookie", cookie)
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_vec().unwrap())
    };

    let (mut child, base) = serve("127.0.0.1:0");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut first = agent()
            .get(format!("{base}/keygen2?init=true"))
            .header("Cookie", cookie)
            .call()
            .unwrap();
        let mut req = first.body_mut().read_to_vec().unwrap();
        let mut mw = Middleware::new(
            ReferenceSks::in_memory_for_tests(31),
            SessionContext::plain(&format!("{base}/keygen2")),
        )
        .with_ui(Box::new(AutoUi::accept_all()))
        .with_pin_source(PinSource::from_lines("1357"));
        for _ in 0..2 {
            let resp = mw.handle_bytes(&req).unwrap();
            let (status, body) = post(&base, &resp);
            assert_eq!(status, 200);
            req = body;
        }
        (mw, req)
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut mw, mut req) = outcome.unwrap_or_else(|p| std::panic::resume_unwind(p));

    // Same address, same data directory.
    let (mut child, base2) = serve(base.strip_prefix("http://").unwrap());
    assert_eq!(base2, base);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loop {
            let resp = mw.handle_bytes(&req).unwrap();
            let (status, body) = post(&base, &resp);
            if status != 200 {
                assert_eq!(status, 302);
                assert!(mw.is_done());
                break;
            }
            req = body;
        }
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }

    let list = airtight(&[
        "issuer",
        "list",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(list.status.success());
    let l = text(&list.stdout);
    assert!(l.lines().nth(1).unwrap().starts_with("1 "), "{l}");
    assert_eq!(l.lines().filter(|x| x.contains(" E2ES ")).count(), 1, "{l}");
}

#[test]
fn issuer_serve_over_https_then_enroll_with_a_trust_anchor() {
    // [KG2-HTP-010] `issuer serve --tls-cert/--tls-key` and `enroll --trust-anchor`, with the
    // fixture TLS identity of airtight-pki (127.0.0.1, issued by the test issuer CA).
    use std::io::{BufRead, BufReader};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../reference/pki/fixtures");
    let data = tempfile::tempdir().unwrap();
    let card = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args([
            "issuer",
            "serve",
            "--test-pki",
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(format!("{fixtures}/tls-server.chain.pem"))
        .arg("--tls-key")
        .arg(format!("{fixtures}/tls-server.key.pem"))
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let outcome = std::panic::catch_unwind(|| {
        assert!(
            first.starts_with("airtight issuer listening on https://127.0.0.1:"),
            "{first}"
        );
        let init = second.strip_prefix("enrol with: airtight enroll ").unwrap();
        let card_dir = card.path().to_str().unwrap();
        // Without an anchor: refused before the card is touched.
        let out = airtight(&["enroll", init, "--card-dir", card_dir, "--yes"]);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("KG2-HTP-010"),
            "{}",
            text(&out.stderr)
        );
        let anchor = format!("{fixtures}/issuer-root-ca.cert.pem");
        let out = airtight(&[
            "enroll",
            init,
            "--card-dir",
            card_dir,
            "--yes",
            "--pin-env",
            "AIRTIGHT_TEST_PIN",
            "--trust-anchor",
            &anchor,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("keys created: Key.1"));
        let list = airtight(&[
            "issuer",
            "list",
            "--data-dir",
            data.path().to_str().unwrap(),
        ]);
        assert!(
            text(&list.stdout).contains(" E2ES "),
            "{}",
            text(&list.stdout)
        );
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}
