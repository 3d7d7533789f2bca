//! Helpers of the CLI integration tests: the `airtight` binary with a deadline, an in-process
//! issuer server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
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
