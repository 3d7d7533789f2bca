//! The provisioning API: session creation and close, policies, keys, certificates, imports,
//! extensions, post-operations and KMK roll-over. Each check cites its spec tag; the error
//! codes are those of the Java reference (facts §2.1) unless a tag says otherwise.

use airtight_proto::alg::{self, AlgGroup, KeyGen, KeyRequirement};
use airtight_proto::keys::{self, KeyError, KeyType, PublicKey};
use airtight_proto::policy::{
    BiometricProtection, DeleteProtection, EnumArg, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestriction,
};
use airtight_proto::session1::{
    self, KeyEntryMacInput, Method, PinPolicyMacInput, Session1Error, SessionAttestationInput,
    SessionCrypto,
};
use airtight_proto::sks::{
    AES_CBC_PKCS5_PADDING, ALGORITHM_KEY_ATTEST_1, ALGORITHM_SESSION_ATTEST_1,
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, EnumeratedProvisioningSession, ExtensionSubType, KeyBackup, KeyData,
    KeyHandle, MAX_LENGTH_CRYPTO_DATA, MAX_LENGTH_EXTENSION_DATA, MAX_LENGTH_ID_TYPE,
    MAX_LENGTH_PIN_PUK, MAX_LENGTH_QUALIFIER, MAX_LENGTH_SERVER_SEED, MAX_LENGTH_SYMMETRIC_KEY,
    MAX_LENGTH_URI, MAX_RETRY_LIMIT, PinPolicyHandle, ProvisioningHandle,
    ProvisioningSessionResult, PukPolicyHandle, SksError,
};

use super::ReferenceSks;
use super::crypto::{self, KeySpec};
use super::entropy::KeyPairRequest;
use super::pin;
use super::session::{OpenSession, PostOp};
use super::state::{CardState, ExtensionRecord, KeyRecord, PinRecord, PukRecord, SessionRecord};

/// The longest `friendlyName` accepted ([SKS-IMP-004]; the Java reference has no bound).
pub(crate) const MAX_LENGTH_FRIENDLY_NAME: usize = MAX_LENGTH_URI;
/// The longest KMK authorization (an RSA-2048 or P-521 signature is at most 256 bytes).
pub(crate) const MAX_LENGTH_AUTHORIZATION: usize = 1024;

/// Maps a session.1 failure to the code the Java reference uses.
pub(crate) fn s1(e: Session1Error) -> SksError {
    match e {
        Session1Error::MacMismatch { .. } => SksError::mac("MAC error"),
        // [CRY-IMP-003] one text for every decryption failure: no padding oracle.
        Session1Error::Cipher(_) => SksError::crypto("decryption failed"),
        Session1Error::SessionKeyLimitExhausted => SksError::option("\"sessionKeyLimit\" exceeded"),
        Session1Error::CounterExhausted => SksError::option("MAC sequence counter exhausted"),
        Session1Error::Key(k) => SksError::crypto(k.to_string()),
        other => SksError::option(other.to_string()),
    }
}

/// An id: 1 to 32 characters, each in 0x21-0x7E ([SKS-LIM-004]).
pub(crate) fn check_id(id: &str, what: &str) -> Result<(), SksError> {
    if id.is_empty()
        || id.len() > MAX_LENGTH_ID_TYPE
        || !id.bytes().all(|c| (0x21..=0x7e).contains(&c))
    {
        return Err(SksError::option(format!("Malformed \"{what}\" : {id}")));
    }
    Ok(())
}

/// A key-management key: RSA of a supported size or EC on a supported curve
/// ([SKS-SES-003], [SKS-KMK-001]; Java `ERROR_OPTION`).
fn parse_kmk(der: &[u8]) -> Result<PublicKey, SksError> {
    let key = PublicKey::from_spki_der(der)
        .map_err(|e| SksError::option(format!("Unsupported \"keyManagementKey\": {e}")))?;
    if key.key_type() == KeyType::Ed25519 {
        return Err(SksError::option(
            "Unsupported \"keyManagementKey\": Ed25519 (KMK signatures are RS256/ES256)",
        ));
    }
    crypto::check_key_compatibility(&key, "\"keyManagementKey\"")?;
    Ok(key)
}

/// Verifies a KMK signature; a signature of the wrong size is `ERROR_CRYPTO`, one that does not
/// verify `ERROR_OPTION` (as in the Java reference).
fn verify_kmk(kmk: &PublicKey, data: &[u8], sig: &[u8], what: &str) -> Result<(), SksError> {
    let expected = match kmk.key_type() {
        KeyType::Rsa { bits } => bits.div_ceil(8),
        KeyType::Ec(c) => 2 * c.field_len(),
        KeyType::Ed25519 => 64,
    };
    if sig.len() != expected {
        return Err(SksError::crypto(format!("Signature length error ({what})")));
    }
    match session1::verify_kmk_authorization(kmk, data, sig) {
        Ok(()) => Ok(()),
        Err(Session1Error::Key(KeyError::BadSignature)) => Err(SksError::option(format!(
            "\"authorization\" signature did not verify for {what}"
        ))),
        Err(e) => Err(SksError::crypto(format!("authorization of {what}: {e}"))),
    }
}

fn next_handle(counter: &mut u32) -> Result<u32, SksError> {
    let h = *counter;
    *counter = counter
        .checked_add(1)
        .ok_or_else(|| SksError::storage("handle space exhausted"))?;
    Ok(h)
}

/// The keys of `keys` that share the PIN of `handle` (Java `getPinSynchronizedKeys`).
pub(crate) fn pin_group(state: &CardState, handle: u32) -> Vec<u32> {
    let Some(key) = state.keys.get(&handle) else {
        return Vec::new();
    };
    let Some(p) = key.pin_policy else {
        return vec![handle];
    };
    let grouping = state
        .pins
        .get(&p)
        .map_or(Grouping::None, PinRecord::grouping);
    if grouping == Grouping::None {
        return vec![handle];
    }
    state
        .keys
        .iter()
        .filter(|(_, k)| {
            k.pin_policy == Some(p) && pin::synchronized(grouping, key.app_usage(), k.app_usage())
        })
        .map(|(h, _)| *h)
        .collect()
}

impl ReferenceSks {
    /// The target of a post-operation: a key of a closed session that has a KMK.
    fn target_key(
        &self,
        s: &OpenSession,
        target: u32,
    ) -> Result<(KeyRecord, SessionRecord), SksError> {
        let st = self.store.state();
        let in_open = s.keys.contains_key(&target)
            || self.open.values().any(|o| o.keys.contains_key(&target));
        if in_open {
            // Java `getTargetKey`: ERROR_OPTION.
            return Err(SksError::option(format!(
                "Key #{target} still in provisioning"
            )));
        }
        let key = st
            .keys
            .get(&target)
            .ok_or_else(|| SksError::no_key(format!("Key not found #{target}")))?;
        let owner = st
            .sessions
            .get(&key.owner)
            .ok_or_else(|| SksError::internal(format!("key #{target} has no session")))?;
        if owner.key_management_key.is_none() {
            // [SKS-PST-003]
            return Err(SksError::option(format!(
                "Key #{target} belongs to a non-updatable provisioning session"
            )));
        }
        Ok((key.clone(), owner.clone()))
    }

