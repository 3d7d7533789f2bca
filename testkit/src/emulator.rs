//! The SKS-level issuer emulator: it plays the issuer (and the middleware) against any
//! [`SecureKeyStore`], honest or hostile.
//!
//! Honest: it computes every session.1 MAC, encrypts secrets, signs KMK authorizations and
//! verifies every attestation the card returns (session, key and close), all with
//! `airtight_proto::session1` and the `airtight-pki` test issuer CA.
//!
//! Hostile: every request can be built without sending it ([`Issuer::pin_params`],
//! [`Issuer::key_params`], ...) and altered after the MAC was computed; MACs can be made at any
//! counter value ([`Issuer::mac_at`]), counters can be skipped ([`Issuer::skip_counter`]),
//! replayed or forged ([`Issuer::forged_mac`]), and authorizations can be made by a foreign
//! KMK or for a foreign key.
//!
//! Errors: card refusals are [`EmuError::Sks`] (so a case can check the precise code);
//! failed verifications of what the card returned are [`EmuError::Verify`].

use airtight_card::TEST_TIME;
use airtight_pki::{Ca, Profile, Serial};
use airtight_proto::keys::{self, Curve, PrivateKey, PublicKey};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestrictions,
};
use airtight_proto::session1::{
    self, KeyEntryMacInput, Method, PinPolicyMacInput, SessionAttestationInput, SessionCrypto,
};
use airtight_proto::sks::{
    ALGORITHM_KEY_ATTEST_1, ALGORITHM_SESSION_ATTEST_1, CreateKeyEntryParams,
    CreatePinPolicyParams, CreateProvisioningSessionParams, CreatePukPolicyParams,
    ExtensionSubType, KeyData, KeyHandle, PinPolicyHandle, ProvisioningHandle,
    ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError, SksErrorCode,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroizing;

/// [`TEST_TIME`] as the `i64` the PKI takes.
pub const TEST_NOW: i64 = TEST_TIME.secs();

/// The issuer URI of the emulator.
pub const ISSUER_URI: &str = "http://issuer.example.com/provsess";
/// The `serverCertificate` of the emulator (opaque bytes to the card).
pub const SERVER_CERTIFICATE: &[u8] = &[1, 2, 3];

/// Algorithm URIs the tests and cases use.
pub mod uri {
    #![allow(missing_docs)]
    pub const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
    pub const P384: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p384";
    pub const P521: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p521";
    pub const BRAINPOOL: &str = "https://webpki.github.io/sks/algorithm#ec.brainpool.p256r1";
    pub const RSA1024: &str = "https://webpki.github.io/sks/algorithm#rsa1024";
    pub const RSA2048: &str = "https://webpki.github.io/sks/algorithm#rsa2048";
    pub const RSA1024_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa1024.exp";
    pub const RSA3072: &str = "https://webpki.github.io/sks/algorithm#rsa3072";
    pub const ED25519: &str = "https://webpki.github.io/sks/algorithm#ed25519";
    pub const X25519: &str = "https://webpki.github.io/sks/algorithm#x25519";
    pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
    pub const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
    pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    pub const ED25519_SIG: &str = "https://webpki.github.io/sks/algorithm#ed25519";
    pub const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
    pub const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
    pub const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    pub const AES_CBC: &str = "https://webpki.github.io/sks/algorithm#aes.cbc";
    pub const AES_ECB: &str = "https://webpki.github.io/sks/algorithm#aes.ecb.nopad";
    pub const RSA_PKCS1: &str = "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5";
    pub const RSA_OAEP_SHA1: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1";
    pub const RSA_OAEP_SHA256: &str = "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256";
    pub const ECDH_RAW: &str = "https://webpki.github.io/sks/algorithm#ecdh.raw";
    pub const NONE: &str = "https://webpki.github.io/sks/algorithm#none";
    pub const SESSION_1: &str = "https://webpki.github.io/sks/algorithm#session.1";
    pub const KEY_1: &str = "https://webpki.github.io/sks/algorithm#key.1";
}

/// An emulator failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmuError {
    /// The card refused a call.
    #[error("card: {0}")]
    Sks(#[from] SksError),
    /// Something the card returned did not verify (or the emulator could not build a request).
    #[error("verification: {0}")]
    Verify(String),
}

impl EmuError {
    /// The card's error code, if the card refused.
    pub fn code(&self) -> Option<SksErrorCode> {
        match self {
            EmuError::Sks(e) => Some(e.code()),
            EmuError::Verify(_) => None,
        }
    }

    /// The card's refusal, for a test that reads an emulator call as the card's answer
    /// (`r.map_err(EmuError::into_sks)`): a refusal is a result the test may expect, while a
    /// failed verification of what the card returned never is, so it ends the test.
    ///
    /// # Panics
    ///
    /// On [`EmuError::Verify`], with its text.
    #[track_caller]
    pub fn into_sks(self) -> SksError {
        match self {
            EmuError::Sks(e) => e,
            EmuError::Verify(m) => panic!("the emulator's verification failed: {m}"),
        }
    }
}

fn v<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, EmuError> {
    r.map_err(|e| EmuError::Verify(format!("{what}: {e}")))
}

/// A PIN policy request.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct PinSpec {
    pub id: String,
    pub puk: Option<(PukPolicyHandle, String)>,
    pub user_defined: bool,
    pub user_modifiable: bool,
    pub format: PassphraseFormat,
    pub retry_limit: u16,
    pub grouping: Grouping,
    pub pattern_restrictions: PatternRestrictions,
    pub min_length: u16,
    pub max_length: u16,
    pub input_method: InputMethod,
}

