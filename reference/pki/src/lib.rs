//! `airtight-pki`: the X.509 side of airtight.
//!
//! - [`keys`]: signing keys (P-256, P-384, P-521, RSA), PKCS#8 import/export, SPKI, signatures.
//! - [`pem`]: PEM blocks for certificates and keys.
//! - [`ca`]: a small CA (roots, intermediates, end entities) with configurable [`ca::Profile`]s.
//! - [`device`]: device identities (key + certificate path) for the reference SKS.
//! - [`fixtures`]: the checked-in test PKI, generated deterministically, and its loaders.
//! - [`path`]: certificate path validation against trust anchors (for the issuer).
//! - [`lenient`]: a DER walk that finds a certificate's SubjectPublicKeyInfo without validating.
#![forbid(unsafe_code)]

pub mod ca;
pub mod device;
pub mod fixtures;
pub mod keys;
pub mod lenient;
pub mod path;
pub mod pem;

pub use ca::{AltName, Ca, CaError, Profile, Serial, SerialCounter, Validity};
pub use device::{DeviceIdentity, DeviceKeyKind};
pub use keys::{
    EcdsaEncoding, KeyError, KeyKind, PublicKey, SignatureAlgorithm, SigningKey, VerifyError,
};
pub use lenient::spki_of_certificate;
pub use path::{AnchorOptions, PathError, TrustAnchor, VerifiedPath, verify_path};
