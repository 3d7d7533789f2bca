//! Test doubles: a scripted, recording fake SKS (no crypto: it returns the values a test gives
//! it and records every call), and helpers to read the recorded Java sessions.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use airtight_proto::codec::b64url;
use airtight_proto::keys::PublicKey;
use airtight_proto::messages::{KeyGen2Message, Message};
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestrictions,
};
use airtight_proto::sks::*;
use zeroize::Zeroizing;

/// One key the fake knows.
#[derive(Debug, Clone)]
pub struct FakeKey {
    pub handle: KeyHandle,
    pub session: ProvisioningHandle,
    pub id: String,
    pub app_usage: AppUsage,
    pub grouping: Option<Grouping>,
    pub certificate_path: Vec<Vec<u8>>,
    pub pin_blocked: bool,
    pub pin_value: Option<Vec<u8>>,
}

/// One session the fake knows.
#[derive(Debug, Clone)]
pub struct FakeSession {
    pub info: EnumeratedProvisioningSession,
    pub open: bool,
}

/// A recording SKS double.
#[derive(Debug)]
pub struct FakeSks {
    /// Every call, as `method` or `method:id`.
    pub calls: Vec<String>,
    /// Fail the first call whose label starts with this prefix.
    pub fail_at: Option<(String, SksError)>,
    pub device: DeviceInfo,
    /// Scripted createProvisioningSession results (client session id, attestation, client
    /// ephemeral SPKI), consumed in order; a default one is made up when empty.
    pub session_results: VecDeque<(String, Vec<u8>, Vec<u8>)>,
    pub session_params: Vec<CreateProvisioningSessionParams>,
    /// Scripted createKeyEntry results by key id (SPKI, attestation).
    pub key_results: HashMap<String, (Vec<u8>, Vec<u8>)>,
    pub puk_params: Vec<CreatePukPolicyParams>,
    pub pin_params: Vec<CreatePinPolicyParams>,
    pub key_params: Vec<CreateKeyEntryParams>,
    /// Scripted close attestations, consumed in order (default 32 zero bytes).
    pub close_attestations: VecDeque<Vec<u8>>,
    pub sessions: Vec<FakeSession>,
    pub keys: Vec<FakeKey>,
    pub kmk_updates: Vec<(ProvisioningHandle, Vec<u8>, Vec<u8>)>,
    pub post_ops: Vec<(String, KeyHandle)>,
    pub extensions: Vec<(KeyHandle, String, ExtensionSubType, String, Vec<u8>)>,
    pin_groupings: HashMap<PinPolicyHandle, Grouping>,
    next: u32,
}

pub const P256_EXAMPLE_SPKI_HEX: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004";

impl FakeSks {
    /// Scripts the answers of a recorded session (session results, device path, key pairs and
    /// close attestations), as `session_messages` returns it.
    pub fn script(&mut self, msgs: &[(String, Vec<u8>, Message)]) {
        for (_, _, m) in msgs {
            match m {
                Message::ProvisioningInitializationResponse(r) => {
                    self.session_results.push_back((
                        r.client_session_id.clone(),
                        r.attestation.clone(),
                        spki_of(&r.client_ephemeral_key),
                    ));
                    if let Some(p) = &r.device_certificate_path {
                        self.device.certificate_path = p.clone();
                    }
                }
                Message::KeyCreationResponse(r) => {
                    for g in &r.generated_keys {
                        self.key_results.insert(
                            g.id.clone(),
                            (spki_of(&g.public_key), g.attestation.to_vec()),
                        );
                    }
                }
                Message::ProvisioningFinalizationResponse(r) => {
                    self.close_attestations.push_back(r.attestation.to_vec());
                }
                _ => {}
            }
        }
    }

    pub fn new(device: DeviceInfo) -> Self {
        FakeSks {
            calls: Vec::new(),
            fail_at: None,
            device,
            session_results: VecDeque::new(),
            session_params: Vec::new(),
            key_results: HashMap::new(),
            puk_params: Vec::new(),
            pin_params: Vec::new(),
            key_params: Vec::new(),
            close_attestations: VecDeque::new(),
            sessions: Vec::new(),
            keys: Vec::new(),
            kmk_updates: Vec::new(),
            post_ops: Vec::new(),
            extensions: Vec::new(),
            pin_groupings: HashMap::new(),
            next: 100,
        }
    }

    pub fn failing_at(mut self, prefix: &str, e: SksError) -> Self {
        self.fail_at = Some((prefix.to_owned(), e));
        self
    }