    /// Checks a target-key-reference authorization: privacy modes agree ([SKS-PST-003]), the
    /// method MAC verifies ([SKS-PST-001]) and the KMK of the target's session signed
    /// `"TargetKeyReference" ‖ HMAC(sessionKey ‖ DeviceID, EE)` of the *current* session
    /// (facts §3.8).
    #[allow(clippy::too_many_arguments)]
    fn validate_target_key_reference(
        &self,
        s: &mut OpenSession,
        target: u32,
        target_key: &KeyRecord,
        target_session: &SessionRecord,
        method: Method,
        mac_data: &[u8],
        mac: &[u8],
        authorization: &[u8],
    ) -> Result<(), SksError> {
        if s.record.privacy_enabled != target_session.privacy_enabled {
            return Err(SksError::option(format!(
                "Inconsistent use of the \"privacyEnabled\" attribute for key #{target}"
            )));
        }
        s.crypto.verify_mac(method, mac_data, mac).map_err(s1)?;
        let ee = target_key
            .ee_certificate()
            .ok_or_else(|| SksError::internal("closed key without certificate"))?;
        let device_id = self.device_id(s.record.privacy_enabled);
        let reference = s.crypto.target_key_reference(&device_id, ee).map_err(s1)?;
        let kmk_der = target_session
            .key_management_key
            .as_deref()
            .ok_or_else(|| SksError::internal("no KMK"))?;
        let kmk = PublicKey::from_spki_der(kmk_der)
            .map_err(|e| SksError::internal(format!("stored KMK: {e}")))?;
        verify_kmk(
            &kmk,
            &session1::target_key_reference_signed_data(&reference),
            authorization,
            &format!("key #{target}"),
        )
    }

    fn add_post_op(&self, s: &mut OpenSession, op: PostOp) -> Result<(), SksError> {
        for prev in &s.post_ops {
            if prev.new_key.is_some() && prev.new_key == op.new_key {
                // [SKS-PST-008]
                return Err(SksError::option("New key used for multiple operations"));
            }
            if prev.target == op.target {
                if (op.new_key.is_none() && op.update_or_delete)
                    || (prev.new_key.is_none() && prev.update_or_delete)
                {
                    // [SKS-PST-006]
                    return Err(SksError::option(format!(
                        "Delete wasn't exclusive for key #{}",
                        op.target
                    )));
                } else if op.new_key.is_none() && prev.new_key.is_none() {
                    return Err(SksError::option(format!(
                        "Multiple unlocks of key #{}",
                        op.target
                    )));
                } else if op.update_or_delete && prev.update_or_delete {
                    // [SKS-PST-007]
                    return Err(SksError::option(format!(
                        "Multiple updates of key #{}",
                        op.target
                    )));
                }
            }
        }
        if s.post_ops.len() >= self.limits.max_post_operations {
            return Err(SksError::storage("too many post-operations in one session"));
        }
        s.post_ops.push(op);
        Ok(())
    }

    pub(crate) fn create_session_impl(
        &mut self,
        p: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        if p.session_key_algorithm != ALGORITHM_SESSION_ATTEST_1 {
            return Err(SksError::option(format!(
                "Unknown \"sessionKeyAlgorithm\" : {}",
                p.session_key_algorithm
            )));
        }
        // [SKS-SES-002]
        if p.issuer_uri.is_empty() || p.issuer_uri.len() > MAX_LENGTH_URI {
            return Err(SksError::option(format!(
                "\"issuerUri\" length error: {}",
                p.issuer_uri.len()
            )));
        }
        // [CRY-KDF-003] An unsupported curve is ERROR_OPTION at once; a point that is not on
        // its (supported) curve passes the curve check and fails in the key agreement, after
        // the other checks, with ERROR_CRYPTO (as in the Java reference, whose JCE ECDH refuses
        // it with a GeneralSecurityException).
        let server_key = match PublicKey::from_spki_der(&p.server_ephemeral_key) {
            Ok(k) => Some(k.curve().map(|c| (k, c)).ok_or_else(|| {
                SksError::option("Unsupported EC key algorithm for: \"serverEphemeralKey\"")
            })?),
            Err(KeyError::BadPoint) => None,
            Err(e) => {
                return Err(SksError::option(format!(
                    "Unsupported EC key algorithm for: \"serverEphemeralKey\" ({e})"
                )));
            }
        };
        let kmk = match &p.key_management_key {
            Some(der) => Some(parse_kmk(der)?),
            None => None,
        };
        check_id(&p.server_session_id, "serverSessionId")?;
        // [SKS-SES-002]
        if p.session_key_limit == 0 || p.session_life_time == 0 {
            return Err(SksError::option(
                "\"sessionKeyLimit\" and \"sessionLifeTime\" must be non-zero",
            ));
        }
        // [SKS-IMP-004]
        if p.server_certificate.len() > MAX_LENGTH_CRYPTO_DATA {
            return Err(SksError::option(
                "\"serverCertificate\" exceeds cryptoDataSize",
            ));
        }
        // [SKS-SES-008]
        if self.open.len() >= self.limits.max_open_sessions {
            return Err(SksError::storage("too many open provisioning sessions"));
        }
        let (server_key, curve) = server_key.ok_or_else(|| {
            SksError::crypto("ECDH: the \"serverEphemeralKey\" point is not on its curve")
        })?;
        // The card's random choices go through the entropy seam (module `entropy`).
        let client_session_id = self.entropy.client_session_id(&mut self.rng)?;
        let ephemeral = self.entropy.ephemeral_key(curve, &mut self.rng)?;
        let client_ephemeral_key = crypto::spki(&ephemeral.public_key())?;
        let z = keys::ecdh_z(&ephemeral, &server_key)
            .map_err(|e| SksError::crypto(format!("ECDH: {e}")))?;
        let device_id = self.device_id(p.privacy_enabled);
        let session_key = session1::derive_session_key(
            &z,
            &client_session_id,
            &p.server_session_id,
            &p.issuer_uri,
            &device_id,
        )
        .map_err(s1)?;
        let kmk_spki = match &kmk {
            Some(k) => Some(crypto::spki(k)?),
            None => None,
        };
        let input = SessionAttestationInput {
            client_session_id: &client_session_id,
            server_session_id: &p.server_session_id,
            issuer_uri: &p.issuer_uri,
            device_id: &device_id,
            session_key_algorithm: &p.session_key_algorithm,
            privacy_enabled: p.privacy_enabled,
            server_ephemeral_key_spki: &p.server_ephemeral_key,
            client_ephemeral_key_spki: &client_ephemeral_key,
            key_management_key_spki: kmk_spki.as_deref(),
            client_time: p.client_time,
            session_life_time: p.session_life_time,
            session_key_limit: p.session_key_limit,
            server_certificate: &p.server_certificate,
        };
        // [SKS-SES-005]
        let attestation = if p.privacy_enabled {
            session1::privacy_session_attestation(session_key.as_ref(), &input)
                .map_err(s1)?
                .to_vec()
        } else {
            self.session_attestation(&input)?
        };
        let handle = next_handle(&mut self.counters.session)?;
        // [SKS-SES-006]
        let record = SessionRecord {
            client_session_id: client_session_id.clone(),
            server_session_id: p.server_session_id.clone(),
            issuer_uri: p.issuer_uri.clone(),
            key_management_key: kmk_spki,
            privacy_enabled: p.privacy_enabled,
            client_time: p.client_time,
            session_life_time: p.session_life_time,
            session_key_limit: p.session_key_limit,
        };
        self.open.insert(
            handle,
            OpenSession {
                record,
                crypto: SessionCrypto::new(*session_key, p.session_key_limit),
                // [SKS-IMP-003] the card clock at creation, not the untrusted clientTime.
                deadline: self
                    .now()
                    .saturating_add_secs(u64::from(p.session_life_time)),
                names: Vec::new(),
                keys: Default::default(),
                pins: Default::default(),
                puks: Default::default(),
                post_ops: Vec::new(),
            },
        );
        Ok(ProvisioningSessionResult {
            provisioning_handle: ProvisioningHandle(handle),
            client_session_id,
            attestation,
            client_ephemeral_key,
        })
    }

