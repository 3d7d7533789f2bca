//! Integration tests of the SKS API types: error codes, message truncation, bit packing,
//! method numbers, and object safety of `SecureKeyStore`.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use airtight_proto::sks::*;
use zeroize::Zeroizing;

/// The error codes as listed in facts §2.1 (name, byte).
const FACTS_ERROR_CODES: &[(&str, u8)] = &[
    ("ERROR_AUTHORIZATION", 0x01),
    ("ERROR_NOT_ALLOWED", 0x02),
    ("ERROR_STORAGE", 0x03),
    ("ERROR_MAC", 0x04),
    ("ERROR_CRYPTO", 0x05),
    ("ERROR_NO_SESSION", 0x06),
    ("ERROR_NO_KEY", 0x07),
    ("ERROR_ALGORITHM", 0x08),
    ("ERROR_OPTION", 0x09),
    ("ERROR_INTERNAL", 0x0A),
    ("ERROR_EXTERNAL", 0x0B),
    ("ERROR_USER_ABORT", 0x0C),
    ("ERROR_NOT_AVAILABLE", 0x0D),
];

#[test]
fn error_codes_match_facts() {
    // [SKS-ERR-001]
    assert_eq!(SksErrorCode::ALL.len(), FACTS_ERROR_CODES.len());
    for (name, byte) in FACTS_ERROR_CODES {
        let code = SksErrorCode::from_byte(*byte).unwrap();
        assert_eq!(code.name(), *name);
        assert_eq!(code.to_byte(), *byte);
        assert_eq!(SksErrorCode::from_name(name).unwrap(), code);
        assert_eq!(code.to_string(), *name);
        assert_eq!(code.is_fatal(), *name != "ERROR_AUTHORIZATION");
    }
    assert!(SksErrorCode::from_byte(0x00).is_err());
    assert!(SksErrorCode::from_byte(0x0E).is_err());
    assert!(SksErrorCode::from_byte(0xFF).is_err());
    assert!(SksErrorCode::from_name("error_mac").is_err());
}

#[test]
fn constructors_set_their_code() {
    let cases: [(SksError, u8); 13] = [
        (SksError::authorization("m"), 0x01),
        (SksError::not_allowed("m"), 0x02),
        (SksError::storage("m"), 0x03),
        (SksError::mac("m"), 0x04),
        (SksError::crypto("m"), 0x05),
        (SksError::no_session("m"), 0x06),
        (SksError::no_key("m"), 0x07),
        (SksError::algorithm("m"), 0x08),
        (SksError::option("m"), 0x09),
        (SksError::internal("m"), 0x0A),
        (SksError::external("m"), 0x0B),
        (SksError::user_abort("m"), 0x0C),
        (SksError::not_available("m"), 0x0D),
    ];
    for (e, byte) in cases {
        assert_eq!(e.code().to_byte(), byte);
        assert_eq!(e.message(), "m");
    }
    let e: Box<dyn std::error::Error> = Box::new(SksError::mac("bad MAC"));
    assert_eq!(e.to_string(), "ERROR_MAC (0x04): bad MAC");
}

#[test]
fn message_truncated_at_2000_bytes_on_char_boundary() {
    // [SKS-ERR-002]
    assert_eq!(MAX_LENGTH_ERROR_MESSAGE, 2000);
    // Exactly 2000 bytes: kept whole.
    let exact = "x".repeat(2000);
    assert_eq!(SksError::internal(exact.clone()).message(), exact);
    // 2001 ASCII bytes: cut to 2000.
    let long = "y".repeat(2001);
    assert_eq!(SksError::internal(long).message().len(), 2000);
    // A 4-byte char near byte 2000 is kept only if it fits whole, for every offset.
    for pad in 1995..=2000 {
        let s = format!("{}\u{1F600}tail", "z".repeat(pad));
        let e = SksError::internal(s.clone());
        let m = e.message();
        assert!(s.starts_with(m));
        let expected = if pad + 4 <= 2000 {
            // The emoji fits; the tail is cut at 2000 (ASCII, always a boundary).
            2000
        } else {
            pad
        };
        assert_eq!(m.len(), expected, "pad {pad}");
    }
    let (code, msg) = SksError::user_abort("\u{e9}".repeat(1500)).into_parts();
    assert_eq!(code, SksErrorCode::UserAbort);
    assert_eq!(msg.len(), 2000);
    let (_, msg) = SksError::user_abort(format!("a{}", "\u{e9}".repeat(1500))).into_parts();
    assert_eq!(msg.len(), 1999);
}

