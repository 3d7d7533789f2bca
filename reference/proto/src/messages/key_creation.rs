//! `KeyCreationRequest` and `KeyCreationResponse`.

use serde_json::{Map, Value};

use super::initialization::read_jwk;
use super::reader::{Obj, Val};
use super::writer::MapExt;
use super::{DecodeError, ErrorKind, KeyGen2Message};
use crate::jwk::Jwk;
use crate::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestriction, PatternRestrictions, UnknownValue,
};

fn name<T>(v: Val<'_, '_>, f: fn(&str) -> Result<T, UnknownValue>) -> Result<T, DecodeError> {
    f(v.string()?).map_err(|e| v.err(ErrorKind::BadEnum, e.to_string()))
}

/// SKS `MAX_RETRY_LIMIT`.
const MAX_RETRY_LIMIT: u16 = 10_000;
/// SKS `MAX_LENGTH_PIN_PUK`.
const MAX_LENGTH_PIN_PUK: u16 = 128;

/// A PUK policy with the PIN policies it protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PukPolicySpecifier {
    /// `id`.
    pub id: String,
    /// `encryptedPuk` (IV ‖ AES-256-CBC; 32-160 bytes).
    pub encrypted_puk: Vec<u8>,
    /// `retryLimit` (0-10000; 0 = never locks).
    pub retry_limit: u16,
    /// `format`.
    pub format: PassphraseFormat,
    /// `mac` (createPUKPolicy).
    pub mac: [u8; 32],
    /// `pinPolicySpecifiers` (at least one).
    pub pin_policy_specifiers: Vec<PinPolicySpecifier>,
}

/// A PIN policy with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicySpecifier {
    /// `id`.
    pub id: String,
    /// `minLength` (1-128).
    pub min_length: u16,
    /// `maxLength` (minLength-128).
    pub max_length: u16,
    /// `retryLimit` (1-10000).
    pub retry_limit: u16,
    /// `format`.
    pub format: PassphraseFormat,
    /// `userModifiable` as written (absent means true).
    pub user_modifiable: Option<bool>,
    /// `grouping` as written (absent means none).
    pub grouping: Option<Grouping>,
    /// `inputMethod` as written (absent means any).
    pub input_method: Option<InputMethod>,
    /// `patternRestrictions` in written order (no duplicates); empty = absent.
    pub pattern_restrictions: Vec<PatternRestriction>,
    /// `mac` (createPINPolicy).
    pub mac: [u8; 32],
    /// `keyEntrySpecifiers` (at least one).
    pub key_entry_specifiers: Vec<KeyEntrySpecifier>,
}

impl PinPolicySpecifier {
    /// `userModifiable` with its default.
    pub fn user_modifiable(&self) -> bool {
        self.user_modifiable.unwrap_or(true)
    }
    /// `grouping` with its default.
    pub fn grouping(&self) -> Grouping {
        self.grouping.unwrap_or(Grouping::None)
    }
    /// `inputMethod` with its default.
    pub fn input_method(&self) -> InputMethod {
        self.input_method.unwrap_or(InputMethod::Any)
    }
    /// The SKS pattern-restriction set.
    pub fn pattern_set(&self) -> PatternRestrictions {
        self.pattern_restrictions.iter().copied().collect()
    }
    /// True if the PINs of this policy are preset (sent encrypted by the issuer).
    pub fn preset(&self) -> bool {
        self.key_entry_specifiers
            .iter()
            .any(|k| k.encrypted_pin.is_some())
    }
}

/// One key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntrySpecifier {
    /// `id`.
    pub id: String,
    /// `serverSeed` (1-64 bytes).
    pub server_seed: Option<Vec<u8>>,
    /// `devicePinProtection` as written (absent means false).
    pub device_pin_protection: Option<bool>,
    /// `encryptedPin` (preset PIN; 32-160 bytes).
    pub encrypted_pin: Option<Vec<u8>>,
    /// `enablePinCaching` as written (absent means false).
    pub enable_pin_caching: Option<bool>,
    /// `biometricProtection` as written (absent means none).
    pub biometric_protection: Option<BiometricProtection>,
    /// `exportProtection` as written (absent means non-exportable).
    pub export_protection: Option<ExportProtection>,
    /// `deleteProtection` as written (absent means none).
    pub delete_protection: Option<DeleteProtection>,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// `appUsage`.
    pub app_usage: AppUsage,
    /// `keyAlgorithm` URI.
    pub key_algorithm: String,
    /// `keyParameters` (e.g. an RSA exponent).
    pub key_parameters: Option<Vec<u8>>,
    /// `endorsedAlgorithms`, strictly ascending; empty = absent.
    pub endorsed_algorithms: Vec<String>,
    /// `mac` (createKeyEntry).
    pub mac: [u8; 32],
}

