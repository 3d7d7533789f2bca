//! The middleware-side commands through an SKS shim process: `airtight enroll --shim
//! "airtight card shim --card-dir D"` against an in-process issuer server (E2ES and privacy),
//! then `card info|keys|sign` through the shim; and the shim failures a user can meet.
//!
//! The card directory's identity and keys come from the OS generator (the CLI takes no seed),
//! so "the same keys as in-process" is checked on the same card: `card info` and `card keys`
//! print exactly the same through the shim as in-process, and the keys issued through the shim
//! verify with the certificates the issuer recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::SessionStatus;
use airtight_issuer::http::invocation_urls;
use airtight_proto::keys::{SignatureAlgorithm, certificate_public_key};
use common::{BIN, airtight, airtight_within, issuer, quote};

fn shim_of(card_dir: &str) -> String {
    format!("{} card shim --card-dir {}", quote(BIN), quote(card_dir))
}

fn enroll_through_the_shim(privacy: bool) {
    let (server, store) = issuer(privacy);
    let handle = if privacy {
        "shimclitestprivacy0000000001"
    } else {
        "shimclitestfullmode000000001"
    };
    let url = invocation_urls(server.base_url(), handle).intent;
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();
    let shim = shim_of(dir);

    // [SHIM-END-001] [SHIM-END-002] the shim ends with the enrolment.
    let out = airtight(&[
        "enroll",
        &url,
        "--shim",
        &shim,
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(out.ok(), "{}", out.both());
    assert!(out.stdout.contains("keys created: Key.1"), "{}", out.both());
    assert!(
        out.stderr.contains("-> ProvisioningFinalizationResponse"),
        "{}",
        out.both()
    );
    let rec = store.issuances().unwrap().remove(0).record;
    assert_eq!(rec.privacy_enabled, privacy);
    // [KG2-IMP-001] E2ES records the device; privacy mode sends no device certificate.
    assert_eq!(rec.device_id.is_some(), !privacy);

    // The same card through the shim and in-process: the same answers.
    for what in ["info", "keys"] {
        let via_shim = airtight(&["card", what, "--shim", &shim]);
        let direct = airtight(&["card", what, "--card-dir", dir]);
        assert!(via_shim.ok(), "{}", via_shim.both());
        assert!(direct.ok(), "{}", direct.both());
        assert_eq!(via_shim.stdout, direct.stdout, "card {what}");
    }
    let info = airtight(&["card", "info", "--shim", &shim]).stdout;
    if let Some(id) = &rec.device_id {
        assert!(info.contains(id.as_str()), "{info}");
    }
    let keys = airtight(&["card", "keys", "--shim", &shim]).stdout;
    assert!(keys.contains("CN=airtight Key.1"), "{keys}");

    // A signature made through the shim verifies with the certificate the issuer recorded.
    let file = card.path().join("message.txt");
    std::fs::write(&file, b"signed through the shim").unwrap();
    let signed = airtight(&[
        "card",
        "sign",
        "--shim",
        &shim,
        "--key",
        "1",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        file.to_str().unwrap(),
    ]);
    assert!(signed.ok(), "{}", signed.both());
    let sig = airtight_proto::codec::b64url::decode(signed.stdout.trim()).unwrap();
    certificate_public_key(&rec.keys[0].certificate_path[0])
        .unwrap()
        .verify(SignatureAlgorithm::ES256, b"signed through the shim", &sig)
        .unwrap();
}

#[test]
fn enroll_e2es_through_the_shim() {
    enroll_through_the_shim(false);
}

#[test]
fn enroll_privacy_through_the_shim() {
    enroll_through_the_shim(true);
}

/// A shim that cannot start, dies at once, or does not speak the protocol: a clear card error
/// (exit code 6), quickly, never a hang.
#[test]
fn broken_shims_are_clear_errors() {
    let t = Instant::now();
    let out = airtight(&["card", "keys", "--shim", "/nonexistent/airtight-shim"]);
    assert_eq!(out.code(), Some(6), "{}", out.both());
    assert!(
        out.stderr.contains("cannot start the shim"),
        "{}",
        out.both()
    );

    // [SHIM-CLI-002] the process exits before answering hello.
    let out = airtight(&["card", "keys", "--shim", "sh -c 'exit 3'"]);
    assert_eq!(out.code(), Some(6), "{}", out.both());
    assert!(out.stderr.contains("shim"), "{}", out.both());

    // A "shim" that echoes the request back: not a response.
    let out = airtight(&["card", "info", "--shim", "cat"]);
    assert_eq!(out.code(), Some(6), "{}", out.both());

    let out = airtight(&["card", "keys", "--shim", "'unterminated"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    assert!(out.stderr.contains("unterminated quote"), "{}", out.both());

    // The options exclude each other; serving takes no link option.
    let out = airtight(&["card", "keys", "--shim", "x", "--reader", "y"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    let out = airtight(&["card", "shim", "--shim", "x"]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    assert!(t.elapsed() < Duration::from_secs(30));
}

/// The shim dies in the middle of a provisioning session (it is killed on its Nth request by
/// a wrapper that stops forwarding): the middleware reports the card as gone, the CLI ends
/// the issuer session (302 to the issuer's error page), and the card holds no open session
/// and no key afterwards.
#[test]
fn a_shim_that_dies_mid_session_ends_the_issuer_session() {
    let (server, store) = issuer(false);
    let handle = "shimclitestdiesmidsession001";
    let url = invocation_urls(server.base_url(), handle).intent;
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();
    // hello, getDeviceInfo, createProvisioningSession pass (a shell loop forwards exactly
    // three request lines, unbuffered); then the shim's input ends and it exits.
    let shim = format!(
        "sh -c {}",
        quote(&format!(
            "i=0; while [ $i -lt 3 ] && IFS= read -r l; do printf '%s\\n' \"$l\"; i=$((i+1)); done \
             | {} card shim --card-dir {}",
            quote(BIN),
            quote(dir)
        ))
    );
    let out = airtight_within(
        &[
            "enroll",
            &url,
            "--shim",
            &shim,
            "--yes",
            "--pin-env",
            "AIRTIGHT_TEST_PIN",
        ],
        Duration::from_secs(90),
    );
    assert_eq!(out.code(), Some(7), "{}", out.both());
    // [SHIM-CLI-002] the shim's end is reported, the session was under way.
    assert!(
        out.stderr.contains("-> ProvisioningInitializationResponse"),
        "{}",
        out.both()
    );
    // [KG2-URL-003] the CLI ended the issuer session through the cancel URL.
    assert!(
        out.stderr.contains("the issuer session was ended") && out.stderr.contains("/error/"),
        "{}",
        out.both()
    );
    // The issuer chose the session id (a cookie planted by the invocation is not adopted).
    let sessions = store.session_summaries().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].status, SessionStatus::Failed);
    assert!(store.issuances().unwrap().is_empty());
    let keys = airtight(&["card", "keys", "--card-dir", dir]);
    assert!(keys.ok(), "{}", keys.both());
    assert_eq!(keys.stdout, "no keys\n");
}

/// `airtight card shim --card-dir DIR [--test-device-pin PIN]` as a child process.
fn card_shim_process(dir: &str, test_device_pin: Option<&str>) -> airtight_bindings::shim::ShimSks {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["card", "shim", "--card-dir", dir]);
    if let Some(pin) = test_device_pin {
        cmd.args(["--test-device-pin", pin]);
    }
    cmd.stderr(std::process::Stdio::null());
    airtight_bindings::shim::ShimSks::spawn(cmd, airtight_bindings::shim::ShimOptions::default())
        .unwrap()
}

#[test]
fn device_pin_test_mode_through_the_shim_process() {
    // [POL-DEV-001] [POL-DEV-003] [POL-IMP-001]: the device-PIN path through `card shim`, on
    // only with --test-device-pin.
    use airtight_bindings::shim::ShimSks;
    use airtight_harness::emulator::{Issuer, KeySpec};
    use airtight_proto::sks::{ProtectionStatus, ProvisioningHandle, SecureKeyStore, SksErrorCode};
    const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();

    let mut sks = card_shim_process(dir, Some("97531"));
    assert!(sks.get_device_info().unwrap().device_pin_support);
    let mut is = Issuer::new(7);
    is.create_session(&mut sks).unwrap();
    let mut spec = KeySpec::p256("Key.1");
    spec.device_pin_protection = true;
    let key = is.provision_key(&mut sks, &spec).unwrap();
    is.close(&mut sks).unwrap();
    let info = sks.get_key_protection_info(key.handle).unwrap();
    assert!(
        info.protection_status
            .contains(ProtectionStatus::DEVICE_PIN)
    );
    let sign = |sks: &mut ShimSks, pin: Option<&[u8]>| {
        sks.sign_data(key.handle, ECDSA_SHA256, None, false, pin, b"data")
    };
    let ok = sign(&mut sks, Some(b"97531"));
    assert!(ok.is_ok(), "{ok:?}");
    for wrong in [Some(b"1234".as_slice()), None] {
        let e = sign(&mut sks, wrong).unwrap_err();
        assert_eq!(e.code(), SksErrorCode::Authorization, "{wrong:?}");
    }
    sks.shutdown().unwrap();

    // The same card without the switch: no device PIN, and such keys are refused.
    let mut sks = card_shim_process(dir, None);
    assert!(!sks.get_device_info().unwrap().device_pin_support);
    let e = sign(&mut sks, Some(b"97531")).unwrap_err();
    assert_eq!(e.code(), SksErrorCode::Authorization);
    let mut is = Issuer::new(8);
    is.create_session(&mut sks).unwrap();
    let e = is.create_key(&mut sks, &spec).unwrap_err();
    assert_eq!(e.code(), Some(SksErrorCode::Option), "{e:?}");
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle(0), true)
            .unwrap()
            .is_none()
    );
    sks.shutdown().unwrap();
}

#[test]
fn test_device_pin_warns_on_stderr() {
    // The test mode says so; an empty PIN is a usage error.
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();
    let out = airtight(&[
        "card",
        "shim",
        "--card-dir",
        dir,
        "--test-device-pin",
        "2468",
    ]);
    assert!(out.ok(), "{}", out.both());
    assert!(out.stderr.contains("test mode"), "{}", out.both());
    let out = airtight(&["card", "shim", "--card-dir", dir]);
    assert!(!out.stderr.contains("test mode"), "{}", out.both());
    let out = airtight(&["card", "shim", "--card-dir", dir, "--test-device-pin", ""]);
    assert_eq!(out.code(), Some(2), "{}", out.both());
    let out = airtight(&["card", "serve", "--help"]);
    assert!(out.stdout.contains("--test-device-pin"), "{}", out.both());
}
