//! The management and User API on keys of closed sessions: enumeration, attributes,
//! extensions and properties, delete/export, PIN and PUK handling, and the crypto operations.

use zeroize::Zeroizing;

use airtight_proto::alg::AlgGroup;
use airtight_proto::keys::{self, KeyError, PublicKey};
use airtight_proto::policy::{BiometricProtection, DeleteProtection, ExportProtection};
use airtight_proto::session1::{self, Property, ct_eq};
use airtight_proto::sks::{
    EnumeratedKey, Extension, ExtensionSubType, KeyAttributes, KeyBackup, KeyHandle,
    KeyProtectionInfo, MAX_LENGTH_CRYPTO_DATA, PinPolicyInfo, ProtectionStatus, ProvisioningHandle,
    PukPolicyInfo, SksError,
};

use super::ReferenceSks;
use super::crypto;
use super::pin;
use super::provisioning::pin_group;
use super::state::KeyRecord;

/// What an export or delete needs (the export and delete protection bytes share values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    None,
    Pin,
    Puk,
    NotAllowed,
}

impl From<ExportProtection> for Protection {
    fn from(p: ExportProtection) -> Self {
        match p {
            ExportProtection::None => Protection::None,
            ExportProtection::Pin => Protection::Pin,
            ExportProtection::Puk => Protection::Puk,
            ExportProtection::NonExportable => Protection::NotAllowed,
        }
    }
}

impl From<DeleteProtection> for Protection {
    fn from(p: DeleteProtection) -> Self {
        match p {
            DeleteProtection::None => Protection::None,
            DeleteProtection::Pin => Protection::Pin,
            DeleteProtection::Puk => Protection::Puk,
            DeleteProtection::NonDeletable => Protection::NotAllowed,
        }
    }
}

/// What a correct PIN or PUK clears: its error counter goes back to 0. The clearing is made
/// durable only once the call it authorized has passed every other check
/// ([`ReferenceSks::clear_counters`]), so that a rejected call leaves the store as it was (a
/// wrong PIN or PUK is counted and made durable at once, [SKS-IMP-008]).
#[must_use = "commit it with `clear_counters` once the call's other checks pass"]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cleared {
    /// The key whose PIN group's error counter goes back to 0.
    pin_group_of: Option<u32>,
    /// The PUK policy whose error counter goes back to 0.
    puk: Option<u32>,
}

impl ReferenceSks {
    /// Commits what a correct PIN or PUK cleared (nothing when no counter was set).
    fn clear_counters(&mut self, cleared: Cleared) -> Result<(), SksError> {
        if cleared == Cleared::default() {
            return Ok(());
        }
        let mut st = self.store.state().clone();
        if let Some(key) = cleared.pin_group_of {
            for h in pin_group(&st, key) {
                if let Some(rec) = st.keys.get_mut(&h) {
                    rec.error_count = 0;
                }
            }
        }
        if let Some(p) = cleared.puk
            && let Some(rec) = st.puks.get_mut(&p)
        {
            rec.error_count = 0;
        }
        self.commit(&st)
    }

    /// A key of a closed session (Java `getStdKey`; [SKS-MGT-006]).
    fn std_key(&self, key: u32) -> Result<KeyRecord, SksError> {
        if self.open.values().any(|s| s.keys.contains_key(&key)) {
            return Err(SksError::no_key(format!(
                "Key #{key} still in provisioning"
            )));
        }
        self.store
            .state()
            .keys
            .get(&key)
            .cloned()
            .ok_or_else(|| SksError::no_key(format!("Key not found #{key}")))
    }

    /// Sets the error counter of the PIN group of `key` and commits it.
    fn set_pin_error_count(&mut self, key: u32, count: u16) -> Result<(), SksError> {
        let mut st = self.store.state().clone();
        for k in pin_group(&st, key) {
            if let Some(rec) = st.keys.get_mut(&k) {
                rec.error_count = count;
            }
        }
        self.commit(&st)
    }

