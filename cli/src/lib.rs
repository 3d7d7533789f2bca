//! `airtight-cli`: the `airtight` command line.
//!
//! - `issuer serve [--bind 127.0.0.1:8080] [--data-dir D] [--policy FILE] [--public-url U]
//!   [--device-anchor FILE]... [--ca-key FILE --ca-chain FILE] [--test-pki]`
//! - `issuer list [--data-dir D] [--all] [--json]`
//! - `enroll <invocation-url> [--card-dir D] [--yes] [--pin-env VAR | --pin-file F]`
//! - `card info|keys [--card-dir D] [--json]`, `card sign --key K [--alg URI] [--pin-env VAR]
//!   <file>`, `card pin status|change|unblock --key K`, `card delete --key K [--yes]`,
//!   `card export --key K --cert [--out F]`, `card hmac|encrypt|decrypt --key K <file>`,
//!   `card ext|props --key K`; a key is named by handle, issuer key id, friendly name or
//!   certificate SHA-256 prefix; PINs come from `--pin-env VAR` or the terminal (hidden)
//! - `completions bash|zsh|fish`
//! - `card serve --vpcd 127.0.0.1:35963 [--card-dir D]` (the card in pcscd's `Virtual PCD 00 00`
//!   through vsmartcard's vpcd), `card shim [--card-dir D]` (the card as a JSON-lines SKS shim)
//! - `enroll` and `card info|keys|sign` take the card from `--card-dir D` (default), from a PC/SC
//!   reader (`--reader NAME` or `--reader-atr HEX`; cargo feature `pcsc`) or from a shim process
//!   (`--shim "COMMAND LINE"`)
//! - `harness card [--config FILE] [--transport T] [--reader NAME --atr HEX] [--shim CMD]
//!   [--out DIR] [--list] [--only PREFIX]... [--perf N] [--seed N] [--quiet]` and
//!   `harness issuer (--url URL | --reference) [--config FILE] [--out DIR] [--list]
//!   [--only PREFIX]... [--quiet]`: the conformance harness (exit 1 when a case fails)
//! - `demo`
//!
//! - `browser-host`, `browser install|uninstall|open-url`: the browser path (extension in
//!   `browser/extension/`, native-messaging host, `keygen2:` scheme handler)
//!
//! Modules: [`browser`] (the native-messaging host and its installation), [`driver`] (blocking HTTP driver of the middleware), [`card`] (the file-backed
//! reference card), [`source`] (which card: directory, PC/SC reader or shim; and serving a card
//! through vpcd or as a shim), [`issuer`] (server and listing), [`harness`] (the conformance
//! harness), [`demo`], [`pin`] (PINs from the environment or the terminal, hidden).
#![forbid(unsafe_code)]

pub mod browser;
pub mod card;
pub mod demo;
pub mod driver;
pub mod harness;
pub mod issuer;
pub mod pin;
pub mod source;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use thiserror::Error;

/// A failed command. Each variant has its own exit code ([`CliError::exit_code`]).
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments.
    #[error("usage: {0}")]
    Usage(String),
    /// A file or socket.
    #[error("i/o: {0}")]
    Io(String),
    /// A policy or configuration file.
    #[error("configuration: {0}")]
    Config(String),
    /// The issuer database.
    #[error("issuer database: {0}")]
    Store(String),
    /// The reference card.
    #[error("card: {0}")]
    Card(String),
    /// A provisioning session.
    #[error("enrolment failed: {0}")]
    Enroll(String),
    /// A harness run in which a case failed (the reports say which and why).
    #[error("harness: {0}")]
    Failed(String),
    /// Standard output was closed by the reader (e.g. `airtight demo | head -1`): the command
    /// stops quietly, with exit code 0.
    #[error("standard output closed")]
    BrokenPipe,
}

/// The end of `airtight --help`: environment and exit codes.
pub const HELP_FOOTER: &str = "\
Environment:
  AIRTIGHT_CARD_DIR  the card directory when --card-dir is not given (default ./airtight-card)
  AIRTIGHT_DATA_DIR  the issuer data directory when --data-dir is not given
                     (default ./airtight-data)
  RUST_LOG           log filter on stderr (e.g. info, airtight_issuer=debug)
  NO_COLOR           set (non-empty): no colour; colour is only used on a terminal anyway

Exit codes:
  0  success (also when the reader of stdout stops early, e.g. `| head -1`)
  1  harness: a case failed the run (the reports say which and why)
  2  usage: bad arguments or options, a PIN that is missing or was not confirmed
  3  i/o: a file, socket or terminal could not be used
  4  configuration: a policy, harness target (--config) or trust anchor file is invalid
  5  issuer database: missing, unreadable or damaged
  6  card: the card could not be opened or refused an operation (wrong or blocked PIN)
  7  enrolment: the invocation URL or the provisioning session failed";

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Io(_) => 3,
            CliError::Config(_) => 4,
            CliError::Store(_) => 5,
            CliError::Card(_) => 6,
            CliError::Enroll(_) => 7,
            CliError::Failed(_) => 1,
            CliError::BrokenPipe => 0,
        }
    }

    /// An I/O error on standard output: [`CliError::BrokenPipe`] when the reader went away.
    pub fn stdout(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Io(format!("stdout: {e}"))
        }
    }

    /// True for a closed standard output, also where other code formatted the I/O error into
    /// an [`CliError::Io`] message.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            CliError::BrokenPipe => true,
            CliError::Io(m) => m.contains("Broken pipe") || m.contains("os error 32"),
            _ => false,
        }
    }
}

/// A generator seeded once from the operating system.
pub fn os_rng() -> Result<ChaCha20Rng, CliError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CliError::Io(format!("entropy: {e}")))?;
    let rng = ChaCha20Rng::from_seed(seed);
    seed.fill(0);
    Ok(rng)
}
