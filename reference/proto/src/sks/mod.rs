//! The SKS API ("Secure Key Store") as Rust types: the [`SecureKeyStore`] trait, its result and
//! parameter types, the constants of `SecureKeyStore.java` and the error type [`SksError`].
//!
//! Everything that is "a card" implements [`SecureKeyStore`]: the reference SKS in-process, the
//! APDU binding over PC/SC and the JSON-lines shim to foreign implementations. The middleware and
//! the harness only ever see the trait.
//!
//! Public keys and certificates cross the trait as DER bytes (SubjectPublicKeyInfo DER and X.509
//! DER), the binary form the bindings carry; no typed key crosses it.
//!
//! Sources: the SKS specification (`security/sks-api-arch.pdf` in the public repository
//! `cyberphone/doc`, §7: methods, method numbers, error codes) and `cyberphone/openkeystore`
//! (`library/src/org/webpki/sks/SecureKeyStore.java`: methods and limits; `SKSException.java`:
//! error codes); the MAC method names follow the Java reference SKS
//! (`library/test/org/webpki/sks/SKSReferenceImplementation.java`). See `spec/README.md`,
//! "Sources".

mod consts;
mod error;
mod method;
mod params;
mod store;
mod types;

pub use consts::*;
pub use error::{SksError, SksErrorCode};
pub use method::SksMethod;
pub use params::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams,
};
pub use store::SecureKeyStore;
pub use types::{
    DeviceInfo, DeviceLocation, DeviceType, DeviceTypeClass, EnumeratedKey,
    EnumeratedProvisioningSession, Extension, ExtensionSubType, KeyAttributes, KeyBackup, KeyData,
    KeyHandle, KeyProtectionInfo, PinPolicyHandle, PinPolicyInfo, ProtectionStatus,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, PukPolicyInfo,
};