impl KeyEntrySpecifier {
    /// `devicePinProtection` with its default.
    pub fn device_pin_protection(&self) -> bool {
        self.device_pin_protection.unwrap_or(false)
    }
    /// `enablePinCaching` with its default.
    pub fn enable_pin_caching(&self) -> bool {
        self.enable_pin_caching.unwrap_or(false)
    }
    /// `biometricProtection` with its default.
    pub fn biometric_protection(&self) -> BiometricProtection {
        self.biometric_protection
            .unwrap_or(BiometricProtection::None)
    }
    /// `exportProtection` with its KeyGen2 default (non-exportable).
    pub fn export_protection(&self) -> ExportProtection {
        self.export_protection
            .unwrap_or(ExportProtection::NonExportable)
    }
    /// `deleteProtection` with its default.
    pub fn delete_protection(&self) -> DeleteProtection {
        self.delete_protection.unwrap_or(DeleteProtection::None)
    }
}

fn read_key(o: &mut Obj<'_>, under_pin: bool) -> Result<KeyEntrySpecifier, DecodeError> {
    let k = KeyEntrySpecifier {
        id: o.req("id", |v| v.id())?,
        server_seed: o.opt("serverSeed", |v| v.bytes(1, 64))?,
        device_pin_protection: o.opt("devicePinProtection", |v| v.bool())?,
        encrypted_pin: o.opt("encryptedPin", |v| v.bytes(32, 160))?,
        enable_pin_caching: o.opt("enablePinCaching", |v| v.bool())?,
        biometric_protection: o.opt("biometricProtection", |v| {
            name(v, BiometricProtection::from_name)
        })?,
        export_protection: o.opt("exportProtection", |v| name(v, ExportProtection::from_name))?,
        delete_protection: o.opt("deleteProtection", |v| name(v, DeleteProtection::from_name))?,
        friendly_name: o.opt("friendlyName", |v| {
            let s = v.string()?;
            if s.len() > 65_535 {
                return Err(v.err(ErrorKind::BadLength, "friendlyName too long"));
            }
            Ok(s.to_owned())
        })?,
        app_usage: o.req("appUsage", |v| name(v, AppUsage::from_name))?,
        key_algorithm: o.req("keyAlgorithm", |v| v.uri())?,
        key_parameters: o.opt("keyParameters", |v| v.bytes(1, 1024))?,
        endorsed_algorithms: o
            .opt("endorsedAlgorithms", |v| {
                let list = v.each(|e| e.uri())?;
                for (i, w) in list.windows(2).enumerate() {
                    if let [a, b] = w
                        && a >= b
                    {
                        return Err(DecodeError::new(
                            format!("{}[{}]", v.path, i + 1),
                            ErrorKind::NotSorted,
                            "endorsedAlgorithms must be strictly ascending",
                        ));
                    }
                }
                Ok(list)
            })?
            .unwrap_or_default(),
        mac: o.req("mac", |v| v.mac())?,
    };
    if !under_pin && k.encrypted_pin.is_some() {
        return Err(DecodeError::new(
            super::reader::join(o.path(), "encryptedPin"),
            ErrorKind::Conflict,
            "a preset PIN needs a PIN policy",
        ));
    }
    Ok(k)
}