    /// Java `verifyPin`: the error counter of the group is made durable before
    /// `ERROR_AUTHORIZATION` is returned ([SKS-IMP-008], [SKS-USR-003], [SKS-USR-004]); a
    /// correct PIN's clearing of it is returned, for the caller to commit once its own checks
    /// pass.
    fn verify_pin(&mut self, key: u32, pin: Option<&[u8]>) -> Result<Cleared, SksError> {
        let k = self.std_key(key)?;
        let Some(ph) = k.pin_policy else {
            if k.device_pin_protection {
                // The device PIN is verified by the platform (facts §4; [POL-IMP-001]).
                let ok = match &self.device_pin {
                    super::DevicePin::TestPin(test) => pin.is_some_and(|p| ct_eq(p, test)),
                    super::DevicePin::Platform(verify) => pin.is_some_and(|p| verify(p)),
                    super::DevicePin::Unsupported => false,
                };
                if !ok {
                    return Err(SksError::authorization(format!(
                        "\"authorization\" error for key #{key}"
                    )));
                }
            } else if pin.is_some() {
                return Err(SksError::option(format!(
                    "Redundant authorization information for key #{key}"
                )));
            }
            return Ok(Cleared::default());
        };
        let retry_limit = self
            .store
            .state()
            .pins
            .get(&ph)
            .map(|p| p.retry_limit)
            .ok_or_else(|| SksError::internal("missing PIN policy"))?;
        if k.error_count >= retry_limit {
            return Err(SksError::authorization(format!(
                "\"authorization\" error for key #{key}"
            )));
        }
        let ok = match (&k.pin_value, pin) {
            (Some(v), Some(p)) => ct_eq(v, p),
            _ => false,
        };
        if !ok {
            self.set_pin_error_count(key, k.error_count.saturating_add(1))?;
            return Err(SksError::authorization(format!(
                "\"authorization\" error for key #{key}"
            )));
        }
        let st = self.store.state();
        let counted = pin_group(st, key)
            .iter()
            .any(|h| st.keys.get(h).is_some_and(|r| r.error_count != 0));
        Ok(Cleared {
            pin_group_of: counted.then_some(key),
            puk: None,
        })
    }

    /// Java `verifyPuk` (PUK retry limit 0: never locks, a delay instead). A wrong PUK is
    /// counted at once; a correct one's clearing of the counter is returned, as for the PIN.
    fn verify_puk(&mut self, key: u32, puk: Option<&[u8]>) -> Result<Cleared, SksError> {
        let k = self.std_key(key)?;
        let st = self.store.state();
        let puk_handle = k
            .pin_policy
            .and_then(|p| st.pins.get(&p))
            .and_then(|p| p.puk_policy)
            .ok_or_else(|| SksError::option(format!("Key #{key} has no PUK")))?;
        let rec = st
            .puks
            .get(&puk_handle)
            .cloned()
            .ok_or_else(|| SksError::internal("missing PUK policy"))?;
        if rec.retry_limit > 0 {
            if rec.error_count >= rec.retry_limit {
                return Err(SksError::authorization(format!(
                    "\"authorization\" error for key #{key}"
                )));
            }
        } else if !self.puk_delay.is_zero() {
            std::thread::sleep(self.puk_delay);
        }
        if puk.is_some_and(|p| ct_eq(&rec.value, p)) {
            return Ok(Cleared {
                pin_group_of: None,
                puk: (rec.error_count != 0).then_some(puk_handle),
            });
        }
        if rec.retry_limit > 0 {
            let mut st = st.clone();
            if let Some(r) = st.puks.get_mut(&puk_handle) {
                r.error_count = rec.error_count.saturating_add(1);
            }
            // [SKS-IMP-008] durable before the answer.
            self.commit(&st)?;
        }
        Err(SksError::authorization(format!(
            "\"authorization\" error for key #{key}"
        )))
    }

    /// Java `authorize`: biometric rules (facts §4, `policies.md`) then the PIN.
    fn authorize(
        &mut self,
        key: u32,
        biometric_auth: bool,
        pin: Option<&[u8]>,
    ) -> Result<Cleared, SksError> {
        let bio = self.std_key(key)?.biometric();
        if biometric_auth {
            if bio == BiometricProtection::None {
                return Err(SksError::option(format!(
                    "Biometric option invalid for key #{key}"
                )));
            }
            if matches!(
                bio,
                BiometricProtection::Exclusive | BiometricProtection::Alternative
            ) {
                if pin.is_some() {
                    return Err(SksError::option(format!(
                        "Biometric + pin option invalid for key #{key}"
                    )));
                }
                return Ok(Cleared::default());
            }
            self.verify_pin(key, pin)
        } else {
            if matches!(
                bio,
                BiometricProtection::Combined | BiometricProtection::Exclusive
            ) {
                return Err(SksError::option(format!(
                    "Missing biometric for key #{key}"
                )));
            }
            self.verify_pin(key, pin)
        }
    }