impl PinSpec {
    /// A user-defined, modifiable numeric PIN of 4-8 digits, 3 tries, no grouping.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            puk: None,
            user_defined: true,
            user_modifiable: true,
            format: PassphraseFormat::Numeric,
            retry_limit: 3,
            grouping: Grouping::None,
            pattern_restrictions: PatternRestrictions::NONE,
            min_length: 4,
            max_length: 8,
            input_method: InputMethod::Any,
        }
    }

    /// Under a PUK policy.
    pub fn with_puk(mut self, h: PukPolicyHandle, id: &str) -> Self {
        self.puk = Some((h, id.to_owned()));
        self
    }
}

/// A key request.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct KeySpec {
    pub id: String,
    pub key_entry_algorithm: String,
    pub key_algorithm: String,
    pub key_parameters: Option<Vec<u8>>,
    pub server_seed: Option<Vec<u8>>,
    pub pin_policy: Option<(PinPolicyHandle, String)>,
    /// The PIN in clear (user-defined) or the preset PIN before encryption.
    pub pin: Option<Vec<u8>>,
    /// Encrypt `pin` (a preset PIN).
    pub preset_pin: bool,
    pub device_pin_protection: bool,
    pub enable_pin_caching: bool,
    pub biometric_protection: BiometricProtection,
    pub export_protection: ExportProtection,
    pub delete_protection: DeleteProtection,
    pub app_usage: AppUsage,
    pub friendly_name: Option<String>,
    pub endorsed_algorithms: Vec<String>,
}

impl KeySpec {
    /// A key of `key_algorithm` without PIN, non-exportable, deletable, appUsage
    /// authentication.
    pub fn new(id: &str, key_algorithm: &str) -> Self {
        Self {
            id: id.to_owned(),
            key_entry_algorithm: ALGORITHM_KEY_ATTEST_1.to_owned(),
            key_algorithm: key_algorithm.to_owned(),
            key_parameters: None,
            server_seed: None,
            pin_policy: None,
            pin: None,
            preset_pin: false,
            device_pin_protection: false,
            enable_pin_caching: false,
            biometric_protection: BiometricProtection::None,
            export_protection: ExportProtection::NonExportable,
            delete_protection: DeleteProtection::None,
            app_usage: AppUsage::Authentication,
            friendly_name: None,
            endorsed_algorithms: Vec::new(),
        }
    }

    /// A P-256 key.
    pub fn p256(id: &str) -> Self {
        Self::new(id, uri::P256)
    }

    /// With a PIN policy and a PIN.
    pub fn with_pin(mut self, policy: PinPolicyHandle, policy_id: &str, pin: &[u8]) -> Self {
        self.pin_policy = Some((policy, policy_id.to_owned()));
        self.pin = Some(pin.to_vec());
        self
    }