fn read_pin(o: &mut Obj<'_>) -> Result<PinPolicySpecifier, DecodeError> {
    let len = |v: Val<'_, '_>| v.u16(1, MAX_LENGTH_PIN_PUK);
    let p = PinPolicySpecifier {
        id: o.req("id", |v| v.id())?,
        min_length: o.req("minLength", len)?,
        max_length: o.req("maxLength", len)?,
        retry_limit: o.req("retryLimit", |v| v.u16(1, MAX_RETRY_LIMIT))?,
        format: o.req("format", |v| name(v, PassphraseFormat::from_name))?,
        user_modifiable: o.opt("userModifiable", |v| v.bool())?,
        grouping: o.opt("grouping", |v| name(v, Grouping::from_name))?,
        input_method: o.opt("inputMethod", |v| name(v, InputMethod::from_name))?,
        pattern_restrictions: o
            .opt("patternRestrictions", |v| {
                let mut seen = PatternRestrictions::NONE;
                v.each(|e| {
                    let r = name(e, PatternRestriction::from_name)?;
                    if seen.contains(r) {
                        return Err(e.err(ErrorKind::Conflict, "duplicate pattern restriction"));
                    }
                    seen = seen.with(r);
                    Ok(r)
                })
            })?
            .unwrap_or_default(),
        mac: o.req("mac", |v| v.mac())?,
        key_entry_specifiers: o.req("keyEntrySpecifiers", |v| v.objects(|k| read_key(k, true)))?,
    };
    if p.min_length > p.max_length {
        return Err(DecodeError::new(
            super::reader::join(o.path(), "maxLength"),
            ErrorKind::OutOfRange,
            "maxLength < minLength",
        ));
    }
    let preset = p
        .key_entry_specifiers
        .iter()
        .filter(|k| k.encrypted_pin.is_some())
        .count();
    if preset != 0 && preset != p.key_entry_specifiers.len() {
        return Err(DecodeError::new(
            super::reader::join(o.path(), "keyEntrySpecifiers"),
            ErrorKind::Conflict,
            "a PIN group must not mix preset and user-defined PINs",
        ));
    }
    Ok(p)
}

fn read_puk(o: &mut Obj<'_>) -> Result<PukPolicySpecifier, DecodeError> {
    Ok(PukPolicySpecifier {
        id: o.req("id", |v| v.id())?,
        encrypted_puk: o.req("encryptedPuk", |v| v.bytes(32, 160))?,
        retry_limit: o.req("retryLimit", |v| v.u16(0, MAX_RETRY_LIMIT))?,
        format: o.req("format", |v| name(v, PassphraseFormat::from_name))?,
        mac: o.req("mac", |v| v.mac())?,
        pin_policy_specifiers: o.req("pinPolicySpecifiers", |v| v.objects(read_pin))?,
    })
}

fn write_key(k: &KeyEntrySpecifier, m: &mut Map<String, Value>) {
    m.s("id", &k.id);
    if let Some(x) = &k.server_seed {
        m.b("serverSeed", x);
    }
    if let Some(x) = k.device_pin_protection {
        m.flag("devicePinProtection", x);
    }
    if let Some(x) = &k.encrypted_pin {
        m.b("encryptedPin", x);
    }
    if let Some(x) = k.enable_pin_caching {
        m.flag("enablePinCaching", x);
    }
    if let Some(x) = k.biometric_protection {
        m.s("biometricProtection", x.as_str());
    }
    if let Some(x) = k.export_protection {
        m.s("exportProtection", x.as_str());
    }
    if let Some(x) = k.delete_protection {
        m.s("deleteProtection", x.as_str());
    }
    if let Some(x) = &k.friendly_name {
        m.s("friendlyName", x);
    }
    m.s("appUsage", k.app_usage.as_str());
    m.s("keyAlgorithm", &k.key_algorithm);
    if let Some(x) = &k.key_parameters {
        m.b("keyParameters", x);
    }
    if !k.endorsed_algorithms.is_empty() {
        m.strs("endorsedAlgorithms", &k.endorsed_algorithms);
    }
    m.b("mac", &k.mac);
}

fn write_pin(p: &PinPolicySpecifier, m: &mut Map<String, Value>) {
    m.s("id", &p.id);
    m.n("minLength", i64::from(p.min_length));
    m.n("maxLength", i64::from(p.max_length));
    m.n("retryLimit", i64::from(p.retry_limit));
    m.s("format", p.format.as_str());
    if let Some(x) = p.user_modifiable {
        m.flag("userModifiable", x);
    }
    if let Some(x) = p.grouping {
        m.s("grouping", x.as_str());
    }
    if let Some(x) = p.input_method {
        m.s("inputMethod", x.as_str());
    }
    if !p.pattern_restrictions.is_empty() {
        let v: Vec<String> = p
            .pattern_restrictions
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        m.strs("patternRestrictions", &v);
    }
    m.b("mac", &p.mac);
    m.objs("keyEntrySpecifiers", &p.key_entry_specifiers, write_key);
}

fn write_puk(p: &PukPolicySpecifier, m: &mut Map<String, Value>) {
    m.s("id", &p.id);
    m.b("encryptedPuk", &p.encrypted_puk);
    m.n("retryLimit", i64::from(p.retry_limit));
    m.s("format", p.format.as_str());
    m.b("mac", &p.mac);
    m.objs("pinPolicySpecifiers", &p.pin_policy_specifiers, write_pin);
}

