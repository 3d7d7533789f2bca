//! `airtight-proto`: every KeyGen2 wire format and every session.1 cryptographic rule, as pure
//! functions and typed values. No I/O lives here.
//!
//! Module map:
//! - [`crypto`]: the crypto backend seam (aws-lc-rs by default, RustCrypto for pure-Rust builds).
//! - [`codec`]: the SKS binary serialization (`L()`, ushort, uint, blob) and Base64URL.
//! - [`jwk`]: the KeyGen2/JSF public-key object (a JWK subset) as a typed value.
//! - [`keys`]: typed public keys, SubjectPublicKeyInfo DER, raw r‖s ECDSA, signature checks.
//! - [`alg`]: the algorithm URI registry.
//! - [`session1`]: `https://webpki.github.io/sks/algorithm#session.1`, card side and issuer side.
//! - [`time`]: the ISO 8601 forms KeyGen2 uses, the one time type [`time::UnixTime`] and the one
//!   clock seam [`time::Clock`].
//! - [`entropy`]: the one entropy seam [`entropy::Entropy`] and its ChaCha20 source.
//! - [`messages`]: the ten KeyGen2 messages, strict decoding and encoding.
//! - [`sks`]: the `SecureKeyStore` trait, its types and `SksError`.
#![forbid(unsafe_code)]

pub mod alg;
pub mod codec;
pub mod crypto;
pub mod entropy;
pub mod jwk;
pub mod keys;
pub mod messages;
pub mod policy;
pub mod session1;
pub mod sks;
pub mod time;