#[test]
fn constants_match_facts() {
    assert_eq!(MAX_LENGTH_PIN_PUK, 128);
    assert_eq!(MAX_LENGTH_QUALIFIER, 128);
    assert_eq!(MAX_LENGTH_SYMMETRIC_KEY, 128);
    assert_eq!(MAX_LENGTH_ID_TYPE, 32);
    assert_eq!(MAX_LENGTH_SERVER_SEED, 64);
    assert_eq!(MAX_LENGTH_URI, 1000);
    assert_eq!(MAX_RETRY_LIMIT, 10000);
    assert_eq!(AES_CBC_PKCS5_PADDING, 32);
    assert_eq!(MAX_LENGTH_CRYPTO_DATA, 16384);
    assert_eq!(MAX_LENGTH_EXTENSION_DATA, 250000);
    assert_eq!(SKS_API_LEVEL, 106);
    assert_eq!(METHOD_CREATE_PIN_POLICY, b"createPINPolicy");
    assert_eq!(METHOD_CREATE_PUK_POLICY, b"createPUKPolicy");
    assert_eq!(KDF_DEVICE_ATTESTATION, b"DeviceAttestation");
    assert_eq!(KDF_ENCRYPTION_KEY, b"EncryptionKey");
    assert_eq!(KDF_ANONYMOUS, b"Anonymous");
    assert_eq!(KMK_TARGET_KEY_REFERENCE, b"TargetKeyReference");
    assert_eq!(KMK_ROLL_OVER_AUTHORIZATION, b"RollOverAuthorization");
}

#[test]
fn device_type_all_16_combinations_round_trip() {
    // [SKS-DEV-002]
    let mut seen = HashSet::new();
    for location in DeviceLocation::ALL {
        for class in DeviceTypeClass::ALL {
            let t = DeviceType {
                location: *location,
                class: *class,
            };
            let b = t.to_byte();
            // Independent packing: location index in bits 0-1, class index in bits 2-3.
            let li = DeviceLocation::ALL
                .iter()
                .position(|l| l == location)
                .unwrap() as u8;
            let ci = DeviceTypeClass::ALL
                .iter()
                .position(|c| c == class)
                .unwrap() as u8;
            assert_eq!(b, li | (ci << 2));
            assert_eq!(DeviceType::from_byte(b).unwrap(), t);
            seen.insert(b);
        }
    }
    assert_eq!(seen.len(), 16);
    // Facts: EXTERNAL 0, EMBEDDED 1, SOCKETED 2, SIM 3; SOFTWARE 0, HARDWARE 0x04, HSM 0x08,
    // CPU 0x0C.
    assert_eq!(DeviceLocation::External.bits(), 0);
    assert_eq!(DeviceLocation::Embedded.bits(), 1);
    assert_eq!(DeviceLocation::Socketed.bits(), 2);
    assert_eq!(DeviceLocation::Sim.bits(), 3);
    assert_eq!(DeviceTypeClass::Software.bits(), 0x00);
    assert_eq!(DeviceTypeClass::Hardware.bits(), 0x04);
    assert_eq!(DeviceTypeClass::Hsm.bits(), 0x08);
    assert_eq!(DeviceTypeClass::Cpu.bits(), 0x0C);
    for b in 0x10..=0xFFu8 {
        assert!(DeviceType::from_byte(b).is_err(), "0x{b:02x}");
    }
}

#[test]
fn protection_status_and_key_backup_round_trip() {
    assert_eq!(ProtectionStatus::PIN_PROTECTED.to_byte(), 0x01);
    assert_eq!(ProtectionStatus::PUK_PROTECTED.to_byte(), 0x02);
    assert_eq!(ProtectionStatus::PIN_BLOCKED.to_byte(), 0x04);
    assert_eq!(ProtectionStatus::PUK_BLOCKED.to_byte(), 0x08);
    assert_eq!(ProtectionStatus::DEVICE_PIN.to_byte(), 0x10);
    for b in 0..=0xFFu8 {
        match ProtectionStatus::from_byte(b) {
            Ok(s) => {
                assert!(b <= 0x1f);
                assert_eq!(s.to_byte(), b);
            }
            Err(_) => assert!(b > 0x1f),
        }
    }
    assert_eq!(KeyBackup::IMPORTED.to_byte(), 0x01);
    assert_eq!(KeyBackup::EXPORTED.to_byte(), 0x02);
    for b in 0..=0xFFu8 {
        match KeyBackup::from_byte(b) {
            Ok(s) => {
                assert!(b <= 0x03);
                assert_eq!(s.to_byte(), b);
            }
            Err(_) => assert!(b > 0x03),
        }
    }
    let mut kb = KeyBackup::EMPTY;
    assert!(kb.is_empty());
    kb |= KeyBackup::EXPORTED;
    assert!(kb.contains(KeyBackup::EXPORTED) && !kb.contains(KeyBackup::IMPORTED));
}