    pub(crate) fn enumerate_sessions_impl(
        &self,
        after: u32,
        open_state: bool,
    ) -> Option<EnumeratedProvisioningSession> {
        // [SKS-SES-021] [SKS-SES-021]
        let st = self.store.state();
        let mut all: Vec<(u32, &SessionRecord, bool)> = st
            .sessions
            .iter()
            .map(|(h, r)| (*h, r, false))
            .chain(self.open.iter().map(|(h, s)| (*h, &s.record, true)))
            .collect();
        all.sort_by_key(|(h, _, _)| *h);
        let start = if after == 0 {
            0
        } else {
            all.iter().position(|(h, _, _)| *h == after)? + 1
        };
        all.iter()
            .skip(start)
            .find(|(_, _, open)| *open == open_state)
            .map(|(h, r, _)| EnumeratedProvisioningSession {
                provisioning_handle: ProvisioningHandle(*h),
                session_key_algorithm: ALGORITHM_SESSION_ATTEST_1.to_owned(),
                privacy_enabled: r.privacy_enabled,
                key_management_key: r.key_management_key.clone(),
                client_time: r.client_time,
                session_life_time: r.session_life_time,
                server_session_id: r.server_session_id.clone(),
                client_session_id: r.client_session_id.clone(),
                issuer_uri: r.issuer_uri.clone(),
            })
    }

    pub(crate) fn update_kmk_impl(
        &mut self,
        handle: u32,
        new_kmk: &[u8],
        authorization: &[u8],
    ) -> Result<(), SksError> {
        // [SKS-KMK-001]
        if self.open.contains_key(&handle) {
            return Err(SksError::not_allowed(format!("Session is open: {handle}")));
        }
        let st = self.store.state();
        let session = st.sessions.get(&handle).ok_or_else(|| {
            SksError::no_session(format!("No such provisioning session: {handle}"))
        })?;
        let old = session
            .key_management_key
            .as_deref()
            .ok_or_else(|| SksError::not_allowed(format!("Session is not updatable: {handle}")))?;
        let old = PublicKey::from_spki_der(old)
            .map_err(|e| SksError::internal(format!("stored KMK: {e}")))?;
        // [SKS-KMK-001]
        let new_key = parse_kmk(new_kmk)?;
        if authorization.len() > MAX_LENGTH_AUTHORIZATION {
            return Err(SksError::option("\"authorization\" too long"));
        }
        // [SKS-KMK-002]
        let data = session1::roll_over_signed_data(&new_key).map_err(s1)?;
        verify_kmk(&old, &data, authorization, &format!("session: {handle}"))?;
        // [SKS-KMK-003]
        let mut new = st.clone();
        if let Some(s) = new.sessions.get_mut(&handle) {
            s.key_management_key = Some(crypto::spki(&new_key)?);
        }
        self.commit(&new)
    }

    pub(crate) fn create_puk_impl(
        &mut self,
        p: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        self.with_session(p.provisioning_handle.0, |me, h, s| {
            // [SKS-TXN-002] an undefined value is checked after the session lookup, inside
            // the session guard, so it tears the session down.
            let format = SksError::require(&p.format)?;
            // [SKS-POL-004]
            if p.retry_limit > MAX_RETRY_LIMIT {
                return Err(SksError::option(format!(
                    "Invalid \"retryLimit\" value={}",
                    p.retry_limit
                )));
            }
            // [SKS-IMP-004]
            if p.encrypted_puk.len() > MAX_LENGTH_PIN_PUK + AES_CBC_PKCS5_PADDING {
                return Err(SksError::option("\"encryptedPuk\" too long"));
            }
            if s.object_count() >= me.limits.max_objects_per_session {
                return Err(SksError::storage("too many objects in the session"));
            }
            let data =
                session1::create_puk_policy_data(&p.id, &p.encrypted_puk, format, p.retry_limit)
                    .map_err(s1)?;
            // [SKS-IMP-001] [SKS-IMP-001] [SKS-POL-001]: MAC first, then decrypt (the Java
            // reference decrypts first, facts §6 item 7).
            let puk = s
                .crypto
                .verify_mac_then_decrypt(Method::CreatePukPolicy, &data, &p.mac, &p.encrypted_puk)
                .map_err(s1)?;
            if puk.is_empty() || puk.len() > MAX_LENGTH_PIN_PUK {
                return Err(SksError::option("PUK length error"));
            }
            pin::check_puk_syntax(&puk, format)?;
            // [SKS-NSP-001]
            if s.has_name(&p.id) {
                return Err(SksError::option(format!("Duplicate \"id\" : {}", p.id)));
            }
            check_id(&p.id, "id")?;
            let handle = next_handle(&mut me.counters.puk)?;
            s.names.push((p.id.clone(), false));
            s.puks.insert(
                handle,
                PukRecord {
                    owner: h,
                    id: p.id.clone(),
                    value: puk.to_vec(),
                    format: format.to_byte(),
                    retry_limit: p.retry_limit,
                    error_count: 0,
                },
            );
            Ok(PukPolicyHandle(handle))
        })
    }

