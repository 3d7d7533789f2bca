//! A small issuer emulator for the SKS tests, in the spirit of the Java `ProvSess`: it drives a
//! [`SecureKeyStore`] through provisioning with correct session.1 MACs, encrypts secrets,
//! signs KMK authorizations and verifies every attestation the card returns (session, key and
//! close). Built only on `airtight_proto::session1` and the `airtight-pki` test CA.
//!
//! Reuse: `mod support;` in a test file, then `let mut sks = support::card(seed);` and
//! `let mut is = Issuer::new(seed); is.create_session(&mut sks)?; ...`. Every method returns
//! the card's `Result` so negative tests can check the exact error code; lower-level helpers
//! ([`Issuer::mac`], [`Issuer::encrypt`], [`Issuer::authorization`]) let a test forge inputs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use airtight_card::{ReferenceSks, TEST_TIME};
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

/// The issuer URI of the emulator (as in the Java `ProvSess`).
pub const ISSUER_URI: &str = "http://issuer.example.com/provsess";
/// The `serverCertificate` of the emulator (as in the Java `ProvSess`).
pub const SERVER_CERTIFICATE: &[u8] = &[1, 2, 3];

/// [`TEST_TIME`] as the i64 the PKI takes.
pub const TEST_NOW: i64 = TEST_TIME as i64;

/// Algorithm URIs used by the tests.
pub mod uri {
    pub const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";
    pub const P384: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p384";
    pub const P521: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p521";
    pub const RSA1024: &str = "https://webpki.github.io/sks/algorithm#rsa1024";
    pub const RSA2048: &str = "https://webpki.github.io/sks/algorithm#rsa2048";
    pub const RSA1024_EXP: &str = "https://webpki.github.io/sks/algorithm#rsa1024.exp";
    pub const ED25519: &str = "https://webpki.github.io/sks/algorithm#ed25519";
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
}

/// A card with the P-256 test device, in memory, clock at [`TEST_TIME`].
pub fn card(seed: u64) -> ReferenceSks {
    ReferenceSks::in_memory_for_tests(seed)
}

/// Asserts that `r` failed with `code`.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(r: Result<T, SksError>, code: SksErrorCode) -> SksError {
    match r {
        Ok(v) => panic!("expected {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "wrong code: {e}");
            e
        }
    }
}

/// A PIN policy request.
#[derive(Debug, Clone)]
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
}

/// A key request.
#[derive(Debug, Clone)]
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

    /// With a PIN policy and a PIN.
    pub fn with_pin(mut self, policy: PinPolicyHandle, policy_id: &str, pin: &[u8]) -> Self {
        self.pin_policy = Some((policy, policy_id.to_owned()));
        self.pin = Some(pin.to_vec());
        self
    }
}

/// A key created and certified by [`Issuer::provision_key`].
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub handle: KeyHandle,
    pub id: String,
    pub public_key: Vec<u8>,
    pub certificate_path: Vec<Vec<u8>>,
}

impl Provisioned {
    /// The end-entity certificate.
    pub fn ee(&self) -> &[u8] {
        &self.certificate_path[0]
    }
}

