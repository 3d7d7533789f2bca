//! The file-backed card's store as a user meets it through `airtight`: private modes, a
//! truncated journal refused with the way out (`card repair --accept-loss`), read-only
//! commands that rewrite nothing, and a warning for what a power cut left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use airtight_cli::issuer::test_pki_issuer as build_issuer;
use airtight_issuer::Policy;
use airtight_issuer::db::Store;
use airtight_issuer::http::{AppState, ServerConfig, ServerHandle, invocation_urls, issuer_uri_of};

fn airtight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(args)
        .env("AIRTIGHT_TEST_PIN", "1357")
        .env_remove("RUST_LOG")
        .env_remove("AIRTIGHT_CARD_PASSPHRASE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn both(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// An enrolled card in `card_dir` (created by `enroll`).
fn enrolled(card_dir: &Path) {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        move |base| {
            let iss = build_issuer(&issuer_uri_of(base), Policy::default());
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    let url = invocation_urls(server.base_url(), "clistoretestsession000000001").intent;
    let out = airtight(&[
        "enroll",
        &url,
        "--card-dir",
        card_dir.to_str().unwrap(),
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(out.status.success(), "{}", both(&out));
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
#[test]
fn card_directory_and_store_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let card = tmp.path().join("card");
    enrolled(&card);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&card), 0o700);
    assert_eq!(mode(&card.join("store")), 0o700);
    assert_eq!(mode(&card.join("device.key.pem")), 0o600);
    for (p, _) in files(&card.join("store")) {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    // Loosened by hand: the next command tightens and warns.
    std::fs::set_permissions(&card, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        card.join("store").join("journal.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = airtight(&["card", "info", "--card-dir", card.to_str().unwrap()]);
    assert!(out.status.success(), "{}", both(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("0755 -> 0700") && err.contains("0644 -> 0600"),
        "{}",
        both(&out)
    );
    assert_eq!(mode(&card), 0o700);
}

#[test]
fn truncated_store_is_refused_until_the_loss_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let card = tmp.path().join("card");
    enrolled(&card);
    let d = card.to_str().unwrap();
    let journal = card.join("store").join("journal.log");
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..200]).unwrap();
    let before = files(&card.join("store"));
    for args in [
        &["card", "keys", "--card-dir", d][..],
        &["card", "info", "--card-dir", d],
        &["card", "repair", "--card-dir", d],
    ] {
        let out = airtight(args);
        assert_eq!(out.status.code(), Some(6), "{args:?}: {}", both(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains("ends at commit") && err.contains("airtight card repair --accept-loss"),
            "{args:?}: {}",
            both(&out)
        );
        assert_eq!(
            files(&card.join("store")),
            before,
            "{args:?} rewrote the store"
        );
    }
    let out = airtight(&["card", "repair", "--accept-loss", "--card-dir", d]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(text(&out.stdout).contains("was accepted"), "{}", both(&out));
    let out = airtight(&["card", "keys", "--card-dir", d]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(!text(&out.stderr).contains("warning"), "{}", both(&out));
    let out = airtight(&["card", "repair", "--card-dir", d]);
    assert!(
        out.status.success() && text(&out.stdout).contains("nothing to repair"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_torn_tail_is_reported_and_read_only_commands_rewrite_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let card = tmp.path().join("card");
    enrolled(&card);
    let d = card.to_str().unwrap();
    let journal = card.join("store").join("journal.log");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[90, 0, 0, 0, 77, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7]);
    std::fs::write(&journal, &bytes).unwrap();
    let before = files(&card.join("store"));
    for sub in ["info", "keys"] {
        let out = airtight(&["card", sub, "--card-dir", d]);
        assert!(out.status.success(), "{}", both(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains("15 byte(s) of an interrupted commit")
                && err.contains("will be discarded at the next write"),
            "{}",
            both(&out)
        );
        assert_eq!(
            files(&card.join("store")),
            before,
            "card {sub} rewrote the store"
        );
    }
    let out = airtight(&["card", "repair", "--card-dir", d]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("it was discarded"),
        "{}",
        both(&out)
    );
    let out = airtight(&["card", "keys", "--card-dir", d]);
    assert!(!text(&out.stderr).contains("warning"), "{}", both(&out));
}