    pub(crate) fn create_pin_impl(
        &mut self,
        p: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        self.with_session(p.provisioning_handle.0, |me, h, s| {
            // [SKS-TXN-002] undefined values: after the session lookup, inside the guard.
            let format = SksError::require(&p.format)?;
            let grouping = SksError::require(&p.grouping)?;
            let pattern_restrictions = SksError::require(&p.pattern_restrictions)?;
            let input_method = SksError::require(&p.input_method)?;
            // [SKS-POL-004]
            if p.retry_limit < 1 || p.retry_limit > MAX_RETRY_LIMIT {
                return Err(SksError::option(format!(
                    "Invalid \"retryLimit\" value={}",
                    p.retry_limit
                )));
            }
            let mut puk_id = None;
            if !p.puk_policy_handle.is_none() {
                // [SKS-POL-003]
                let puk = s
                    .puks
                    .get(&p.puk_policy_handle.0)
                    .ok_or_else(|| SksError::option("Referenced PUK policy object not found"))?;
                let id = puk.id.clone();
                s.reference(&id);
                puk_id = Some(id);
            }
            if pattern_restrictions.contains(PatternRestriction::MissingGroup)
                && format != PassphraseFormat::Alphanumeric
                && format != PassphraseFormat::String
            {
                return Err(SksError::option(
                    "Incorrect \"format\" for the \"missing-group\" PIN pattern policy",
                ));
            }
            if p.min_length < 1
                || usize::from(p.max_length) > MAX_LENGTH_PIN_PUK
                || p.max_length < p.min_length
            {
                return Err(SksError::option("PIN policy length error"));
            }
            if s.object_count() >= me.limits.max_objects_per_session {
                return Err(SksError::storage("too many objects in the session"));
            }
            let data = session1::create_pin_policy_data(&PinPolicyMacInput {
                id: &p.id,
                puk_policy_id: puk_id.as_deref(),
                user_defined: p.user_defined,
                user_modifiable: p.user_modifiable,
                format,
                retry_limit: p.retry_limit,
                grouping,
                pattern_restrictions,
                min_length: p.min_length,
                max_length: p.max_length,
                input_method,
            })
            .map_err(s1)?;
            // [SKS-POL-002] [SKS-IMP-001]
            s.crypto
                .verify_mac(Method::CreatePinPolicy, &data, &p.mac)
                .map_err(s1)?;
            if s.has_name(&p.id) {
                return Err(SksError::option(format!("Duplicate \"id\" : {}", p.id)));
            }
            check_id(&p.id, "id")?;
            let handle = next_handle(&mut me.counters.pin)?;
            s.names.push((p.id.clone(), false));
            s.pins.insert(
                handle,
                PinRecord {
                    owner: h,
                    id: p.id.clone(),
                    puk_policy: (!p.puk_policy_handle.is_none()).then_some(p.puk_policy_handle.0),
                    user_defined: p.user_defined,
                    user_modifiable: p.user_modifiable,
                    format: format.to_byte(),
                    retry_limit: p.retry_limit,
                    grouping: grouping.to_byte(),
                    pattern_restrictions: pattern_restrictions.to_byte(),
                    min_length: p.min_length,
                    max_length: p.max_length,
                    input_method: input_method.to_byte(),
                },
            );
            Ok(PinPolicyHandle(handle))
        })
    }

    pub(crate) fn create_key_impl(
        &mut self,
        p: &CreateKeyEntryParams,
    ) -> Result<KeyData, SksError> {
        self.with_session(p.provisioning_handle.0, |me, h, s| {
            me.create_key_in(h, s, p)
        })
    }

