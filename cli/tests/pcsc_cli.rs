//! The CLI through the real PC/SC stack: `airtight card serve --vpcd 127.0.0.1:35963` (a child
//! process) puts a file-backed card into pcscd's `Virtual PCD 00 00`, and `airtight enroll
//! --reader "Virtual PCD 00 00"` / `card info|keys|sign --reader` talk to it through
//! libpcsclite -> pcscd -> vpcd. Needs the `pcsc` feature and `AIRTIGHT_PCSC=1` with a running
//! pcscd (`bash scripts/pcsc-stack.sh cargo test -p airtight-cli --features pcsc --test
//! pcsc_cli -- --test-threads=1`); otherwise every test returns at once. The tests share the
//! reader and run one at a time. Every wait is bounded.
#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airtight_bindings::ApduSks;
use airtight_bindings::pcsc::{PcscTransport, ReaderSelector};
use airtight_issuer::db::IssuerStore as _;
use airtight_issuer::db::SessionStatus;
use airtight_issuer::http::invocation_urls;
use airtight_proto::keys::{SignatureAlgorithm, certificate_public_key};
use airtight_proto::sks::{KeyHandle, ProvisioningHandle, SecureKeyStore};
use common::{BIN, airtight, issuer, wait_bounded};

const READER: &str = "Virtual PCD 00 00";
const EMPTY_READER: &str = "Virtual PCD 00 01";
const VPCD: &str = "127.0.0.1:35963";
static SERIAL: Mutex<()> = Mutex::new(());

fn enabled() -> bool {
    let on = std::env::var("AIRTIGHT_PCSC").as_deref() == Ok("1");
    if !on {
        eprintln!("skipped: set AIRTIGHT_PCSC=1 with pcscd running (scripts/pcsc-stack.sh)");
    }
    on
}

/// `airtight card serve --vpcd` as a child process.
struct Serve {
    child: Child,
    log: std::path::PathBuf,
    _logdir: tempfile::TempDir,
}

impl Serve {
    fn start(card_dir: &str, drop_after: Option<u64>) -> Self {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("serve.log");
        let mut cmd = Command::new(BIN);
        cmd.args(["card", "serve", "--vpcd", VPCD, "--card-dir", card_dir]);
        if let Some(n) = drop_after {
            cmd.args(["--drop-after-apdus", &n.to_string()]);
        }
        let child = cmd
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Serve {
            child,
            log,
            _logdir: logdir,
        };
        s.wait_ready();
        s
    }

