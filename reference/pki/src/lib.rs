//! `airtight-pki`: the X.509 side of airtight.
//!
//! - [`keys`]: signing keys (P-256, P-384, P-521, RSA), PKCS#8 import/export, SPKI, signatures.
//! - [`pem`]: PEM blocks for certificates and keys.
#![forbid(unsafe_code)]

pub mod ca;
pub mod keys;
pub mod lenient;
pub mod pem;

pub use keys::{
    EcdsaEncoding, KeyError, KeyKind, PublicKey, SignatureAlgorithm, SigningKey, VerifyError,
};
