//! [`RecordingSks`]: a [`SecureKeyStore`] wrapper that logs every call (method, a short
//! argument summary, the result code and the latency). The log is the per-case wire log of the
//! reports and the sample source of the performance statistics.

use std::time::{Duration, Instant};

use serde::Serialize;
use zeroize::Zeroizing;

use airtight_proto::policy::EnumArg;
use airtight_proto::sks::{
    CreateKeyEntryParams, CreatePinPolicyParams, CreateProvisioningSessionParams,
    CreatePukPolicyParams, DeviceInfo, EnumeratedKey, EnumeratedProvisioningSession, Extension,
    ExtensionSubType, KeyAttributes, KeyData, KeyHandle, KeyProtectionInfo, PinPolicyHandle,
    ProvisioningHandle, ProvisioningSessionResult, PukPolicyHandle, SecureKeyStore, SksError,
};

/// One logged SKS call (card runs) or HTTP exchange (issuer runs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WireEntry {
    /// The SKS method name (Java spelling, e.g. `createKeyEntry`); `GET` or `POST` in issuer
    /// runs.
    pub method: &'static str,
    /// A short summary of the arguments (no secrets).
    pub args: String,
    /// `ok` or the error code name and message; in issuer runs the answer's summary.
    pub result: String,
    /// Latency in microseconds.
    pub micros: u64,
    /// Issuer runs: the HTTP status of the answer (none: no answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Issuer runs: the request body sent (text, cut at [`MAX_BODY`] bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Issuer runs: the answer's body (text, cut at [`MAX_BODY`] bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// The harness tampered with this message (set by the hostile case that sent it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tampered: bool,
}

/// The most bytes of a body a wire entry keeps.
pub const MAX_BODY: usize = 16 * 1024;

/// `bytes` as text for a wire entry: UTF-8 (lossy), cut at [`MAX_BODY`] with a note.
pub fn body_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_BODY)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > MAX_BODY {
        s.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    s
}

/// A logging wrapper around any SKS.
pub struct RecordingSks {
    inner: Box<dyn SecureKeyStore>,
    log: Vec<WireEntry>,
    /// Stop logging when the log is this long (bounded memory on long runs).
    pub max_entries: usize,
}

impl std::fmt::Debug for RecordingSks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSks")
            .field("entries", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl RecordingSks {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn SecureKeyStore>) -> Self {
        Self {
            inner,
            log: Vec::new(),
            max_entries: 100_000,
        }
    }

    /// Takes the log collected so far.
    pub fn take_log(&mut self) -> Vec<WireEntry> {
        std::mem::take(&mut self.log)
    }

    /// The log collected so far.
    pub fn log(&self) -> &[WireEntry] {
        &self.log
    }

    /// The wrapped SKS.
    pub fn into_inner(self) -> Box<dyn SecureKeyStore> {
        self.inner
    }

    fn record<T>(
        &mut self,
        method: &'static str,
        args: String,
        elapsed: Duration,
        r: &Result<T, SksError>,
    ) {
        if self.log.len() >= self.max_entries {
            return;
        }
        let result = match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                let mut m = e.message().to_owned();
                if m.len() > 160 {
                    let mut end = 160;
                    while !m.is_char_boundary(end) {
                        end -= 1;
                    }
                    m.truncate(end);
                }
                format!("{}: {}", e.code().name(), m)
            }
        };
        self.log.push(WireEntry {
            method,
            args,
            result,
            micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            ..WireEntry::default()
        });
    }
}

fn hexs(b: &[u8]) -> String {
    const MAX: usize = 8;
    let mut s: String = b.iter().take(MAX).map(|x| format!("{x:02x}")).collect();
    if b.len() > MAX {
        s.push('…');
    }
    format!("{}B:{}", b.len(), s)
}

