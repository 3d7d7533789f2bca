//! The MAC `Data` of every provisioning method (facts §3.5) and the attestation inputs
//! (facts §3.6). The key modifier is added by [`super::SessionCrypto`].

use crate::codec::Writer;
use crate::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestrictions,
};

use super::Session1Error;

/// `createPukPolicy`: `L(id) ‖ L(encryptedPuk) ‖ byte(format) ‖ ushort(retryLimit)`.
pub fn create_puk_policy_data(
    id: &str,
    encrypted_puk: &[u8],
    format: PassphraseFormat,
    retry_limit: u16,
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l_str(id)?
        .l(encrypted_puk)?
        .byte(format.to_byte())
        .ushort(retry_limit);
    Ok(w.into_bytes())
}

/// The MAC-covered fields of `createPinPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicyMacInput<'a> {
    /// `id`.
    pub id: &'a str,
    /// The id of the PUK policy, if any.
    pub puk_policy_id: Option<&'a str>,
    /// True when the PIN is user-defined (no `encryptedPin` in the keys).
    pub user_defined: bool,
    /// `userModifiable`.
    pub user_modifiable: bool,
    /// `format`.
    pub format: PassphraseFormat,
    /// `retryLimit`.
    pub retry_limit: u16,
    /// `grouping`.
    pub grouping: Grouping,
    /// `patternRestrictions`.
    pub pattern_restrictions: PatternRestrictions,
    /// `minLength`.
    pub min_length: u16,
    /// `maxLength`.
    pub max_length: u16,
    /// `inputMethod`.
    pub input_method: InputMethod,
}

/// `createPinPolicy` MAC data.
pub fn create_pin_policy_data(p: &PinPolicyMacInput<'_>) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l_str(p.id)?
        .l_str(p.puk_policy_id.unwrap_or(""))?
        .bool(p.user_defined)
        .bool(p.user_modifiable)
        .byte(p.format.to_byte())
        .ushort(p.retry_limit)
        .byte(p.grouping.to_byte())
        .byte(p.pattern_restrictions.to_byte())
        .ushort(p.min_length)
        .ushort(p.max_length)
        .byte(p.input_method.to_byte());
    Ok(w.into_bytes())
}

/// The MAC-covered fields of `createKeyEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntryMacInput<'a> {
    /// `id`.
    pub id: &'a str,
    /// `keyEntryAlgorithm` (key.1).
    pub key_entry_algorithm: &'a str,
    /// `serverSeed`, if any.
    pub server_seed: Option<&'a [u8]>,
    /// The PIN policy id, if the key has a PIN.
    pub pin_policy_id: Option<&'a str>,
    /// `encryptedPin` for a preset PIN (the MAC covers the ciphertext).
    pub encrypted_pin: Option<&'a [u8]>,
    /// `devicePinProtection`.
    pub device_pin_protection: bool,
    /// `enablePinCaching`.
    pub enable_pin_caching: bool,
    /// `biometricProtection`.
    pub biometric_protection: BiometricProtection,
    /// `exportProtection`.
    pub export_protection: ExportProtection,
    /// `deleteProtection`.
    pub delete_protection: DeleteProtection,
    /// `appUsage`.
    pub app_usage: AppUsage,
    /// `friendlyName`, if any.
    pub friendly_name: Option<&'a str>,
    /// `keyAlgorithm` URI.
    pub key_algorithm: &'a str,
    /// `keyParameters`, if any.
    pub key_parameters: Option<&'a [u8]>,
    /// `endorsedAlgorithms`: must be in strictly ascending order.
    pub endorsed_algorithms: &'a [&'a str],
}

/// `createKeyEntry` MAC data. Endorsed algorithms must already be in strictly ascending
/// (byte-wise, equal to Java's for ASCII URIs) order: the MAC covers that order and the SKS
/// rejects any other (SKSTest `test57`).
pub fn create_key_entry_data(k: &KeyEntryMacInput<'_>) -> Result<Vec<u8>, Session1Error> {
    if k.endorsed_algorithms.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Session1Error::EndorsedNotSorted);
    }
    let mut w = Writer::new();
    w.l_str(k.id)?
        .l_str(k.key_entry_algorithm)?
        .l(k.server_seed.unwrap_or(&[]))?
        .l_str(k.pin_policy_id.unwrap_or(""))?
        .l(k.encrypted_pin.unwrap_or(&[]))?
        .bool(k.device_pin_protection)
        .bool(k.enable_pin_caching)
        .byte(k.biometric_protection.to_byte())
        .byte(k.export_protection.to_byte())
        .byte(k.delete_protection.to_byte())
        .byte(k.app_usage.to_byte())
        .l_str(k.friendly_name.unwrap_or(""))?
        .l_str(k.key_algorithm)?
        .l(k.key_parameters.unwrap_or(&[]))?;
    for a in k.endorsed_algorithms {
        w.l_str(a)?;
    }
    Ok(w.into_bytes())
}

