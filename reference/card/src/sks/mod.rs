//! The reference SKS: [`ReferenceSks`] implements [`SecureKeyStore`] with the exact semantics
//! of the SKS API (facts §2-§4, `spec/sks-api.md`), on top of the power-loss-safe
//! [`Store`].
//!
//! # Model
//!
//! - **Committed state** (closed sessions, their keys, PIN and PUK policies, error counters)
//!   lives in the store (`state::CardState`); every change is one atomic commit
//!   ([SKS-IMP-005], [SKS-IMP-007]).
//! - **Open sessions** live in memory (`session::OpenSession`): nothing of them is visible
//!   before close ([SKS-TXN-001]); a fatal error in any provisioning method drops the whole
//!   session ([SKS-TXN-002]); a restart discards them ([SKS-IMP-006]).
//! - **PIN/PUK error counters** are committed before the error is returned
//!   ([SKS-IMP-008]).
//! - **Time and randomness** are injected ([`CardConfig::clock`], [`RngSource`]): a seed and a
//!   fixed clock reproduce every output byte for byte. Every random choice of a provisioning
//!   session goes through one seam, [`entropy::CardEntropy`] ([`CardConfig::entropy`]);
//!   interop tests pin it to recorded values with [`entropy::Recorded`].
//! - **Device identity**: the device key signs E2ES session attestations
//!   ([`DeviceSigner::DeviceKey`]); the test-only [`DeviceSigner::RecordedAttestationsForTests`]
//!   replays verified recorded attestations for a device whose key is absent.
//!
//! # Session lifetime ([SKS-IMP-003])
//!
//! A session dies when more than `sessionLifeTime` seconds have passed on the card clock since
//! `createProvisioningSession`. The middleware-supplied `clientTime` is not used: it is not
//! trusted, and a card with a fixed test clock would otherwise reject sessions recorded at
//! other times. Every call that resolves an open session first checks this; an expired
//! session is torn down and the call fails with `ERROR_NO_SESSION`.

mod crypto;
pub mod entropy;
mod pin;
mod provisioning;
mod session;
mod state;
mod user;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use airtight_proto::alg;
use airtight_proto::keys::{KeyType, PrivateKey};
use airtight_proto::policy::EnumArg;
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, DeviceLocation, DeviceType, DeviceTypeClass, EnumeratedKey,
    EnumeratedProvisioningSession, Extension, ExtensionSubType, KeyAttributes, KeyData, KeyHandle,
    KeyProtectionInfo, MAX_LENGTH_CRYPTO_DATA, MAX_LENGTH_EXTENSION_DATA, PinPolicyHandle,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, SKS_API_LEVEL, SecureKeyStore,
    SksError,
};

use crate::env::{CardRng, Clock, EntropyError, ManualClock, SystemClock, UnixTime};
use crate::store::{
    OnRollback, RealFs, Recovery, SealKey, SimFs, Store, StoreError, StoreOptions, Vfs, VfsError,
};
use entropy::{CardEntropy, FromRng};

use session::OpenSession;
use state::CardState;

/// Where the card keeps its committed state.
pub enum Storage {
    /// An in-memory file system (a [`SimFs`]): nothing survives the process. For tests.
    Memory,
    /// A data directory on the real file system (created when absent).
    Dir(PathBuf),
    /// Any [`Vfs`], e.g. a [`SimFs`] handle a crash test keeps a clone of.
    Vfs(Box<dyn Vfs + Send>),
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Memory => f.write_str("Memory"),
            Storage::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            Storage::Vfs(v) => f.debug_tuple("Vfs").field(v).finish(),
        }
    }
}

/// Where the card's randomness comes from.
#[derive(Clone)]
pub enum RngSource {
    /// A ChaCha20 stream from this seed: reproducible.
    Seed([u8; 32]),
    /// Seeded once from the operating system.
    Os,
}

impl std::fmt::Debug for RngSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RngSource::Seed(_) => f.write_str("Seed(..)"),
            RngSource::Os => f.write_str("Os"),
        }
    }
}

