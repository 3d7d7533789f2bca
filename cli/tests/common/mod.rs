//! Helpers of the CLI integration tests: the `airtight` binary with a deadline, an in-process
//! issuer server, an `airtight issuer serve` child process, and (with the `pcsc` feature) the
//! wait for a card in pcscd's virtual reader.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airtight_cli::issuer::test_pki_issuer as build_issuer;
use airtight_issuer::Policy;
use airtight_issuer::db::Store;
use airtight_issuer::http::{AppState, ServerConfig, ServerHandle, issuer_uri_of};

/// The `airtight` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_airtight");

/// What a finished command printed.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn both(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Waits for `child` at most `limit`, killing it when the limit passes (the test then fails).
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `airtight args…` to completion within `limit` (output through files: no pipe can fill).
pub fn airtight_within(args: &[&str], limit: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdout");
    let err = dir.path().join("stderr");
    let mut child = Command::new(BIN)
        .args(args)
        .env("AIRTIGHT_TEST_PIN", "1357")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, limit, &format!("airtight {args:?}"));
    Ran {
        status,
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

/// `airtight args…` within 60 s.
pub fn airtight(args: &[&str]) -> Ran {
    airtight_within(args, Duration::from_secs(60))
}

/// An issuer server on an ephemeral loopback port, with its store.
pub fn issuer(privacy: bool) -> (ServerHandle, Arc<Store>) {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        let store = store.clone();
        move |base| {
            let policy = Policy {
                privacy_enabled: privacy,
                ..Policy::default()
            };
            let iss = build_issuer(&issuer_uri_of(base), policy);
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    (server, store)
}

/// A single-quoted shell word (for `--shim` command lines).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A running `airtight issuer serve` child process; killed (SIGKILL) and reaped when dropped.
pub struct IssuerServe {
    pub child: Child,
    /// The first stdout line (`airtight issuer listening on URL/ …`).
    pub banner: String,
    /// The init URL it printed (`enrol with: airtight enroll URL`).
    pub init: String,
    /// What it wrote to stderr so far, when stderr was left piped (see [`issuer_serve`]).
    pub stderr: Arc<Mutex<String>>,
}

impl IssuerServe {
    /// The scheme, host and port of the listening URL in the banner (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> String {
        self.banner
            .split("listening on ")
            .nth(1)
            .unwrap()
            .split('/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl Drop for IssuerServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `airtight issuer serve ARGS` command, stdout and stderr piped (what [`issuer_serve`]
/// starts; a test that expects a refusal runs it itself).
pub fn issuer_serve_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["issuer", "serve"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `airtight issuer serve ARGS` and waits until it listens (its banner and init URL
/// are printed after the socket is bound). `setup` adjusts the command first (environment,
/// `.stderr(…)`); stdout must stay piped. A piped stderr is collected into
/// [`IssuerServe::stderr`] and shown if the server exits before its banner. Stdout is drained
/// afterwards so that the server never blocks on it.
pub fn issuer_serve(args: &[&str], setup: impl FnOnce(&mut Command)) -> IssuerServe {
    let mut cmd = issuer_serve_command(args);
    setup(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(mut from) = child.stderr.take() {
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = match lines.next() {
        Some(Ok(l)) => l,
        _ => {
            let _ = child.wait();
            panic!("issuer serve did not start: {}", stderr.lock().unwrap());
        }
    };
    let init = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("enrol with: airtight enroll ")
        .unwrap()
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    IssuerServe {
        child,
        banner,
        init,
        stderr,
    }
}

/// Waits (at most `limit`) until the card in pcscd's reader `reader` answers a SELECT with
/// 9000 (`airtight card serve --vpcd` is up and pcscd has seen it); panics with `log()` when
/// the limit passes.
#[cfg(feature = "pcsc")]
pub fn wait_card_in_reader(reader: &str, limit: Duration, log: impl Fn() -> String) {
    use airtight_bindings::ApduSks;
    use airtight_bindings::pcsc::{PcscTransport, ReaderSelector};
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(t) = PcscTransport::connect_within(
            &ReaderSelector::Name(reader.into()),
            Duration::from_secs(2),
        ) {
            let mut sks = ApduSks::new(t);
            if sks.select().is_ok() {
                sks.into_transport().disconnect();
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the card in {reader} is not ready within {limit:?}: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
