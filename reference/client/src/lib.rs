//! `airtight-client`: the KeyGen2 middleware ("provisioning proxy").
//!
//! - [`engine::Middleware`]: a sans-IO engine that turns each KeyGen2 issuer request into SKS
//!   calls on any [`SecureKeyStore`](airtight_proto::sks::SecureKeyStore), in the order the
//!   spec requires (`spec/keygen2.md` §4), and builds the response. Any failure after
//!   `createProvisioningSession` aborts the SKS session and returns a [`ClientError`].
//! - [`ui`]: consent and PIN collection ([`UserInterface`], [`PinSource`]).
//! - [`pin`]: PIN policy checks done before a PIN reaches the card.
//! - [`discovery`]: lookup-specifier verification and search filters.
//! - [`url`]: invocation URLs (plain and `intent://keygen2?…`).
//! - [`native`]: browser native-messaging framing and the extension's messages (the CLI's
//!   browser host speaks it).
//! - `http` (default feature): a blocking HTTP driver ([`http::HttpDriver`], [`http::enroll`]):
//!   plain HTTP through `ureq`, HTTPS through a small rustls client that captures the TLS
//!   server certificate ([KG2-HTP-010]).
//!
//! # Known limitations
//!
//! - HTTPS trusts only the configured anchors ([`http::HttpOptions::trust_anchors`]; no
//!   system roots), opens one connection per request and follows no redirect mid-protocol.
//! - `trustAnchor` of an issued credential is ignored: no trust anchor is ever installed
//!   ([KG2-PFQ-009]).
//! - `deferredIssuance` is refused ([KG2-KCQ-011]).
//! - A client attribute that is queried but not configured fails the InvocationRequest
//!   (KeyGen2 has no valid "no value" answer).
//! - [`TerminalUi`] reads PINs as plain lines (the terminal echoes them).
#![forbid(unsafe_code)]

pub mod config;
pub mod discovery;
pub mod engine;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod native;
pub mod pin;
#[cfg(feature = "http")]
pub mod tls;
pub mod ui;
pub mod url;

pub use airtight_proto::time::{Clock, ManualClock, SystemClock, UnixTime};
pub use config::ClientConfig;
pub use engine::{Middleware, Outcome, Phase, SessionContext};
pub use error::{AbortStatus, ClientError, Failure};
pub use ui::{AutoUi, Consent, PinSource, TerminalUi, UserInterface};