    fn authorize_export_or_delete(
        &mut self,
        key: u32,
        protection: Protection,
        authorization: Option<&[u8]>,
    ) -> Result<Cleared, SksError> {
        match protection {
            Protection::Pin => self.verify_pin(key, authorization),
            Protection::Puk => self.verify_puk(key, authorization),
            Protection::NotAllowed => Err(SksError::not_allowed(format!(
                "Operation not allowed on key #{key}"
            ))),
            Protection::None if authorization.is_some() => Err(SksError::option(format!(
                "Redundant authorization information for key #{key}"
            ))),
            Protection::None => Ok(Cleared::default()),
        }
    }

    /// Java `checkKeyAndAlgorithm` ([SKS-USR-001], [SKS-USR-002]).
    fn check_key_and_algorithm(
        &self,
        key: u32,
        k: &KeyRecord,
        uri: &str,
        group: AlgGroup,
    ) -> Result<(), SksError> {
        let a = crypto::algorithm(uri)?;
        if a.group != group {
            return Err(SksError::algorithm(format!(
                "Algorithm does not match operation: {uri}"
            )));
        }
        let symmetric = k.symmetric_key.is_some();
        if crypto::is_symmetric_alg(a) ^ symmetric {
            return Err(SksError::algorithm(format!(
                "{}ymmetric key #{key} is incompatible with: {uri}",
                if symmetric { "S" } else { "As" }
            )));
        }
        if let Some(sym) = &k.symmetric_key {
            crypto::test_aes_key(a, sym.len(), &format!("#{key}"))?;
        } else {
            let kt = PublicKey::from_spki_der(&k.public_key)
                .map_err(|e| SksError::internal(format!("stored public key: {e}")))?
                .key_type();
            if !crypto::asymmetric_fits(a, kt) {
                return Err(SksError::algorithm(format!(
                    "{} key #{key} is incompatible with: {uri}",
                    kt.name()
                )));
            }
        }
        if !k.endorsed_algorithms.is_empty() && !k.endorsed_algorithms.iter().any(|e| e == uri) {
            return Err(SksError::algorithm(format!(
                "\"endorsedAlgorithms\" for key #{key} does not include: {uri}"
            )));
        }
        Ok(())
    }

    fn check_data_size(key: u32, data: &[u8]) -> Result<(), SksError> {
        // [SKS-LIM-001]
        if data.len() > MAX_LENGTH_CRYPTO_DATA {
            return Err(SksError::option(format!(
                "Exceeded \"cryptoDataSize\" for key #{key}"
            )));
        }
        Ok(())
    }

    fn no_parameters(key: u32, parameters: Option<&[u8]>) -> Result<(), SksError> {
        if parameters.is_some() {
            return Err(SksError::option(format!(
                "\"parameters\" for key #{key} do not match algorithm"
            )));
        }
        Ok(())
    }

    pub(crate) fn enumerate_keys_impl(&self, after: u32) -> Option<EnumeratedKey> {
        // [SKS-ENU-001] [SKS-TXN-001]: only keys of closed sessions are in the store.
        let keys = &self.store.state().keys;
        // Java walks all keys (open ones included) in creation order, which is handle order
        // here: an unknown handle ends the enumeration, a known one continues after it.
        let known =
            keys.contains_key(&after) || self.open.values().any(|s| s.keys.contains_key(&after));
        let next = if after == 0 {
            keys.iter().next()
        } else if known {
            keys.range(after.saturating_add(1)..).next()
        } else {
            return None;
        };
        next.map(|(h, k)| EnumeratedKey {
            key_handle: KeyHandle(*h),
            provisioning_handle: ProvisioningHandle(k.owner),
        })
    }