#[test]
fn extension_sub_type_round_trip() {
    for (i, st) in ExtensionSubType::ALL.iter().enumerate() {
        assert_eq!(st.to_byte() as usize, i);
        assert_eq!(ExtensionSubType::from_byte(i as u8).unwrap(), *st);
    }
    assert!(ExtensionSubType::from_byte(4).is_err());
}

/// Facts §2.2: every method with its PDF number.
const FACTS_METHODS: &[(u8, &str)] = &[
    (1, "getDeviceInfo"),
    (2, "createProvisioningSession"),
    (3, "closeProvisioningSession"),
    (4, "enumerateProvisioningSessions"),
    (5, "abortProvisioningSession"),
    (7, "updateKeyManagementKey"),
    (8, "createPukPolicy"),
    (9, "createPinPolicy"),
    (10, "createKeyEntry"),
    (11, "getKeyHandle"),
    (12, "setCertificatePath"),
    (13, "importSymmetricKey"),
    (14, "importPrivateKey"),
    (15, "addExtension"),
    (50, "postDeleteKey"),
    (51, "postUnlockKey"),
    (52, "postUpdateKey"),
    (53, "postCloneKeyProtection"),
    (70, "enumerateKeys"),
    (71, "getKeyAttributes"),
    (72, "getKeyProtectionInfo"),
    (73, "getExtension"),
    (74, "setProperty"),
    (80, "deleteKey"),
    (81, "exportKey"),
    (82, "unlockKey"),
    (83, "changePin"),
    (84, "setPin"),
    (90, "updateFirmware"),
    (100, "signData"),
    (101, "asymmetricKeyDecrypt"),
    (102, "keyAgreement"),
    (103, "performHmac"),
    (104, "symmetricKeyEncrypt"),
];

#[test]
fn sks_method_numbers_match_facts_and_round_trip() {
    assert_eq!(SksMethod::ALL.len(), FACTS_METHODS.len());
    let numbers: HashSet<u8> = SksMethod::ALL.iter().map(|m| m.number()).collect();
    assert_eq!(numbers.len(), SksMethod::ALL.len(), "numbers are unique");
    let names: HashSet<&str> = SksMethod::ALL.iter().map(|m| m.java_name()).collect();
    assert_eq!(names.len(), SksMethod::ALL.len(), "names are unique");
    for (n, name) in FACTS_METHODS {
        let m = SksMethod::from_number(*n).unwrap();
        assert_eq!(m.java_name(), *name);
        assert_eq!(SksMethod::from_java_name(name), Some(m));
        assert_eq!(m.number(), *n);
    }
    for n in 0..=255u8 {
        let listed = FACTS_METHODS.iter().any(|(k, _)| *k == n);
        assert_eq!(SksMethod::from_number(n).is_some(), listed, "{n}");
    }
    assert_eq!(
        SksMethod::CreatePinPolicy.mac_name(),
        Some(&b"createPINPolicy"[..])
    );
    assert_eq!(SksMethod::GetDeviceInfo.mac_name(), None);
}

#[test]
fn handles_zero_is_none() {
    assert!(KeyHandle::NONE.is_none());
    assert!(ProvisioningHandle::default().is_none());
    assert!(!PinPolicyHandle(3).is_none());
    assert_eq!(PukPolicyHandle(7).to_string(), "7");
}

/// A card that is never there.
#[derive(Debug, Default)]
struct AbsentCard {
    calls: usize,
}

impl AbsentCard {
    fn no<T>(&mut self) -> Result<T, SksError> {
        self.calls += 1;
        Err(SksError::not_available("absent"))
    }
}