    fn create_key_in(
        &mut self,
        h: u32,
        s: &mut OpenSession,
        p: &CreateKeyEntryParams,
    ) -> Result<KeyData, SksError> {
        // [SKS-TXN-002] undefined values: after the session lookup, inside the guard.
        let biometric_protection = SksError::require(&p.biometric_protection)?;
        let export_protection = SksError::require(&p.export_protection)?;
        let delete_protection = SksError::require(&p.delete_protection)?;
        let app_usage = SksError::require(&p.app_usage)?;
        if p.key_entry_algorithm != ALGORITHM_KEY_ATTEST_1 {
            return Err(SksError::algorithm(format!(
                "Unknown \"keyEntryAlgorithm\" : {}",
                p.key_entry_algorithm
            )));
        }
        let keygen = alg::lookup_keygen(&p.key_algorithm)
            .filter(|a| a.supported)
            .and_then(|a| a.keygen)
            .ok_or_else(|| {
                SksError::option(format!("Unsupported \"keyAlgorithm\": {}", p.key_algorithm))
            })?;
        let wants_params = matches!(
            keygen,
            KeyGen::Rsa {
                exponent_param: true,
                ..
            }
        );
        if wants_params != p.key_parameters.is_some() {
            return Err(SksError::option(format!(
                "{} \"keyParameters\"",
                if p.key_parameters.is_none() {
                    "Missing"
                } else {
                    "Unexpected"
                }
            )));
        }
        // [SKS-LIM-001]
        let server_seed = p.server_seed.as_deref().unwrap_or(&[]);
        if server_seed.len() > MAX_LENGTH_SERVER_SEED {
            return Err(SksError::option(format!(
                "\"serverSeed\" length error: {}",
                server_seed.len()
            )));
        }
        // [SKS-KEY-003] [SKS-KEY-003] [SKS-KEY-011]
        let mut pin_policy: Option<(u32, PinRecord)> = None;
        let mut pin_protection = true;
        if p.device_pin_protection {
            if matches!(self.device_pin, super::DevicePin::Unsupported) {
                return Err(SksError::option("Unsupported: \"devicePinProtection\""));
            }
            if !p.pin_policy_handle.is_none() {
                return Err(SksError::option("Device PIN mixed with PIN policy ojbect"));
            }
        } else if !p.pin_policy_handle.is_none() {
            let policy = s
                .pins
                .get(&p.pin_policy_handle.0)
                .cloned()
                .ok_or_else(|| SksError::option("Referenced PIN policy object not found"))?;
            if p.enable_pin_caching && policy.input_method() != InputMethod::TrustedGui {
                return Err(SksError::option(
                    "\"enablePinCaching\" must be combined with \"trusted-gui\"",
                ));
            }
            s.reference(&policy.id);
            pin_policy = Some((p.pin_policy_handle.0, policy));
        } else {
            if matches!(
                delete_protection,
                DeleteProtection::Pin | DeleteProtection::Puk
            ) || matches!(
                export_protection,
                ExportProtection::Pin | ExportProtection::Puk
            ) {
                return Err(SksError::option(
                    "Protection object lacks a PIN or PUK object",
                ));
            }
            pin_protection = false;
            if p.enable_pin_caching {
                return Err(SksError::option("\"enablePinCaching\" without PIN"));
            }
            if p.pin_value.is_some() {
                return Err(SksError::option("\"pinValue\" expected to be empty"));
            }
        }
        if biometric_protection != BiometricProtection::None && !self.biometric_support {
            return Err(SksError::option("Unsupported: \"biometricProtection\""));
        }
        if biometric_protection != BiometricProtection::None
            && ((biometric_protection != BiometricProtection::Exclusive) ^ pin_protection)
        {
            return Err(SksError::option(
                "Invalid \"biometricProtection\" and PIN combination",
            ));
        }
        if pin_policy
            .as_ref()
            .is_none_or(|(_, pp)| pp.puk_policy.is_none())
            && (delete_protection == DeleteProtection::Puk
                || export_protection == ExportProtection::Puk)
        {
            return Err(SksError::option(
                "Protection object lacks a PIN or PUK object",
            ));
        }
        // [SKS-IMP-004]
        if p.friendly_name
            .as_ref()
            .is_some_and(|f| f.len() > MAX_LENGTH_FRIENDLY_NAME)
        {
            return Err(SksError::option("\"friendlyName\" too long"));
        }
        if p.endorsed_algorithms.len() > alg::ALGORITHMS.len() {
            return Err(SksError::option("too many \"endorsedAlgorithms\""));
        }
        let preset = pin_policy.as_ref().is_some_and(|(_, pp)| !pp.user_defined);
        if pin_policy.is_some() {
            let v = p
                .pin_value
                .as_ref()
                .ok_or_else(|| SksError::option("Missing \"pinValue\""))?;
            let max = if preset {
                MAX_LENGTH_PIN_PUK + AES_CBC_PKCS5_PADDING
            } else {
                MAX_LENGTH_PIN_PUK
            };
            if v.len() > max {
                return Err(SksError::option("PIN length error"));
            }
        }
        if s.object_count() >= self.limits.max_objects_per_session {
            return Err(SksError::storage("too many objects in the session"));
        }
        // [SKS-KEY-007]
        let mut prev: Option<&str> = None;
        for a in &p.endorsed_algorithms {
            if prev.is_some_and(|q| q >= a.as_str()) {
                return Err(SksError::option(format!(
                    "Duplicate or incorrectly sorted algorithm: {a}"
                )));
            }
            let known = alg::lookup(a)
                .filter(|x| x.supported && x.requirement != KeyRequirement::NotEndorsable);
            let Some(known) = known else {
                return Err(SksError::option(format!("Unsupported algorithm: {a}")));
            };
            if known.requirement == KeyRequirement::Any && p.endorsed_algorithms.len() > 1 {
                return Err(SksError::option(format!("Algorithm must be alone: {a}")));
            }
            prev = Some(a);
        }
        let endorsed: Vec<&str> = p.endorsed_algorithms.iter().map(String::as_str).collect();
        let pin_id = pin_policy.as_ref().map(|(_, pp)| pp.id.clone());
        let encrypted_pin = if preset {
            p.pin_value.as_ref().map(|v| v.as_slice())
        } else {
            None
        };
        let data = session1::create_key_entry_data(&KeyEntryMacInput {
            id: &p.id,
            key_entry_algorithm: &p.key_entry_algorithm,
            server_seed: p.server_seed.as_deref(),
            pin_policy_id: pin_id.as_deref(),
            encrypted_pin,
            device_pin_protection: p.device_pin_protection,
            enable_pin_caching: p.enable_pin_caching,
            biometric_protection,
            export_protection,
            delete_protection,
            app_usage,
            friendly_name: p.friendly_name.as_deref(),
            key_algorithm: &p.key_algorithm,
            key_parameters: p.key_parameters.as_deref(),
            endorsed_algorithms: &endorsed,
        })
        .map_err(s1)?;
        // [SKS-IMP-001] [SKS-IMP-001]: the MAC covers the encrypted PIN; decrypt only after it.
        s.crypto
            .verify_mac(Method::CreateKeyEntry, &data, &p.mac)
            .map_err(s1)?;
        let pin_value: Option<Vec<u8>> = match (&pin_policy, &p.pin_value) {
            (Some(_), Some(v)) if preset => Some(s.crypto.decrypt(v).map_err(s1)?.to_vec()),
            (Some(_), Some(v)) => Some(v.to_vec()),
            _ => None,
        };
        // [SKS-KEY-005]
        if let (Some((ph, policy)), Some(v)) = (&pin_policy, &pin_value) {
            pin::check_pin_value(v, policy)?;
            pin::check_grouping(
                v,
                policy,
                app_usage,
                s.keys.values().filter(|k| k.pin_policy == Some(*ph)),
                false,
            )?;
        }
        // [SKS-KEY-006]
        let spec = match keygen {
            KeyGen::Ec(c) => KeySpec::Ec(c),
            KeyGen::Ed25519 => KeySpec::Ed25519,
            KeyGen::Rsa { bits, .. } => {
                let mut exponent = 65537u64;
                if let Some(kp) = &p.key_parameters {
                    if kp.is_empty() || kp.len() > 8 {
                        return Err(SksError::option(format!(
                            "\"keyParameters\" length error: {}",
                            kp.len()
                        )));
                    }
                    if kp[0] & 0x80 != 0 {
                        // A negative Java BigInteger.
                        return Err(SksError::crypto("negative RSA exponent"));
                    }
                    exponent = kp.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                    // Java's generator refuses exponents below 3 and even ones
                    // (InvalidAlgorithmParameterException, ERROR_CRYPTO); an even exponent
                    // would make the prime search loop forever. The rsa crate caps exponents
                    // at 2^33-1 (the Java reference accepts up to 2^63-1).
                    if exponent < 3
                        || exponent.is_multiple_of(2)
                        || exponent > crypto::MAX_RSA_EXPONENT
                    {
                        return Err(SksError::crypto(format!(
                            "unsupported RSA public exponent {exponent}"
                        )));
                    }
                }
                KeySpec::Rsa { bits, exponent }
            }
            KeyGen::OtherCurve | KeyGen::Other => {
                return Err(SksError::option(format!(
                    "Unsupported \"keyAlgorithm\": {}",
                    p.key_algorithm
                )));
            }
        };
        // [SKS-NSP-001] [SKS-LIM-004]
        if s.has_name(&p.id) {
            return Err(SksError::option(format!("Duplicate \"id\" : {}", p.id)));
        }
        check_id(&p.id, "id")?;
        let private = self.entropy.key_pair(
            &KeyPairRequest {
                id: &p.id,
                spec,
                server_seed,
            },
            &mut self.rng,
        )?;
        let public_key = crypto::spki(&private.public_key())?;
        let private_der = private
            .to_pkcs8_der()
            .map_err(|e| SksError::internal(format!("PKCS#8: {e}")))?;
        // [SKS-KEY-010]
        let attestation = s
            .crypto
            .attest(&session1::key_attestation_data(&public_key, &p.mac).map_err(s1)?)
            .map_err(s1)?
            .to_vec();
        let handle = next_handle(&mut self.counters.key)?;
        s.names.push((p.id.clone(), true));
        s.keys.insert(
            handle,
            KeyRecord {
                owner: h,
                id: p.id.clone(),
                app_usage: app_usage.to_byte(),
                public_key: public_key.clone(),
                private_key: private_der.to_vec(),
                certificate_path: Vec::new(),
                symmetric_key: None,
                endorsed_algorithms: p.endorsed_algorithms.clone(),
                friendly_name: p.friendly_name.clone(),
                device_pin_protection: p.device_pin_protection,
                pin_policy: pin_policy.as_ref().map(|(ph, _)| *ph),
                pin_value,
                error_count: 0,
                enable_pin_caching: p.enable_pin_caching,
                biometric_protection: biometric_protection.to_byte(),
                export_protection: export_protection.to_byte(),
                delete_protection: delete_protection.to_byte(),
                key_backup: 0,
                extensions: Vec::new(),
            },
        );
        Ok(KeyData {
            key_handle: KeyHandle(handle),
            public_key,
            attestation,
        })
    }