/// A platform device-PIN check: true when the PIN is right.
pub type DevicePinHook = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How the card verifies a device PIN (`devicePinProtection`; the device PIN itself is a
/// platform matter, facts §4).
#[derive(Clone)]
pub enum DevicePin {
    /// No device-PIN support: `devicePinSupport` is false and such keys are refused.
    Unsupported,
    /// The device-PIN test mode: the device PIN is this value. Set only by name
    /// ([`CardConfig::with_test_device_pin`], `airtight card shim|serve --test-device-pin`;
    /// [`CardConfig::for_tests`] uses `"1234"`, the Java reference's test PIN), so that test
    /// suites can exercise the device-PIN path through every binding ([POL-IMP-001]).
    TestPin(Zeroizing<Vec<u8>>),
    /// The platform hook that verifies a device PIN ([POL-IMP-001]).
    Platform(DevicePinHook),
}

impl std::fmt::Debug for DevicePin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DevicePin::Unsupported => "Unsupported",
            DevicePin::TestPin(_) => "TestPin(..)",
            DevicePin::Platform(_) => "Platform(..)",
        })
    }
}

/// Resource bounds of the card ([SKS-IMP-004], [SKS-SES-008]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open sessions at a time; one more fails with `ERROR_STORAGE`.
    pub max_open_sessions: usize,
    /// Keys, PIN and PUK policies per session; one more fails with `ERROR_STORAGE`.
    pub max_objects_per_session: usize,
    /// Extensions per key; one more fails with `ERROR_STORAGE`.
    pub max_extensions_per_key: usize,
    /// Certificates in a `setCertificatePath` path; more fail with `ERROR_OPTION`.
    pub max_certificate_path: usize,
    /// Post-operations per session; one more fails with `ERROR_STORAGE`.
    pub max_post_operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_open_sessions: 8,
            max_objects_per_session: 256,
            max_extensions_per_key: 64,
            max_certificate_path: 16,
            max_post_operations: 256,
        }
    }
}

/// Everything the card is configured with.
pub struct CardConfig {
    /// The device (attestation) key as PKCS#8 DER: RSA or EC on a supported curve.
    pub device_key_pkcs8: Zeroizing<Vec<u8>>,
    /// The device certificate path, X.509 DER, the device certificate first; its public key
    /// must be the device key's.
    pub certificate_path: Vec<Vec<u8>>,
    /// `vendorName`.
    pub vendor_name: String,
    /// `vendorDescription`.
    pub vendor_description: String,
    /// `updateUrl`.
    pub update_url: Option<String>,
    /// `deviceType`.
    pub device_type: DeviceType,
    /// How a device PIN is verified; `devicePinSupport` is false with
    /// [`DevicePin::Unsupported`].
    pub device_pin: DevicePin,
    /// `biometricSupport`.
    pub biometric_support: bool,
    /// The committed-state storage.
    pub storage: Storage,
    /// The card clock.
    pub clock: Arc<dyn Clock>,
    /// The randomness.
    pub rng: RngSource,
    /// The delay before each try of a PUK with retry limit 0 (facts §4: 1 s in the Java
    /// reference). Zero in tests.
    pub puk_delay: Duration,
    /// Resource bounds.
    pub limits: Limits,
    /// The card's random choices: [`entropy::FromRng`] (draw from [`CardConfig::rng`]) by
    /// default; [`entropy::Recorded`] only in interop-replay tests.
    pub entropy: Box<dyn CardEntropy>,
    /// How E2ES session attestations are signed: [`DeviceSigner::DeviceKey`] by default.
    pub device_signer: DeviceSigner,
    /// The key that seals the store's secrets: derived from the device key by default.
    pub store_seal: StoreSeal,
    /// Open a store that is behind its commit counter (a truncated journal or an older copy):
    /// the user accepted the loss (`airtight card repair --accept-loss`). Off by default: such
    /// a store is refused with [`StoreError::RolledBack`].
    pub accept_store_loss: bool,
}

/// What the card's store is sealed with ([`crate::store::seal`]). The key is derived when the
/// card opens and never written anywhere.
#[derive(Clone, Default)]
pub enum StoreSeal {
    /// A key derived from the device key (HKDF-SHA256 over the device private key with a
    /// domain label): the device key file (0600, outside the store directory) is needed to
    /// read the store.
    #[default]
    DeviceKey,
    /// A key derived from the device key and a passphrase (PBKDF2-HMAC-SHA256, then HKDF):
    /// both are needed. A store is sealed one way for good: opening it the other way is
    /// refused with [`StoreError::SealMismatch`].
    DeviceKeyAndPassphrase {
        /// The passphrase.
        passphrase: Zeroizing<String>,
        /// PBKDF2 iterations ([`crate::store::seal::DEFAULT_PASSPHRASE_ITERATIONS`]).
        iterations: u32,
    },
}