    pub(crate) fn get_key_attributes_impl(&self, key: u32) -> Result<KeyAttributes, SksError> {
        // [SKS-ENU-002] [SKS-ENU-004]
        let k = self.std_key(key)?;
        Ok(KeyAttributes {
            symmetric_key_length: k
                .symmetric_key
                .as_ref()
                .map_or(0, |s| u16::try_from(s.len()).unwrap_or(u16::MAX)),
            certificate_path: k.certificate_path.clone(),
            app_usage: k.app_usage(),
            friendly_name: k.friendly_name.clone(),
            endorsed_algorithms: k.endorsed_algorithms.clone(),
            extension_types: k.extensions.iter().map(|e| e.type_uri.clone()).collect(),
        })
    }

    pub(crate) fn get_key_protection_info_impl(
        &self,
        key: u32,
    ) -> Result<KeyProtectionInfo, SksError> {
        // [SKS-ENU-003]
        let k = self.std_key(key)?;
        let st = self.store.state();
        let mut status = ProtectionStatus::default();
        let mut pin_info = None;
        let mut puk_info = None;
        if k.device_pin_protection {
            status |= ProtectionStatus::DEVICE_PIN;
        } else if let Some(p) = k.pin_policy.and_then(|p| st.pins.get(&p)) {
            status |= ProtectionStatus::PIN_PROTECTED;
            if k.error_count >= p.retry_limit {
                status |= ProtectionStatus::PIN_BLOCKED;
            }
            if let Some(puk) = p.puk_policy.and_then(|q| st.puks.get(&q)) {
                status |= ProtectionStatus::PUK_PROTECTED;
                if puk.retry_limit > 0 && puk.error_count >= puk.retry_limit {
                    status |= ProtectionStatus::PUK_BLOCKED;
                }
                puk_info = Some(PukPolicyInfo {
                    format: puk.format(),
                    retry_limit: puk.retry_limit,
                    error_count: puk.error_count,
                });
            }
            pin_info = Some(PinPolicyInfo {
                format: p.format(),
                retry_limit: p.retry_limit,
                grouping: p.grouping(),
                user_defined: p.user_defined,
                user_modifiable: p.user_modifiable,
                pattern_restrictions: p.patterns(),
                min_length: p.min_length,
                max_length: p.max_length,
                input_method: p.input_method(),
                error_count: k.error_count,
            });
        }
        Ok(KeyProtectionInfo {
            protection_status: status,
            puk: puk_info,
            pin: pin_info,
            enable_pin_caching: k.enable_pin_caching,
            biometric_protection: k.biometric(),
            export_protection: k.export(),
            delete_protection: k.delete(),
            key_backup: KeyBackup::from_byte(k.key_backup).unwrap_or_default(),
        })
    }

    pub(crate) fn get_extension_impl(
        &self,
        key: u32,
        type_uri: &str,
    ) -> Result<Extension, SksError> {
        // [SKS-EXT-008]
        let k = self.std_key(key)?;
        let e = k.extension(type_uri).ok_or_else(|| {
            SksError::option(format!("No such extension: {type_uri} for key #{key}"))
        })?;
        Ok(Extension {
            sub_type: ExtensionSubType::from_byte(e.sub_type)
                .map_err(|_| SksError::internal("stored subType"))?,
            qualifier: e.qualifier.clone(),
            extension_data: e.data.clone(),
        })
    }

