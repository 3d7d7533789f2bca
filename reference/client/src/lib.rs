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
//! - `http` (default feature): a blocking HTTP driver.
#![forbid(unsafe_code)]

pub mod config;
pub mod discovery;
pub mod engine;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod pin;
pub mod ui;
pub mod url;

pub use config::{ClientConfig, Clock, FixedClock, LocalTime, SystemClock};
pub use engine::{Middleware, Outcome, Phase, SessionContext};
pub use error::{AbortStatus, ClientError, Failure};
pub use ui::{AutoUi, Consent, PinSource, TerminalUi, UserInterface};