impl std::fmt::Debug for StoreSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSeal::DeviceKey => f.write_str("DeviceKey"),
            StoreSeal::DeviceKeyAndPassphrase { iterations, .. } => f
                .debug_struct("DeviceKeyAndPassphrase")
                .field("iterations", iterations)
                .finish_non_exhaustive(),
        }
    }
}

impl StoreSeal {
    /// A passphrase seal with the default iteration count.
    pub fn passphrase(passphrase: impl Into<String>) -> Self {
        StoreSeal::DeviceKeyAndPassphrase {
            passphrase: Zeroizing::new(passphrase.into()),
            iterations: crate::store::seal::DEFAULT_PASSPHRASE_ITERATIONS,
        }
    }
}

/// The secret a device key contributes to the store's seal key: the EC scalar or Ed25519 seed
/// (stable whatever the PKCS#8 encoder writes), the PKCS#8 DER of an RSA key (DER is
/// canonical). Without a usable device key (the test-only recorded signer) the certificate
/// path stands in: such a store is sealed but not secret.
fn seal_ikm(device_key_pkcs8: &[u8], certificate_path: &[Vec<u8>]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    match PrivateKey::from_pkcs8_der(device_key_pkcs8) {
        Ok(PrivateKey::P256(k)) => {
            out.extend_from_slice(b"P-256:");
            out.extend_from_slice(&k.to_bytes());
        }
        Ok(PrivateKey::P384(k)) => {
            out.extend_from_slice(b"P-384:");
            out.extend_from_slice(&k.to_bytes());
        }
        Ok(PrivateKey::P521(k)) => {
            out.extend_from_slice(b"P-521:");
            out.extend_from_slice(&k.to_bytes());
        }
        Ok(PrivateKey::Ed25519(k)) => {
            out.extend_from_slice(b"Ed25519:");
            out.extend_from_slice(k.as_bytes());
        }
        Ok(PrivateKey::Rsa(_)) => {
            out.extend_from_slice(b"RSA:");
            out.extend_from_slice(device_key_pkcs8);
        }
        Err(_) => {
            out.extend_from_slice(b"no device key:");
            for c in certificate_path {
                out.extend_from_slice(c);
            }
        }
    }
    out
}

impl StoreSeal {
    /// The seal key for a device key.
    fn key(&self, device_key_pkcs8: &[u8], certificate_path: &[Vec<u8>]) -> SealKey {
        let ikm = seal_ikm(device_key_pkcs8, certificate_path);
        match self {
            StoreSeal::DeviceKey => SealKey::from_device_key(&ikm),
            StoreSeal::DeviceKeyAndPassphrase {
                passphrase,
                iterations,
            } => SealKey::from_device_key_and_passphrase(&ikm, passphrase.as_bytes(), *iterations),
        }
    }
}

/// How the card produces the E2ES session attestation ([SKS-SES-005]).
#[derive(Debug, Clone, Default)]
pub enum DeviceSigner {
    /// The default and the only production mode: sign with `device_key_pkcs8`, whose public
    /// key the first certificate of `certificate_path` must certify (checked at open).
    #[default]
    DeviceKey,
    /// TEST ONLY (interop replay of sessions recorded from another SKS, whose device private
    /// key is not available): the card holds no device key (`device_key_pkcs8` is ignored)
    /// and `certificate_path` is used as given, so DeviceID and the session key derivation
    /// are those of the recorded device. Each E2ES `createProvisioningSession` takes the next
    /// of these recorded attestations and returns it only if it verifies with the device
    /// certificate's public key over the attestation input this card computed; otherwise (or
    /// when none is left) the call fails with `ERROR_CRYPTO`. Privacy-mode sessions need no
    /// device signature and are unaffected.
    RecordedAttestationsForTests(Vec<Vec<u8>>),
}

/// The card's resolved device signer.
enum DeviceKeyState {
    Key(PrivateKey),
    Recorded(std::collections::VecDeque<Vec<u8>>),
}

impl std::fmt::Debug for CardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardConfig")
            .field("vendor_name", &self.vendor_name)
            .field("device_type", &self.device_type)
            .field("storage", &self.storage)
            .field("rng", &self.rng)
            .field("device_signer", &self.device_signer)
            .finish_non_exhaustive()
    }
}

/// The fixed time of [`ReferenceSks::in_memory_for_tests`]: 2026-01-01T00:00:00Z.
pub const TEST_TIME: UnixTime = UnixTime::from_secs(1_767_225_600);

