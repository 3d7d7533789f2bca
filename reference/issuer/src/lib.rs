//! `airtight-issuer`: the KeyGen2 reference issuer.
//!
//! - [`engine`]: the sans-IO engine ([`Issuer::start`], [`Issuer::handle`]): every phase of a
//!   KeyGen2 session, every issuer-side check (privacy mode, device trust, serverTime echo,
//!   clientTime window, lifetime, attestations, key order and types, MAC counters, body size).
//! - [`policy`]: issuance policies in TOML with built-in defaults.
//! - [`state`]: the serializable session state.
//! - [`entropy`]: injected randomness ([`Entropy`], [`RngEntropy`]).
//! - [`error`]: [`IssuerError`], one variant per rule.
//! - [`db`]: the store (sessions in progress, completed issuances, errors): the
//!   [`db::IssuerStore`] trait over SQLite ([`db::Store`]) and PostgreSQL ([`db::PgStore`]).
//! - [`http`]: the axum HTTP server (KeyGen2 HTTP binding, result and error pages).
#![forbid(unsafe_code)]

pub mod config;
pub mod db;
pub mod engine;
pub mod entropy;
pub mod error;
pub mod faults;
pub mod http;
pub mod policy;
pub mod state;

pub use engine::{IssuanceRecord, IssuedKey, Issuer, KmkRollover, Next, StartRequest};
pub use entropy::{Entropy, RngEntropy};
pub use error::IssuerError;
pub use faults::{Faults, IssuerFault};
pub use policy::Policy;
pub use state::{Phase, SessionState};