fn short(s: &str) -> String {
    if s.len() <= 48 {
        return s.to_owned();
    }
    let mut end = 48;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

macro_rules! rec {
    ($self:ident, $name:literal, $args:expr, $call:expr) => {{
        let args = $args;
        let t = Instant::now();
        let r = $call;
        let el = t.elapsed();
        $self.record($name, args, el, &r);
        r
    }};
}

impl SecureKeyStore for RecordingSks {
    fn get_device_info(&mut self) -> Result<DeviceInfo, SksError> {
        rec!(
            self,
            "getDeviceInfo",
            String::new(),
            self.inner.get_device_info()
        )
    }
    fn update_firmware(&mut self, chunk: &[u8]) -> Result<String, SksError> {
        rec!(
            self,
            "updateFirmware",
            hexs(chunk),
            self.inner.update_firmware(chunk)
        )
    }
    fn create_provisioning_session(
        &mut self,
        p: &CreateProvisioningSessionParams,
    ) -> Result<ProvisioningSessionResult, SksError> {
        rec!(
            self,
            "createProvisioningSession",
            format!(
                "privacy={} ssid={} issuer={} kmk={} limit={} life={}",
                p.privacy_enabled,
                short(&p.server_session_id),
                short(&p.issuer_uri),
                p.key_management_key.is_some(),
                p.session_key_limit,
                p.session_life_time
            ),
            self.inner.create_provisioning_session(p)
        )
    }
    fn close_provisioning_session(
        &mut self,
        h: ProvisioningHandle,
        nonce: &[u8],
        mac: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        rec!(
            self,
            "closeProvisioningSession",
            format!("ph={h} nonce={} mac={}", hexs(nonce), hexs(mac)),
            self.inner.close_provisioning_session(h, nonce, mac)
        )
    }
    fn enumerate_provisioning_sessions(
        &mut self,
        h: ProvisioningHandle,
        state: bool,
    ) -> Result<Option<EnumeratedProvisioningSession>, SksError> {
        rec!(
            self,
            "enumerateProvisioningSessions",
            format!("ph={h} open={state}"),
            self.inner.enumerate_provisioning_sessions(h, state)
        )
    }
    fn abort_provisioning_session(&mut self, h: ProvisioningHandle) -> Result<(), SksError> {
        rec!(
            self,
            "abortProvisioningSession",
            format!("ph={h}"),
            self.inner.abort_provisioning_session(h)
        )
    }
    fn update_key_management_key(
        &mut self,
        h: ProvisioningHandle,
        kmk: &[u8],
        auth: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "updateKeyManagementKey",
            format!("ph={h} kmk={} auth={}", hexs(kmk), hexs(auth)),
            self.inner.update_key_management_key(h, kmk, auth)
        )
    }
    fn create_puk_policy(
        &mut self,
        p: &CreatePukPolicyParams,
    ) -> Result<PukPolicyHandle, SksError> {
        rec!(
            self,
            "createPukPolicy",
            format!(
                "ph={} id={} enc={} format={} retry={}",
                p.provisioning_handle,
                short(&p.id),
                p.encrypted_puk.len(),
                p.format,
                p.retry_limit
            ),
            self.inner.create_puk_policy(p)
        )
    }
    fn create_pin_policy(
        &mut self,
        p: &CreatePinPolicyParams,
    ) -> Result<PinPolicyHandle, SksError> {
        rec!(
            self,
            "createPinPolicy",
            format!(
                "ph={} id={} puk={} userDefined={} format={} retry={} grouping={} pattern={} len={}..{}",
                p.provisioning_handle,
                short(&p.id),
                p.puk_policy_handle,
                p.user_defined,
                p.format,
                p.retry_limit,
                p.grouping,
                p.pattern_restrictions,
                p.min_length,
                p.max_length
            ),
            self.inner.create_pin_policy(p)
        )
    }
    fn create_key_entry(&mut self, p: &CreateKeyEntryParams) -> Result<KeyData, SksError> {
        rec!(
            self,
            "createKeyEntry",
            format!(
                "ph={} id={} alg={} pin={} app={} export={} delete={} endorsed={}",
                p.provisioning_handle,
                short(&p.id),
                short(p.key_algorithm.rsplit('#').next().unwrap_or("")),
                p.pin_policy_handle,
                p.app_usage,
                p.export_protection,
                p.delete_protection,
                p.endorsed_algorithms.len()
            ),
            self.inner.create_key_entry(p)
        )
    }
    fn get_key_handle(&mut self, h: ProvisioningHandle, id: &str) -> Result<KeyHandle, SksError> {
        rec!(
            self,
            "getKeyHandle",
            format!("ph={h} id={}", short(id)),
            self.inner.get_key_handle(h, id)
        )
    }
    fn set_certificate_path(
        &mut self,
        k: KeyHandle,
        path: &[Vec<u8>],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "setCertificatePath",
            format!("kh={k} certs={} mac={}", path.len(), hexs(mac)),
            self.inner.set_certificate_path(k, path, mac)
        )
    }
    fn import_symmetric_key(
        &mut self,
        k: KeyHandle,
        enc: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "importSymmetricKey",
            format!("kh={k} enc={}B mac={}", enc.len(), hexs(mac)),
            self.inner.import_symmetric_key(k, enc, mac)
        )
    }
    fn import_private_key(&mut self, k: KeyHandle, enc: &[u8], mac: &[u8]) -> Result<(), SksError> {
        rec!(
            self,
            "importPrivateKey",
            format!("kh={k} enc={}B mac={}", enc.len(), hexs(mac)),
            self.inner.import_private_key(k, enc, mac)
        )
    }
    fn add_extension(
        &mut self,
        k: KeyHandle,
        type_uri: &str,
        sub_type: EnumArg<ExtensionSubType>,
        qualifier: &str,
        data: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "addExtension",
            format!(
                "kh={k} type={} sub={} q={} data={}B",
                short(type_uri),
                sub_type
                    .to_byte()
                    .map_or_else(|| sub_type.to_string(), |b| b.to_string()),
                short(qualifier),
                data.len()
            ),
            self.inner
                .add_extension(k, type_uri, sub_type, qualifier, data, mac)
        )
    }
    fn post_delete_key(
        &mut self,
        h: ProvisioningHandle,
        t: KeyHandle,
        auth: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "postDeleteKey",
            format!("ph={h} target={t} auth={}", hexs(auth)),
            self.inner.post_delete_key(h, t, auth, mac)
        )
    }
    fn post_unlock_key(
        &mut self,
        h: ProvisioningHandle,
        t: KeyHandle,
        auth: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "postUnlockKey",
            format!("ph={h} target={t} auth={}", hexs(auth)),
            self.inner.post_unlock_key(h, t, auth, mac)
        )
    }
    fn post_update_key(
        &mut self,
        k: KeyHandle,
        t: KeyHandle,
        auth: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "postUpdateKey",
            format!("kh={k} target={t} auth={}", hexs(auth)),
            self.inner.post_update_key(k, t, auth, mac)
        )
    }
    fn post_clone_key_protection(
        &mut self,
        k: KeyHandle,
        t: KeyHandle,
        auth: &[u8],
        mac: &[u8],
    ) -> Result<(), SksError> {
        rec!(
            self,
            "postCloneKeyProtection",
            format!("kh={k} target={t} auth={}", hexs(auth)),
            self.inner.post_clone_key_protection(k, t, auth, mac)
        )
    }
    fn enumerate_keys(&mut self, k: KeyHandle) -> Result<Option<EnumeratedKey>, SksError> {
        rec!(
            self,
            "enumerateKeys",
            format!("kh={k}"),
            self.inner.enumerate_keys(k)
        )
    }
    fn get_key_attributes(&mut self, k: KeyHandle) -> Result<KeyAttributes, SksError> {
        rec!(
            self,
            "getKeyAttributes",
            format!("kh={k}"),
            self.inner.get_key_attributes(k)
        )
    }
    fn get_key_protection_info(&mut self, k: KeyHandle) -> Result<KeyProtectionInfo, SksError> {
        rec!(
            self,
            "getKeyProtectionInfo",
            format!("kh={k}"),
            self.inner.get_key_protection_info(k)
        )
    }
    fn get_extension(&mut self, k: KeyHandle, type_uri: &str) -> Result<Extension, SksError> {
        rec!(
            self,
            "getExtension",
            format!("kh={k} type={}", short(type_uri)),
            self.inner.get_extension(k, type_uri)
        )
    }
    fn set_property(
        &mut self,
        k: KeyHandle,
        type_uri: &str,
        name: &str,
        value: &str,
    ) -> Result<(), SksError> {
        rec!(
            self,
            "setProperty",
            format!("kh={k} type={} name={}", short(type_uri), short(name)),
            self.inner.set_property(k, type_uri, name, value)
        )
    }
    fn delete_key(&mut self, k: KeyHandle, auth: Option<&[u8]>) -> Result<(), SksError> {
        rec!(
            self,
            "deleteKey",
            format!("kh={k} auth={}", auth.is_some()),
            self.inner.delete_key(k, auth)
        )
    }
    fn export_key(
        &mut self,
        k: KeyHandle,
        auth: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        rec!(
            self,
            "exportKey",
            format!("kh={k} auth={}", auth.is_some()),
            self.inner.export_key(k, auth)
        )
    }
    fn unlock_key(&mut self, k: KeyHandle, auth: &[u8]) -> Result<(), SksError> {
        rec!(
            self,
            "unlockKey",
            format!("kh={k}"),
            self.inner.unlock_key(k, auth)
        )
    }
    fn change_pin(&mut self, k: KeyHandle, auth: &[u8], new_pin: &[u8]) -> Result<(), SksError> {
        rec!(
            self,
            "changePin",
            format!("kh={k}"),
            self.inner.change_pin(k, auth, new_pin)
        )
    }
    fn set_pin(&mut self, k: KeyHandle, auth: &[u8], new_pin: &[u8]) -> Result<(), SksError> {
        rec!(
            self,
            "setPin",
            format!("kh={k}"),
            self.inner.set_pin(k, auth, new_pin)
        )
    }
    fn sign_data(
        &mut self,
        k: KeyHandle,
        alg: &str,
        params: Option<&[u8]>,
        bio: bool,
        auth: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        rec!(
            self,
            "signData",
            format!(
                "kh={k} alg={} bio={bio} pin={} data={}B",
                short(alg.rsplit('#').next().unwrap_or("")),
                auth.is_some(),
                data.len()
            ),
            self.inner.sign_data(k, alg, params, bio, auth, data)
        )
    }
    fn asymmetric_key_decrypt(
        &mut self,
        k: KeyHandle,
        alg: &str,
        params: Option<&[u8]>,
        bio: bool,
        auth: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        rec!(
            self,
            "asymmetricKeyDecrypt",
            format!(
                "kh={k} alg={} data={}B",
                short(alg.rsplit('#').next().unwrap_or("")),
                data.len()
            ),
            self.inner
                .asymmetric_key_decrypt(k, alg, params, bio, auth, data)
        )
    }
    fn key_agreement(
        &mut self,
        k: KeyHandle,
        alg: &str,
        params: Option<&[u8]>,
        bio: bool,
        auth: Option<&[u8]>,
        public_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        rec!(
            self,
            "keyAgreement",
            format!("kh={k} peer={}B", public_key.len()),
            self.inner
                .key_agreement(k, alg, params, bio, auth, public_key)
        )
    }
    fn perform_hmac(
        &mut self,
        k: KeyHandle,
        alg: &str,
        params: Option<&[u8]>,
        bio: bool,
        auth: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Vec<u8>, SksError> {
        rec!(
            self,
            "performHmac",
            format!(
                "kh={k} alg={} data={}B",
                short(alg.rsplit('#').next().unwrap_or("")),
                data.len()
            ),
            self.inner.perform_hmac(k, alg, params, bio, auth, data)
        )
    }
    fn symmetric_key_encrypt(
        &mut self,
        k: KeyHandle,
        alg: &str,
        mode: bool,
        params: Option<&[u8]>,
        bio: bool,
        auth: Option<&[u8]>,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SksError> {
        rec!(
            self,
            "symmetricKeyEncrypt",
            format!(
                "kh={k} alg={} encrypt={mode} data={}B",
                short(alg.rsplit('#').next().unwrap_or("")),
                data.len()
            ),
            self.inner
                .symmetric_key_encrypt(k, alg, mode, params, bio, auth, data)
        )
    }
}