/// The vendor name of the reference card.
pub const VENDOR_NAME: &str = "airtight";
/// The vendor description of the reference card.
pub const VENDOR_DESCRIPTION: &str = "airtight reference SKS (Rust)";

impl CardConfig {
    /// A configuration with the given device identity, in-memory storage, a fixed clock
    /// (`unix_time`), a seeded RNG, no PUK delay and default limits.
    pub fn for_tests(
        device_key_pkcs8: Zeroizing<Vec<u8>>,
        certificate_path: Vec<Vec<u8>>,
        seed: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self {
            device_key_pkcs8,
            certificate_path,
            vendor_name: VENDOR_NAME.to_owned(),
            vendor_description: VENDOR_DESCRIPTION.to_owned(),
            update_url: None,
            device_type: DeviceType {
                location: DeviceLocation::Embedded,
                class: DeviceTypeClass::Software,
            },
            device_pin: DevicePin::TestPin(Zeroizing::new(b"1234".to_vec())),
            biometric_support: true,
            storage: Storage::Memory,
            clock,
            rng: RngSource::Seed(s),
            puk_delay: Duration::ZERO,
            limits: Limits::default(),
            entropy: Box::new(FromRng),
            device_signer: DeviceSigner::DeviceKey,
            store_seal: StoreSeal::DeviceKey,
            accept_store_loss: false,
        }
    }

    /// [`CardConfig::for_tests`] with a test device identity of `airtight-pki`'s fixtures.
    pub fn test_device(
        kind: airtight_pki::DeviceKeyKind,
        seed: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let device = airtight_pki::fixtures::device(kind);
        let key = device
            .signing_key
            .to_pkcs8_der()
            .unwrap_or_else(|_| Zeroizing::new(Vec::new()));
        Self::for_tests(key, device.certificate_path.clone(), seed, clock)
    }

    /// This configuration in the device-PIN test mode: `devicePinSupport` is true and a key
    /// with `devicePinProtection` accepts exactly `pin` as its device PIN. Off unless asked
    /// for ([`CardConfig::production`] has no device PIN).
    #[must_use]
    pub fn with_test_device_pin(mut self, pin: &[u8]) -> Self {
        self.device_pin = DevicePin::TestPin(Zeroizing::new(pin.to_vec()));
        self
    }

    /// [`CardConfig::for_tests`] with the system clock, OS randomness, the Java PUK delay
    /// (1 s) and a data directory.
    pub fn production(
        device_key_pkcs8: Zeroizing<Vec<u8>>,
        certificate_path: Vec<Vec<u8>>,
        dir: PathBuf,
    ) -> Self {
        let mut c = Self::for_tests(device_key_pkcs8, certificate_path, 0, Arc::new(SystemClock));
        c.rng = RngSource::Os;
        c.storage = Storage::Dir(dir);
        c.puk_delay = Duration::from_secs(1);
        // [POL-IMP-001] no hard-coded device PIN outside tests.
        c.device_pin = DevicePin::Unsupported;
        c
    }
}

/// Why the card could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The store could not be opened or created.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The data directory could not be used.
    #[error("storage: {0}")]
    Vfs(#[from] VfsError),
    /// The device key or certificate path is unusable.
    #[error("device identity: {0}")]
    DeviceIdentity(String),
    /// The OS entropy source failed.
    #[error(transparent)]
    Entropy(#[from] EntropyError),
}

/// A boxed [`Vfs`] (the store is generic over one file-system type).
#[derive(Debug)]
pub struct BoxVfs(Box<dyn Vfs + Send>);

impl Vfs for BoxVfs {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, VfsError> {
        self.0.read(name)
    }
    fn list(&self) -> Result<Vec<String>, VfsError> {
        self.0.list()
    }
    fn write(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        self.0.write(name, data)
    }
    fn append(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        self.0.append(name, data)
    }
    fn fsync(&self, name: &str) -> Result<(), VfsError> {
        self.0.fsync(name)
    }
    fn fsync_dir(&self) -> Result<(), VfsError> {
        self.0.fsync_dir()
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), VfsError> {
        self.0.rename(from, to)
    }
    fn remove(&self, name: &str) -> Result<(), VfsError> {
        self.0.remove(name)
    }
}

/// The reference SKS. See the module documentation.
pub struct ReferenceSks {
    store: Store<CardState, BoxVfs>,
    /// What opening the store's directory found and fixed (permissions), for the user.
    notices: Vec<String>,
    /// Open sessions by handle.
    open: BTreeMap<u32, OpenSession>,
    /// The next handles (in memory; committed with each close).
    counters: state::Counters,
    device_signer: DeviceKeyState,
    certificate_path: Vec<Vec<u8>>,
    vendor_name: String,
    vendor_description: String,
    update_url: Option<String>,
    device_type: DeviceType,
    device_pin: DevicePin,
    biometric_support: bool,
    clock: Arc<dyn Clock>,
    rng: CardRng,
    entropy: Box<dyn CardEntropy>,
    puk_delay: Duration,
    limits: Limits,
}

impl std::fmt::Debug for ReferenceSks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceSks")
            .field("open_sessions", &self.open.keys().collect::<Vec<_>>())
            .field("committed_sessions", &self.store.state().sessions.len())
            .field("committed_keys", &self.store.state().keys.len())
            .finish_non_exhaustive()
    }
}