    /// Ready = connect + SELECT answers 9000 through pcscd, retried for at most 10 s.
    fn wait_ready(&self) {
        common::wait_card_in_reader(READER, Duration::from_secs(10), || self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then a bounded wait: the card must stop cleanly (exit 0). Then one pcscd poll.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = wait_bounded(&mut self.child, Duration::from_secs(10), "card serve");
        let log = self.log();
        assert!(status.success(), "card serve on SIGTERM: {status:?}\n{log}");
        assert!(log.contains("airtight card stopped"), "{log}");
        std::thread::sleep(Duration::from_millis(600));
        log
    }

    /// Waits (bounded) for a child that ends by itself (the card was pulled).
    fn wait_exit(mut self) -> String {
        let status = wait_bounded(&mut self.child, Duration::from_secs(30), "card serve");
        let log = self.log();
        assert!(status.success(), "{status:?}\n{log}");
        std::thread::sleep(Duration::from_millis(600));
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The APDU count the serve child reported when it stopped.
fn apdus_of(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("airtight card stopped"))
        .unwrap();
    let (_, rest) = line.split_once("connection(s), ").unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// Full provisioning through pcscd + vpcd with `enroll --reader`, then the card commands
/// through the reader; the same card read in-process afterwards gives the same answers.
fn enroll_through_pcsc(privacy: bool) {
    let (server, store) = issuer(privacy);
    let handle = if privacy {
        "pcscclitestprivacy0000000001"
    } else {
        "pcscclitestfullmode000000001"
    };
    let url = invocation_urls(server.base_url(), handle).intent;
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();
    let serve = Serve::start(dir, None);

    let out = airtight(&[
        "enroll",
        &url,
        "--reader",
        READER,
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(out.ok(), "{}\n{}", out.both(), serve.log());
    assert!(out.stdout.contains("keys created: Key.1"), "{}", out.both());
    assert!(out.stderr.contains("PC/SC link: "), "{}", out.both());
    eprintln!(
        "{} mode: {}",
        if privacy { "privacy" } else { "E2ES" },
        out.stderr
            .lines()
            .find(|l| l.contains("PC/SC link: "))
            .unwrap()
    );
    let rec = store.issuances().unwrap().remove(0).record;
    assert_eq!(rec.privacy_enabled, privacy);
    assert_eq!(rec.device_id.is_some(), !privacy);

    let via_reader: Vec<String> = ["info", "keys"]
        .iter()
        .map(|what| {
            let r = airtight(&["card", what, "--reader", READER]);
            assert!(r.ok(), "{}", r.both());
            r.stdout
        })
        .collect();
    assert!(
        via_reader[1].contains("CN=airtight Key.1"),
        "{}",
        via_reader[1]
    );
    if let Some(id) = &rec.device_id {
        assert!(via_reader[0].contains(id.as_str()), "{}", via_reader[0]);
    }
    // The ATR of our virtual card selects it too.
    let by_atr = airtight(&["card", "keys", "--reader-atr", "3B 80 80 01 01"]);
    assert!(by_atr.ok(), "{}", by_atr.both());
    assert_eq!(by_atr.stdout, via_reader[1]);

    let file = card.path().join("message.txt");
    std::fs::write(&file, b"signed through PC/SC").unwrap();
    let signed = airtight(&[
        "card",
        "sign",
        "--reader",
        READER,
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
        .verify(SignatureAlgorithm::ES256, b"signed through PC/SC", &sig)
        .unwrap();

    let log = serve.stop();
    assert!(apdus_of(&log) > 0, "{log}");
    // The same card in-process answers exactly as it did through the reader.
    for (what, through_reader) in ["info", "keys"].iter().zip(&via_reader) {
        let direct = airtight(&["card", what, "--card-dir", dir]);
        assert!(direct.ok(), "{}", direct.both());
        assert_eq!(&direct.stdout, through_reader, "card {what}");
    }
}

#[test]
fn enroll_e2es_through_pcscd_and_vpcd() {
    if !enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    enroll_through_pcsc(false);
}

#[test]
fn enroll_privacy_through_pcscd_and_vpcd() {
    if !enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    enroll_through_pcsc(true);
}

/// [APDU-TRN-001] a reader name that does not exist (the readers present are listed), a reader
/// without a card, an ATR no card has: clear card errors (exit 6), within a bounded time.
#[test]
fn reader_errors_are_clear() {
    if !enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = Instant::now();
    let out = airtight(&["card", "keys", "--reader", "No Such Reader 00 00"]);
    eprint!("{}", out.stderr);
    assert_eq!(out.code(), Some(6), "{}", out.both());
    assert!(
        out.stderr.contains("No Such Reader 00 00") && out.stderr.contains(READER),
        "{}",
        out.both()
    );
    // [APDU-TRN-003] no card: the connect retries for a bounded time, then says so.
    let out = airtight(&["card", "info", "--reader", EMPTY_READER]);
    eprint!("{}", out.stderr);
    assert_eq!(out.code(), Some(6), "{}", out.both());
    assert!(out.stderr.contains("no card in reader"), "{}", out.both());
    let out = airtight(&["card", "info", "--reader-atr", "3B00"]);
    eprint!("{}", out.stderr);
    assert_eq!(out.code(), Some(6), "{}", out.both());
    assert!(
        out.stderr.contains("no reader holds a card with ATR 3B 00"),
        "{}",
        out.both()
    );
    assert!(t.elapsed() < Duration::from_secs(60));
}

/// Card removal in the middle of a provisioning session: the virtual card is pulled (its vpcd
/// connection closed while pcscd waits for an answer) after a fixed number of APDUs. The
/// middleware reports the card as gone, the CLI ends the issuer session (302 to the issuer's
/// error page), and after reinsertion (`card serve` again on the same card directory) the card
/// has no open provisioning session and no key.
#[test]
fn card_removed_mid_session_leaves_nothing() {
    if !enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (server, store) = issuer(false);
    let handle = "pcscclitestcardremoved000001";
    let url = invocation_urls(server.base_url(), handle).intent;
    let card = tempfile::tempdir().unwrap();
    let dir = card.path().join("card");
    let dir = dir.to_str().unwrap();

    // 1 readiness SELECT, then the enrolment's SELECT, getDeviceInfo and
    // createProvisioningSession are answered; the card vanishes on the next APDU.
    let serve = Serve::start(dir, Some(4));
    let t = Instant::now();
    let out = airtight(&[
        "enroll",
        &url,
        "--reader",
        READER,
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    assert!(t.elapsed() < Duration::from_secs(60));
    let log = serve.wait_exit();
    eprintln!("enroll with the card pulled:\n{}", out.stderr);
    assert!(log.contains("(card pulled)"), "{log}");
    assert_eq!(out.code(), Some(7), "{}\n{log}", out.both());
    // The session was under way on the card when it vanished.
    assert!(
        out.stderr.contains("-> ProvisioningInitializationResponse"),
        "{}",
        out.both()
    );
    // [APDU-TRN-002] [APDU-VPC-004] the card is reported as gone.
    assert!(out.stderr.contains("card removed"), "{}", out.both());
    // [KG2-URL-003] [KG2-HTP-005] the issuer session ended with its error page.
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

    // Reinsertion: [APDU-VPC-005] no partial session, no key.
    let serve = Serve::start(dir, None);
    let t =
        PcscTransport::connect_within(&ReaderSelector::Name(READER.into()), Duration::from_secs(5))
            .unwrap();
    let mut sks = ApduSks::new(t);
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, true)
            .unwrap()
            .is_none(),
        "an open provisioning session survived the removal"
    );
    assert!(
        sks.enumerate_provisioning_sessions(ProvisioningHandle::NONE, false)
            .unwrap()
            .is_none(),
        "a closed provisioning session exists"
    );
    assert!(sks.enumerate_keys(KeyHandle::NONE).unwrap().is_none());
    sks.into_transport().disconnect();
    let keys = airtight(&["card", "keys", "--reader", READER]);
    assert!(keys.ok(), "{}", keys.both());
    assert_eq!(keys.stdout, "no keys\n");
    serve.stop();
}