/// The issuer emulator (one provisioning session at a time).
pub struct Issuer {
    pub rng: ChaCha20Rng,
    pub server_session_id: String,
    pub issuer_uri: String,
    pub server_certificate: Vec<u8>,
    pub ephemeral_curve: Curve,
    pub key_management_key: Option<PrivateKey>,
    pub privacy_enabled: bool,
    pub session_key_limit: u16,
    pub session_life_time: u16,
    pub client_time: u32,
    pub handle: ProvisioningHandle,
    pub client_session_id: String,
    /// The DeviceID of the session: the device certificate DER or `"Anonymous"`.
    pub device_id: Vec<u8>,
    crypto: Option<SessionCrypto>,
    pub ca: Ca,
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
            client_time: TEST_TIME as u32,
            handle: ProvisioningHandle::NONE,
            client_session_id: String::new(),
            device_id: Vec::new(),
            crypto: None,
            ca: airtight_pki::fixtures::issuer_ca(),
            serial: 1,
        }
    }

    /// With a P-256 key-management key derived from `seed`.
    pub fn with_kmk(mut self, seed: u64) -> Self {
        self.key_management_key = Some(kmk(seed));
        self
    }

    /// The session crypto (after [`Issuer::create_session`]).
    pub fn crypto(&mut self) -> &mut SessionCrypto {
        self.crypto.as_mut().expect("create_session first")
    }

    /// Fresh random bytes.
    pub fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// `IV ‖ AES-256-CBC(plaintext)` under the session encryption key (one session-key use).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let iv = self.random::<16>();
        self.crypto().encrypt(&iv, plaintext).expect("encrypt")
    }

    /// The MAC of `method` over `data` at the next counter value.
    pub fn mac(&mut self, method: Method, data: &[u8]) -> Vec<u8> {
        self.crypto().mac(method, data).expect("mac").to_vec()
    }

    /// The parameters [`Issuer::create_session`] sends (for tests that alter them).
    pub fn session_params(&mut self, ephemeral: &PrivateKey) -> CreateProvisioningSessionParams {
        CreateProvisioningSessionParams {
            session_key_algorithm: ALGORITHM_SESSION_ATTEST_1.to_owned(),
            privacy_enabled: self.privacy_enabled,
            server_session_id: self.server_session_id.clone(),
            server_ephemeral_key: ephemeral.public_key().to_spki_der().expect("spki"),
            issuer_uri: self.issuer_uri.clone(),
            key_management_key: self
                .key_management_key
                .as_ref()
                .map(|k| k.public_key().to_spki_der().expect("spki")),
            client_time: self.client_time,
            session_life_time: self.session_life_time,
            session_key_limit: self.session_key_limit,
            server_certificate: self.server_certificate.clone(),
        }
    }

    /// `createProvisioningSession`, then derives the session key and verifies the session
    /// attestation (device signature in E2ES mode, HMAC in privacy mode).
    pub fn create_session(
        &mut self,
        sks: &mut dyn SecureKeyStore,
    ) -> Result<ProvisioningSessionResult, SksError> {
        let ephemeral = PrivateKey::generate_ec(self.ephemeral_curve, &mut self.rng);
        let params = self.session_params(&ephemeral);
        let res = sks.create_provisioning_session(&params)?;
        let device_cert = sks.get_device_info()?.certificate_path[0].clone();
        let client_key = PublicKey::from_spki_der(&res.client_ephemeral_key).expect("client key");
        let z = keys::ecdh_z(&ephemeral, &client_key).expect("ECDH");
        self.device_id = session1::device_id_bytes(
            self.privacy_enabled,
            (!self.privacy_enabled).then_some(device_cert.as_slice()),
        )
        .expect("device id");
        let session_key = session1::derive_session_key(
            &z,
            &res.client_session_id,
            &self.server_session_id,
            &self.issuer_uri,
            &self.device_id,
        )
        .expect("kdf");
        let kmk_spki = params.key_management_key.clone();
        let input = SessionAttestationInput {
            client_session_id: &res.client_session_id,
            server_session_id: &self.server_session_id,
            issuer_uri: &self.issuer_uri,
            device_id: &self.device_id,
            session_key_algorithm: &params.session_key_algorithm,
            privacy_enabled: self.privacy_enabled,
            server_ephemeral_key_spki: &params.server_ephemeral_key,
            client_ephemeral_key_spki: &res.client_ephemeral_key,
            key_management_key_spki: kmk_spki.as_deref(),
            client_time: self.client_time,
            session_life_time: self.session_life_time,
            session_key_limit: self.session_key_limit,
            server_certificate: &self.server_certificate,
        };
        session1::verify_session_attestation(
            &input,
            &res.attestation,
            (!self.privacy_enabled).then_some(device_cert.as_slice()),
            session_key.as_ref(),
        )
        .expect("session attestation verifies");
        self.handle = res.provisioning_handle;
        self.client_session_id = res.client_session_id.clone();
        // The issuer side never runs out of session-key uses; the card enforces the limit.
        self.crypto = Some(SessionCrypto::new(*session_key, u16::MAX));
        Ok(res)
    }

    /// `createPukPolicy` with the PUK encrypted and MACed.
    pub fn create_puk(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        id: &str,
        puk: &[u8],
        format: PassphraseFormat,
        retry_limit: u16,
    ) -> Result<PukPolicyHandle, SksError> {
        let encrypted_puk = self.encrypt(puk);
        let data = session1::create_puk_policy_data(id, &encrypted_puk, format, retry_limit)
            .unwrap_or_default();
        let mac = self.mac(Method::CreatePukPolicy, &data);
        sks.create_puk_policy(&CreatePukPolicyParams {
            provisioning_handle: self.handle,
            id: id.to_owned(),
            encrypted_puk,
            format: format.into(),
            retry_limit,
            mac,
        })
    }

    /// The `createPinPolicy` parameters with a correct MAC (consumes a counter value).
    pub fn pin_params(&mut self, p: &PinSpec) -> CreatePinPolicyParams {
        let data = session1::create_pin_policy_data(&PinPolicyMacInput {
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
        })
        .unwrap_or_default();
        let mac = self.mac(Method::CreatePinPolicy, &data);
        CreatePinPolicyParams {
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
        }
    }

    /// `createPinPolicy`.
    pub fn create_pin(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        p: &PinSpec,
    ) -> Result<PinPolicyHandle, SksError> {
        let params = self.pin_params(p);
        sks.create_pin_policy(&params)
    }

    /// The `createKeyEntry` parameters with a correct MAC (consumes a counter value; the
    /// attestation takes the next one).
    pub fn key_params(&mut self, k: &KeySpec) -> CreateKeyEntryParams {
        let pin_value: Option<Vec<u8>> = match &k.pin {
            Some(p) if k.preset_pin => Some(self.encrypt(p)),
            Some(p) => Some(p.clone()),
            None => None,
        };
        let endorsed: Vec<&str> = k.endorsed_algorithms.iter().map(String::as_str).collect();
        let data = session1::create_key_entry_data(&KeyEntryMacInput {
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
            endorsed_algorithms: &endorsed,
        })
        .unwrap_or_default();
        let mac = self.mac(Method::CreateKeyEntry, &data);
        CreateKeyEntryParams {
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
        }
    }

    /// `createKeyEntry`, verifying the key attestation (key.1).
    pub fn create_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        k: &KeySpec,
    ) -> Result<KeyData, SksError> {
        let params = self.key_params(k);
        let kd = sks.create_key_entry(&params)?;
        let data = session1::key_attestation_data(&kd.public_key, &params.mac).expect("data");
        self.crypto()
            .verify_attestation(&data, &kd.attestation)
            .expect("key attestation verifies");
        Ok(kd)
    }

    /// An end-entity certificate for `public_key` (SPKI DER) from the test issuer CA, followed
    /// by the CA path.
    pub fn certificate_path(&mut self, public_key: &[u8]) -> Vec<Vec<u8>> {
        let serial = Serial::from_u64(self.serial).expect("serial");
        self.serial += 1;
        let profile = Profile::end_entity("CN=airtight test key {key}, SERIALNUMBER={serial}");
        let ee = self
            .ca
            .issue_at(public_key, &profile, &serial, TEST_TIME as i64)
            .expect("issue");
        let mut path = vec![ee];
        path.extend(self.ca.certificate_path().iter().cloned());
        path
    }

    /// `setCertificatePath` with a correct MAC over `public_key` (the key's current public
    /// key) and `path`.
    pub fn set_certificate_path(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        id: &str,
        public_key: &[u8],
        path: &[Vec<u8>],
    ) -> Result<(), SksError> {
        let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        let data = session1::set_certificate_path_data(public_key, id, &refs).unwrap_or_default();
        let mac = self.mac(Method::SetCertificatePath, &data);
        sks.set_certificate_path(key, path, &mac)
    }

    /// Creates a key and certifies it.
    pub fn provision_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        k: &KeySpec,
    ) -> Result<Provisioned, SksError> {
        let kd = self.create_key(sks, k)?;
        let path = self.certificate_path(&kd.public_key);
        self.set_certificate_path(sks, kd.key_handle, &k.id, &kd.public_key, &path)?;
        Ok(Provisioned {
            handle: kd.key_handle,
            id: k.id.clone(),
            public_key: kd.public_key,
            certificate_path: path,
        })
    }

    /// `importSymmetricKey`.
    pub fn import_symmetric_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        ee: &[u8],
        secret: &[u8],
    ) -> Result<(), SksError> {
        let enc = self.encrypt(secret);
        let data = session1::import_key_data(ee, &enc).unwrap_or_default();
        let mac = self.mac(Method::ImportSymmetricKey, &data);
        sks.import_symmetric_key(key, &enc, &mac)
    }

    /// `importPrivateKey` (PKCS#8 DER).
    pub fn import_private_key(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        key: KeyHandle,
        ee: &[u8],
        pkcs8: &[u8],
    ) -> Result<(), SksError> {
        let enc = self.encrypt(pkcs8);
        let data = session1::import_key_data(ee, &enc).unwrap_or_default();
        let mac = self.mac(Method::ImportPrivateKey, &data);
        sks.import_private_key(key, &enc, &mac)
    }

    /// `addExtension` (subType 1 is encrypted here; the MAC covers what is sent).
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
    ) -> Result<(), SksError> {
        let sent = if sub_type == ExtensionSubType::EncryptedExtension {
            self.encrypt(data)
        } else {
            data.to_vec()
        };
        let st = session1::ExtensionSubType::from_byte(sub_type.to_byte()).expect("subType");
        let mac_data =
            session1::add_extension_data(ee, type_uri, st, qualifier, &sent).unwrap_or_default();
        let mac = self.mac(Method::AddExtension, &mac_data);
        sks.add_extension(key, type_uri, sub_type.into(), qualifier, &sent, &mac)
    }

    /// A target-key-reference authorization by `kmk` for the key certified by `target_ee`,
    /// bound to this session and device (one session-key use, no counter).
    pub fn authorization(&mut self, kmk: &PrivateKey, target_ee: &[u8]) -> Vec<u8> {
        let device_id = self.device_id.clone();
        let reference = self
            .crypto()
            .target_key_reference(&device_id, target_ee)
            .expect("reference");
        session1::sign_kmk_authorization(
            kmk,
            &session1::target_key_reference_signed_data(&reference),
        )
        .expect("sign")
    }

    /// `postDeleteKey` (`delete`) or `postUnlockKey`.
    pub fn post_delete_or_unlock(
        &mut self,
        sks: &mut dyn SecureKeyStore,
        target: KeyHandle,
        target_ee: &[u8],
        kmk: &PrivateKey,
        delete: bool,
    ) -> Result<(), SksError> {
        let auth = self.authorization(kmk, target_ee);
        let data = session1::post_delete_or_unlock_data(&auth).expect("data");
        if delete {
            let mac = self.mac(Method::PostDeleteKey, &data);
            sks.post_delete_key(self.handle, target, &auth, &mac)
        } else {
            let mac = self.mac(Method::PostUnlockKey, &data);
            sks.post_unlock_key(self.handle, target, &auth, &mac)
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
    ) -> Result<(), SksError> {
        let auth = self.authorization(kmk, target_ee);
        let data = session1::post_update_or_clone_data(new_ee, &auth).expect("data");
        if update {
            let mac = self.mac(Method::PostUpdateKey, &data);
            sks.post_update_key(new_key, target, &auth, &mac)
        } else {
            let mac = self.mac(Method::PostCloneKeyProtection, &data);
            sks.post_clone_key_protection(new_key, target, &auth, &mac)
        }
    }

    /// `closeProvisioningSession` with a fresh 32-byte nonce; verifies the close attestation.
    pub fn close(&mut self, sks: &mut dyn SecureKeyStore) -> Result<Vec<u8>, SksError> {
        let nonce = self.random::<32>();
        let data = session1::close_provisioning_session_data(
            &self.client_session_id,
            &self.server_session_id,
            &self.issuer_uri,
            &nonce,
        )
        .expect("data");
        let mac = self.mac(Method::CloseProvisioningSession, &data);
        let att = sks.close_provisioning_session(self.handle, &nonce, &mac)?;
        let data = session1::close_attestation_data(&nonce).expect("data");
        self.crypto()
            .verify_attestation(&data, &att)
            .expect("close attestation verifies");
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

/// The public key of a key's certificate, for verifying signatures.
pub fn public_key(spki: &[u8]) -> PublicKey {
    PublicKey::from_spki_der(spki).expect("spki")
}