impl ReferenceSks {
    /// Opens (or creates) the card's store and checks the device identity.
    pub fn open(config: CardConfig) -> Result<Self, CardError> {
        let device_cert = config
            .certificate_path
            .first()
            .ok_or_else(|| CardError::DeviceIdentity("empty certificate path".into()))?;
        let cert_key = airtight_proto::keys::certificate_public_key(device_cert)
            .map_err(|e| CardError::DeviceIdentity(format!("device certificate: {e}")))?;
        let device_signer = match config.device_signer {
            DeviceSigner::DeviceKey => {
                let device_key = PrivateKey::from_pkcs8_der(&config.device_key_pkcs8)
                    .map_err(|e| CardError::DeviceIdentity(format!("device key: {e}")))?;
                if device_key.key_type() == KeyType::Ed25519 {
                    return Err(CardError::DeviceIdentity(
                        "the device key must be RSA or EC (RS256/ES256 attestations)".into(),
                    ));
                }
                if cert_key != device_key.public_key() {
                    return Err(CardError::DeviceIdentity(
                        "the device certificate does not certify the device key".into(),
                    ));
                }
                DeviceKeyState::Key(device_key)
            }
            DeviceSigner::RecordedAttestationsForTests(list) => {
                if cert_key.key_type() == KeyType::Ed25519 {
                    return Err(CardError::DeviceIdentity(
                        "the device key must be RSA or EC (RS256/ES256 attestations)".into(),
                    ));
                }
                DeviceKeyState::Recorded(list.into())
            }
        };
        let mut notices = Vec::new();
        let vfs = BoxVfs(match config.storage {
            Storage::Memory => Box::new(SimFs::new()),
            Storage::Dir(d) => {
                let fs = RealFs::open(d)?;
                for t in fs.tightened() {
                    notices.push(format!(
                        "{t}: the card store was readable by other users; tightened"
                    ));
                }
                Box::new(fs)
            }
            Storage::Vfs(v) => v,
        });
        let seal = config
            .store_seal
            .key(&config.device_key_pkcs8, &config.certificate_path);
        let on_rollback = if config.accept_store_loss {
            OnRollback::AcceptLoss
        } else {
            OnRollback::Refuse
        };
        // Opening writes nothing (read-only commands leave the files as they are); a repair
        // or migration is done by the first write, or by `repair_store`.
        let store = Store::open_or_create_with(
            vfs,
            StoreOptions::default(),
            Some(seal),
            on_rollback,
            CardState::default,
        )?;
        let rng = match config.rng {
            RngSource::Seed(s) => CardRng::from_seed(s),
            RngSource::Os => CardRng::from_os()?,
        };
        let counters = store.state().counters;
        Ok(Self {
            store,
            notices,
            open: BTreeMap::new(),
            counters,
            device_signer,
            certificate_path: config.certificate_path,
            vendor_name: config.vendor_name,
            vendor_description: config.vendor_description,
            update_url: config.update_url,
            device_type: config.device_type,
            device_pin: config.device_pin,
            biometric_support: config.biometric_support,
            clock: config.clock,
            rng,
            entropy: config.entropy,
            puk_delay: config.puk_delay,
            limits: config.limits,
        })
    }

    /// A card on in-memory storage with the P-256 test device of `airtight-pki`'s fixtures,
    /// a clock fixed at [`TEST_TIME`] and the RNG seeded from `seed`.
    pub fn in_memory_for_tests(seed: u64) -> Self {
        Self::in_memory_with_device(airtight_pki::DeviceKeyKind::P256, seed)
    }

