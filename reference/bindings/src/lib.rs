//! `airtight-bindings`: the SKS API over ISO 7816-4 APDUs and over a JSON-lines stdio shim,
//! for both sides of each link.
//!
//! # Design decision
//!
//! The bindings live in their own crate, `airtight-bindings` (`reference/bindings`), which
//! depends on `airtight-proto` only. The card side (the APDU dispatcher, the vpcd client, the
//! shim server) and the middleware side (`ApduSks`, the transports, `ShimSks`) therefore share
//! one codec: a call is encoded by exactly the code that decodes it on the other end. The
//! reference card (`airtight-card`) and the middleware (`airtight-client`) depend on this
//! crate; it depends on neither. The PC/SC transport sits behind the cargo feature `pcsc`
//! (off by default), so the default build needs no system library.
//!
//! Specs: `spec/apdu.md` (tags `APDU-*`), `spec/shim.md` and `spec/schemas/shim.schema.json`
//! (tags `SHIM-*`).
//!
//! Module map:
//! - [`wire`]: field codecs, binary and JSON, one [`wire::Wire`] impl per SKS type.
//! - [`calls`]: [`SksCall`]/[`SksReturn`] for every method; [`calls::CallSks`] (any call
//!   carrier becomes a `SecureKeyStore`); [`calls::ScriptedSks`] (a recording test double).
//! - [`apdu`]: command/response APDUs, AID, INS table, status words.
//! - [`exchange`]: the middleware's sans-IO chaining/GET RESPONSE machine.
//! - [`dispatcher`]: [`ApduDispatcher`], the card application over any `SecureKeyStore`.
//! - [`client`]: [`CardTransport`], [`ApduSks`], [`LoopbackTransport`], [`LinkMetrics`].
//! - [`vpcd`]: [`vpcd::serve_vpcd`], a virtual card for pcscd through vsmartcard's vpcd.
//! - `pcsc` (feature `pcsc`): `PcscTransport`, a real reader through libpcsclite.
//! - [`shim`]: the JSON-lines protocol: [`shim::serve_shim`] and [`shim::ShimSks`].
#![forbid(unsafe_code)]

pub mod apdu;
pub mod calls;
pub mod client;
pub mod dispatcher;
pub mod exchange;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod shim;
pub mod vpcd;
pub mod wire;

pub use calls::{SksCall, SksReturn};
pub use client::{ApduSks, CardTransport, LinkMetrics, LoopbackTransport, TransportError};
pub use dispatcher::{ApduDispatcher, DispatcherOptions, abort_open_sessions};
pub use exchange::ApduLimits;