    /// With endorsed algorithms.
    pub fn endorse(mut self, algs: &[&str]) -> Self {
        self.endorsed_algorithms = algs.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

/// A key created and certified by [`Issuer::provision_key`].
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The key handle.
    pub handle: KeyHandle,
    /// Its id.
    pub id: String,
    /// The generated public key (SPKI DER).
    pub public_key: Vec<u8>,
    /// The certificate path set on it.
    pub certificate_path: Vec<Vec<u8>>,
}

impl Provisioned {
    /// The end-entity certificate.
    pub fn ee(&self) -> &[u8] {
        self.certificate_path.first().map_or(&[], Vec::as_slice)
    }
}

/// The issuer emulator (one provisioning session at a time).
pub struct Issuer {
    /// The deterministic randomness (ephemeral keys, IVs, nonces, ids).
    pub rng: ChaCha20Rng,
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `issuerUri`.
    pub issuer_uri: String,
    /// `serverCertificate`.
    pub server_certificate: Vec<u8>,
    /// The curve of the server ephemeral key.
    pub ephemeral_curve: Curve,
    /// The key-management key, if the session is updatable.
    pub key_management_key: Option<PrivateKey>,
    /// `privacyEnabled`.
    pub privacy_enabled: bool,
    /// `sessionKeyLimit`.
    pub session_key_limit: u16,
    /// `sessionLifeTime`.
    pub session_life_time: u16,
    /// `clientTime`.
    pub client_time: u32,
    /// The open session.
    pub handle: ProvisioningHandle,
    /// `clientSessionId` as returned.
    pub client_session_id: String,
    /// The DeviceID of the session: the device certificate DER or `"Anonymous"`.
    pub device_id: Vec<u8>,
    crypto: Option<SessionCrypto>,
    ca: Ca,
    serial: u64,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A deterministic issuer: `seed` fixes its ephemeral keys, IVs, nonces and session ids.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x1551_e700);
        let mut sid = [0u8; 16];
        rng.fill_bytes(&mut sid);
        let server_session_id: String = sid.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            rng,
            server_session_id,
            issuer_uri: ISSUER_URI.to_owned(),
            server_certificate: SERVER_CERTIFICATE.to_vec(),
            ephemeral_curve: Curve::P256,
            key_management_key: None,
            privacy_enabled: false,
            session_key_limit: 1000,
            session_life_time: 3600,
            client_time: TEST_TIME.client_time_u32().unwrap_or(u32::MAX),
            handle: ProvisioningHandle::NONE,
            client_session_id: String::new(),
            device_id: Vec::new(),
            crypto: None,
            ca: airtight_pki::fixtures::issuer_ca(),
            serial: seed.wrapping_mul(1000).wrapping_add(1) & 0x7fff_ffff_ffff,
        }
    }

    /// With a P-256 key-management key derived from `seed`.
    pub fn with_kmk(mut self, seed: u64) -> Self {
        self.key_management_key = Some(kmk(seed));
        self
    }

    /// In privacy mode.
    pub fn privacy(mut self) -> Self {
        self.privacy_enabled = true;
        self
    }

    /// The session crypto (after [`Issuer::create_session`]).
    pub fn crypto(&mut self) -> Result<&mut SessionCrypto, EmuError> {
        self.crypto
            .as_mut()
            .ok_or_else(|| EmuError::Verify("no session yet".into()))
    }

    /// The MAC counter value the next MAC or attestation uses.
    pub fn next_counter(&self) -> u32 {
        self.crypto.as_ref().map_or(0, SessionCrypto::next_counter)
    }

    /// Fresh random bytes.
    pub fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// `IV ‖ AES-256-CBC(plaintext)` under the session encryption key.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, EmuError> {
        let iv = self.random::<16>();
        let c = self.crypto()?;
        v(c.encrypt(&iv, plaintext), "encrypt")
    }

    /// The MAC of `method` over `data` at the next counter value.
    pub fn mac(&mut self, method: Method, data: &[u8]) -> Result<Vec<u8>, EmuError> {
        let c = self.crypto()?;
        Ok(v(c.mac(method, data), "mac")?.to_vec())
    }

    /// The MAC of `method` over `data` at an arbitrary counter value; the counter is not
    /// touched (replays and forged counters).
    pub fn mac_at(
        &mut self,
        method: Method,
        counter: u16,
        data: &[u8],
    ) -> Result<Vec<u8>, EmuError> {
        let c = self.crypto()?;
        Ok(v(c.mac_at(method, counter, data), "mac")?.to_vec())
    }

    /// Skips one counter value (the emulator's counter runs ahead of the card's).
    pub fn skip_counter(&mut self) -> Result<u16, EmuError> {
        let c = self.crypto()?;
        v(c.reserve_counter(), "counter")
    }

    /// 32 random bytes: a MAC the emulator did not compute (the counter still advances, as
    /// the card's will when it verifies).
    pub fn forged_mac(&mut self) -> Result<Vec<u8>, EmuError> {
        self.skip_counter()?;
        Ok(self.random::<32>().to_vec())
    }

    /// The parameters [`Issuer::create_session`] sends.
    pub fn session_params(
        &mut self,
        ephemeral: &PrivateKey,
    ) -> Result<CreateProvisioningSessionParams, EmuError> {
        Ok(CreateProvisioningSessionParams {
            session_key_algorithm: ALGORITHM_SESSION_ATTEST_1.to_owned(),
            privacy_enabled: self.privacy_enabled,
            server_session_id: self.server_session_id.clone(),
            server_ephemeral_key: v(ephemeral.public_key().to_spki_der(), "spki")?,
            issuer_uri: self.issuer_uri.clone(),
            key_management_key: match &self.key_management_key {
                Some(k) => Some(v(k.public_key().to_spki_der(), "spki")?),
                None => None,
            },
            client_time: self.client_time,
            session_life_time: self.session_life_time,
            session_key_limit: self.session_key_limit,
            server_certificate: self.server_certificate.clone(),
        })
    }

    /// `createProvisioningSession`, then derives the session key and verifies the session
    /// attestation (device signature in E2ES mode, HMAC in privacy mode).
    pub fn create_session(
        &mut self,
        sks: &mut dyn SecureKeyStore,
    ) -> Result<ProvisioningSessionResult, EmuError> {
        self.create_session_with(sks, |_| {})
    }

    /// [`Issuer::create_session`] with the parameters altered by `alter` before sending
    /// (the attestation is verified against what was sent).
    pub fn create_session_with(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        alter: impl FnOnce(&mut CreateProvisioningSessionParams),
    ) -> Result<ProvisioningSessionResult, EmuError> {
        let ephemeral = PrivateKey::generate_ec(self.ephemeral_curve, &mut self.rng);
        let mut params = self.session_params(&ephemeral)?;
        alter(&mut params);
        let res = sks.create_provisioning_session(&params)?;
        self.handle = res.provisioning_handle;
        self.client_session_id = res.client_session_id.clone();
        let device_cert = sks
            .get_device_info()?
            .certificate_path
            .first()
            .cloned()
            .ok_or_else(|| EmuError::Verify("empty device certificate path".into()))?;
        let client_key = v(
            PublicKey::from_spki_der(&res.client_ephemeral_key),
            "clientEphemeralKey",
        )?;
        let z = v(keys::ecdh_z(&ephemeral, &client_key), "ECDH")?;
        let privacy = params.privacy_enabled;
        self.device_id = v(
            session1::device_id_bytes(privacy, (!privacy).then_some(device_cert.as_slice())),
            "device id",
        )?;
        let session_key = v(
            session1::derive_session_key(
                &z,
                &res.client_session_id,
                &params.server_session_id,
                &params.issuer_uri,
                &self.device_id,
            ),
            "kdf",
        )?;
        let input = SessionAttestationInput {
            client_session_id: &res.client_session_id,
            server_session_id: &params.server_session_id,
            issuer_uri: &params.issuer_uri,
            device_id: &self.device_id,
            session_key_algorithm: &params.session_key_algorithm,
            privacy_enabled: privacy,
            server_ephemeral_key_spki: &params.server_ephemeral_key,
            client_ephemeral_key_spki: &res.client_ephemeral_key,
            key_management_key_spki: params.key_management_key.as_deref(),
            client_time: params.client_time,
            session_life_time: params.session_life_time,
            session_key_limit: params.session_key_limit,
            server_certificate: &params.server_certificate,
        };
        v(
            session1::verify_session_attestation(
                &input,
                &res.attestation,
                (!privacy).then_some(device_cert.as_slice()),
                session_key.as_ref(),
            ),
            "session attestation",
        )?;
        // The issuer side never runs out of session-key uses; the card enforces the limit.
        self.crypto = Some(SessionCrypto::new(*session_key, u16::MAX));
        Ok(res)
    }

    /// The `createPukPolicy` parameters with a correct MAC (consumes a counter value).
    pub fn puk_params(
        &mut self,
        id: &str,
        puk: &[u8],
        format: PassphraseFormat,
        retry_limit: u16,
    ) -> Result<CreatePukPolicyParams, EmuError> {
        let encrypted_puk = self.encrypt(puk)?;
        let data = v(
            session1::create_puk_policy_data(id, &encrypted_puk, format, retry_limit),
            "mac data",
        )?;
        let mac = self.mac(Method::CreatePukPolicy, &data)?;
        Ok(CreatePukPolicyParams {
            provisioning_handle: self.handle,
            id: id.to_owned(),
            encrypted_puk,
            format: format.into(),
            retry_limit,
            mac,
        })
    }

    /// `createPukPolicy` with the PUK encrypted and MACed.
    pub fn create_puk(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        id: &str,
        puk: &[u8],
        format: PassphraseFormat,
        retry_limit: u16,
    ) -> Result<PukPolicyHandle, EmuError> {
        let p = self.puk_params(id, puk, format, retry_limit)?;
        Ok(sks.create_puk_policy(&p)?)
    }

    /// The `createPinPolicy` parameters with a correct MAC (consumes a counter value).
    pub fn pin_params(&mut self, p: &PinSpec) -> Result<CreatePinPolicyParams, EmuError> {
        let data = v(
            session1::create_pin_policy_data(&PinPolicyMacInput {
                id: &p.id,
                puk_policy_id: p.puk.as_ref().map(|(_, id)| id.as_str()),
                user_defined: p.user_defined,
                user_modifiable: p.user_modifiable,
                format: p.format,
                retry_limit: p.retry_limit,
                grouping: p.grouping,
                pattern_restrictions: p.pattern_restrictions,
                min_length: p.min_length,
                max_length: p.max_length,
                input_method: p.input_method,
            }),
            "mac data",
        )?;
        let mac = self.mac(Method::CreatePinPolicy, &data)?;
        Ok(CreatePinPolicyParams {
            provisioning_handle: self.handle,
            id: p.id.clone(),
            puk_policy_handle: p.puk.as_ref().map_or(PukPolicyHandle::NONE, |(h, _)| *h),
            user_defined: p.user_defined,
            user_modifiable: p.user_modifiable,
            format: p.format.into(),
            retry_limit: p.retry_limit,
            grouping: p.grouping.into(),
            pattern_restrictions: p.pattern_restrictions.into(),
            min_length: p.min_length,
            max_length: p.max_length,
            input_method: p.input_method.into(),
            mac,
        })
    }

    /// `createPinPolicy`.
    pub fn create_pin(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        p: &PinSpec,
    ) -> Result<PinPolicyHandle, EmuError> {
        let params = self.pin_params(p)?;
        Ok(sks.create_pin_policy(&params)?)
    }

    /// The `createKeyEntry` parameters with a correct MAC (consumes a counter value; the
    /// attestation takes the next one).
    pub fn key_params(&mut self, k: &KeySpec) -> Result<CreateKeyEntryParams, EmuError> {
        let pin_value: Option<Vec<u8>> = match &k.pin {
            Some(p) if k.preset_pin => Some(self.encrypt(p)?),
            Some(p) => Some(p.clone()),
            None => None,
        };
        // The endorsed algorithms are appended below, in the order given: a hostile issuer may
        // MAC an unsorted or duplicated list ([CRY-SER-008]: consecutive L() items, no count).
        let mut data = v(
            session1::create_key_entry_data(&KeyEntryMacInput {
                id: &k.id,
                key_entry_algorithm: &k.key_entry_algorithm,
                server_seed: k.server_seed.as_deref(),
                pin_policy_id: k.pin_policy.as_ref().map(|(_, id)| id.as_str()),
                encrypted_pin: if k.preset_pin {
                    pin_value.as_deref()
                } else {
                    None
                },
                device_pin_protection: k.device_pin_protection,
                enable_pin_caching: k.enable_pin_caching,
                biometric_protection: k.biometric_protection,
                export_protection: k.export_protection,
                delete_protection: k.delete_protection,
                app_usage: k.app_usage,
                friendly_name: k.friendly_name.as_deref(),
                key_algorithm: &k.key_algorithm,
                key_parameters: k.key_parameters.as_deref(),
                endorsed_algorithms: &[],
            }),
            "mac data",
        )?;
        let mut w = airtight_proto::codec::Writer::new();
        for a in &k.endorsed_algorithms {
            v(w.l_str(a), "endorsed algorithm")?;
        }
        data.extend_from_slice(w.as_bytes());
        let mac = self.mac(Method::CreateKeyEntry, &data)?;
        Ok(CreateKeyEntryParams {
            provisioning_handle: self.handle,
            id: k.id.clone(),
            key_entry_algorithm: k.key_entry_algorithm.clone(),
            server_seed: k.server_seed.clone(),
            device_pin_protection: k.device_pin_protection,
            pin_policy_handle: k
                .pin_policy
                .as_ref()
                .map_or(PinPolicyHandle::NONE, |(h, _)| *h),
            pin_value: pin_value.map(Zeroizing::new),
            enable_pin_caching: k.enable_pin_caching,
            biometric_protection: k.biometric_protection.into(),
            export_protection: k.export_protection.into(),
            delete_protection: k.delete_protection.into(),
            app_usage: k.app_usage.into(),
            friendly_name: k.friendly_name.clone(),
            key_algorithm: k.key_algorithm.clone(),
            key_parameters: k.key_parameters.clone(),
            endorsed_algorithms: k.endorsed_algorithms.clone(),
            mac,
        })
    }

    /// Sends prepared `createKeyEntry` parameters and verifies the key attestation.
    pub fn send_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        params: &CreateKeyEntryParams,
    ) -> Result<KeyData, EmuError> {
        let kd = sks.create_key_entry(params)?;
        let data = v(
            session1::key_attestation_data(&kd.public_key, &params.mac),
            "attestation data",
        )?;
        let c = self.crypto()?;
        v(
            c.verify_attestation(&data, &kd.attestation),
            "key attestation",
        )?;
        Ok(kd)
    }

    /// `createKeyEntry`, verifying the key attestation (key.1).
    pub fn create_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        k: &KeySpec,
    ) -> Result<KeyData, EmuError> {
        let params = self.key_params(k)?;
        self.send_key(sks, &params)
    }

    /// An end-entity certificate for `public_key` (SPKI DER) from the test issuer CA, followed
    /// by the CA path.
    pub fn certificate_path(&mut self, public_key: &[u8]) -> Result<Vec<Vec<u8>>, EmuError> {
        let serial = v(Serial::from_u64(self.serial), "serial")?;
        self.serial += 1;
        let profile = Profile::end_entity("CN=airtight harness key {key}, SERIALNUMBER={serial}");
        let ee = v(
            self.ca
                .issue_at(public_key, &profile, &serial, TEST_TIME.secs()),
            "issue certificate",
        )?;
        let mut path = vec![ee];
        path.extend(self.ca.certificate_path().iter().cloned());
        Ok(path)
    }

    /// The `setCertificatePath` MAC over `public_key` and `path` (consumes a counter value).
    pub fn certificate_path_mac(
        &mut self,
        public_key: &[u8],
        id: &str,
        path: &[Vec<u8>],
    ) -> Result<Vec<u8>, EmuError> {
        let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        let data = v(
            session1::set_certificate_path_data(public_key, id, &refs),
            "mac data",
        )?;
        self.mac(Method::SetCertificatePath, &data)
    }

    /// `setCertificatePath` with a correct MAC.
    pub fn set_certificate_path(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        id: &str,
        public_key: &[u8],
        path: &[Vec<u8>],
    ) -> Result<(), EmuError> {
        let mac = self.certificate_path_mac(public_key, id, path)?;
        Ok(sks.set_certificate_path(key, path, &mac)?)
    }

    /// Creates a key and certifies it.
    pub fn provision_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        k: &KeySpec,
    ) -> Result<Provisioned, EmuError> {
        let kd = self.create_key(sks, k)?;
        let path = self.certificate_path(&kd.public_key)?;
        self.set_certificate_path(sks, kd.key_handle, &k.id, &kd.public_key, &path)?;
        Ok(Provisioned {
            handle: kd.key_handle,
            id: k.id.clone(),
            public_key: kd.public_key,
            certificate_path: path,
        })
    }

    /// The encrypted key and MAC of an import (consumes a counter value).
    pub fn import_params(
        &mut self,
        method: Method,
        ee: &[u8],
        secret: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), EmuError> {
        let enc = self.encrypt(secret)?;
        let data = v(session1::import_key_data(ee, &enc), "mac data")?;
        let mac = self.mac(method, &data)?;
        Ok((enc, mac))
    }

    /// `importSymmetricKey`.
    pub fn import_symmetric_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        ee: &[u8],
        secret: &[u8],
    ) -> Result<(), EmuError> {
        let (enc, mac) = self.import_params(Method::ImportSymmetricKey, ee, secret)?;
        Ok(sks.import_symmetric_key(key, &enc, &mac)?)
    }

    /// `importPrivateKey` (PKCS#8 DER).
    pub fn import_private_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        ee: &[u8],
        pkcs8: &[u8],
    ) -> Result<(), EmuError> {
        let (enc, mac) = self.import_params(Method::ImportPrivateKey, ee, pkcs8)?;
        Ok(sks.import_private_key(key, &enc, &mac)?)
    }

    /// The data sent and the MAC of an `addExtension` (subType 1 is encrypted here).
    pub fn extension_params(
        &mut self,
        ee: &[u8],
        type_uri: &str,
        sub_type: ExtensionSubType,
        qualifier: &str,
        data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), EmuError> {
        let sent = if sub_type == ExtensionSubType::EncryptedExtension {
            self.encrypt(data)?
        } else {
            data.to_vec()
        };
        let st = session1::ExtensionSubType::from_byte(sub_type.to_byte())
            .ok_or_else(|| EmuError::Verify("subType".into()))?;
        let mac_data = v(
            session1::add_extension_data(ee, type_uri, st, qualifier, &sent),
            "mac data",
        )?;
        let mac = self.mac(Method::AddExtension, &mac_data)?;
        Ok((sent, mac))
    }

    /// `addExtension`.
    #[allow(clippy::too_many_arguments)]
    pub fn add_extension(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        ee: &[u8],
        type_uri: &str,
        sub_type: ExtensionSubType,
        qualifier: &str,
        data: &[u8],
    ) -> Result<(), EmuError> {
        let (sent, mac) = self.extension_params(ee, type_uri, sub_type, qualifier, data)?;
        Ok(sks.add_extension(key, type_uri, sub_type.into(), qualifier, &sent, &mac)?)
    }

    /// A target-key-reference authorization by `kmk` for the key certified by `target_ee`,
    /// bound to this session and device.
    pub fn authorization(
        &mut self,
        kmk: &PrivateKey,
        target_ee: &[u8],
    ) -> Result<Vec<u8>, EmuError> {
        let device_id = self.device_id.clone();
        let c = self.crypto()?;
        let reference = v(c.target_key_reference(&device_id, target_ee), "reference")?;
        v(
            session1::sign_kmk_authorization(
                kmk,
                &session1::target_key_reference_signed_data(&reference),
            ),
            "sign",
        )
    }

    /// The MAC of a `postDeleteKey`/`postUnlockKey` over `auth`.
    pub fn post_delete_or_unlock_mac(
        &mut self,
        auth: &[u8],
        delete: bool,
    ) -> Result<Vec<u8>, EmuError> {
        let data = v(session1::post_delete_or_unlock_data(auth), "mac data")?;
        self.mac(
            if delete {
                Method::PostDeleteKey
            } else {
                Method::PostUnlockKey
            },
            &data,
        )
    }

    /// `postDeleteKey` (`delete`) or `postUnlockKey`.
    pub fn post_delete_or_unlock(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        target: KeyHandle,
        target_ee: &[u8],
        kmk: &PrivateKey,
        delete: bool,
    ) -> Result<(), EmuError> {
        let auth = self.authorization(kmk, target_ee)?;
        let mac = self.post_delete_or_unlock_mac(&auth, delete)?;
        if delete {
            Ok(sks.post_delete_key(self.handle, target, &auth, &mac)?)
        } else {
            Ok(sks.post_unlock_key(self.handle, target, &auth, &mac)?)
        }
    }

    /// `postUpdateKey` (`update`) or `postCloneKeyProtection`.
    #[allow(clippy::too_many_arguments)]
    pub fn post_update_or_clone(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        new_key: KeyHandle,
        new_ee: &[u8],
        target: KeyHandle,
        target_ee: &[u8],
        kmk: &PrivateKey,
        update: bool,
    ) -> Result<(), EmuError> {
        let auth = self.authorization(kmk, target_ee)?;
        let data = v(
            session1::post_update_or_clone_data(new_ee, &auth),
            "mac data",
        )?;
        if update {
            let mac = self.mac(Method::PostUpdateKey, &data)?;
            Ok(sks.post_update_key(new_key, target, &auth, &mac)?)
        } else {
            let mac = self.mac(Method::PostCloneKeyProtection, &data)?;
            Ok(sks.post_clone_key_protection(new_key, target, &auth, &mac)?)
        }
    }

    /// The close nonce and MAC (consumes a counter value).
    pub fn close_params(&mut self, nonce: &[u8]) -> Result<Vec<u8>, EmuError> {
        let data = v(
            session1::close_provisioning_session_data(
                &self.client_session_id,
                &self.server_session_id,
                &self.issuer_uri,
                nonce,
            ),
            "mac data",
        )?;
        self.mac(Method::CloseProvisioningSession, &data)
    }

    /// `closeProvisioningSession` with a fresh 32-byte nonce; verifies the close attestation.
    pub fn close(&mut self, sks: &mut dyn SecureKeyStore) -> Result<Vec<u8>, EmuError> {
        let nonce = self.random::<32>();
        self.close_with_nonce(sks, &nonce)
    }

    /// `closeProvisioningSession` with a given nonce; verifies the close attestation.
    pub fn close_with_nonce(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        nonce: &[u8],
    ) -> Result<Vec<u8>, EmuError> {
        let mac = self.close_params(nonce)?;
        let att = sks.close_provisioning_session(self.handle, nonce, &mac)?;
        let data = v(session1::close_attestation_data(nonce), "data")?;
        let c = self.crypto()?;
        v(c.verify_attestation(&data, &att), "close attestation")?;
        Ok(att)
    }
}