impl SecureKeyStore for AbsentCard {
    fn get_device_info(&mut self) -> Result<DeviceInfo, SksError> {
        self.no()
    }
    fn update_firmware(&mut self, _: &[u8]) -> Result<String, SksError> {
        self.no()
    }
    fn create_provisioning_session(
        &mut self,
        _: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        self.no()
    }
    fn close_provisioning_session(
        &mut self,
        _: ProvisioningHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.no()
    }
    fn enumerate_provisioning_sessions(
        &mut self,
        _: ProvisioningHandle,
        _: bool,
    ) -> Result<Option<EnumeratedProvisioningSession>, SksError> {
        self.no()
    }
    fn abort_provisioning_session(&mut self, _: ProvisioningHandle) -> Result<(), SksError> {
        self.no()
    }
    fn update_key_management_key(
        &mut self,
        _: ProvisioningHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn create_puk_policy(
        &mut self,
        _: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        self.no()
    }
    fn create_pin_policy(
        &mut self,
        _: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        self.no()
    }
    fn create_key_entry(&mut self, _: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
        self.no()
    }
    fn get_key_handle(&mut self, _: ProvisioningHandle, _: &str) -> Result<KeyHandle, SksError> {
        self.no()
    }
    fn set_certificate_path(
        &mut self,
        _: KeyHandle,
        _: &[Vec<u8>],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn import_symmetric_key(&mut self, _: KeyHandle, _: &[u8], _: &[u8]) -> Result<(), SksError> {
        self.no()
    }
    fn import_private_key(&mut self, _: KeyHandle, _: &[u8], _: &[u8]) -> Result<(), SksError> {
        self.no()
    }
    fn add_extension(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: airtight_proto::policy::EnumArg<ExtensionSubType>,
        _: &str,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn post_delete_key(
        &mut self,
        _: ProvisioningHandle,
        _: KeyHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn post_unlock_key(
        &mut self,
        _: ProvisioningHandle,
        _: KeyHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn post_update_key(
        &mut self,
        _: KeyHandle,
        _: KeyHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn post_clone_key_protection(
        &mut self,
        _: KeyHandle,
        _: KeyHandle,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SksError> {
        self.no()
    }
    fn enumerate_keys(&mut self, _: KeyHandle) -> Result<Option<EnumeratedKey>, SksError> {
        self.no()
    }
    fn get_key_attributes(&mut self, _: KeyHandle) -> Result<KeyAttributes, SksError> {
        self.no()
    }
    fn get_key_protection_info(&mut self, _: KeyHandle) -> Result<KeyProtectionInfo, SksError> {
        self.no()
    }
    fn get_extension(&mut self, _: KeyHandle, _: &str) -> Result<Extension, SksError> {
        self.no()
    }
    fn set_property(&mut self, _: KeyHandle, _: &str, _: &str, _: &str) -> Result<(), SksError> {
        self.no()
    }
    fn delete_key(&mut self, _: KeyHandle, _: Option<&[u8]>) -> Result<(), SksError> {
        self.no()
    }
    fn export_key(
        &mut self,
        _: KeyHandle,
        _: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.no()
    }
    fn unlock_key(&mut self, _: KeyHandle, _: &[u8]) -> Result<(), SksError> {
        self.no()
    }
    fn change_pin(&mut self, _: KeyHandle, _: &[u8], _: &[u8]) -> Result<(), SksError> {
        self.no()
    }
    fn set_pin(&mut self, _: KeyHandle, _: &[u8], _: &[u8]) -> Result<(), SksError> {
        self.no()
    }
    fn sign_data(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: Option<&[u8]>,
        _: bool,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.no()
    }
    fn asymmetric_key_decrypt(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: Option<&[u8]>,
        _: bool,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.no()
    }
    fn key_agreement(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: Option<&[u8]>,
        _: bool,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.no()
    }
    fn perform_hmac(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: Option<&[u8]>,
        _: bool,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.no()
    }
    fn symmetric_key_encrypt(
        &mut self,
        _: KeyHandle,
        _: &str,
        _: bool,
        _: Option<&[u8]>,
        _: bool,
        _: Option<&[u8]>,
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.no()
    }
}

/// A generic caller, as the middleware would be.
fn device_info_of<S: SecureKeyStore + ?Sized>(sks: &mut S) -> Result<DeviceInfo, SksError> {
    sks.get_device_info()
}

#[test]
fn box_dyn_and_mut_ref_forward() {
    let mut boxed: Box<dyn SecureKeyStore> = Box::new(AbsentCard::default());
    let e = boxed.get_device_info().unwrap_err();
    assert_eq!(e.code(), SksErrorCode::NotAvailable);
    assert!(boxed.enumerate_keys(KeyHandle::NONE).is_err());
    // Box<dyn ..> itself implements the trait (generic use).
    assert!(device_info_of(&mut boxed).is_err());

    let mut card = AbsentCard::default();
    {
        let mut by_ref: &mut AbsentCard = &mut card;
        assert!(device_info_of(&mut by_ref).is_err());
        let mut nested: Box<dyn SecureKeyStore + '_> = Box::new(by_ref);
        assert!(
            nested
                .symmetric_key_encrypt(KeyHandle(1), "x", true, None, false, None, b"")
                .is_err()
        );
    }
    // Every forwarded call reached the card.
    assert_eq!(card.calls, 2);
}

proptest::proptest! {
    /// For any message: the kept part is a prefix of at most 2000 bytes, and it is maximal
    /// (the next char of the original would not have fit).
    #[test]
    fn truncation_is_maximal_prefix(s in "\\PC{0,900}", pad in 0usize..2100) {
        let msg = format!("{}{}", "p".repeat(pad), s);
        let e = SksError::option(msg.clone());
        let m = e.message();
        proptest::prop_assert!(m.len() <= MAX_LENGTH_ERROR_MESSAGE);
        proptest::prop_assert!(msg.starts_with(m));
        if let Some(next) = msg[m.len()..].chars().next() {
            proptest::prop_assert!(m.len() + next.len_utf8() > MAX_LENGTH_ERROR_MESSAGE);
        }
    }
}