    /// [`ReferenceSks::in_memory_for_tests`] with the chosen test device (P-256 or RSA-2048).
    pub fn in_memory_with_device(kind: airtight_pki::DeviceKeyKind, seed: u64) -> Self {
        let config = CardConfig::test_device(kind, seed, Arc::new(ManualClock::new(TEST_TIME)));
        // The compiled-in fixtures are valid by construction (airtight-pki tests them).
        #[allow(clippy::expect_used)]
        Self::open(config).expect("the fixture device identity is valid")
    }

    /// The number of open sessions (in memory).
    pub fn open_session_count(&self) -> usize {
        self.open.len()
    }

    /// The store's file system (for crash tests that inspect it).
    pub fn vfs(&self) -> &dyn Vfs {
        self.store.vfs()
    }

    /// What opening the store found (torn tail, stale journal, older format, accepted loss).
    pub fn store_recovery(&self) -> Recovery {
        self.store.recovery()
    }

    /// Warnings for the user about the store, one sentence each: permissions that were
    /// tightened, and what the store's recovery found, dropped or will drop at the next write
    /// (empty when all was well).
    pub fn store_notices(&self) -> Vec<String> {
        let mut out = self.notices.clone();
        out.extend(self.store.recovery().notices());
        out
    }

    /// Repair the store now (drop a torn tail, replace a stale journal, seal an older-format
    /// store, make an accepted loss final) by rewriting it: what the next write would do
    /// anyway. A clean store is compacted, which is harmless.
    pub fn repair_store(&mut self) -> Result<(), CardError> {
        self.store.compact()?;
        Ok(())
    }

    /// The algorithm URIs the card implements, in registry order ([SKS-DEV-004]).
    pub fn supported_algorithms() -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in alg::ALGORITHMS.iter().filter(|a| a.supported) {
            if !out.iter().any(|u| u == a.uri) {
                out.push(a.uri.to_owned());
            }
        }
        out
    }

    fn device_id(&self, privacy_enabled: bool) -> Vec<u8> {
        if privacy_enabled {
            airtight_proto::sks::KDF_ANONYMOUS.to_vec()
        } else {
            self.certificate_path.first().cloned().unwrap_or_default()
        }
    }

    /// The E2ES session attestation over `input` ([SKS-SES-005]).
    fn session_attestation(
        &mut self,
        input: &airtight_proto::session1::SessionAttestationInput<'_>,
    ) -> Result<Vec<u8>, SksError> {
        match &mut self.device_signer {
            DeviceKeyState::Key(key) => {
                airtight_proto::session1::sign_session_attestation(key, input)
                    .map_err(provisioning::s1)
            }
            DeviceKeyState::Recorded(list) => {
                let sig = list.pop_front().ok_or_else(|| {
                    SksError::crypto(
                        "no recorded session attestation left (test-only device signer)",
                    )
                })?;
                let cert = self.certificate_path.first().map(Vec::as_slice);
                airtight_proto::session1::verify_session_attestation(input, &sig, cert, &[])
                    .map_err(|e| {
                        SksError::crypto(format!(
                            "the recorded session attestation does not verify over this card's input: {e}"
                        ))
                    })?;
                Ok(sig)
            }
        }
    }

    fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Removes the open session `handle` from the table for the duration of a call; expired
    /// sessions are torn down here ([SKS-IMP-003]).
    fn take_open(&mut self, handle: u32) -> Result<OpenSession, SksError> {
        let Some(s) = self.open.remove(&handle) else {
            return Err(if self.store.state().sessions.contains_key(&handle) {
                SksError::no_session(format!("Session not open: {handle}"))
            } else {
                SksError::no_session(format!("No such provisioning session: {handle}"))
            });
        };
        if self.now() > s.deadline {
            // [SKS-IMP-003] the session is dropped (torn down) here.
            return Err(SksError::no_session(format!(
                "Session expired (sessionLifeTime): {handle}"
            )));
        }
        Ok(s)
    }

    /// Runs a provisioning call on the open session `handle`: a fatal error drops the session
    /// (teardown, [SKS-TXN-002]); `ERROR_AUTHORIZATION` does not ([SKS-ERR-003]).
    fn with_session<T>(
        &mut self,
        handle: u32,
        f: impl FnOnce(&mut Self, u32, &mut OpenSession) -> Result<T, SksError>,
    ) -> Result<T, SksError> {
        let mut s = self.take_open(handle)?;
        let r = f(self, handle, &mut s);
        match &r {
            Err(e) if e.is_fatal() => {}
            _ => {
                self.open.insert(handle, s);
            }
        }
        r
    }

    /// The open session that holds key `key` (Java `getOpenKey`: `ERROR_NO_KEY` otherwise).
    fn open_key_owner(&self, key: u32) -> Result<u32, SksError> {
        if let Some((h, _)) = self.open.iter().find(|(_, s)| s.keys.contains_key(&key)) {
            return Ok(*h);
        }
        Err(if self.store.state().keys.contains_key(&key) {
            SksError::no_key(format!("Key #{key} not belonging to open session"))
        } else {
            SksError::no_key(format!("Key not found #{key}"))
        })
    }

    /// Commits the difference between the committed state and `new` atomically.
    fn commit(&mut self, new: &CardState) -> Result<(), SksError> {
        let muts = self.store.state().diff(new);
        if muts.is_empty() {
            return Ok(());
        }
        self.store
            .commit(&muts)
            .map(|_| ())
            .map_err(|e| SksError::storage(format!("commit failed: {e}")))
    }
}

