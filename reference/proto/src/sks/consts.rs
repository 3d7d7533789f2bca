//! The constants of `SecureKeyStore.java` (facts §2.1 and §3.3).

/// Maximum length in bytes of a PIN or PUK.
pub const MAX_LENGTH_PIN_PUK: usize = 128;
/// Maximum length in bytes of an extension qualifier.
pub const MAX_LENGTH_QUALIFIER: usize = 128;
/// Maximum length in bytes of an imported symmetric key.
pub const MAX_LENGTH_SYMMETRIC_KEY: usize = 128;
/// Maximum length in bytes of an object `id` (PUK, PIN, key) and of a property name.
pub const MAX_LENGTH_ID_TYPE: usize = 32;
/// Maximum length in bytes of a `serverSeed`.
pub const MAX_LENGTH_SERVER_SEED: usize = 64;
/// Maximum length in bytes of a URI (algorithm, issuer, extension type).
pub const MAX_LENGTH_URI: usize = 1000;
/// Maximum PIN or PUK retry limit.
pub const MAX_RETRY_LIMIT: u16 = 10000;
/// The maximum growth of data by AES-CBC with PKCS#5 padding and a prepended IV (16 + 16).
pub const AES_CBC_PKCS5_PADDING: usize = 32;
/// `cryptoDataSize` of the reference implementation (the spec minimum is also 16384).
pub const MAX_LENGTH_CRYPTO_DATA: usize = 16384;
/// `extensionDataSize` of the reference implementation (the spec minimum is 65536).
pub const MAX_LENGTH_EXTENSION_DATA: usize = 250_000;
/// The SKS API level this crate implements.
pub const SKS_API_LEVEL: u16 = 106;
/// Maximum length in UTF-8 bytes of an [`SksError`](super::SksError) message.
pub const MAX_LENGTH_ERROR_MESSAGE: usize = 2000;

/// MAC key modifier of `setCertificatePath`.
pub const METHOD_SET_CERTIFICATE_PATH: &[u8] = b"setCertificatePath";
/// MAC key modifier of `importSymmetricKey`.
pub const METHOD_IMPORT_SYMMETRIC_KEY: &[u8] = b"importSymmetricKey";
/// MAC key modifier of `importPrivateKey`.
pub const METHOD_IMPORT_PRIVATE_KEY: &[u8] = b"importPrivateKey";
/// MAC key modifier of `closeProvisioningSession`.
pub const METHOD_CLOSE_PROVISIONING_SESSION: &[u8] = b"closeProvisioningSession";
/// MAC key modifier of `createKeyEntry`.
pub const METHOD_CREATE_KEY_ENTRY: &[u8] = b"createKeyEntry";
/// MAC key modifier of `createPinPolicy` (note the capitals: `PIN`).
pub const METHOD_CREATE_PIN_POLICY: &[u8] = b"createPINPolicy";
/// MAC key modifier of `createPukPolicy` (note the capitals: `PUK`).
pub const METHOD_CREATE_PUK_POLICY: &[u8] = b"createPUKPolicy";
/// MAC key modifier of `addExtension`.
pub const METHOD_ADD_EXTENSION: &[u8] = b"addExtension";
/// MAC key modifier of `postDeleteKey`.
pub const METHOD_POST_DELETE_KEY: &[u8] = b"postDeleteKey";
/// MAC key modifier of `postUnlockKey`.
pub const METHOD_POST_UNLOCK_KEY: &[u8] = b"postUnlockKey";
/// MAC key modifier of `postUpdateKey`.
pub const METHOD_POST_UPDATE_KEY: &[u8] = b"postUpdateKey";
/// MAC key modifier of `postCloneKeyProtection`.
pub const METHOD_POST_CLONE_KEY_PROTECTION: &[u8] = b"postCloneKeyProtection";

/// Key modifier of the attestations (key creation and close).
pub const KDF_DEVICE_ATTESTATION: &[u8] = b"DeviceAttestation";
/// Data of the encryption-key derivation.
pub const KDF_ENCRYPTION_KEY: &[u8] = b"EncryptionKey";
/// The DeviceID of a privacy-enabled session.
pub const KDF_ANONYMOUS: &[u8] = b"Anonymous";
/// Prefix of a target-key-reference authorization (post-operations).
pub const KMK_TARGET_KEY_REFERENCE: &[u8] = b"TargetKeyReference";
/// Prefix of a key-management-key roll-over authorization.
pub const KMK_ROLL_OVER_AUTHORIZATION: &[u8] = b"RollOverAuthorization";

/// The PIN/PUK policy id written into MACs when there is none (the empty string).
pub const CRYPTO_STRING_NOT_AVAILABLE: &str = "";

/// `https://webpki.github.io/sks/algorithm#key.1`: key attestation.
pub const ALGORITHM_KEY_ATTEST_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
/// `https://webpki.github.io/sks/algorithm#session.1`: the session key algorithm.
pub const ALGORITHM_SESSION_ATTEST_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
/// `https://webpki.github.io/sks/algorithm#ecdh.raw`: raw ECDH key agreement.
pub const ALGORITHM_ECDH_RAW: &str = "https://webpki.github.io/sks/algorithm#ecdh.raw";
/// `https://webpki.github.io/sks/algorithm#none`: as the only endorsed algorithm, no crypto use.
pub const ALGORITHM_NONE: &str = "https://webpki.github.io/sks/algorithm#none";
