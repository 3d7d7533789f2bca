//! [`FaultyCard`]: a deliberately faulty SKS for the harness self-test (test builds and the
//! `faults` feature only). It wraps any card and injects one [`Fault`], observable through the
//! trait. The self-test shows that each fault makes at least one case fail, so no case is a
//! check that cannot fail.

use airtight_proto::policy::EnumArg;
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession, Extension,
    ExtensionSubType, KeyAttributes, KeyData, KeyHandle, KeyProtectionInfo, PinPolicyHandle,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError,
    SksErrorCode,
};
use zeroize::Zeroizing;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A MAC failure of createPinPolicy, createKeyEntry or setCertificatePath is swallowed:
    /// the call "succeeds" (without doing anything).
    AcceptBadMac,
    /// MAC failures are reported as ERROR_CRYPTO instead of ERROR_MAC.
    WrongMacCode,
    /// Keys of open sessions are listed by enumerateKeys.
    LeakOpenKeys,
    /// abortProvisioningSession returns success and does nothing.
    IgnoreAbort,
    /// The expired-session error of createKeyEntry and close is mapped to success.
    IgnoreLifetime,
    /// A wrong PIN in signData "succeeds" (with a bogus signature).
    AcceptWrongPin,
    /// exportKey of a non-exportable key "succeeds".
    ExportIgnoresProtection,
    /// getDeviceInfo reports API level 105.
    WrongApiLevel,
    /// deleteKey refusals are mapped to success (the key stays).
    DeleteIgnoresProtection,
    /// A second extension of the same type on a key "succeeds" (without being stored).
    DuplicateExtensionAccepted,
    /// An encrypted value is decrypted before its MAC is checked: an encrypted PUK or imported
    /// key that is not whole blocks (or shorter than IV plus a block) fails with the decryption
    /// error and tears the session down, whatever the MAC.
    DecryptBeforeMac,
    /// A padding oracle in the error text: a decryption failure of a value that is not whole
    /// blocks says so, instead of the one text every decryption failure shares.
    PaddingTextOracle,
    /// 16-bit fields read as signed: a `sessionKeyLimit` of 32768 or more is a negative budget
    /// (the first MAC'd call aborts the session), a `sessionLifeTime` of 32768 or more has
    /// always expired, a retry limit of 32768 or more passes the `<= 10000` check (the policy
    /// "succeeds", without being stored), and extension data of 32768 bytes or more has a
    /// negative length (refused).
    SignedU16,
    /// The certificate size limit replaced by a DER parse: a path whose certificates parse is
    /// "accepted" (without being stored) whatever their size.
    CertSizeUnchecked,
    /// A `serverSessionId` that is not 1 to 32 characters of 0x21-0x7E is not refused: the
    /// session is created (under an id of the card's choosing).
    ServerSessionIdUnchecked,
    /// Keys of open sessions can sign: signData on such a key "succeeds" (a bogus signature).
    OpenKeysUsable,
    /// A close nonce that is empty or longer than 32 bytes is not refused: the close
    /// "succeeds" (without closing).
    CloseNonceUnchecked,
    /// An empty property bag is accepted (without being stored).
    EmptyPropertyBagAccepted,
    /// An exhausted `sessionKeyLimit` at close is ignored: the close "succeeds".
    IgnoreKeyLimit,
    /// A second setCertificatePath on a key "succeeds" (without being stored).
    SecondCertificatePathAccepted,
    /// A second import on a key "succeeds" (without being stored).
    SecondImportAccepted,
    /// setProperty on a name or type the key does not hold "succeeds".
    UnknownPropertyAccepted,
    /// updateKeyManagementKey with an authorization that does not verify "succeeds".
    KmkUpdateUnverified,
    /// changePin and setPin ignore `userModifiable`: the refusal becomes a success.
    PinChangeIgnoresModifiable,
    /// unlockKey with a wrong PUK "succeeds" (without unlocking).
    UnlockIgnoresPuk,
    /// The qualifier rule of addExtension is not checked: a logotype without MIME type or a
    /// qualifier on another subType "succeeds" (without being stored).
    QualifierUnchecked,
    /// addExtension on a key without certificate path "succeeds" (without being stored).
    ExtensionBeforeCertificate,
    /// An import on a key without certificate path "succeeds" (without being stored).
    ImportBeforeCertificate,
    /// An unknown provisioning or key handle is reported as ERROR_OPTION instead of
    /// ERROR_NO_SESSION or ERROR_NO_KEY (abort, getKeyAttributes, getKeyProtectionInfo).
    WrongHandleCode,
    /// The close does not check that every key has a certificate path: it "succeeds"
    /// (without closing).
    CloseWithoutCertificateCheck,
    /// getKeyProtectionInfo reports an empty `keyBackup` (the IMPORTED bit is lost).
    ImportedFlagLost,
    /// getExtension returns the stored data with its first byte changed.
    ExtensionDataAltered,
    /// enumerateProvisioningSessions reports `sessionLifeTime` plus one.
    EnumeratedLifetimeWrong,
    /// getKeyAttributes reports a non-zero `symmetricKeyLength` plus one.
    SymmetricLengthWrong,
    /// A key-management key the card refuses is dropped instead: the session is created
    /// without it.
    WeakKmkAccepted,
    /// A server ephemeral key that is not an EC key on a supported curve gets the other of
    /// ERROR_OPTION and ERROR_CRYPTO.
    EphemeralKeyCodeSwapped,
    /// getKeyHandle with an id that names no key tears the session down.
    GetKeyHandleTearsDown,
    /// A closed session accepts a second close: it "succeeds" (a bogus attestation).
    ClosedSessionClosesAgain,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 38] = [
        Fault::AcceptBadMac,
        Fault::WrongMacCode,
        Fault::LeakOpenKeys,
        Fault::IgnoreAbort,
        Fault::IgnoreLifetime,
        Fault::AcceptWrongPin,
        Fault::ExportIgnoresProtection,
        Fault::WrongApiLevel,
        Fault::DeleteIgnoresProtection,
        Fault::DuplicateExtensionAccepted,
        Fault::DecryptBeforeMac,
        Fault::PaddingTextOracle,
        Fault::SignedU16,
        Fault::CertSizeUnchecked,
        Fault::ServerSessionIdUnchecked,
        Fault::OpenKeysUsable,
        Fault::CloseNonceUnchecked,
        Fault::EmptyPropertyBagAccepted,
        Fault::IgnoreKeyLimit,
        Fault::SecondCertificatePathAccepted,
        Fault::SecondImportAccepted,
        Fault::UnknownPropertyAccepted,
        Fault::KmkUpdateUnverified,
        Fault::PinChangeIgnoresModifiable,
        Fault::UnlockIgnoresPuk,
        Fault::QualifierUnchecked,
        Fault::ExtensionBeforeCertificate,
        Fault::ImportBeforeCertificate,
        Fault::WrongHandleCode,
        Fault::CloseWithoutCertificateCheck,
        Fault::ImportedFlagLost,
        Fault::ExtensionDataAltered,
        Fault::EnumeratedLifetimeWrong,
        Fault::SymmetricLengthWrong,
        Fault::WeakKmkAccepted,
        Fault::EphemeralKeyCodeSwapped,
        Fault::GetKeyHandleTearsDown,
        Fault::ClosedSessionClosesAgain,
    ];
}