    pub(crate) fn get_key_handle_impl(
        &mut self,
        handle: u32,
        id: &str,
    ) -> Result<KeyHandle, SksError> {
        // [SKS-NSP-003]. An unknown id fails with ERROR_OPTION and no teardown, as in the Java
        // reference (the spec's [SKS-NSP-004] differs: see the report).
        let s = self.take_open(handle)?;
        let r = s
            .keys
            .iter()
            .find(|(_, k)| k.id == id)
            .map(|(h, _)| KeyHandle(*h))
            .ok_or_else(|| SksError::option(format!("Key {id} missing")));
        self.open.insert(handle, s);
        r
    }

    pub(crate) fn set_certificate_path_impl(
        &mut self,
        key: u32,
        path: &[Vec<u8>],
        mac: &[u8],
    ) -> Result<(), SksError> {
        let owner = self.open_key_owner(key)?;
        self.with_session(owner, |me, _h, s| {
            let k = s
                .keys
                .get(&key)
                .cloned()
                .ok_or_else(|| SksError::no_key("key vanished"))?;
            if path.is_empty() || path.len() > me.limits.max_certificate_path {
                return Err(SksError::option(format!(
                    "certificate path of {} certificates",
                    path.len()
                )));
            }
            // [SKS-LIM-001]
            if path.iter().any(|c| c.len() > MAX_LENGTH_CRYPTO_DATA) {
                return Err(SksError::option(format!(
                    "Certificate for: {} exceeds {MAX_LENGTH_CRYPTO_DATA} bytes",
                    k.id
                )));
            }
            let refs: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            let data =
                session1::set_certificate_path_data(&k.public_key, &k.id, &refs).map_err(s1)?;
            // [SKS-CRT-001]
            s.crypto
                .verify_mac(Method::SetCertificatePath, &data, mac)
                .map_err(s1)?;
            // [SKS-CRT-004]
            let cert_key = keys::certificate_public_key(&path[0])
                .map_err(|e| SksError::option(format!("certificate for: {}: {e}", k.id)))?;
            for c in &path[1..] {
                keys::certificate_spki_der(c)
                    .map_err(|e| SksError::option(format!("certificate path of: {}: {e}", k.id)))?;
            }
            crypto::check_key_compatibility(&cert_key, &k.id)?;
            // [SKS-CRT-003] (Java: ERROR_OPTION)
            if !k.certificate_path.is_empty() {
                return Err(SksError::option(format!(
                    "Multiple calls to \"setCertificatePath\" for: {}",
                    k.id
                )));
            }
            let spki = crypto::spki(&cert_key)?;
            if let Some(rec) = s.keys.get_mut(&key) {
                // [SKS-CRT-002] no match check here; close checks it.
                rec.public_key = spki;
                rec.certificate_path = path.to_vec();
            }
            Ok(())
        })
    }

    pub(crate) fn import_symmetric_impl(
        &mut self,
        key: u32,
        encrypted: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        let owner = self.open_key_owner(key)?;
        self.with_session(owner, |_me, _h, s| {
            let k = s
                .keys
                .get(&key)
                .cloned()
                .ok_or_else(|| SksError::no_key("key vanished"))?;
            if encrypted.len() > MAX_LENGTH_SYMMETRIC_KEY + AES_CBC_PKCS5_PADDING {
                return Err(SksError::option(format!(
                    "Symmetric key: {} exceeds {MAX_LENGTH_SYMMETRIC_KEY} bytes",
                    k.id
                )));
            }
            // [SKS-IMX-003]
            if KeyBackup::from_byte(k.key_backup)
                .unwrap_or_default()
                .contains(KeyBackup::IMPORTED)
            {
                return Err(SksError::option(format!(
                    "Mutiple key imports for: {}",
                    k.id
                )));
            }
            // [SKS-IMX-001] (Java: ERROR_OPTION)
            let ee = k.ee_certificate().ok_or_else(|| {
                SksError::option(format!("Missing \"setCertificatePath\" for: {}", k.id))
            })?;
            let data = session1::import_key_data(ee, encrypted).map_err(s1)?;
            // [SKS-IMP-001]
            let secret = s
                .crypto
                .verify_mac_then_decrypt(Method::ImportSymmetricKey, &data, mac, encrypted)
                .map_err(s1)?;
            // [SKS-IMX-005]
            if secret.is_empty() || secret.len() > MAX_LENGTH_SYMMETRIC_KEY {
                return Err(SksError::option("symmetric key length error"));
            }
            if let Some(rec) = s.keys.get_mut(&key) {
                rec.symmetric_key = Some(secret.to_vec());
                // [SKS-IMX-006]
                rec.key_backup |= KeyBackup::IMPORTED.to_byte();
            }
            Ok(())
        })
    }

    pub(crate) fn import_private_impl(
        &mut self,
        key: u32,
        encrypted: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        let owner = self.open_key_owner(key)?;
        self.with_session(owner, |_me, _h, s| {
            let k = s
                .keys
                .get(&key)
                .cloned()
                .ok_or_else(|| SksError::no_key("key vanished"))?;
            if encrypted.len() > MAX_LENGTH_CRYPTO_DATA + AES_CBC_PKCS5_PADDING {
                return Err(SksError::option(format!(
                    "Private key: {} exceeds {MAX_LENGTH_CRYPTO_DATA} bytes",
                    k.id
                )));
            }
            let ee = k.ee_certificate().ok_or_else(|| {
                SksError::option(format!("Missing \"setCertificatePath\" for: {}", k.id))
            })?;
            let data = session1::import_key_data(ee, encrypted).map_err(s1)?;
            s.crypto
                .verify_mac(Method::ImportPrivateKey, &data, mac)
                .map_err(s1)?;
            if KeyBackup::from_byte(k.key_backup)
                .unwrap_or_default()
                .contains(KeyBackup::IMPORTED)
            {
                return Err(SksError::option(format!(
                    "Mutiple key imports for: {}",
                    k.id
                )));
            }
            // [SKS-IMP-001] decrypt only after the MAC.
            let pkcs8 = s.crypto.decrypt(encrypted).map_err(s1)?;
            // [SKS-IMX-004]
            let private = keys::PrivateKey::from_pkcs8_der(&pkcs8).map_err(|e| match e {
                KeyError::UnsupportedCurve(c) => {
                    SksError::option(format!("Unsupported EC key algorithm for: {} ({c})", k.id))
                }
                other => SksError::crypto(format!("PKCS#8: {other}")),
            })?;
            let cert_key = PublicKey::from_spki_der(&k.public_key)
                .map_err(|e| SksError::internal(format!("stored public key: {e}")))?;
            if !crypto::same_family(private.key_type(), cert_key.key_type()) {
                return Err(SksError::option(format!(
                    "RSA/EC mixup between public and private keys for: {}",
                    k.id
                )));
            }
            if matches!(cert_key, PublicKey::Rsa(_)) && private.public_key() != cert_key {
                return Err(SksError::option(format!(
                    "Imported RSA key does not match certificate for: {}",
                    k.id
                )));
            }
            let der = private
                .to_pkcs8_der()
                .map_err(|e| SksError::internal(format!("PKCS#8: {e}")))?;
            if let Some(rec) = s.keys.get_mut(&key) {
                rec.private_key = der.to_vec();
                // [SKS-IMX-006]
                rec.key_backup |= KeyBackup::IMPORTED.to_byte();
            }
            Ok(())
        })
    }

