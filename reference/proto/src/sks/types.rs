//! Handles and the result types of the SKS API (facts §2.2).

use crate::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestrictions, UnknownValue,
};

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);

        impl $name {
            /// Handle 0: "none" where the API takes an optional handle, "start" where it
            /// enumerates.
            pub const NONE: Self = Self(0);

            /// True for handle 0.
            pub const fn is_none(self) -> bool {
                self.0 == 0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

handle!(
    /// A provisioning session handle (0 starts `enumerateProvisioningSessions`).
    ProvisioningHandle
);
handle!(
    /// A key handle (0 starts `enumerateKeys`).
    KeyHandle
);
handle!(
    /// A PIN policy handle (0 in `createKeyEntry` means "no PIN policy").
    PinPolicyHandle
);
handle!(
    /// A PUK policy handle (0 in `createPinPolicy` means "no PUK policy").
    PukPolicyHandle
);

/// Where the SKS lives: `deviceType` bits 0-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceLocation {
    /// 0: external (e.g. a USB token or a card in a reader).
    External,
    /// 1: embedded in the device.
    Embedded,
    /// 2: in a socket (e.g. a microSD).
    Socketed,
    /// 3: a SIM.
    Sim,
}

impl DeviceLocation {
    /// Every location, in bit order.
    pub const ALL: &'static [DeviceLocation] = &[
        DeviceLocation::External,
        DeviceLocation::Embedded,
        DeviceLocation::Socketed,
        DeviceLocation::Sim,
    ];

    /// The bits (0-1) of this location.
    pub const fn bits(self) -> u8 {
        match self {
            DeviceLocation::External => 0x00,
            DeviceLocation::Embedded => 0x01,
            DeviceLocation::Socketed => 0x02,
            DeviceLocation::Sim => 0x03,
        }
    }
}

/// What the SKS is built on: `deviceType` bits 2-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceTypeClass {
    /// 0x00: software.
    Software,
    /// 0x04: dedicated hardware (a secure element).
    Hardware,
    /// 0x08: a hardware security module.
    Hsm,
    /// 0x0C: a CPU-integrated environment (e.g. a TEE).
    Cpu,
}

impl DeviceTypeClass {
    /// Every class, in bit order.
    pub const ALL: &'static [DeviceTypeClass] = &[
        DeviceTypeClass::Software,
        DeviceTypeClass::Hardware,
        DeviceTypeClass::Hsm,
        DeviceTypeClass::Cpu,
    ];

    /// The bits (2-3) of this class.
    pub const fn bits(self) -> u8 {
        match self {
            DeviceTypeClass::Software => 0x00,
            DeviceTypeClass::Hardware => 0x04,
            DeviceTypeClass::Hsm => 0x08,
            DeviceTypeClass::Cpu => 0x0C,
        }
    }
}

/// The `deviceType` byte of [`DeviceInfo`]: a location (bits 0-1) and a class (bits 2-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceType {
    /// Bits 0-1.
    pub location: DeviceLocation,
    /// Bits 2-3.
    pub class: DeviceTypeClass,
}

impl DeviceType {
    /// The defined bits; bits 4-7 must be 0.
    pub const MASK: u8 = 0x0f;

    /// The byte.
    pub const fn to_byte(self) -> u8 {
        self.location.bits() | self.class.bits()
    }

    /// From the byte; set bits 4-7 are an error.
    pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
        if value & !Self::MASK != 0 {
            return Err(UnknownValue::Byte {
                kind: "deviceType",
                value,
            });
        }
        let location = match value & 0x03 {
            0x00 => DeviceLocation::External,
            0x01 => DeviceLocation::Embedded,
            0x02 => DeviceLocation::Socketed,
            _ => DeviceLocation::Sim,
        };
        let class = match value & 0x0c {
            0x00 => DeviceTypeClass::Software,
            0x04 => DeviceTypeClass::Hardware,
            0x08 => DeviceTypeClass::Hsm,
            _ => DeviceTypeClass::Cpu,
        };
        Ok(Self { location, class })
    }
}

/// `getDeviceInfo` \[1\]: what the SKS is and can do (`DeviceInfo.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `apiLevel` ([`SKS_API_LEVEL`](super::SKS_API_LEVEL) for this crate).
    pub api_level: u16,
    /// `deviceType`.
    pub device_type: DeviceType,
    /// `updateUrl` (firmware update), if any.
    pub update_url: Option<String>,
    /// `vendorName`.
    pub vendor_name: String,
    /// `vendorDescription`.
    pub vendor_description: String,
    /// `certificatePath`: X.509 DER, the device certificate first.
    pub certificate_path: Vec<Vec<u8>>,
    /// `supportedAlgorithms`: algorithm URIs.
    pub supported_algorithms: Vec<String>,
    /// `cryptoDataSize`: the largest data a crypto call or certificate may carry.
    pub crypto_data_size: u32,
    /// `extensionDataSize`: the largest extension data.
    pub extension_data_size: u32,
    /// `devicePinSupport`.
    pub device_pin_support: bool,
    /// `biometricSupport`.
    pub biometric_support: bool,
}