/// The spec rules each fault breaks (and no other fault needs to): the tag-coverage test runs
/// the cases claiming these tags against the faulty card and requires, for every tag, at least
/// one of its cases to fail. Tags the card cases claim that no fault breaks yet are listed, with
/// the reason, in `harness/tests/card-tags-without-fault.txt`.
pub const BREAKS: [(Fault, &[&str]); 38] = [
    (
        Fault::AcceptBadMac,
        &[
            "CRY-MAC-023",
            "CRY-MAC-003",
            "SKS-POL-002",
            "SKS-CRT-001",
            "SKS-SES-010",
            "SKS-TXN-002",
        ],
    ),
    (Fault::WrongMacCode, &["SKS-ERR-004"]),
    (Fault::LeakOpenKeys, &["SKS-TXN-001", "SKS-ENU-001"]),
    (Fault::IgnoreAbort, &["SKS-SES-020"]),
    (Fault::IgnoreLifetime, &["SKS-IMP-003"]),
    (Fault::AcceptWrongPin, &["SKS-USR-003", "POL-PIN-004"]),
    (
        Fault::ExportIgnoresProtection,
        &["SKS-MGT-002", "POL-PRT-003"],
    ),
    (Fault::WrongApiLevel, &["SKS-DEV-001"]),
    (
        Fault::DeleteIgnoresProtection,
        &["SKS-MGT-001", "POL-PRT-003"],
    ),
    (Fault::DuplicateExtensionAccepted, &["SKS-EXT-003"]),
    (Fault::DecryptBeforeMac, &["CRY-IMP-001"]),
    (Fault::PaddingTextOracle, &["CRY-IMP-003"]),
    (
        Fault::SignedU16,
        &["SKS-LIM-005", "POL-PUK-002", "POL-PIN-003", "CRY-LIM-002"],
    ),
    (
        Fault::CertSizeUnchecked,
        &["SKS-CRT-004", "SKS-LIM-001", "SKS-LIM-002", "SKS-IMP-004"],
    ),
    (
        Fault::ServerSessionIdUnchecked,
        &["SKS-LIM-004", "SKS-SES-002"],
    ),
    (Fault::OpenKeysUsable, &["SKS-MGT-006"]),
    (Fault::CloseNonceUnchecked, &["CRY-CLS-002"]),
    (Fault::EmptyPropertyBagAccepted, &["CRY-PBG-003"]),
    (Fault::IgnoreKeyLimit, &["CRY-LIM-003"]),
    (Fault::SecondCertificatePathAccepted, &["SKS-CRT-003"]),
    (Fault::SecondImportAccepted, &["SKS-IMX-003"]),
    (Fault::UnknownPropertyAccepted, &["SKS-EXT-009"]),
    (Fault::KmkUpdateUnverified, &["SKS-KMK-002", "CRY-ROL-003"]),
    (Fault::PinChangeIgnoresModifiable, &["POL-PIN-008"]),
    (Fault::UnlockIgnoresPuk, &["SKS-MGT-003", "POL-PUK-004"]),
    (Fault::QualifierUnchecked, &["SKS-EXT-004", "CRY-PBG-004"]),
    (Fault::ExtensionBeforeCertificate, &["SKS-EXT-001"]),
    (Fault::ImportBeforeCertificate, &["SKS-IMX-001"]),
    (Fault::WrongHandleCode, &["SKS-ERR-005"]),
    (Fault::CloseWithoutCertificateCheck, &["SKS-CLS-001"]),
    (Fault::ImportedFlagLost, &["SKS-IMX-006"]),
    (Fault::ExtensionDataAltered, &["SKS-EXT-008"]),
    (Fault::EnumeratedLifetimeWrong, &["SKS-SES-021"]),
    (Fault::SymmetricLengthWrong, &["SKS-ENU-002"]),
    (Fault::WeakKmkAccepted, &["SKS-SES-003"]),
    (Fault::EphemeralKeyCodeSwapped, &["CRY-KDF-003"]),
    (Fault::GetKeyHandleTearsDown, &["SKS-NSP-004"]),
    (Fault::ClosedSessionClosesAgain, &["SKS-SES-013"]),
];

