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
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 10] = [
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
    ];
}

/// A card with one fault.
pub struct FaultyCard {
    inner: Box<dyn SecureKeyStore>,
    fault: Fault,
    /// Keys created in sessions not yet closed: (key, session).
    open_keys: Vec<(KeyHandle, ProvisioningHandle)>,
    /// Extensions added: (key, type).
    extensions: Vec<(KeyHandle, String)>,
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
        create_provisioning_session(p: &CreateProvisioningSessionParams) -> ProvisioningSessionResult;
        enumerate_provisioning_sessions(h: ProvisioningHandle, s: bool) -> Option<EnumeratedProvisioningSession>;
        update_key_management_key(h: ProvisioningHandle, k: &[u8], a: &[u8]) -> ();
        get_key_handle(h: ProvisioningHandle, id: &str) -> KeyHandle;
        import_symmetric_key(k: KeyHandle, e: &[u8], m: &[u8]) -> ();
        import_private_key(k: KeyHandle, e: &[u8], m: &[u8]) -> ();
        post_delete_key(h: ProvisioningHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_unlock_key(h: ProvisioningHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_update_key(k: KeyHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        post_clone_key_protection(k: KeyHandle, t: KeyHandle, a: &[u8], m: &[u8]) -> ();
        create_puk_policy(p: &CreatePukPolicyParams) -> PukPolicyHandle;
        get_key_attributes(k: KeyHandle) -> KeyAttributes;
        get_key_protection_info(k: KeyHandle) -> KeyProtectionInfo;
        get_extension(k: KeyHandle, t: &str) -> Extension;
        set_property(k: KeyHandle, t: &str, n: &str, v: &str) -> ();
        unlock_key(k: KeyHandle, a: &[u8]) -> ();
        change_pin(k: KeyHandle, a: &[u8], n: &[u8]) -> ();
        set_pin(k: KeyHandle, a: &[u8], n: &[u8]) -> ();
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

    fn create_pin_policy(
        &mut self,
        p: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        let r = self.inner.create_pin_policy(p);
        self.mac_fault(r, || PinPolicyHandle(0x7fff_0001))
    }

    fn create_key_entry(&mut self, p: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
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
        let r = self.inner.set_certificate_path(k, path, mac);
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
        let r = self.inner.close_provisioning_session(h, nonce, mac);
        if r.is_ok() {
            self.open_keys.retain(|(_, s)| *s != h);
        }
        match (self.fault, r) {
            (Fault::IgnoreLifetime, Err(e)) if e.code() == SksErrorCode::NoSession => {
                Ok(vec![0; 32])
            }
            (_, r) => self.mac_fault(r, || vec![0; 32]),
        }
    }

    fn abort_provisioning_session(&mut self, h: ProvisioningHandle) -> Result<(), SksError> {
        if self.fault == Fault::IgnoreAbort {
            return Ok(());
        }
        self.inner.abort_provisioning_session(h)
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
        let plan: [(Fault, &[&str], &str); 10] = [
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
}