    fn handle(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    fn record(&mut self, label: String) -> Result<(), SksError> {
        let fail = matches!(&self.fail_at, Some((p, _)) if label.starts_with(p.as_str()));
        self.calls.push(label);
        if fail {
            let (_, e) = self.fail_at.take().unwrap();
            return Err(e);
        }
        Ok(())
    }

    /// The calls without the `:id` suffixes.
    pub fn methods(&self) -> Vec<&str> {
        self.calls
            .iter()
            .map(|c| c.split(':').next().unwrap())
            .collect()
    }

    fn open_session(&self, h: ProvisioningHandle) -> Result<usize, SksError> {
        self.sessions
            .iter()
            .position(|s| s.open && s.info.provisioning_handle == h)
            .ok_or_else(|| SksError::no_session("no such open session"))
    }

    fn key(&self, h: KeyHandle) -> Result<usize, SksError> {
        self.keys
            .iter()
            .position(|k| k.handle == h)
            .ok_or_else(|| SksError::no_key("no such key"))
    }

    /// Adds a closed session with keys (the state an earlier session left).
    pub fn add_closed_session(
        &mut self,
        server_session_id: &str,
        client_session_id: &str,
        kmk_spki: Option<Vec<u8>>,
        keys: Vec<(String, AppUsage, Vec<Vec<u8>>)>,
    ) -> ProvisioningHandle {
        let ph = ProvisioningHandle(self.handle());
        self.sessions.push(FakeSession {
            info: EnumeratedProvisioningSession {
                provisioning_handle: ph,
                session_key_algorithm: airtight_proto::alg::SESSION_1.into(),
                privacy_enabled: false,
                key_management_key: kmk_spki,
                client_time: 0,
                session_life_time: 3600,
                server_session_id: server_session_id.into(),
                client_session_id: client_session_id.into(),
                issuer_uri: "http://127.0.0.1:18080/keygen2".into(),
            },
            open: false,
        });
        for (id, app_usage, certificate_path) in keys {
            let h = KeyHandle(self.handle());
            self.keys.push(FakeKey {
                handle: h,
                session: ph,
                id,
                app_usage,
                grouping: Some(Grouping::None),
                certificate_path,
                pin_blocked: false,
                pin_value: None,
            });
        }
        ph
    }
}

/// A device like the Java reference SKS (every algorithm of the registry it supports).
pub fn reference_like_device(certificate_path: Vec<Vec<u8>>) -> DeviceInfo {
    DeviceInfo {
        api_level: 106,
        device_type: DeviceType {
            location: DeviceLocation::External,
            class: DeviceTypeClass::Software,
        },
        update_url: None,
        vendor_name: "Fake".into(),
        vendor_description: "recording test double".into(),
        certificate_path,
        supported_algorithms: airtight_proto::alg::ALGORITHMS
            .iter()
            .filter(|a| a.supported)
            .map(|a| a.uri.to_owned())
            .collect(),
        crypto_data_size: 16384,
        extension_data_size: 250_000,
        device_pin_support: true,
        biometric_support: true,
    }
}

impl SecureKeyStore for FakeSks {
    fn get_device_info(&mut self) -> Result<DeviceInfo, SksError> {
        self.record("getDeviceInfo".into())?;
        Ok(self.device.clone())
    }