/// A card with one fault.
pub struct FaultyCard {
    inner: Box<dyn SecureKeyStore>,
    fault: Fault,
    /// Keys created in sessions not yet closed: (key, session).
    open_keys: Vec<(KeyHandle, ProvisioningHandle)>,
    /// Extensions added: (key, type).
    extensions: Vec<(KeyHandle, String)>,
    /// Keys that got a certificate path or an import (for the second-call faults).
    certified: Vec<KeyHandle>,
    imported: Vec<KeyHandle>,
    /// Sessions this wrapper saw close.
    closed: Vec<ProvisioningHandle>,
    /// [`Fault::SignedU16`]: open sessions whose budget or lifetime reads negative, with the
    /// error their next call gets.
    negative: Vec<(ProvisioningHandle, SksErrorCode)>,
}

impl std::fmt::Debug for FaultyCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyCard")
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl FaultyCard {
    /// Wraps `inner` with `fault`.
    pub fn new(inner: Box<dyn SecureKeyStore>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            open_keys: Vec::new(),
            extensions: Vec::new(),
            negative: Vec::new(),
            certified: Vec::new(),
            imported: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// The session of an open key, as far as this wrapper saw it created.
    fn session_of(&self, k: KeyHandle) -> Option<ProvisioningHandle> {
        self.open_keys
            .iter()
            .find(|(h, _)| *h == k)
            .map(|(_, s)| *s)
    }

    /// [`Fault::WrongHandleCode`]: an unknown handle becomes ERROR_OPTION.
    fn handle_code<T>(&self, r: Result<T, SksError>) -> Result<T, SksError> {
        match r {
            Err(e)
                if self.fault == Fault::WrongHandleCode
                    && matches!(e.code(), SksErrorCode::NoSession | SksErrorCode::NoKey) =>
            {
                Err(SksError::option(e.message().to_owned()))
            }
            r => r,
        }
    }

    /// True when `h` names an open session of the inner card.
    fn is_open(&mut self, h: ProvisioningHandle) -> bool {
        let mut at = ProvisioningHandle::NONE;
        for _ in 0..10_000 {
            match self.inner.enumerate_provisioning_sessions(at, true) {
                Ok(Some(s)) if s.provisioning_handle == h => return true,
                Ok(Some(s)) if s.provisioning_handle != at => at = s.provisioning_handle,
                _ => return false,
            }
        }
        false
    }

    /// [`Fault::SignedU16`]: a call on a session whose 16-bit values read negative aborts it.
    fn negative_session(&mut self, h: ProvisioningHandle) -> Result<(), SksError> {
        let Some(i) = self.negative.iter().position(|(s, _)| *s == h) else {
            return Ok(());
        };
        let (_, code) = self.negative.remove(i);
        let _ = self.inner.abort_provisioning_session(h);
        Err(if code == SksErrorCode::NoSession {
            SksError::no_session("session expired")
        } else {
            SksError::option("\"sessionKeyLimit\" exceeded")
        })
    }

    /// [`Fault::DecryptBeforeMac`]: "decrypts" `encrypted` before the MAC check; a value that
    /// cannot be whole blocks fails and tears the session `h` down.
    fn decrypt_first(
        &mut self,
        h: Option<ProvisioningHandle>,
        encrypted: &[u8],
    ) -> Result<(), SksError> {
        if self.fault != Fault::DecryptBeforeMac || !bad_cipher_length(encrypted) {
            return Ok(());
        }
        if let Some(h) = h {
            let _ = self.inner.abort_provisioning_session(h);
        }
        Err(SksError::crypto("decryption failed"))
    }

    /// [`Fault::PaddingTextOracle`]: a crypto failure over a value that is not whole blocks
    /// gets a text of its own.
    fn oracle<T>(&self, encrypted: &[u8], r: Result<T, SksError>) -> Result<T, SksError> {
        match r {
            Err(e)
                if self.fault == Fault::PaddingTextOracle
                    && e.code() == SksErrorCode::Crypto
                    && bad_cipher_length(encrypted) =>
            {
                Err(SksError::crypto(format!(
                    "encrypted value of {} bytes is not whole blocks",
                    encrypted.len()
                )))
            }
            r => r,
        }
    }

    fn mac_fault<T>(
        &self,
        r: Result<T, SksError>,
        fake: impl FnOnce() -> T,
    ) -> Result<T, SksError> {
        match (self.fault, r) {
            (Fault::AcceptBadMac, Err(e)) if e.code() == SksErrorCode::Mac => Ok(fake()),
            (Fault::WrongMacCode, Err(e)) if e.code() == SksErrorCode::Mac => {
                Err(SksError::crypto(e.message().to_owned()))
            }
            (_, r) => r,
        }
    }
}

/// True when `IV ‖ ciphertext` cannot be AES-CBC output: under 32 bytes or not whole blocks.
fn bad_cipher_length(encrypted: &[u8]) -> bool {
    encrypted.len() < 32 || !encrypted.len().is_multiple_of(16)
}

macro_rules! forward {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty;)+) => {
        $(fn $name(&mut self, $($a: $t),*) -> Result<$r, SksError> {
            self.inner.$name($($a),*)
        })+
    };
}