/// `setCertificatePath`: `L(generated public key SPKI) ‖ L(id) ‖ L(cert₁) ‖ L(cert₂) …`.
pub fn set_certificate_path_data(
    public_key_spki: &[u8],
    id: &str,
    certificate_path: &[&[u8]],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(public_key_spki)?.l_str(id)?;
    for c in certificate_path {
        w.l(c)?;
    }
    Ok(w.into_bytes())
}

/// `importSymmetricKey` / `importPrivateKey`: `L(EE) ‖ L(encryptedKey)`.
pub fn import_key_data(
    ee_certificate: &[u8],
    encrypted_key: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(ee_certificate)?.l(encrypted_key)?;
    Ok(w.into_bytes())
}

/// The `subType` of `addExtension` (facts §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionSubType {
    /// 0x00: a plain extension.
    Extension,
    /// 0x01: an encrypted extension (MACed encrypted).
    EncryptedExtension,
    /// 0x02: a property bag.
    PropertyBag,
    /// 0x03: a logotype (qualifier = MIME type).
    Logotype,
}

impl ExtensionSubType {
    /// The byte value.
    pub const fn to_byte(self) -> u8 {
        match self {
            ExtensionSubType::Extension => 0,
            ExtensionSubType::EncryptedExtension => 1,
            ExtensionSubType::PropertyBag => 2,
            ExtensionSubType::Logotype => 3,
        }
    }

    /// From the byte value.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => ExtensionSubType::Extension,
            1 => ExtensionSubType::EncryptedExtension,
            2 => ExtensionSubType::PropertyBag,
            3 => ExtensionSubType::Logotype,
            _ => return None,
        })
    }
}

/// `addExtension`: `L(EE) ‖ L(type) ‖ byte(subType) ‖ L(qualifier) ‖ blob(extensionData)`.
pub fn add_extension_data(
    ee_certificate: &[u8],
    extension_type: &str,
    sub_type: ExtensionSubType,
    qualifier: &str,
    extension_data: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(ee_certificate)?
        .l_str(extension_type)?
        .byte(sub_type.to_byte())
        .l_str(qualifier)?
        .blob(extension_data)?;
    Ok(w.into_bytes())
}

/// `postDeleteKey` / `postUnlockKey`: `L(authorization)`.
pub fn post_delete_or_unlock_data(authorization: &[u8]) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(authorization)?;
    Ok(w.into_bytes())
}

/// `postUpdateKey` / `postCloneKeyProtection`: `L(EE of the new key) ‖ L(authorization)`.
pub fn post_update_or_clone_data(
    new_key_ee_certificate: &[u8],
    authorization: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(new_key_ee_certificate)?.l(authorization)?;
    Ok(w.into_bytes())
}

/// `closeProvisioningSession`: `L(clientSessionId) ‖ L(serverSessionId) ‖ L(issuerUri) ‖
/// L(nonce)`.
pub fn close_provisioning_session_data(
    client_session_id: &str,
    server_session_id: &str,
    issuer_uri: &str,
    nonce: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l_str(client_session_id)?
        .l_str(server_session_id)?
        .l_str(issuer_uri)?
        .l(nonce)?;
    Ok(w.into_bytes())
}

/// Key attestation (key.1) data: `L(public key SPKI) ‖ L(mac of this createKeyEntry)`.
pub fn key_attestation_data(
    public_key_spki: &[u8],
    create_key_entry_mac: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(public_key_spki)?.l(create_key_entry_mac)?;
    Ok(w.into_bytes())
}

/// Close attestation data: `L(nonce)`.
pub fn close_attestation_data(nonce: &[u8]) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l(nonce)?;
    Ok(w.into_bytes())
}