    pub(crate) fn add_extension_impl(
        &mut self,
        key: u32,
        type_uri: &str,
        sub_type: &EnumArg<ExtensionSubType>,
        qualifier: &str,
        extension_data: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        let owner = self.open_key_owner(key)?;
        self.with_session(owner, |me, _h, s| {
            // [SKS-TXN-002] an undefined subType: after the key lookup, inside the guard.
            let sub_type = SksError::require(sub_type)?;
            let k = s
                .keys
                .get(&key)
                .cloned()
                .ok_or_else(|| SksError::no_key("key vanished"))?;
            if type_uri.is_empty() || type_uri.len() > MAX_LENGTH_URI {
                return Err(SksError::option(format!(
                    "URI length error: {}",
                    type_uri.len()
                )));
            }
            // [SKS-EXT-003]
            if k.extension(type_uri).is_some() {
                return Err(SksError::option(format!("Duplicate \"type\" : {type_uri}")));
            }
            if k.extensions.len() >= me.limits.max_extensions_per_key {
                return Err(SksError::storage("too many extensions for one key"));
            }
            // [SKS-EXT-001]
            let max = if sub_type == ExtensionSubType::EncryptedExtension {
                MAX_LENGTH_EXTENSION_DATA + AES_CBC_PKCS5_PADDING
            } else {
                MAX_LENGTH_EXTENSION_DATA
            };
            if extension_data.len() > max {
                return Err(SksError::option(format!(
                    "Extension data exceeds {MAX_LENGTH_EXTENSION_DATA} bytes"
                )));
            }
            // [SKS-EXT-004]
            if ((sub_type == ExtensionSubType::Logotype) ^ !qualifier.is_empty())
                || qualifier.len() > MAX_LENGTH_QUALIFIER
            {
                return Err(SksError::option("\"qualifier\" length error"));
            }
            if sub_type == ExtensionSubType::PropertyBag {
                let bag = session1::parse_property_bag(extension_data).map_err(|e| {
                    SksError::option(format!("\"propertyBag\" format error: {type_uri} ({e})"))
                })?;
                if bag.iter().any(|p| p.name.is_empty()) {
                    return Err(SksError::option(format!(
                        "\"propertyBag\" format error: {type_uri}"
                    )));
                }
            }
            // [SKS-EXT-001]
            let ee = k.ee_certificate().ok_or_else(|| {
                SksError::option(format!("Missing \"setCertificatePath\" for: {}", k.id))
            })?;
            let st = session1::ExtensionSubType::from_byte(sub_type.to_byte())
                .ok_or_else(|| SksError::option("Invalid \"subType\""))?;
            let data = session1::add_extension_data(ee, type_uri, st, qualifier, extension_data)
                .map_err(s1)?;
            s.crypto
                .verify_mac(Method::AddExtension, &data, mac)
                .map_err(s1)?;
            // [SKS-EXT-005] [SKS-IMP-001]
            let stored = if sub_type == ExtensionSubType::EncryptedExtension {
                s.crypto.decrypt(extension_data).map_err(s1)?.to_vec()
            } else {
                extension_data.to_vec()
            };
            if let Some(rec) = s.keys.get_mut(&key) {
                rec.extensions.push(ExtensionRecord {
                    type_uri: type_uri.to_owned(),
                    sub_type: sub_type.to_byte(),
                    qualifier: qualifier.to_owned(),
                    data: stored,
                });
            }
            Ok(())
        })
    }

    pub(crate) fn post_unlock_or_delete_impl(
        &mut self,
        handle: u32,
        target: u32,
        authorization: &[u8],
        mac: &[u8],
        delete: bool,
    ) -> Result<(), SksError> {
        self.with_session(handle, |me, _h, s| {
            // [SKS-PST-002] [SKS-PST-003]
            let (tk, ts) = me.target_key(s, target)?;
            if !delete && tk.pin_policy.is_none() {
                return Err(SksError::option(format!(
                    "Key #{target} is not PIN protected"
                )));
            }
            if authorization.len() > MAX_LENGTH_AUTHORIZATION {
                return Err(SksError::option("\"authorization\" too long"));
            }
            let data = session1::post_delete_or_unlock_data(authorization).map_err(s1)?;
            let method = if delete {
                Method::PostDeleteKey
            } else {
                Method::PostUnlockKey
            };
            me.validate_target_key_reference(
                s,
                target,
                &tk,
                &ts,
                method,
                &data,
                mac,
                authorization,
            )?;
            // [SKS-PST-005]
            me.add_post_op(
                s,
                PostOp {
                    target,
                    new_key: None,
                    update_or_delete: delete,
                },
            )
        })
    }

    pub(crate) fn post_update_or_clone_impl(
        &mut self,
        new_key: u32,
        target: u32,
        authorization: &[u8],
        mac: &[u8],
        update: bool,
    ) -> Result<(), SksError> {
        let owner = self.open_key_owner(new_key)?;
        self.with_session(owner, |me, _h, s| {
            let (tk, ts) = me.target_key(s, target)?;
            let nk = s
                .keys
                .get(&new_key)
                .cloned()
                .ok_or_else(|| SksError::no_key("key vanished"))?;
            // [SKS-PST-009]
            if nk.pin_policy.is_some() || nk.device_pin_protection {
                return Err(SksError::option(
                    "Updated/cloned keys must not define PIN protection",
                ));
            }
            if update {
                // [SKS-PST-010]
                if tk.app_usage != nk.app_usage {
                    return Err(SksError::option(
                        "Updated keys must have the same \"appUsage\" as the target key",
                    ));
                }
            } else if let Some(pp) = tk.pin_policy {
                // [SKS-PST-011]
                let grouping = me.store.state().pins.get(&pp).map(PinRecord::grouping);
                if grouping != Some(Grouping::Shared) {
                    return Err(SksError::option(
                        "A cloned key protection must have PIN grouping=\"shared\"",
                    ));
                }
            }
            if authorization.len() > MAX_LENGTH_AUTHORIZATION {
                return Err(SksError::option("\"authorization\" too long"));
            }
            let ee = nk.ee_certificate().ok_or_else(|| {
                SksError::option(format!("Missing \"setCertificatePath\" for: {}", nk.id))
            })?;
            let data = session1::post_update_or_clone_data(ee, authorization).map_err(s1)?;
            let method = if update {
                Method::PostUpdateKey
            } else {
                Method::PostCloneKeyProtection
            };
            me.validate_target_key_reference(
                s,
                target,
                &tk,
                &ts,
                method,
                &data,
                mac,
                authorization,
            )?;
            me.add_post_op(
                s,
                PostOp {
                    target,
                    new_key: Some(new_key),
                    update_or_delete: update,
                },
            )
        })
    }