/// `createProvisioningSession` \[2\] result (`ProvisioningSession.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningSessionResult {
    /// The new session.
    pub provisioning_handle: ProvisioningHandle,
    /// `clientSessionId`, generated by the SKS.
    pub client_session_id: String,
    /// The session attestation (a signature by the device key, or an HMAC if privacy-enabled).
    pub attestation: Vec<u8>,
    /// `clientEphemeralKey` as SubjectPublicKeyInfo DER.
    pub client_ephemeral_key: Vec<u8>,
}

/// `enumerateProvisioningSessions` \[4\] entry (`EnumeratedProvisioningSession.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumeratedProvisioningSession {
    /// The session; pass it back to get the next one.
    pub provisioning_handle: ProvisioningHandle,
    /// `sessionKeyAlgorithm` URI.
    pub session_key_algorithm: String,
    /// `privacyEnabled`.
    pub privacy_enabled: bool,
    /// `keyManagementKey` as SubjectPublicKeyInfo DER, if any.
    pub key_management_key: Option<Vec<u8>>,
    /// `clientTime` (seconds since the epoch).
    pub client_time: u32,
    /// `sessionLifeTime` (seconds).
    pub session_life_time: u16,
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `issuerUri`.
    pub issuer_uri: String,
}

/// `createKeyEntry` \[10\] result (`KeyData.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyData {
    /// The new key.
    pub key_handle: KeyHandle,
    /// The generated public key as SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The key attestation (`key.1`, 32 bytes).
    pub attestation: Vec<u8>,
}

/// `enumerateKeys` \[70\] entry (`EnumeratedKey.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnumeratedKey {
    /// The key; pass it back to get the next one.
    pub key_handle: KeyHandle,
    /// The (closed) session that owns the key.
    pub provisioning_handle: ProvisioningHandle,
}

/// `getKeyAttributes` \[71\] result (`KeyAttributes.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttributes {
    /// Length in bytes of an imported symmetric key, 0 if none.
    pub symmetric_key_length: u16,
    /// X.509 DER, end-entity certificate first.
    pub certificate_path: Vec<Vec<u8>>,
    /// `appUsage`.
    pub app_usage: AppUsage,
    /// `friendlyName`, if any.
    pub friendly_name: Option<String>,
    /// `endorsedAlgorithms` URIs.
    pub endorsed_algorithms: Vec<String>,
    /// The type URIs of the key's extensions.
    pub extension_types: Vec<String>,
}

macro_rules! bitset {
    ($(#[$m:meta])* $name:ident, $kind:literal, { $($(#[$fm:meta])* $flag:ident = $bit:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u8);

        impl $name {
            $($(#[$fm])* pub const $flag: Self = Self($bit);)+
            /// The empty set.
            pub const EMPTY: Self = Self(0);
            /// Every defined bit.
            pub const MASK: u8 = 0 $(| $bit)+;

            /// From the byte; undefined bits are an error.
            pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
                if value & !Self::MASK != 0 {
                    return Err(UnknownValue::Byte { kind: $kind, value });
                }
                Ok(Self(value))
            }

            /// The byte.
            pub const fn to_byte(self) -> u8 {
                self.0
            }

            /// True if every bit of `other` is set.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// The union.
            pub const fn with(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// `self` without the bits of `other`.
            pub const fn without(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }

            /// True if no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }
        }

        impl std::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                self.with(rhs)
            }
        }

        impl std::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                *self = self.with(rhs);
            }
        }
    };
}

bitset!(
    /// `protectionStatus` of [`KeyProtectionInfo`].
    ProtectionStatus, "protectionStatus", {
        /// 0x01: the key has a PIN.
        PIN_PROTECTED = 0x01;
        /// 0x02: the key's PIN has a PUK.
        PUK_PROTECTED = 0x02;
        /// 0x04: the PIN is blocked.
        PIN_BLOCKED = 0x04;
        /// 0x08: the PUK is blocked.
        PUK_BLOCKED = 0x08;
        /// 0x10: the key is protected by the device PIN.
        DEVICE_PIN = 0x10;
    }
);

bitset!(
    /// `keyBackup` of [`KeyProtectionInfo`].
    KeyBackup, "keyBackup", {
        /// 0x01: the private or symmetric key was imported.
        IMPORTED = 0x01;
        /// 0x02: the key has been exported.
        EXPORTED = 0x02;
    }
);

/// The PUK part of [`KeyProtectionInfo`] (present when the key's PIN has a PUK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PukPolicyInfo {
    /// `pukFormat`.
    pub format: PassphraseFormat,
    /// `pukRetryLimit` (0 = never locks, a delay instead).
    pub retry_limit: u16,
    /// `pukErrorCount`.
    pub error_count: u16,
}