    pub(crate) fn set_property_impl(
        &mut self,
        key: u32,
        type_uri: &str,
        name: &str,
        value: &str,
    ) -> Result<(), SksError> {
        // [SKS-EXT-009]
        let k = self.std_key(key)?;
        let e = k
            .extension(type_uri)
            .filter(|e| e.sub_type == ExtensionSubType::PropertyBag.to_byte())
            .ok_or_else(|| SksError::option(format!("No such \"propertyBag\" : {type_uri}")))?;
        let mut bag: Vec<Property> = session1::parse_property_bag(&e.data)
            .map_err(|e| SksError::internal(format!("stored property bag: {e}")))?;
        let prop = bag
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| SksError::option(format!("\"property\" not found: {name}")))?;
        if !prop.writable {
            return Err(SksError::not_allowed(format!(
                "\"property\" not writable: {name}"
            )));
        }
        prop.value = value.to_owned();
        let data = session1::encode_property_bag(&bag)
            .map_err(|e| SksError::option(format!("property value: {e}")))?;
        if data.len() > airtight_proto::sks::MAX_LENGTH_EXTENSION_DATA {
            return Err(SksError::option("property bag exceeds extensionDataSize"));
        }
        let mut st = self.store.state().clone();
        if let Some(ext) = st
            .keys
            .get_mut(&key)
            .and_then(|k| k.extensions.iter_mut().find(|e| e.type_uri == type_uri))
        {
            ext.data = data;
        }
        self.commit(&st)
    }

    pub(crate) fn delete_key_impl(
        &mut self,
        key: u32,
        authorization: Option<&[u8]>,
    ) -> Result<(), SksError> {
        // [SKS-MGT-001]
        let k = self.std_key(key)?;
        let cleared = self.authorize_export_or_delete(key, k.delete().into(), authorization)?;
        self.clear_counters(cleared)?;
        let mut st = self.store.state().clone();
        st.delete_key_and_orphans(key);
        st.delete_session_if_empty(k.owner);
        self.commit(&st)
    }

    pub(crate) fn export_key_impl(
        &mut self,
        key: u32,
        authorization: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        // [SKS-MGT-002]
        let k = self.std_key(key)?;
        let cleared = self.authorize_export_or_delete(key, k.export().into(), authorization)?;
        self.clear_counters(cleared)?;
        let mut st = self.store.state().clone();
        if let Some(rec) = st.keys.get_mut(&key) {
            rec.key_backup |= KeyBackup::EXPORTED.to_byte();
        }
        self.commit(&st)?;
        Ok(Zeroizing::new(match &k.symmetric_key {
            Some(s) => s.clone(),
            None => k.private_key.clone(),
        }))
    }

    pub(crate) fn unlock_key_impl(&mut self, key: u32, puk: &[u8]) -> Result<(), SksError> {
        // [SKS-MGT-003]
        let mut cleared = self.verify_puk(key, Some(puk))?;
        cleared.pin_group_of = Some(key);
        self.clear_counters(cleared)
    }

    /// Java `testUpdatablePin`.
    fn test_updatable_pin(&self, key: u32, new_pin: &[u8]) -> Result<(), SksError> {
        let k = self.std_key(key)?;
        let st = self.store.state();
        let (ph, policy) = k
            .pin_policy
            .and_then(|p| st.pins.get(&p).map(|r| (p, r)))
            .ok_or_else(|| SksError::option(format!("Key #{key} has no PIN")))?;
        if !policy.user_modifiable {
            return Err(SksError::not_allowed(format!(
                "PIN for key #{key} is not user modifiable"
            )));
        }
        pin::check_pin_value(new_pin, policy)?;
        pin::check_grouping(
            new_pin,
            policy,
            k.app_usage(),
            st.keys.values().filter(|o| o.pin_policy == Some(ph)),
            true,
        )
    }

    fn update_pin(&mut self, key: u32, new_pin: &[u8], reset_errors: bool) -> Result<(), SksError> {
        let mut st = self.store.state().clone();
        for h in pin_group(&st, key) {
            if let Some(rec) = st.keys.get_mut(&h) {
                rec.pin_value = Some(new_pin.to_vec());
                if reset_errors {
                    rec.error_count = 0;
                }
            }
        }
        self.commit(&st)
    }

    pub(crate) fn change_pin_impl(
        &mut self,
        key: u32,
        old_pin: &[u8],
        new_pin: &[u8],
    ) -> Result<(), SksError> {
        // [SKS-MGT-004]
        self.std_key(key)?;
        let cleared = self.verify_pin(key, Some(old_pin))?;
        self.test_updatable_pin(key, new_pin)?;
        self.clear_counters(cleared)?;
        self.update_pin(key, new_pin, false)
    }

    pub(crate) fn set_pin_impl(
        &mut self,
        key: u32,
        puk: &[u8],
        new_pin: &[u8],
    ) -> Result<(), SksError> {
        // [SKS-MGT-005]
        self.std_key(key)?;
        let cleared = self.verify_puk(key, Some(puk))?;
        self.test_updatable_pin(key, new_pin)?;
        self.clear_counters(cleared)?;
        self.update_pin(key, new_pin, true)
    }

    pub(crate) fn sign_data_impl(
        &mut self,
        key: u32,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        let k = self.std_key(key)?;
        let cleared = self.authorize(key, biometric_auth, authorization)?;
        Self::check_data_size(key, data)?;
        self.check_key_and_algorithm(key, &k, algorithm, AlgGroup::Signature)?;
        Self::no_parameters(key, parameters)?;
        let signature = crypto::sign(&crypto::private_key(&k.private_key)?, algorithm, data)?;
        self.clear_counters(cleared)?;
        Ok(signature)
    }

    pub(crate) fn decrypt_impl(
        &mut self,
        key: u32,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        let k = self.std_key(key)?;
        let cleared = self.authorize(key, biometric_auth, authorization)?;
        self.check_key_and_algorithm(key, &k, algorithm, AlgGroup::AsymmetricDecrypt)?;
        Self::no_parameters(key, parameters)?;
        Self::check_data_size(key, data)?;
        let plain = crypto::rsa_decrypt(&crypto::private_key(&k.private_key)?, algorithm, data)?;
        self.clear_counters(cleared)?;
        Ok(plain)
    }

    pub(crate) fn key_agreement_impl(
        &mut self,
        key: u32,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        public_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        let k = self.std_key(key)?;
        let cleared = self.authorize(key, biometric_auth, authorization)?;
        self.check_key_and_algorithm(key, &k, algorithm, AlgGroup::KeyAgreement)?;
        Self::no_parameters(key, parameters)?;
        Self::check_data_size(key, public_key)?;
        // [CRY-ALG-013] A point that is not on its curve fails in the key agreement
        // (ERROR_CRYPTO, as the Java reference's JCE ECDH); other unfit keys are ERROR_OPTION.
        let peer = match PublicKey::from_spki_der(public_key) {
            Err(KeyError::BadPoint) => {
                return Err(SksError::crypto(
                    "ECDH: the \"publicKey\" point is not on its curve",
                ));
            }
            r => r.ok().filter(|p| p.curve().is_some()).ok_or_else(|| {
                SksError::option("Unsupported EC key algorithm for: \"publicKey\"")
            })?,
        };
        let z = keys::ecdh_z(&crypto::private_key(&k.private_key)?, &peer)
            .map_err(|e| SksError::crypto(format!("ECDH: {e}")))?;
        self.clear_counters(cleared)?;
        Ok(z)
    }

    pub(crate) fn hmac_impl(
        &mut self,
        key: u32,
        algorithm: &str,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        let k = self.std_key(key)?;
        let cleared = self.authorize(key, biometric_auth, authorization)?;
        Self::check_data_size(key, data)?;
        self.check_key_and_algorithm(key, &k, algorithm, AlgGroup::Hmac)?;
        if parameters.is_some() {
            return Err(SksError::option(format!(
                "\"parameters\" does not apply to: {algorithm}"
            )));
        }
        let secret = k.symmetric_key.as_deref().unwrap_or(&[]);
        let mac = crypto::hmac(algorithm, secret, data)?;
        self.clear_counters(cleared)?;
        Ok(mac)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn symmetric_impl(
        &mut self,
        key: u32,
        algorithm: &str,
        encrypt: bool,
        parameters: Option<&[u8]>,
        biometric_auth: bool,
        authorization: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        let k = self.std_key(key)?;
        let cleared = self.authorize(key, biometric_auth, authorization)?;
        Self::check_data_size(key, data)?;
        self.check_key_and_algorithm(key, &k, algorithm, AlgGroup::SymmetricEncryption)?;
        let mode = crypto::aes_mode(algorithm)
            .ok_or_else(|| SksError::algorithm(format!("Unsupported algorithm: {algorithm}")))?;
        match mode {
            crypto::AesMode::CbcExternalIv => {
                if parameters.is_none_or(|p| p.len() != 16) {
                    return Err(SksError::option(format!(
                        "\"parameters\" must be 16 bytes for: {algorithm}"
                    )));
                }
            }
            _ => {
                if parameters.is_some() {
                    return Err(SksError::option(format!(
                        "\"parameters\" does not apply to: {algorithm}"
                    )));
                }
            }
        }
        if (!encrypt || mode == crypto::AesMode::EcbNoPad) && !data.len().is_multiple_of(16) {
            return Err(SksError::option(format!(
                "Data must be a multiple of 16 bytes for: {algorithm}{}",
                if encrypt {
                    " encryption"
                } else {
                    " decryption"
                }
            )));
        }
        let secret = k.symmetric_key.as_deref().unwrap_or(&[]);
        let out = crypto::aes(mode, secret, encrypt, parameters, data, &mut self.rng)?;
        self.clear_counters(cleared)?;
        Ok(out)
    }
}