/// The card can move to another thread (APDU and shim servers).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<ReferenceSks>();
};

impl SecureKeyStore for ReferenceSks {
    fn get_device_info(&mut self) -> Result<DeviceInfo, SksError> {
        // [SKS-DEV-001] [SKS-DEV-002] [SKS-DEV-003] [SKS-DEV-004] [SKS-DEV-005]
        Ok(DeviceInfo {
            api_level: SKS_API_LEVEL,
            device_type: self.device_type,
            update_url: self.update_url.clone(),
            vendor_name: self.vendor_name.clone(),
            vendor_description: self.vendor_description.clone(),
            certificate_path: self.certificate_path.clone(),
            supported_algorithms: Self::supported_algorithms(),
            crypto_data_size: MAX_LENGTH_CRYPTO_DATA as u32,
            extension_data_size: MAX_LENGTH_EXTENSION_DATA as u32,
            device_pin_support: !matches!(self.device_pin, DevicePin::Unsupported),
            biometric_support: self.biometric_support,
        })
    }

    fn update_firmware(&mut self, _chunk: &[u8]) -> Result<String, SksError> {
        // [SKS-DEV-006]
        Err(SksError::not_allowed("Updates are not supported"))
    }

    fn create_provisioning_session(
        &mut self,
        params: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        self.create_session_impl(params)
    }

    fn close_provisioning_session(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        nonce: &[u8],
        mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.close_session_impl(provisioning_handle.0, nonce, mac)
    }

    fn enumerate_provisioning_sessions(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        provisioning_state: bool,
    ) -> Result<Option<EnumeratedProvisioningSession>, SksError> {
        Ok(self.enumerate_sessions_impl(provisioning_handle.0, provisioning_state))
    }

    fn abort_provisioning_session(
        &mut self,
        provisioning_handle: ProvisioningHandle,
    ) -> Result<(), SksError> {
        // [SKS-SES-020]
        self.take_open(provisioning_handle.0).map(|_| ())
    }

    fn update_key_management_key(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        key_management_key: &[u8],
        authorization: &[u8],
    ) -> Result<(), SksError> {
        self.update_kmk_impl(provisioning_handle.0, key_management_key, authorization)
    }

    fn create_puk_policy(
        &mut self,
        params: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        self.create_puk_impl(params)
    }

    fn create_pin_policy(
        &mut self,
        params: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        self.create_pin_impl(params)
    }

    fn create_key_entry(&mut self, params: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
        self.create_key_impl(params)
    }

    fn get_key_handle(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        id: &str,
    ) -> Result<KeyHandle, SksError> {
        self.get_key_handle_impl(provisioning_handle.0, id)
    }

    fn set_certificate_path(
        &mut self,
        key_handle: KeyHandle,
        certificate_path: &[Vec<u8>],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.set_certificate_path_impl(key_handle.0, certificate_path, mac)
    }

    fn import_symmetric_key(
        &mut self,
        key_handle: KeyHandle,
        encrypted_key: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.import_symmetric_impl(key_handle.0, encrypted_key, mac)
    }

    fn import_private_key(
        &mut self,
        key_handle: KeyHandle,
        encrypted_key: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.import_private_impl(key_handle.0, encrypted_key, mac)
    }

    fn add_extension(
        &mut self,
        key_handle: KeyHandle,
        type_uri: &str,
        sub_type: EnumArg<ExtensionSubType>,
        qualifier: &str,
        extension_data: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.add_extension_impl(
            key_handle.0,
            type_uri,
            &sub_type,
            qualifier,
            extension_data,
            mac,
        )
    }