    pub(crate) fn close_session_impl(
        &mut self,
        handle: u32,
        nonce: &[u8],
        mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        let mut s = self.take_open(handle)?;
        let r = self.close_in(handle, &mut s, nonce, mac);
        if let Err(e) = &r
            && !e.is_fatal()
        {
            self.open.insert(handle, s);
        }
        // On success the session is closed: it left the open table for good.
        r
    }

    fn close_in(
        &mut self,
        h: u32,
        s: &mut OpenSession,
        nonce: &[u8],
        mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        if nonce.is_empty() || nonce.len() > 32 {
            return Err(SksError::option(format!(
                "\"nonce\" length error: {}",
                nonce.len()
            )));
        }
        let data = session1::close_provisioning_session_data(
            &s.record.client_session_id,
            &s.record.server_session_id,
            &s.record.issuer_uri,
            nonce,
        )
        .map_err(s1)?;
        // [SKS-SES-010]
        s.crypto
            .verify_mac(Method::CloseProvisioningSession, &data, mac)
            .map_err(s1)?;
        // [SKS-SES-011] the attestation first, so sessionKeyLimit is checked before the commit.
        let attestation = s
            .crypto
            .attest(&session1::close_attestation_data(nonce).map_err(s1)?)
            .map_err(s1)?
            .to_vec();
        // [SKS-CLS-002]
        if let Some((id, _)) = s.names.iter().find(|(_, referenced)| !referenced) {
            return Err(SksError::option(format!(
                "Unreferenced object \"id\" : {id}"
            )));
        }
        let committed = self.store.state();
        for (kh, key) in &s.keys {
            // [SKS-CLS-001]
            let Some(ee) = key.ee_certificate() else {
                return Err(SksError::option(format!(
                    "Missing \"setCertificatePath\" for: {}",
                    key.id
                )));
            };
            // [SKS-CLS-003]
            let private = crypto::private_key(&key.private_key)?;
            let public = PublicKey::from_spki_der(&key.public_key)
                .map_err(|e| SksError::internal(format!("stored public key: {e}")))?;
            if !crypto::same_family(private.key_type(), public.key_type()) {
                return Err(SksError::option(format!(
                    "RSA/EC mixup between public and private keys for: {}",
                    key.id
                )));
            }
            if private.public_key() != public {
                return Err(SksError::option(format!(
                    "Public/private key mismatch for: {}",
                    key.id
                )));
            }
            // [SKS-CLS-004]
            let same_session_dup = s
                .keys
                .iter()
                .any(|(oh, ok)| oh != kh && ok.ee_certificate() == Some(ee));
            let committed_dup = committed.keys.iter().any(|(oh, ok)| {
                ok.ee_certificate() == Some(ee)
                    && !s
                        .post_ops
                        .iter()
                        .any(|op| op.target == *oh && op.update_or_delete)
            });
            if same_session_dup || committed_dup {
                return Err(SksError::option(format!(
                    "Duplicate certificate in \"setCertificatePath\" for: {}",
                    key.id
                )));
            }
            // [SKS-CLS-005]
            for uri in &key.endorsed_algorithms {
                let a = crypto::algorithm(uri)
                    .map_err(|_| SksError::option(format!("Unsupported algorithm: {uri}")))?;
                if a.requirement == KeyRequirement::Any {
                    continue;
                }
                let fits = match &key.symmetric_key {
                    Some(sym) => {
                        if crypto::is_symmetric_alg(a) {
                            crypto::test_aes_key(a, sym.len(), &key.id)?;
                            true
                        } else {
                            false
                        }
                    }
                    None => {
                        !crypto::is_symmetric_alg(a)
                            && crypto::asymmetric_fits(a, public.key_type())
                    }
                };
                if !fits {
                    let kind = if key.symmetric_key.is_some() {
                        "Symmetric"
                    } else {
                        public.key_type().name()
                    };
                    return Err(SksError::option(format!(
                        "{kind} key {} does not match algorithm: {uri}",
                        key.id
                    )));
                }
                debug_assert!(a.group != AlgGroup::KeyGeneration);
            }
        }
        // Post provisioning 1: the targets are still there.
        for op in &s.post_ops {
            self.target_key(s, op.target)?;
        }
        // Build the new committed state.
        let mut st = committed.clone();
        st.sessions.insert(h, s.record.clone());
        st.keys.extend(s.keys.iter().map(|(k, v)| (*k, v.clone())));
        st.pins.extend(s.pins.iter().map(|(k, v)| (*k, v.clone())));
        st.puks.extend(s.puks.iter().map(|(k, v)| (*k, v.clone())));
        let old_owners: Vec<u32> = s
            .post_ops
            .iter()
            .filter_map(|op| committed.keys.get(&op.target).map(|k| k.owner))
            .collect();
        // Post provisioning 2: execute ([SKS-SES-012]).
        for op in &s.post_ops {
            match op.new_key {
                None if op.update_or_delete => {
                    // [SKS-PST-016]
                    st.delete_key_and_orphans(op.target);
                }
                None => {
                    // [SKS-PST-015]
                    for k in pin_group(&st, op.target) {
                        if let Some(rec) = st.keys.get_mut(&k) {
                            rec.error_count = 0;
                        }
                    }
                    let puk = st
                        .keys
                        .get(&op.target)
                        .and_then(|k| k.pin_policy)
                        .and_then(|p| st.pins.get(&p))
                        .and_then(|p| p.puk_policy);
                    if let Some(puk) = puk.and_then(|p| st.puks.get_mut(&p)) {
                        puk.error_count = 0;
                    }
                }
                Some(new_key) => {
                    let Some(target) = st.keys.get(&op.target).cloned() else {
                        return Err(SksError::no_key(format!("Key not found #{}", op.target)));
                    };
                    let Some(mut nk) = st.keys.get(&new_key).cloned() else {
                        return Err(SksError::internal("new key vanished"));
                    };
                    // [SKS-PST-013]
                    nk.pin_policy = target.pin_policy;
                    nk.pin_value = target.pin_value.clone();
                    nk.error_count = target.error_count;
                    nk.device_pin_protection = target.device_pin_protection;
                    if op.update_or_delete {
                        // [SKS-PST-012]
                        st.keys.remove(&new_key);
                        st.keys.insert(op.target, nk);
                    } else {
                        st.keys.insert(new_key, nk);
                    }
                }
            }
        }
        // Post provisioning 3: ownership ([SKS-PST-014]).
        for old in old_owners {
            if old == h {
                continue;
            }
            for k in st.keys.values_mut() {
                if k.owner == old {
                    k.owner = h;
                }
            }
            st.sessions.remove(&old);
        }
        let owned_pins: Vec<u32> = st
            .keys
            .values()
            .filter(|k| k.owner == h)
            .filter_map(|k| k.pin_policy)
            .collect();
        for p in owned_pins {
            if let Some(pin) = st.pins.get_mut(&p) {
                pin.owner = h;
                if let Some(puk) = pin.puk_policy.and_then(|q| st.puks.get_mut(&q)) {
                    puk.owner = h;
                }
            }
        }
        st.delete_session_if_empty(h);
        st.counters = self.counters;
        // [SKS-IMP-007] one atomic commit.
        self.commit(&st)?;
        Ok(attestation)
    }
}
