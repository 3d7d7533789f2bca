//! Parameter structs of the long provisioning calls (facts §2.2). Public keys and certificates
//! are DER bytes; byte-valued options are the typed enums of [`crate::policy`], each wrapped in
//! an [`EnumArg`] so that an undefined value reaches the SKS, which rejects it after the
//! session lookup ([SKS-TXN-002]).

use zeroize::Zeroizing;

use super::types::{PinPolicyHandle, ProvisioningHandle, PukPolicyHandle};
use crate::policy::{
    AppUsage, BiometricProtection, DeleteProtection, EnumArg, ExportProtection, Grouping,
    InputMethod, PassphraseFormat, PatternRestrictions,
};

/// `createProvisioningSession` \[2\] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProvisioningSessionParams {
    /// `sessionKeyAlgorithm` URI (`…#session.1`).
    pub session_key_algorithm: String,
    /// `privacyEnabled`: attest with an HMAC instead of the device key, DeviceID "Anonymous".
    pub privacy_enabled: bool,
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `serverEphemeralKey`: an EC public key as SubjectPublicKeyInfo DER.
    pub server_ephemeral_key: Vec<u8>,
    /// `issuerUri`.
    pub issuer_uri: String,
    /// `keyManagementKey` as SubjectPublicKeyInfo DER, if the keys are to be updatable.
    pub key_management_key: Option<Vec<u8>>,
    /// `clientTime` (seconds since the epoch).
    pub client_time: u32,
    /// `sessionLifeTime` (seconds).
    pub session_life_time: u16,
    /// `sessionKeyLimit`: how many times the session key may be used.
    pub session_key_limit: u16,
    /// `serverCertificate`: X.509 DER of the issuer's certificate.
    pub server_certificate: Vec<u8>,
}

/// `createPukPolicy` \[8\] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePukPolicyParams {
    /// The open session.
    pub provisioning_handle: ProvisioningHandle,
    /// `id` in the session's virtual namespace.
    pub id: String,
    /// `encryptedPuk`: `IV ‖ AES-256-CBC(PUK)` under the session encryption key.
    pub encrypted_puk: Vec<u8>,
    /// `format`.
    pub format: EnumArg<PassphraseFormat>,
    /// `retryLimit` (0..=10000; 0 = no lock-out but a delay).
    pub retry_limit: u16,
    /// The method MAC.
    pub mac: Vec<u8>,
}

/// `createPinPolicy` \[9\] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePinPolicyParams {
    /// The open session.
    pub provisioning_handle: ProvisioningHandle,
    /// `id` in the session's virtual namespace.
    pub id: String,
    /// `pukPolicyHandle`, [`PukPolicyHandle::NONE`] for no PUK.
    pub puk_policy_handle: PukPolicyHandle,
    /// `userDefined`: the user chooses the PIN (no preset PIN).
    pub user_defined: bool,
    /// `userModifiable`: `changePin` and `setPin` are allowed.
    pub user_modifiable: bool,
    /// `format`.
    pub format: EnumArg<PassphraseFormat>,
    /// `retryLimit` (1..=10000).
    pub retry_limit: u16,
    /// `grouping`.
    pub grouping: EnumArg<Grouping>,
    /// `patternRestrictions`.
    pub pattern_restrictions: EnumArg<PatternRestrictions>,
    /// `minLength`.
    pub min_length: u16,
    /// `maxLength`.
    pub max_length: u16,
    /// `inputMethod`.
    pub input_method: EnumArg<InputMethod>,
    /// The method MAC.
    pub mac: Vec<u8>,
}

/// `createKeyEntry` \[10\] parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct CreateKeyEntryParams {
    /// The open session.
    pub provisioning_handle: ProvisioningHandle,
    /// `id` in the session's virtual namespace.
    pub id: String,
    /// `keyEntryAlgorithm` URI (`…#key.1`).
    pub key_entry_algorithm: String,
    /// `serverSeed` (at most 64 bytes), if any.
    pub server_seed: Option<Vec<u8>>,
    /// `devicePinProtection` (excludes a PIN policy).
    pub device_pin_protection: bool,
    /// `pinPolicyHandle`, [`PinPolicyHandle::NONE`] for no PIN.
    pub pin_policy_handle: PinPolicyHandle,
    /// `pinValue`: the preset PIN encrypted (`IV ‖ AES-256-CBC`), or the user-defined PIN in
    /// clear; `None` without a PIN policy.
    pub pin_value: Option<Zeroizing<Vec<u8>>>,
    /// `enablePinCaching` (only with `trusted-gui`).
    pub enable_pin_caching: bool,
    /// `biometricProtection`.
    pub biometric_protection: EnumArg<BiometricProtection>,
    /// `exportProtection`.
    pub export_protection: EnumArg<ExportProtection>,
    /// `deleteProtection`.
    pub delete_protection: EnumArg<DeleteProtection>,
    /// `appUsage`.
    pub app_usage: EnumArg<AppUsage>,
    /// `friendlyName`, if any.
    pub friendly_name: Option<String>,
    /// `keyAlgorithm` URI (e.g. `…#ec.nist.p256`).
    pub key_algorithm: String,
    /// `keyParameters` (e.g. an RSA exponent), if any.
    pub key_parameters: Option<Vec<u8>>,
    /// `endorsedAlgorithms` URIs.
    pub endorsed_algorithms: Vec<String>,
    /// The method MAC.
    pub mac: Vec<u8>,
}

impl std::fmt::Debug for CreateKeyEntryParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateKeyEntryParams")
            .field("provisioning_handle", &self.provisioning_handle)
            .field("id", &self.id)
            .field("key_entry_algorithm", &self.key_entry_algorithm)
            .field("server_seed", &self.server_seed)
            .field("device_pin_protection", &self.device_pin_protection)
            .field("pin_policy_handle", &self.pin_policy_handle)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<redacted>"))
            .field("enable_pin_caching", &self.enable_pin_caching)
            .field("biometric_protection", &self.biometric_protection)
            .field("export_protection", &self.export_protection)
            .field("delete_protection", &self.delete_protection)
            .field("app_usage", &self.app_usage)
            .field("friendly_name", &self.friendly_name)
            .field("key_algorithm", &self.key_algorithm)
            .field("key_parameters", &self.key_parameters)
            .field("endorsed_algorithms", &self.endorsed_algorithms)
            .field("mac", &self.mac)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_pin() {
        let p = CreateKeyEntryParams {
            provisioning_handle: ProvisioningHandle(1),
            id: "Key.1".into(),
            key_entry_algorithm: String::new(),
            server_seed: None,
            device_pin_protection: false,
            pin_policy_handle: PinPolicyHandle(2),
            pin_value: Some(Zeroizing::new(b"SECRET1234".to_vec())),
            enable_pin_caching: false,
            biometric_protection: BiometricProtection::None.into(),
            export_protection: ExportProtection::NonExportable.into(),
            delete_protection: DeleteProtection::None.into(),
            app_usage: AppUsage::Signature.into(),
            friendly_name: None,
            key_algorithm: String::new(),
            key_parameters: None,
            endorsed_algorithms: vec![],
            mac: vec![0; 32],
        };
        let s = format!("{p:?}");
        assert!(!s.contains("SECRET"));
        assert!(s.contains("<redacted>"));
    }
}