/// The copy of the PIN policy in [`KeyProtectionInfo`] (present when the key has a PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinPolicyInfo {
    /// `pinFormat`.
    pub format: PassphraseFormat,
    /// `pinRetryLimit`.
    pub retry_limit: u16,
    /// `pinGrouping`.
    pub grouping: Grouping,
    /// `pinUserDefined`.
    pub user_defined: bool,
    /// `pinUserModifiable`.
    pub user_modifiable: bool,
    /// `pinPatternRestrictions`.
    pub pattern_restrictions: PatternRestrictions,
    /// `pinMinLength`.
    pub min_length: u16,
    /// `pinMaxLength`.
    pub max_length: u16,
    /// `pinInputMethod`.
    pub input_method: InputMethod,
    /// `pinErrorCount` (of this key, shared across its grouping set).
    pub error_count: u16,
}

/// `getKeyProtectionInfo` \[72\] result (`KeyProtectionInfo.java`).
///
/// `pin` is `Some` exactly when `protection_status` has
/// [`ProtectionStatus::PIN_PROTECTED`], and `puk` exactly when it has
/// [`ProtectionStatus::PUK_PROTECTED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyProtectionInfo {
    /// `protectionStatus`.
    pub protection_status: ProtectionStatus,
    /// PUK format, retry limit and error count.
    pub puk: Option<PukPolicyInfo>,
    /// The PIN policy and the PIN error count.
    pub pin: Option<PinPolicyInfo>,
    /// `enablePinCaching`.
    pub enable_pin_caching: bool,
    /// `biometricProtection`.
    pub biometric_protection: BiometricProtection,
    /// `exportProtection`.
    pub export_protection: ExportProtection,
    /// `deleteProtection`.
    pub delete_protection: DeleteProtection,
    /// `keyBackup`.
    pub key_backup: KeyBackup,
}

/// The `subType` of an extension (`addExtension` \[15\], facts §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExtensionSubType {
    /// 0x00: plain extension data.
    Extension,
    /// 0x01: extension data encrypted with the session encryption key.
    EncryptedExtension,
    /// 0x02: a property bag (`L(name) ‖ bool(writable) ‖ L(value)`…).
    PropertyBag,
    /// 0x03: a logotype (the qualifier is the MIME type).
    Logotype,
}

impl ExtensionSubType {
    /// Every sub-type, in byte order.
    pub const ALL: &'static [ExtensionSubType] = &[
        ExtensionSubType::Extension,
        ExtensionSubType::EncryptedExtension,
        ExtensionSubType::PropertyBag,
        ExtensionSubType::Logotype,
    ];

    /// The byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            ExtensionSubType::Extension => 0x00,
            ExtensionSubType::EncryptedExtension => 0x01,
            ExtensionSubType::PropertyBag => 0x02,
            ExtensionSubType::Logotype => 0x03,
        }
    }

    /// From the byte.
    pub fn from_byte(value: u8) -> Result<Self, UnknownValue> {
        match value {
            0x00 => Ok(ExtensionSubType::Extension),
            0x01 => Ok(ExtensionSubType::EncryptedExtension),
            0x02 => Ok(ExtensionSubType::PropertyBag),
            0x03 => Ok(ExtensionSubType::Logotype),
            _ => Err(UnknownValue::Byte {
                kind: "subType",
                value,
            }),
        }
    }
}

impl crate::policy::ByteEnum for ExtensionSubType {
    const KIND: &'static str = "subType";
    fn to_byte(self) -> u8 {
        ExtensionSubType::to_byte(self)
    }
    fn from_byte(value: u8) -> Result<Self, UnknownValue> {
        ExtensionSubType::from_byte(value)
    }
}

/// `getExtension` \[73\] result (`Extension.java`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// `subType`.
    pub sub_type: ExtensionSubType,
    /// `qualifier` (the MIME type of a logotype, otherwise empty).
    pub qualifier: String,
    /// `extensionData` (decrypted for an encrypted extension).
    pub extension_data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_type_bits() {
        let t = DeviceType {
            location: DeviceLocation::Sim,
            class: DeviceTypeClass::Hsm,
        };
        assert_eq!(t.to_byte(), 0x0b);
        assert!(DeviceType::from_byte(0x10).is_err());
    }

    #[test]
    fn bitset_ops() {
        let s = ProtectionStatus::PIN_PROTECTED | ProtectionStatus::PIN_BLOCKED;
        assert_eq!(s.to_byte(), 0x05);
        assert!(s.contains(ProtectionStatus::PIN_BLOCKED));
        assert!(!s.contains(ProtectionStatus::PUK_PROTECTED));
        assert_eq!(
            s.without(ProtectionStatus::PIN_BLOCKED),
            ProtectionStatus::PIN_PROTECTED
        );
        assert_eq!(ProtectionStatus::MASK, 0x1f);
        assert_eq!(KeyBackup::MASK, 0x03);
        assert!(KeyBackup::from_byte(0x04).is_err());
    }
}