    fn update_firmware(&mut self, _chunk: &[u8]) -> Result<String, SksError> {
        self.record("updateFirmware".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn create_provisioning_session(
        &mut self,
        p: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        self.record("createProvisioningSession".into())?;
        self.session_params.push(p.clone());
        let (csid, attestation, client_key) =
            self.session_results.pop_front().unwrap_or_else(|| {
                // A made-up session on the server's curve: reuse the server key.
                (
                    "FakeClientSessionId0123456789ABC".into(),
                    vec![7; 64],
                    p.server_ephemeral_key.clone(),
                )
            });
        let ph = ProvisioningHandle(self.handle());
        self.sessions.push(FakeSession {
            info: EnumeratedProvisioningSession {
                provisioning_handle: ph,
                session_key_algorithm: p.session_key_algorithm.clone(),
                privacy_enabled: p.privacy_enabled,
                key_management_key: p.key_management_key.clone(),
                client_time: p.client_time,
                session_life_time: p.session_life_time,
                server_session_id: p.server_session_id.clone(),
                client_session_id: csid.clone(),
                issuer_uri: p.issuer_uri.clone(),
            },
            open: true,
        });
        Ok(ProvisioningSessionResult {
            provisioning_handle: ph,
            client_session_id: csid,
            attestation,
            client_ephemeral_key: client_key,
        })
    }

    fn close_provisioning_session(
        &mut self,
        h: ProvisioningHandle,
        _nonce: &[u8],
        _mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.record("closeProvisioningSession".into())?;
        let i = self.open_session(h)?;
        self.sessions[i].open = false;
        let deleted: Vec<KeyHandle> = self
            .post_ops
            .iter()
            .filter(|(m, _)| m == "postDeleteKey")
            .map(|(_, k)| *k)
            .collect();
        self.keys.retain(|k| !deleted.contains(&k.handle));
        Ok(self
            .close_attestations
            .pop_front()
            .unwrap_or_else(|| vec![0; 32]))
    }

    fn enumerate_provisioning_sessions(
        &mut self,
        h: ProvisioningHandle,
        open: bool,
    ) -> Result<Option<EnumeratedProvisioningSession>, SksError> {
        self.record("enumerateProvisioningSessions".into())?;
        let list: Vec<&FakeSession> = self.sessions.iter().filter(|s| s.open == open).collect();
        let pos = if h.is_none() {
            0
        } else {
            match list.iter().position(|s| s.info.provisioning_handle == h) {
                Some(p) => p + 1,
                None => return Err(SksError::no_session("bad handle")),
            }
        };
        Ok(list.get(pos).map(|s| s.info.clone()))
    }

    fn abort_provisioning_session(&mut self, h: ProvisioningHandle) -> Result<(), SksError> {
        self.record("abortProvisioningSession".into())?;
        let i = self.open_session(h)?;
        self.sessions.remove(i);
        self.keys.retain(|k| k.session != h);
        Ok(())
    }

    fn update_key_management_key(
        &mut self,
        h: ProvisioningHandle,
        kmk: &[u8],
        authorization: &[u8],
    ) -> Result<(), SksError> {
        self.record(format!("updateKeyManagementKey:{h}"))?;
        self.kmk_updates
            .push((h, kmk.to_vec(), authorization.to_vec()));
        let s = self
            .sessions
            .iter_mut()
            .find(|s| !s.open && s.info.provisioning_handle == h)
            .ok_or_else(|| SksError::no_session("not closed"))?;
        s.info.key_management_key = Some(kmk.to_vec());
        Ok(())
    }

    fn create_puk_policy(
        &mut self,
        p: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        self.record(format!("createPukPolicy:{}", p.id))?;
        self.open_session(p.provisioning_handle)?;
        self.puk_params.push(p.clone());
        Ok(PukPolicyHandle(self.handle()))
    }

    fn create_pin_policy(
        &mut self,
        p: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        self.record(format!("createPinPolicy:{}", p.id))?;
        self.open_session(p.provisioning_handle)?;
        self.pin_params.push(p.clone());
        let h = PinPolicyHandle(self.handle());
        self.pin_groupings
            .insert(h, SksError::require(&p.grouping)?);
        Ok(h)
    }

    fn create_key_entry(&mut self, p: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
        self.record(format!("createKeyEntry:{}", p.id))?;
        self.open_session(p.provisioning_handle)?;
        self.key_params.push(p.clone());
        let (spki, attestation) = self.key_results.get(&p.id).cloned().unwrap_or_else(|| {
            (
                hex(&format!("{P256_EXAMPLE_SPKI_HEX}{}", DEFAULT_POINT)),
                vec![9; 32],
            )
        });
        let h = KeyHandle(self.handle());
        self.keys.push(FakeKey {
            handle: h,
            session: p.provisioning_handle,
            id: p.id.clone(),
            app_usage: SksError::require(&p.app_usage)?,
            grouping: self.pin_groupings.get(&p.pin_policy_handle).copied(),
            certificate_path: Vec::new(),
            pin_blocked: false,
            pin_value: p.pin_value.as_ref().map(|v| v.to_vec()),
        });
        Ok(KeyData {
            key_handle: h,
            public_key: spki,
            attestation,
        })
    }

    fn get_key_handle(&mut self, h: ProvisioningHandle, id: &str) -> Result<KeyHandle, SksError> {
        self.record(format!("getKeyHandle:{id}"))?;
        self.keys
            .iter()
            .find(|k| k.session == h && k.id == id)
            .map(|k| k.handle)
            .ok_or_else(|| SksError::no_key("no such id"))
    }

    fn set_certificate_path(
        &mut self,
        k: KeyHandle,
        path: &[Vec<u8>],
        _mac: &[u8],
    ) -> Result<(), SksError> {
        let i = self.key(k)?;
        self.record(format!("setCertificatePath:{}", self.keys[i].id))?;
        self.keys[i].certificate_path = path.to_vec();
        Ok(())
    }

    fn import_symmetric_key(&mut self, k: KeyHandle, _e: &[u8], _m: &[u8]) -> Result<(), SksError> {
        let i = self.key(k)?;
        self.record(format!("importSymmetricKey:{}", self.keys[i].id))
    }

    fn import_private_key(&mut self, k: KeyHandle, _e: &[u8], _m: &[u8]) -> Result<(), SksError> {
        let i = self.key(k)?;
        self.record(format!("importPrivateKey:{}", self.keys[i].id))
    }

    fn add_extension(
        &mut self,
        k: KeyHandle,
        type_uri: &str,
        sub_type: airtight_proto::policy::EnumArg<ExtensionSubType>,
        qualifier: &str,
        data: &[u8],
        _mac: &[u8],
    ) -> Result<(), SksError> {
        let sub_type = SksError::require(&sub_type)?;
        let i = self.key(k)?;
        self.record(format!(
            "addExtension:{}:{}",
            self.keys[i].id,
            sub_type.to_byte()
        ))?;
        self.extensions.push((
            k,
            type_uri.into(),
            sub_type,
            qualifier.into(),
            data.to_vec(),
        ));
        Ok(())
    }

    fn post_delete_key(
        &mut self,
        _h: ProvisioningHandle,
        t: KeyHandle,
        _a: &[u8],
        _m: &[u8],
    ) -> Result<(), SksError> {
        self.record("postDeleteKey".into())?;
        self.post_ops.push(("postDeleteKey".into(), t));
        Ok(())
    }

    fn post_unlock_key(
        &mut self,
        _h: ProvisioningHandle,
        t: KeyHandle,
        _a: &[u8],
        _m: &[u8],
    ) -> Result<(), SksError> {
        self.record("postUnlockKey".into())?;
        self.post_ops.push(("postUnlockKey".into(), t));
        Ok(())
    }

    fn post_update_key(
        &mut self,
        _k: KeyHandle,
        t: KeyHandle,
        _a: &[u8],
        _m: &[u8],
    ) -> Result<(), SksError> {
        self.record("postUpdateKey".into())?;
        self.post_ops.push(("postUpdateKey".into(), t));
        Ok(())
    }

    fn post_clone_key_protection(
        &mut self,
        _k: KeyHandle,
        t: KeyHandle,
        _a: &[u8],
        _m: &[u8],
    ) -> Result<(), SksError> {
        self.record("postCloneKeyProtection".into())?;
        self.post_ops.push(("postCloneKeyProtection".into(), t));
        Ok(())
    }

    fn enumerate_keys(&mut self, h: KeyHandle) -> Result<Option<EnumeratedKey>, SksError> {
        self.record("enumerateKeys".into())?;
        let closed: Vec<&FakeKey> = self
            .keys
            .iter()
            .filter(|k| {
                self.sessions
                    .iter()
                    .any(|s| !s.open && s.info.provisioning_handle == k.session)
            })
            .collect();
        let pos = if h.is_none() {
            0
        } else {
            match closed.iter().position(|k| k.handle == h) {
                Some(p) => p + 1,
                None => return Err(SksError::no_key("bad handle")),
            }
        };
        Ok(closed.get(pos).map(|k| EnumeratedKey {
            key_handle: k.handle,
            provisioning_handle: k.session,
        }))
    }

    fn get_key_attributes(&mut self, k: KeyHandle) -> Result<KeyAttributes, SksError> {
        let i = self.key(k)?;
        self.record(format!("getKeyAttributes:{}", self.keys[i].id))?;
        let key = &self.keys[i];
        Ok(KeyAttributes {
            symmetric_key_length: 0,
            certificate_path: key.certificate_path.clone(),
            app_usage: key.app_usage,
            friendly_name: None,
            endorsed_algorithms: vec![],
            extension_types: vec![],
        })
    }

    fn get_key_protection_info(&mut self, k: KeyHandle) -> Result<KeyProtectionInfo, SksError> {
        let i = self.key(k)?;
        self.record(format!("getKeyProtectionInfo:{}", self.keys[i].id))?;
        let key = &self.keys[i];
        let mut status = ProtectionStatus::EMPTY;
        if key.grouping.is_some() {
            status |= ProtectionStatus::PIN_PROTECTED;
        }
        if key.pin_blocked {
            status |= ProtectionStatus::PIN_BLOCKED;
        }
        Ok(KeyProtectionInfo {
            protection_status: status,
            puk: None,
            pin: key.grouping.map(|g| PinPolicyInfo {
                format: PassphraseFormat::Numeric,
                retry_limit: 3,
                grouping: g,
                user_defined: true,
                user_modifiable: true,
                pattern_restrictions: PatternRestrictions::NONE,
                min_length: 4,
                max_length: 8,
                input_method: InputMethod::Any,
                error_count: 0,
            }),
            enable_pin_caching: false,
            biometric_protection: BiometricProtection::None,
            export_protection: ExportProtection::NonExportable,
            delete_protection: DeleteProtection::None,
            key_backup: KeyBackup::EMPTY,
        })
    }

    fn get_extension(&mut self, _k: KeyHandle, _t: &str) -> Result<Extension, SksError> {
        self.record("getExtension".into())?;
        Err(SksError::option("none"))
    }

    fn set_property(
        &mut self,
        _k: KeyHandle,
        _t: &str,
        _n: &str,
        _v: &str,
    ) -> Result<(), SksError> {
        self.record("setProperty".into())
    }

    fn delete_key(&mut self, _k: KeyHandle, _a: Option<&[u8]>) -> Result<(), SksError> {
        self.record("deleteKey".into())
    }

    fn export_key(
        &mut self,
        _k: KeyHandle,
        _a: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.record("exportKey".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn unlock_key(&mut self, _k: KeyHandle, _a: &[u8]) -> Result<(), SksError> {
        self.record("unlockKey".into())
    }

    fn change_pin(&mut self, _k: KeyHandle, _a: &[u8], _n: &[u8]) -> Result<(), SksError> {
        self.record("changePin".into())
    }

    fn set_pin(&mut self, _k: KeyHandle, _a: &[u8], _n: &[u8]) -> Result<(), SksError> {
        self.record("setPin".into())
    }

    fn sign_data(
        &mut self,
        _k: KeyHandle,
        _alg: &str,
        _p: Option<&[u8]>,
        _b: bool,
        _a: Option<&[u8]>,
        _d: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.record("signData".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn asymmetric_key_decrypt(
        &mut self,
        _k: KeyHandle,
        _alg: &str,
        _p: Option<&[u8]>,
        _b: bool,
        _a: Option<&[u8]>,
        _d: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.record("asymmetricKeyDecrypt".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn key_agreement(
        &mut self,
        _k: KeyHandle,
        _alg: &str,
        _p: Option<&[u8]>,
        _b: bool,
        _a: Option<&[u8]>,
        _pk: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.record("keyAgreement".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn perform_hmac(
        &mut self,
        _k: KeyHandle,
        _alg: &str,
        _p: Option<&[u8]>,
        _b: bool,
        _a: Option<&[u8]>,
        _d: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        self.record("performHmac".into())?;
        Err(SksError::not_allowed("no"))
    }

    fn symmetric_key_encrypt(
        &mut self,
        _k: KeyHandle,
        _alg: &str,
        _mode: bool,
        _p: Option<&[u8]>,
        _b: bool,
        _a: Option<&[u8]>,
        _d: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        self.record("symmetricKeyEncrypt".into())?;
        Err(SksError::not_allowed("no"))
    }
}

/// A valid P-256 point (the generator G, uncompressed, without the 04 prefix).
pub const DEFAULT_POINT: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ------------------------------------------------------------------ recorded sessions

pub fn recorded_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/recorded")
}

/// The messages of one recorded session, in order, as (file name, raw bytes, decoded).
pub fn session_messages(rel: &str) -> Vec<(String, Vec<u8>, Message)> {
    let dir = recorded_dir().join(rel);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n.as_bytes()[0].is_ascii_digit())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            let m = Message::decode(&bytes).unwrap();
            (n, bytes, m)
        })
        .collect()
}

pub fn secrets(rel: &str) -> serde_json::Value {
    let bytes = std::fs::read(recorded_dir().join(rel).join("secrets.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn b64(v: &serde_json::Value) -> Vec<u8> {
    b64url::decode(v.as_str().unwrap()).unwrap()
}

/// SPKI DER of a JWK.
pub fn spki_of(jwk: &airtight_proto::jwk::Jwk) -> Vec<u8> {
    PublicKey::from_jwk(jwk).unwrap().to_spki_der().unwrap()
}

/// Compares a produced message with the recorded Java bytes (pretty form).
pub fn assert_same_as_recorded(produced: &Message, recorded: &[u8], what: &str) {
    let ours = String::from_utf8(produced.to_java_pretty()).unwrap();
    let theirs = String::from_utf8(recorded.to_vec()).unwrap();
    assert_eq!(
        ours, theirs,
        "{what}: our response differs from the recorded one"
    );
}

pub fn decode<T: KeyGen2Message>(bytes: &[u8]) -> T {
    T::decode(bytes).unwrap()
}
