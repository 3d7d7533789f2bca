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
//! # Running
//!
//! - Everything but PC/SC: `cargo test -p airtight-bindings` (the APDU loop, the shim, the
//!   end-to-end provisioning of `airtight_card::ReferenceSks` through both).
//! - Through real pcscd + vpcd (Debian 12, root for the package install):
//!   `bash scripts/pcsc-stack.sh cargo test -p airtight-bindings --features pcsc --test pcsc -- --test-threads=1`.
//!   Without the feature or without `AIRTIGHT_PCSC=1` (set by the script) those tests return
//!   at once, so `cargo test --workspace` needs no pcscd.
//! - Figures: `cargo bench -p airtight-bindings --bench provisioning` (add
//!   `--features pcsc` under `scripts/pcsc-stack.sh` for the PC/SC row).
//! - The reference card as a shim process or a vpcd card: the examples `reference-shim` and
//!   `reference-vpcd`.
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