/// Step 5: the issuer asks for keys, nested PUK → PIN → key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCreationRequest {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `keyEntryAlgorithm` (`…#key.1`).
    pub key_entry_algorithm: String,
    /// `deferredIssuance` as written (absent means false).
    pub deferred_issuance: Option<bool>,
    /// `pukPolicySpecifiers`; empty = absent.
    pub puk_policy_specifiers: Vec<PukPolicySpecifier>,
    /// `pinPolicySpecifiers` without a PUK; empty = absent.
    pub pin_policy_specifiers: Vec<PinPolicySpecifier>,
    /// `keyEntrySpecifiers` without a PIN; empty = absent.
    pub key_entry_specifiers: Vec<KeyEntrySpecifier>,
}

impl KeyCreationRequest {
    /// Every key specifier in document (= SKS execution) order.
    pub fn keys(&self) -> Vec<&KeyEntrySpecifier> {
        let mut out = Vec::new();
        for puk in &self.puk_policy_specifiers {
            for pin in &puk.pin_policy_specifiers {
                out.extend(pin.key_entry_specifiers.iter());
            }
        }
        for pin in &self.pin_policy_specifiers {
            out.extend(pin.key_entry_specifiers.iter());
        }
        out.extend(self.key_entry_specifiers.iter());
        out
    }
}

impl KeyGen2Message for KeyCreationRequest {
    const QUALIFIER: &'static str = "KeyCreationRequest";
}

impl super::sealed::Body for KeyCreationRequest {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        let r = KeyCreationRequest {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            key_entry_algorithm: o.req("keyEntryAlgorithm", |v| v.uri())?,
            deferred_issuance: o.opt("deferredIssuance", |v| v.bool())?,
            puk_policy_specifiers: o
                .opt("pukPolicySpecifiers", |v| v.objects(read_puk))?
                .unwrap_or_default(),
            pin_policy_specifiers: o
                .opt("pinPolicySpecifiers", |v| v.objects(read_pin))?
                .unwrap_or_default(),
            key_entry_specifiers: o
                .opt("keyEntrySpecifiers", |v| v.objects(|k| read_key(k, false)))?
                .unwrap_or_default(),
        };
        if r.keys().is_empty() {
            return Err(DecodeError::new(
                "keyEntrySpecifiers",
                ErrorKind::Missing,
                "a KeyCreationRequest must create at least one key",
            ));
        }
        Ok(r)
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.s("keyEntryAlgorithm", &self.key_entry_algorithm);
        if let Some(x) = self.deferred_issuance {
            m.flag("deferredIssuance", x);
        }
        if !self.puk_policy_specifiers.is_empty() {
            m.objs(
                "pukPolicySpecifiers",
                &self.puk_policy_specifiers,
                write_puk,
            );
        }
        if !self.pin_policy_specifiers.is_empty() {
            m.objs(
                "pinPolicySpecifiers",
                &self.pin_policy_specifiers,
                write_pin,
            );
        }
        if !self.key_entry_specifiers.is_empty() {
            m.objs("keyEntrySpecifiers", &self.key_entry_specifiers, write_key);
        }
    }
}

/// One generated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// `id`.
    pub id: String,
    /// `publicKey`.
    pub public_key: Jwk,
    /// `attestation` (key.1: 32-byte HMAC).
    pub attestation: [u8; 32],
}

/// Step 6: the attested public keys, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCreationResponse {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `generatedKeys` (at least one).
    pub generated_keys: Vec<GeneratedKey>,
}

impl KeyGen2Message for KeyCreationResponse {
    const QUALIFIER: &'static str = "KeyCreationResponse";
}

impl super::sealed::Body for KeyCreationResponse {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(KeyCreationResponse {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            generated_keys: o.req("generatedKeys", |v| {
                v.objects(|g| {
                    Ok(GeneratedKey {
                        id: g.req("id", |v| v.id())?,
                        public_key: g.req("publicKey", read_jwk)?,
                        attestation: g.req("attestation", |v| v.mac())?,
                    })
                })
            })?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.objs("generatedKeys", &self.generated_keys, |g, m| {
            m.s("id", &g.id);
            m.put("publicKey", g.public_key.to_json());
            m.b("attestation", &g.attestation);
        });
    }
}