/// A P-256 key-management key from a seed.
pub fn kmk(seed: u64) -> PrivateKey {
    PrivateKey::generate_ec(
        Curve::P256,
        &mut ChaCha20Rng::seed_from_u64(seed ^ 0x4b4d_4b00),
    )
}

/// A fresh EC key on `curve` from a seed (peers for key agreement, foreign KMKs).
pub fn ec_key(curve: Curve, seed: u64) -> PrivateKey {
    PrivateKey::generate_ec(curve, &mut ChaCha20Rng::seed_from_u64(seed ^ 0xec00_0000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_sks_gives_the_cards_refusal() -> Result<(), EmuError> {
        let mut card = crate::card(1);
        let mut is = Issuer::new(1);
        is.create_session(&mut card)?;
        card.abort_provisioning_session(is.handle)?;
        let r = is
            .create_pin(&mut card, &PinSpec::new("PIN.1"))
            .map_err(EmuError::into_sks);
        assert!(
            matches!(&r, Err(e) if e.code() == SksErrorCode::NoSession),
            "{r:?}"
        );
        let e = SksError::new(SksErrorCode::Mac, "wrong MAC");
        assert_eq!(EmuError::from(e.clone()).into_sks(), e);
        Ok(())
    }

    #[test]
    #[should_panic(expected = "the emulator's verification failed: key attestation")]
    fn into_sks_ends_the_test_on_a_verification_failure() {
        let _ = EmuError::Verify("key attestation: mismatch".into()).into_sks();
    }

    #[test]
    fn no_mac_before_a_session() {
        let mut is = Issuer::new(2);
        let e = is.mac(Method::CreatePinPolicy, b"x");
        assert!(matches!(e, Err(EmuError::Verify(_))), "{e:?}");
    }
}