impl SecureKeyStore for FaultyCard {
    forward! {
        update_firmware(c: &[u8]) -> String;
        post_delete_key(h: ProvisioningHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_unlock_key(h: ProvisioningHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_update_key(k: KeyHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_clone_key_protection(k: KeyHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        asymmetric_key_decrypt(k: KeyHandle, al: &str, p: Option<&[u8]>, b: bool, a: Option<&[u8]>, d: &[u8]) -> Zeroizing<Vec<u8>>;
        key_agreement(k: KeyHandle, al: &str, p: Option<&[u8]>, b: bool, a: Option<&[u8]>, d: &[u8]) -> Zeroizing<Vec<u8>>;
        perform_hmac(k: KeyHandle, al: &str, p: Option<&[u8]>, b: bool, a: Option<&[u8]>, d: &[u8]) -> Vec<u8>;
        symmetric_key_encrypt(k: KeyHandle, al: &str, m: bool, p: Option<&[u8]>, b: bool, a: Option<&[u8]>, d: &[u8]) -> Zeroizing<Vec<u8>>;
    }

    fn get_device_info(&mut self) -> Result<DeviceInfo, SksError> {
        let mut d = self.inner.get_device_info()?;
        if self.fault == Fault::WrongApiLevel {
            d.api_level = 105;
        }
        Ok(d)
    }

    fn create_provisioning_session(
        &mut self,
        p: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        let bad_id = !(1..=32).contains(&p.server_session_id.len())
            || !p
                .server_session_id
                .bytes()
                .all(|c| (0x21..=0x7e).contains(&c));
        let r = if self.fault == Fault::ServerSessionIdUnchecked && bad_id {
            let mut q = p.clone();
            q.server_session_id = "faulty-card-id".into();
            self.inner.create_provisioning_session(&q)?
        } else {
            match (self.fault, self.inner.create_provisioning_session(p)) {
                (Fault::WeakKmkAccepted, Err(e))
                    if p.key_management_key.is_some() && e.code() == SksErrorCode::Option =>
                {
                    let mut q = p.clone();
                    q.key_management_key = None;
                    self.inner.create_provisioning_session(&q)?
                }
                (Fault::EphemeralKeyCodeSwapped, Err(e))
                    if !airtight_proto::keys::PublicKey::from_spki_der(&p.server_ephemeral_key)
                        .is_ok_and(|k| {
                            matches!(k.key_type(), airtight_proto::keys::KeyType::Ec(_))
                        }) =>
                {
                    return Err(match e.code() {
                        SksErrorCode::Option => SksError::crypto(e.message().to_owned()),
                        SksErrorCode::Crypto => SksError::option(e.message().to_owned()),
                        _ => e,
                    });
                }
                (_, r) => r?,
            }
        };
        if self.fault == Fault::SignedU16 {
            if p.session_life_time >= 0x8000 {
                self.negative
                    .push((r.provisioning_handle, SksErrorCode::NoSession));
            } else if p.session_key_limit >= 0x8000 {
                self.negative
                    .push((r.provisioning_handle, SksErrorCode::Option));
            }
        }
        Ok(r)
    }

    fn create_puk_policy(
        &mut self,
        p: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        self.negative_session(p.provisioning_handle)?;
        self.decrypt_first(Some(p.provisioning_handle), &p.encrypted_puk)?;
        if self.fault == Fault::SignedU16 && p.retry_limit >= 0x8000 {
            return Ok(PukPolicyHandle(0x7fff_0003));
        }
        let r = self.inner.create_puk_policy(p);
        self.oracle(&p.encrypted_puk, r)
    }

    fn import_symmetric_key(&mut self, k: KeyHandle, e: &[u8], m: &[u8]) -> Result<(), SksError> {
        if self.fault == Fault::SecondImportAccepted && self.imported.contains(&k)
            || self.fault == Fault::ImportBeforeCertificate && !self.certified.contains(&k)
        {
            return Ok(());
        }
        let h = self.session_of(k);
        self.decrypt_first(h, e)?;
        let r = self.inner.import_symmetric_key(k, e, m);
        if r.is_ok() {
            self.imported.push(k);
        }
        self.oracle(e, r)
    }

    fn import_private_key(&mut self, k: KeyHandle, e: &[u8], m: &[u8]) -> Result<(), SksError> {
        if self.fault == Fault::SecondImportAccepted && self.imported.contains(&k)
            || self.fault == Fault::ImportBeforeCertificate && !self.certified.contains(&k)
        {
            return Ok(());
        }
        let h = self.session_of(k);
        self.decrypt_first(h, e)?;
        let r = self.inner.import_private_key(k, e, m);
        if r.is_ok() {
            self.imported.push(k);
        }
        self.oracle(e, r)
    }

    fn get_key_handle(&mut self, h: ProvisioningHandle, id: &str) -> Result<KeyHandle, SksError> {
        let r = self.inner.get_key_handle(h, id);
        if let Err(e) = &r
            && self.fault == Fault::GetKeyHandleTearsDown
            && e.code() == SksErrorCode::Option
        {
            let _ = self.inner.abort_provisioning_session(h);
        }
        r
    }

    fn get_key_attributes(&mut self, k: KeyHandle) -> Result<KeyAttributes, SksError> {
        let r = self.inner.get_key_attributes(k);
        let mut a = self.handle_code(r)?;
        if self.fault == Fault::SymmetricLengthWrong && a.symmetric_key_length != 0 {
            a.symmetric_key_length = a.symmetric_key_length.wrapping_add(1);
        }
        Ok(a)
    }

    fn get_key_protection_info(&mut self, k: KeyHandle) -> Result<KeyProtectionInfo, SksError> {
        let r = self.inner.get_key_protection_info(k);
        let mut p = self.handle_code(r)?;
        if self.fault == Fault::ImportedFlagLost {
            p.key_backup = airtight_proto::sks::KeyBackup::EMPTY;
        }
        Ok(p)
    }

    fn get_extension(&mut self, k: KeyHandle, t: &str) -> Result<Extension, SksError> {
        let mut e = self.inner.get_extension(k, t)?;
        if self.fault == Fault::ExtensionDataAltered
            && let Some(b) = e.extension_data.first_mut()
        {
            *b ^= 0x01;
        }
        Ok(e)
    }

    fn enumerate_provisioning_sessions(
        &mut self,
        h: ProvisioningHandle,
        open: bool,
    ) -> Result<Option<EnumeratedProvisioningSession>, SksError> {
        let mut r = self.inner.enumerate_provisioning_sessions(h, open)?;
        if self.fault == Fault::EnumeratedLifetimeWrong
            && let Some(s) = r.as_mut()
        {
            s.session_life_time = s.session_life_time.wrapping_add(1);
        }
        Ok(r)
    }

    fn update_key_management_key(
        &mut self,
        h: ProvisioningHandle,
        k: &[u8],
        a: &[u8],
    ) -> Result<(), SksError> {
        let r = self.inner.update_key_management_key(h, k, a);
        match (self.fault, r) {
            (Fault::KmkUpdateUnverified, Err(e))
                if matches!(e.code(), SksErrorCode::Option | SksErrorCode::Crypto) =>
            {
                Ok(())
            }
            (_, r) => r,
        }
    }

    fn set_property(&mut self, k: KeyHandle, t: &str, n: &str, v: &str) -> Result<(), SksError> {
        let r = self.inner.set_property(k, t, n, v);
        match (self.fault, r) {
            (Fault::UnknownPropertyAccepted, Err(e)) if e.code() == SksErrorCode::Option => Ok(()),
            (_, r) => r,
        }
    }

    fn unlock_key(&mut self, k: KeyHandle, a: &[u8]) -> Result<(), SksError> {
        let r = self.inner.unlock_key(k, a);
        match (self.fault, r) {
            (Fault::UnlockIgnoresPuk, Err(e)) if e.code() == SksErrorCode::Authorization => Ok(()),
            (_, r) => r,
        }
    }

    fn change_pin(&mut self, k: KeyHandle, a: &[u8], n: &[u8]) -> Result<(), SksError> {
        let r = self.inner.change_pin(k, a, n);
        match (self.fault, r) {
            (Fault::PinChangeIgnoresModifiable, Err(e)) if e.code() == SksErrorCode::NotAllowed => {
                Ok(())
            }
            (_, r) => r,
        }
    }

    fn set_pin(&mut self, k: KeyHandle, a: &[u8], n: &[u8]) -> Result<(), SksError> {
        let r = self.inner.set_pin(k, a, n);
        match (self.fault, r) {
            (Fault::PinChangeIgnoresModifiable, Err(e)) if e.code() == SksErrorCode::NotAllowed => {
                Ok(())
            }
            (_, r) => r,
        }
    }

    fn create_pin_policy(
        &mut self,
        p: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        self.negative_session(p.provisioning_handle)?;
        if self.fault == Fault::SignedU16 && p.retry_limit >= 0x8000 {
            return Ok(PinPolicyHandle(0x7fff_0004));
        }
        let r = self.inner.create_pin_policy(p);
        self.mac_fault(r, || PinPolicyHandle(0x7fff_0001))
    }

    fn create_key_entry(&mut self, p: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
        self.negative_session(p.provisioning_handle)?;
        let r = self.inner.create_key_entry(p);
        if let Ok(kd) = &r {
            self.open_keys.push((kd.key_handle, p.provisioning_handle));
        }
        let fake = || KeyData {
            key_handle: KeyHandle(0x7fff_0002),
            public_key: Vec::new(),
            attestation: vec![0; 32],
        };
        match (self.fault, r) {
            (Fault::IgnoreLifetime, Err(e)) if e.code() == SksErrorCode::NoSession => Ok(fake()),
            (_, r) => self.mac_fault(r, fake),
        }
    }

    fn set_certificate_path(
        &mut self,
        k: KeyHandle,
        path: &[Vec<u8>],
        mac: &[u8],
    ) -> Result<(), SksError> {
        if self.fault == Fault::CertSizeUnchecked {
            let limit = self.inner.get_device_info()?.crypto_data_size as usize;
            if path.iter().any(|c| c.len() > limit)
                && path
                    .iter()
                    .all(|c| airtight_proto::keys::certificate_public_key(c).is_ok())
            {
                return Ok(());
            }
        }
        if self.fault == Fault::SecondCertificatePathAccepted && self.certified.contains(&k) {
            return Ok(());
        }
        let r = self.inner.set_certificate_path(k, path, mac);
        if r.is_ok() {
            self.certified.push(k);
        }
        self.mac_fault(r, || ())
    }

    fn add_extension(
        &mut self,
        k: KeyHandle,
        t: &str,
        s: EnumArg<ExtensionSubType>,
        q: &str,
        d: &[u8],
        m: &[u8],
    ) -> Result<(), SksError> {
        if self.fault == Fault::DuplicateExtensionAccepted
            && self.extensions.iter().any(|(h, ty)| *h == k && ty == t)
        {
            return Ok(());
        }
        let qualifier_wrong = if s == ExtensionSubType::Logotype {
            q.is_empty()
        } else {
            !q.is_empty()
        };
        if self.fault == Fault::QualifierUnchecked && qualifier_wrong
            || self.fault == Fault::ExtensionBeforeCertificate && !self.certified.contains(&k)
        {
            return Ok(());
        }
        if self.fault == Fault::EmptyPropertyBagAccepted
            && s == ExtensionSubType::PropertyBag
            && d.is_empty()
        {
            return Ok(());
        }
        if self.fault == Fault::SignedU16 && d.len() >= 0x8000 {
            return Err(SksError::option("negative extension data length"));
        }
        self.inner.add_extension(k, t, s, q, d, m)?;
        self.extensions.push((k, t.to_owned()));
        Ok(())
    }

    fn close_provisioning_session(
        &mut self,
        h: ProvisioningHandle,
        nonce: &[u8],
        mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.negative_session(h)?;
        if self.fault == Fault::ClosedSessionClosesAgain && self.closed.contains(&h) {
            return Ok(vec![0; 32]);
        }
        if self.fault == Fault::CloseNonceUnchecked && (nonce.is_empty() || nonce.len() > 32) {
            return Ok(vec![0; 32]);
        }
        if self.fault == Fault::CloseWithoutCertificateCheck
            && self
                .open_keys
                .iter()
                .any(|(k, s)| *s == h && !self.certified.contains(k))
        {
            return Ok(vec![0; 32]);
        }
        let r = self.inner.close_provisioning_session(h, nonce, mac);
        if r.is_ok() {
            self.closed.push(h);
            self.open_keys.retain(|(_, s)| *s != h);
        }
        match (self.fault, r) {
            (Fault::IgnoreLifetime, Err(e)) if e.code() == SksErrorCode::NoSession => {
                Ok(vec![0; 32])
            }
            (Fault::IgnoreKeyLimit, Err(e)) if e.message().contains("sessionKeyLimit") => {
                Ok(vec![0; 32])
            }
            (_, r) => self.mac_fault(r, || vec![0; 32]),
        }
    }

    fn abort_provisioning_session(&mut self, h: ProvisioningHandle) -> Result<(), SksError> {
        if self.fault == Fault::IgnoreAbort {
            return Ok(());
        }
        let r = self.inner.abort_provisioning_session(h);
        self.handle_code(r)
    }

    fn enumerate_keys(&mut self, k: KeyHandle) -> Result<Option<EnumeratedKey>, SksError> {
        if self.fault != Fault::LeakOpenKeys {
            return self.inner.enumerate_keys(k);
        }
        let mut leaked: Vec<(KeyHandle, ProvisioningHandle)> = self.open_keys.clone();
        leaked.sort();
        let as_entry =
            |(key_handle, provisioning_handle): (KeyHandle, ProvisioningHandle)| EnumeratedKey {
                key_handle,
                provisioning_handle,
            };
        if leaked.iter().any(|(h, _)| *h == k) {
            return Ok(leaked.into_iter().find(|(h, _)| *h > k).map(as_entry));
        }
        match self.inner.enumerate_keys(k)? {
            Some(e) => Ok(Some(e)),
            None => Ok(leaked.into_iter().next().map(as_entry)),
        }
    }

    fn delete_key(&mut self, k: KeyHandle, a: Option<&[u8]>) -> Result<(), SksError> {
        let r = self.inner.delete_key(k, a);
        match (self.fault, r) {
            (Fault::DeleteIgnoresProtection, Err(e)) if e.code() == SksErrorCode::NotAllowed => {
                Ok(())
            }
            (_, r) => r,
        }
    }

    fn export_key(
        &mut self,
        k: KeyHandle,
        a: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        let r = self.inner.export_key(k, a);
        match (self.fault, r) {
            (Fault::ExportIgnoresProtection, Err(e)) if e.code() == SksErrorCode::NotAllowed => {
                Ok(Zeroizing::new(Vec::new()))
            }
            (_, r) => r,
        }
    }

    fn sign_data(
        &mut self,
        k: KeyHandle,
        al: &str,
        p: Option<&[u8]>,
        b: bool,
        a: Option<&[u8]>,
        d: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        let r = self.inner.sign_data(k, al, p, b, a, d);
        match (self.fault, r) {
            (Fault::OpenKeysUsable, Err(e))
                if e.code() == SksErrorCode::NoKey
                    && self.session_of(k).is_some_and(|h| self.is_open(h)) =>
            {
                Ok(vec![0; 64])
            }
            (Fault::AcceptWrongPin, Err(e)) if e.code() == SksErrorCode::Authorization => {
                Ok(vec![0; 64])
            }
            (_, r) => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TargetConfig;
    use crate::case::Verdict;
    use crate::runner::{RunOptions, run_cases};
    use crate::target::{DeviceKind, OpenedCard, Target, reference_card};

    fn run_with(fault: Fault, filter: &[&str]) -> Vec<String> {
        let target = Target::Factory(Box::new(move |seed| {
            let c = reference_card(DeviceKind::P256, seed)?;
            Ok(OpenedCard {
                sks: Box::new(FaultyCard::new(c.sks, fault)),
                clock: c.clock,
                link: c.link,
            })
        }));
        let options = RunOptions {
            filter: filter.iter().map(|s| (*s).to_owned()).collect(),
            ..RunOptions::default()
        };
        let report = run_cases(
            target,
            &crate::cases::card::all(),
            &TargetConfig::reference(),
            &options,
        );
        report
            .cases
            .iter()
            .filter(|c| c.verdict.fails_run())
            .map(|c| c.id.clone())
            .collect()
    }

    /// Each fault is caught by at least one case of the groups named (the sanity cases run
    /// too). The groups are those a reviewer would expect to catch it.
    #[test]
    fn every_fault_is_caught() {
        let plan: [(Fault, &[&str], &str); 38] = [
            (
                Fault::AcceptBadMac,
                &["card.mac.create-key-entry."],
                "card.mac.create-key-entry.forged-mac",
            ),
            (
                Fault::WrongMacCode,
                &["card.mac.create-pin-policy."],
                "card.mac.create-pin-policy.forged-mac",
            ),
            (
                Fault::LeakOpenKeys,
                &["card.session.open-keys-invisible"],
                "card.session.open-keys-invisible",
            ),
            (
                Fault::IgnoreAbort,
                &["card.session.abort."],
                "card.session.abort.removes-everything",
            ),
            (
                Fault::IgnoreLifetime,
                &["card.session.lifetime."],
                "card.session.lifetime.expired-create-key",
            ),
            (
                Fault::AcceptWrongPin,
                &["card.user.pin."],
                "card.user.pin.wrong-counts",
            ),
            (
                Fault::ExportIgnoresProtection,
                &["card.mgmt.export."],
                "card.mgmt.export.non-exportable",
            ),
            (
                Fault::WrongApiLevel,
                &["card.device."],
                "card.device.api-level",
            ),
            (
                Fault::DeleteIgnoresProtection,
                &["card.mgmt.delete."],
                "card.mgmt.delete.non-deletable",
            ),
            (
                Fault::DuplicateExtensionAccepted,
                &["card.ext."],
                "card.ext.duplicate-type",
            ),
            (
                Fault::DecryptBeforeMac,
                &["card.crypto.mac-before-decrypt."],
                "card.crypto.mac-before-decrypt.puk-length",
            ),
            (
                Fault::PaddingTextOracle,
                &["card.crypto.padding-oracle."],
                "card.crypto.padding-oracle.puk",
            ),
            (
                Fault::SignedU16,
                &["card.u16."],
                "card.u16.session-key-limit-40000",
            ),
            (
                Fault::CertSizeUnchecked,
                &["card.cert."],
                "card.cert.oversize",
            ),
            (
                Fault::ServerSessionIdUnchecked,
                &["card.session.create.server-session-id"],
                "card.session.create.server-session-id-space",
            ),
            (
                Fault::OpenKeysUsable,
                &["card.session.open-keys-invisible"],
                "card.session.open-keys-invisible",
            ),
            (
                Fault::CloseNonceUnchecked,
                &["card.close.nonce"],
                "card.close.nonce-33",
            ),
            (
                Fault::EmptyPropertyBagAccepted,
                &["card.ext.property-bag"],
                "card.ext.property-bag-empty",
            ),
            (
                Fault::IgnoreKeyLimit,
                &["card.session.key-limit."],
                "card.session.key-limit.one-short",
            ),
            (
                Fault::SecondCertificatePathAccepted,
                &["card.cert.second-path"],
                "card.cert.second-path",
            ),
            (
                Fault::SecondImportAccepted,
                &["card.import.twice"],
                "card.import.twice",
            ),
            (
                Fault::UnknownPropertyAccepted,
                &["card.ext.property-bag"],
                "card.ext.property-bag",
            ),
            (
                Fault::KmkUpdateUnverified,
                &["card.kmk."],
                "card.kmk.roll-over-bad-signature",
            ),
            (
                Fault::PinChangeIgnoresModifiable,
                &["card.mgmt.not-user-modifiable"],
                "card.mgmt.not-user-modifiable",
            ),
            (
                Fault::UnlockIgnoresPuk,
                &["card.user.pin.blocks-and-unlock"],
                "card.user.pin.blocks-and-unlock",
            ),
            (
                Fault::QualifierUnchecked,
                &["card.ext.qualifier-on-plain"],
                "card.ext.qualifier-on-plain",
            ),
            (
                Fault::ExtensionBeforeCertificate,
                &["card.ext.before-certificate"],
                "card.ext.before-certificate",
            ),
            (
                Fault::ImportBeforeCertificate,
                &["card.import.before-certificate"],
                "card.import.before-certificate",
            ),
            (
                Fault::WrongHandleCode,
                &["card.session.abort.unknown-handle"],
                "card.session.abort.unknown-handle",
            ),
            (
                Fault::CloseWithoutCertificateCheck,
                &["card.close.key-without-certificate"],
                "card.close.key-without-certificate",
            ),
            (
                Fault::ImportedFlagLost,
                &["card.import.symmetric"],
                "card.import.symmetric",
            ),
            (
                Fault::ExtensionDataAltered,
                &["card.ext.plain"],
                "card.ext.plain",
            ),
            (
                Fault::EnumeratedLifetimeWrong,
                &["card.session.enumerate.open"],
                "card.session.enumerate.open",
            ),
            (
                Fault::SymmetricLengthWrong,
                &["card.import.symmetric"],
                "card.import.symmetric",
            ),
            (
                Fault::WeakKmkAccepted,
                &["card.session.create.kmk-rsa-512"],
                "card.session.create.kmk-rsa-512",
            ),
            (
                Fault::EphemeralKeyCodeSwapped,
                &["card.session.create.ed25519-ephemeral"],
                "card.session.create.ed25519-ephemeral",
            ),
            (
                Fault::GetKeyHandleTearsDown,
                &["card.key.get-key-handle-unknown"],
                "card.key.get-key-handle-unknown",
            ),
            (
                Fault::ClosedSessionClosesAgain,
                &["card.session.closed.refuses-provisioning"],
                "card.session.closed.refuses-provisioning",
            ),
        ];
        for (fault, filter, expected) in plan {
            let failed = run_with(fault, filter);
            assert!(
                failed.iter().any(|id| id == expected),
                "{fault:?} was not caught by {expected}; failing cases: {failed:?}"
            );
        }
        assert_eq!(plan.len(), Fault::ALL.len());
        let _ = Verdict::Fail;
    }

    /// The faults that must leave these cases passing: the new cases are not the only ones
    /// that change verdict under a fault, but the faults stay narrow.
    #[test]
    fn narrow_faults_leave_unrelated_cases_alone() {
        for (fault, unrelated) in [
            (Fault::DecryptBeforeMac, "card.crypto.padding-oracle.puk"),
            (Fault::PaddingTextOracle, "card.crypto.mac-before-decrypt."),
            (Fault::SignedU16, "card.session.key-limit"),
            (Fault::CertSizeUnchecked, "card.cert.not-der"),
        ] {
            let failed = run_with(fault, &[unrelated]);
            assert!(failed.is_empty(), "{fault:?} fails {failed:?}");
        }
        // The old size case sent a malformed blob, which a parse-only card refuses too: that
        // is why the size case now sends a well-formed certificate.
        assert!(run_with(Fault::CertSizeUnchecked, &["card.cert.truncated-der"]).is_empty());
    }

    const WITHOUT_FAULT: &str = include_str!("../tests/card-tags-without-fault.txt");

    /// The tags of `harness/tests/card-tags-without-fault.txt`: the first word of each line
    /// that is neither empty nor a `#` comment.
    fn listed_without_fault() -> std::collections::BTreeSet<String> {
        WITHOUT_FAULT
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// Issue 11, point 2: for every tag a fault breaks, at least one case claiming that tag
    /// fails against the card with that fault. To keep the run short, the cases run in rounds:
    /// each round runs the next untried case of every tag not yet caught.
    #[test]
    fn every_broken_tag_fails_one_of_its_cases() {
        let cases = crate::cases::card::all();
        let mut problems = Vec::new();
        for (fault, tags) in BREAKS {
            let mut tried: Vec<String> = Vec::new();
            let mut failed: Vec<String> = Vec::new();
            loop {
                let open: Vec<&str> = tags
                    .iter()
                    .copied()
                    .filter(|t| {
                        !cases
                            .iter()
                            .any(|c| c.tags.contains(t) && failed.contains(&c.id))
                    })
                    .collect();
                let mut round: Vec<&str> = Vec::new();
                for t in &open {
                    if let Some(c) = cases.iter().find(|c| {
                        c.tags.contains(t)
                            && !tried.contains(&c.id)
                            && !round.contains(&c.id.as_str())
                    }) {
                        round.push(c.id.as_str());
                    }
                }
                if round.is_empty() {
                    for t in open {
                        let claimed: Vec<&str> = cases
                            .iter()
                            .filter(|c| c.tags.contains(&t))
                            .map(|c| c.id.as_str())
                            .collect();
                        problems.push(format!(
                            "{fault:?} breaks {t}, but none of its cases {claimed:?} fails"
                        ));
                    }
                    break;
                }
                failed.extend(run_with(fault, &round));
                tried.extend(round.iter().map(|s| (*s).to_owned()));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let faults: Vec<Fault> = BREAKS.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            faults,
            Fault::ALL.to_vec(),
            "BREAKS lists every fault once, in order"
        );
    }

    /// The list of claimed tags without a fault is exact: a tag is either broken by a fault or
    /// listed (never both), and only tags the card cases claim are listed.
    #[test]
    fn tags_without_fault_are_listed_exactly() {
        use std::collections::BTreeSet;
        let claimed: BTreeSet<String> = crate::cases::card::all()
            .iter()
            .flat_map(|c| c.tags.iter().map(|t| (*t).to_owned()))
            .collect();
        let covered: BTreeSet<String> = BREAKS
            .iter()
            .flat_map(|(_, t)| t.iter().map(|t| (*t).to_owned()))
            .collect();
        let listed = listed_without_fault();
        let both: Vec<&String> = listed.intersection(&covered).collect();
        assert!(
            both.is_empty(),
            "listed without fault but broken by one: {both:?}"
        );
        let missing: Vec<&String> = claimed
            .iter()
            .filter(|t| !covered.contains(*t) && !listed.contains(*t))
            .collect();
        assert!(
            missing.is_empty(),
            "claimed by a card case, broken by no fault and not listed: {missing:?}"
        );
        let stale: Vec<&String> = listed.difference(&claimed).collect();
        assert!(
            stale.is_empty(),
            "listed but claimed by no card case: {stale:?}"
        );
        let unclaimed: Vec<&String> = covered.difference(&claimed).collect();
        assert!(
            unclaimed.is_empty(),
            "broken by a fault but claimed by no case: {unclaimed:?}"
        );
    }
}