    fn post_delete_key(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        target_key_handle: KeyHandle,
        authorization: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.post_unlock_or_delete_impl(
            provisioning_handle.0,
            target_key_handle.0,
            authorization,
            mac,
            true,
        )
    }

    fn post_unlock_key(
        &mut self,
        provisioning_handle: ProvisioningHandle,
        target_key_handle: KeyHandle,
        authorization: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.post_unlock_or_delete_impl(
            provisioning_handle.0,
            target_key_handle.0,
            authorization,
            mac,
            false,
        )
    }

    fn post_update_key(
        &mut self,
        key_handle: KeyHandle,
        target_key_handle: KeyHandle,
        authorization: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.post_update_or_clone_impl(key_handle.0, target_key_handle.0, authorization, mac, true)
    }

    fn post_clone_key_protection(
        &mut self,
        key_handle: KeyHandle,
        target_key_handle: KeyHandle,
        authorization: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        self.post_update_or_clone_impl(key_handle.0, target_key_handle.0, authorization, mac, false)
    }

    fn enumerate_keys(&mut self, key_handle: KeyHandle) -> Result<Option<EnumeratedKey>, SksError> {
        Ok(self.enumerate_keys_impl(key_handle.0))
    }

    fn get_key_attributes(&mut self, key_handle: KeyHandle) -> Result<KeyAttributes, SksError> {
        self.get_key_attributes_impl(key_handle.0)
    }

    fn get_key_protection_info(
        &mut self,
        key_handle: KeyHandle,
    ) -> Result<KeyProtectionInfo, SksError> {
        self.get_key_protection_info_impl(key_handle.0)
    }

    fn get_extension(
        &mut self,
        key_handle: KeyHandle,
        type_uri: &str,
    ) -> Result<Extension, SksError> {
        self.get_extension_impl(key_handle.0, type_uri)
    }

    fn set_property(
        &mut self,
        key_handle: KeyHandle,
        type_uri: &str,
        name: &str,
        value: &str,
    ) -> Result<(), SksError> {
        self.set_property_impl(key_handle.0, type_uri, name, value)
    }

    fn delete_key(
        &mut self,
        key_handle: KeyHandle,
        authorization: Option<&[u8]>,
    ) -> Result<(), SksError> {
        self.delete_key_impl(key_handle.0, authorization)
    }

    fn export_key(
        &mut self,
        key_handle: KeyHandle,
        authorization: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.export_key_impl(key_handle.0, authorization)
    }

    fn unlock_key(&mut self, key_handle: KeyHandle, authorization: &[u8]) -> Result<(), SksError> {
        self.unlock_key_impl(key_handle.0, authorization)
    }

    fn change_pin(
        &mut self,
        key_handle: KeyHandle,
        authorization: &[u8],
        new_pin: &[u8],
    ) -> Result<(), SksError> {
        self.change_pin_impl(key_handle.0, authorization, new_pin)
    }

    fn set_pin(
        &mut self,
        key_handle: KeyHandle,
        authorization: &[u8],
        new_pin: &[u8],
    ) -> Result<(), SksError> {
        self.set_pin_impl(key_handle.0, authorization, new_pin)
    }

    fn sign_data(
        &mut self,
        key_handle: KeyHandle,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.sign_data_impl(
            key_handle.0,
            algorithm,
            parameters,
            biometric_auth,
            authorization,
            data,
        )
    }

    fn asymmetric_key_decrypt(
        &mut self,
        key_handle: KeyHandle,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.decrypt_impl(
            key_handle.0,
            algorithm,
            parameters,
            biometric_auth,
            authorization,
            data,
        )
    }

    fn key_agreement(
        &mut self,
        key_handle: KeyHandle,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        public_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.key_agreement_impl(
            key_handle.0,
            algorithm,
            parameters,
            biometric_auth,
            authorization,
            public_key,
        )
    }

    fn perform_hmac(
        &mut self,
        key_handle: KeyHandle,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.hmac_impl(
            key_handle.0,
            algorithm,
            parameters,
            biometric_auth,
            authorization,
            data,
        )
    }

    fn symmetric_key_encrypt(
        &mut self,
        key_handle: KeyHandle,
        algorithm: &str,
        mode: bool,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.symmetric_impl(
            key_handle.0,
            algorithm,
            mode,
            parameters,
            biometric_auth,
            authorization,
            data,
        )
    }
}
