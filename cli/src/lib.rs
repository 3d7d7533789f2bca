//! `airtight-cli`: the `airtight` command line.
//!
//! - `issuer serve [--bind 127.0.0.1:8080] [--data-dir D] [--policy FILE] [--public-url U]`
//! - `issuer list [--data-dir D]`
//! - `enroll <invocation-url> [--card-dir D] [--yes] [--pin-env VAR | --pin-file F]`
//! - `card info|keys [--card-dir D]`, `card sign --key K --alg URI [--pin-env VAR] <file>`
//! - `demo`
//!
//! Modules: [`driver`] (blocking HTTP driver of the middleware), [`card`] (the file-backed
//! reference card), [`issuer`] (server and listing), [`demo`].
#![forbid(unsafe_code)]

pub mod card;
pub mod demo;
pub mod driver;
pub mod issuer;

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
}

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
