//! Issuance policies: what an issuer asks for, read from TOML (`policies/default.toml`), with
//! built-in defaults for every field.
//!
//! Enumerated values use the KeyGen2 JSON spellings (`numeric`, `signature+standard`,
//! `trusted-gui`, `non-exportable`, ...); binary values are Base64URL without padding.

use airtight_proto::codec::b64url;
use airtight_proto::keys::Curve;
use airtight_proto::policy::{
    AppUsage, BiometricProtection, DeleteProtection, ExportProtection, Grouping, InputMethod,
    PassphraseFormat, PatternRestriction,
};
use serde::{Deserialize, Serialize};

use crate::IssuerError;

/// The whole issuance policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `manage` or `unlock`.
    pub action: String,
    /// Request privacy mode (no device certificate, HMAC session attestation).
    pub privacy_enabled: bool,
    /// `preferredLanguages`.
    pub preferred_languages: Vec<String>,
    /// `targetKeyContainers`.
    pub target_key_containers: Vec<String>,
    /// `clientCapabilityQuery` URIs.
    pub capability_query: Vec<String>,
    /// Session parameters.
    pub session: SessionPolicy,
    /// Device trust.
    pub device: DevicePolicy,
    /// Credential discovery (lookups signed by the KMK).
    pub discovery: DiscoveryPolicy,
    /// PUK policies.
    pub puk: Vec<PukPolicy>,
    /// PIN policies.
    pub pin: Vec<PinPolicy>,
    /// Keys to create.
    pub key: Vec<KeyPolicy>,
    /// Post-operations on discovered keys (unlock, delete).
    pub post: PostPolicy,
    /// The CA profile of issued end-entity certificates.
    pub ca: CaPolicy,
    /// The key-management key and its roll-over chain.
    pub kmk: KmkPolicy,
}

/// The key-management key (PKCS#8 PEM files, relative to the policy file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KmkPolicy {
    /// The KMK of new sessions.
    pub key_file: Option<String>,
    /// Older KMKs that roll over to it ([KG2-PIQ-008]).
    pub rollover: Vec<RolloverPolicy>,
}

/// An older KMK and the still older ones that roll over to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloverPolicy {
    /// PKCS#8 PEM of the older KMK.
    pub key_file: String,
    /// Still older keys.
    pub rollover: Vec<RolloverPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            action: "manage".into(),
            privacy_enabled: false,
            preferred_languages: Vec::new(),
            target_key_containers: Vec::new(),
            capability_query: Vec::new(),
            session: SessionPolicy::default(),
            device: DevicePolicy::default(),
            discovery: DiscoveryPolicy::default(),
            puk: Vec::new(),
            pin: vec![PinPolicy::default()],
            key: vec![KeyPolicy::default()],
            post: PostPolicy::default(),
            ca: CaPolicy::default(),
            kmk: KmkPolicy::default(),
        }
    }
}

/// Session parameters and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// `sessionKeyLimit` (1-65535).
    pub key_limit: u16,
    /// `sessionLifeTime` in seconds (1-32767 recommended, [KG2-PIQ-004]).
    pub life_time: u16,
    /// Curve of the server ephemeral key: `P-256`, `P-384` or `P-521`.
    pub ephemeral_curve: String,
    /// Accepted |clientTime - now| in seconds ([KG2-IMP-005]).
    pub client_time_window: i64,
    /// Largest accepted body in bytes ([KG2-IMP-009]).
    pub max_body_bytes: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            key_limit: 100,
            life_time: 3600,
            ephemeral_curve: "P-256".into(),
            client_time_window: 600,
            max_body_bytes: 1 << 20,
        }
    }
}

/// Device trust: anchors are PEM files; options relax validation per anchor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevicePolicy {
    /// Trust anchors for device certificate paths.
    pub trust_anchors: Vec<AnchorPolicy>,
}

/// One device trust anchor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnchorPolicy {
    /// PEM file of the anchor certificate (relative to the policy file).
    pub certificate_file: String,
    /// [KG2-IMP-004] accept expired certificates under this anchor (off by default).
    pub allow_expired: bool,
    /// Accept SHA-1 RSA signatures under this anchor (off by default).
    pub allow_sha1: bool,
    /// Accept an explicit NULL in ECDSA AlgorithmIdentifiers (off by default).
    pub allow_ecdsa_null_parameters: bool,
}

/// Credential discovery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryPolicy {
    /// Send a CredentialDiscoveryRequest (needs a KMK; always on with `unlock`).
    pub enabled: bool,
    /// Lookup specifiers.
    pub lookup: Vec<LookupPolicy>,
}

/// One lookup specifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupPolicy {
    /// Its id.
    pub id: String,
    /// `searchFilter.emailRegEx` (Java regex).
    pub email_reg_ex: Option<String>,
    /// `searchFilter.subjectRegEx`.
    pub subject_reg_ex: Option<String>,
    /// `searchFilter.issuerRegEx`.
    pub issuer_reg_ex: Option<String>,
    /// `searchFilter.appUsage`.
    pub app_usage: Option<String>,
}

/// A PUK policy (the PUK value is preset by the issuer and sent encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PukPolicy {
    /// Its id.
    pub id: String,
    /// The PUK value (UTF-8).
    pub value: String,
    /// Format name.
    pub format: String,
    /// 0-10000.
    pub retry_limit: u16,
}

impl Default for PukPolicy {
    fn default() -> Self {
        PukPolicy {
            id: "PUK.1".into(),
            value: "01234567".into(),
            format: "numeric".into(),
            retry_limit: 3,
        }
    }
}

/// A PIN policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinPolicy {
    /// Its id.
    pub id: String,
    /// The PUK policy protecting it, if any (by id).
    pub puk: Option<String>,
    /// A preset PIN value: every key of the policy gets it encrypted; absent = user-defined.
    pub preset_value: Option<String>,
    /// Format name.
    pub format: String,
    /// Minimum length.
    pub min_length: u16,
    /// Maximum length.
    pub max_length: u16,
    /// 1-10000.
    pub retry_limit: u16,
    /// Grouping name.
    pub grouping: String,
    /// Input method name.
    pub input_method: String,
    /// Pattern restriction names.
    pub patterns: Vec<String>,
    /// `userModifiable`.
    pub user_modifiable: bool,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            id: "PIN.1".into(),
            puk: None,
            preset_value: None,
            format: "numeric".into(),
            min_length: 4,
            max_length: 8,
            retry_limit: 3,
            grouping: "none".into(),
            input_method: "any".into(),
            patterns: Vec::new(),
            user_modifiable: true,
        }
    }
}

/// A key to create (and certify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyPolicy {
    /// Its id.
    pub id: String,
    /// Key generation URI (e.g. `https://webpki.github.io/sks/algorithm#ec.nist.p256`).
    pub algorithm: String,
    /// RSA exponent for the `.exp` algorithms.
    pub rsa_exponent: Option<u64>,
    /// appUsage name.
    pub app_usage: String,
    /// The PIN policy (by id), if any. In TOML a key without `pin` has no PIN (the
    /// `Default` value, used by code, names `PIN.1`).
    #[serde(default)]
    pub pin: Option<String>,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// `endorsedAlgorithms` (sorted by the engine).
    pub endorsed_algorithms: Vec<String>,
    /// `serverSeed`, Base64URL.
    pub server_seed: Option<String>,
    /// `devicePinProtection`.
    pub device_pin_protection: bool,
    /// `enablePinCaching`.
    pub enable_pin_caching: bool,
    /// Biometric protection name.
    pub biometric_protection: String,
    /// Export protection name.
    pub export_protection: String,
    /// Delete protection name.
    pub delete_protection: String,
    /// Offer the certificate path's root as trust anchor.
    pub trust_anchor: bool,
    /// A symmetric key to import (Base64URL).
    pub import_symmetric_key: Option<String>,
    /// A private key to import (PKCS#8 DER, Base64URL); the certificate then certifies it.
    pub import_private_key: Option<String>,
    /// Plain extensions.
    pub extensions: Vec<ExtensionPolicy>,
    /// Encrypted extensions.
    pub encrypted_extensions: Vec<ExtensionPolicy>,
    /// Property bags.
    pub property_bags: Vec<PropertyBagPolicy>,
    /// Logotypes.
    pub logotypes: Vec<LogotypePolicy>,
    /// `updateKey` the first discovered credential (KMK authorization).
    pub update_discovered: bool,
    /// `cloneKeyProtection` of the first discovered credential.
    pub clone_discovered: bool,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        KeyPolicy {
            id: "Key.1".into(),
            algorithm: "https://webpki.github.io/sks/algorithm#ec.nist.p256".into(),
            rsa_exponent: None,
            app_usage: "authentication".into(),
            pin: Some("PIN.1".into()),
            friendly_name: None,
            endorsed_algorithms: Vec::new(),
            server_seed: None,
            device_pin_protection: false,
            enable_pin_caching: false,
            biometric_protection: "none".into(),
            export_protection: "non-exportable".into(),
            delete_protection: "none".into(),
            trust_anchor: false,
            import_symmetric_key: None,
            import_private_key: None,
            extensions: Vec::new(),
            encrypted_extensions: Vec::new(),
            property_bags: Vec::new(),
            logotypes: Vec::new(),
            update_discovered: false,
            clone_discovered: false,
        }
    }
}

/// A plain or encrypted extension.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtensionPolicy {
    /// Type URI.
    #[serde(rename = "type")]
    pub extension_type: String,
    /// Data, Base64URL.
    pub data: String,
}

/// A property bag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropertyBagPolicy {
    /// Type URI.
    #[serde(rename = "type")]
    pub bag_type: String,
    /// Properties.
    pub properties: Vec<PropertyPolicy>,
}

/// One property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropertyPolicy {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// Writable through `setProperty`.
    pub writable: bool,
}

/// A logotype.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogotypePolicy {
    /// One of the four logotype URIs.
    #[serde(rename = "type")]
    pub logotype_type: String,
    /// MIME type.
    pub mime_type: String,
    /// Image, Base64URL.
    pub data: String,
}

/// Post-operations on every discovered credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostPolicy {
    /// `unlockKeys` every discovered credential (with `unlock` only the locked ones).
    pub unlock_discovered: bool,
    /// `deleteKeys` every discovered credential.
    pub delete_discovered: bool,
}

/// The end-entity certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaPolicy {
    /// RFC 4514 subject template; `{key_id}` and `{session}` are filled in by the engine, `{serial}`
    /// and `{key}` by the CA.
    pub subject_template: String,
    /// Validity in days.
    pub validity_days: i64,
    /// Include the root certificate in delivered paths.
    pub include_root: bool,
    /// PKCS#8 PEM of the CA key (relative to the policy file).
    pub key_file: Option<String>,
    /// PEM certificate path of the CA, its own certificate first.
    pub chain_file: Option<String>,
}

impl Default for CaPolicy {
    fn default() -> Self {
        CaPolicy {
            subject_template: "CN=airtight {key_id} {serial}".into(),
            validity_days: 730,
            include_root: false,
            key_file: None,
            chain_file: None,
        }
    }
}

fn bad(what: &str, e: impl std::fmt::Display) -> IssuerError {
    IssuerError::Policy(format!("{what}: {e}"))
}

/// The text of the built-in policy: `policies/default.toml`.
pub const BUILTIN_TOML: &str = include_str!("../policies/default.toml");

impl Policy {
    /// The built-in policy of `airtight issuer serve`: exactly `policies/default.toml`
    /// ([`BUILTIN_TOML`]), so that running without `--policy` and with
    /// `--policy reference/issuer/policies/default.toml` behave the same.
    pub fn builtin() -> Result<Policy, IssuerError> {
        Policy::from_toml(BUILTIN_TOML)
    }

    /// Parses a policy from TOML text; missing fields take the built-in defaults.
    pub fn from_toml(text: &str) -> Result<Policy, IssuerError> {
        let p: Policy = toml::from_str(text).map_err(|e| bad("TOML", e))?;
        p.validate()?;
        Ok(p)
    }

    /// Checks every name, range and reference.
    pub fn validate(&self) -> Result<(), IssuerError> {
        if self.action != "manage" && self.action != "unlock" {
            return Err(bad("action", &self.action));
        }
        if self.session.key_limit == 0 || self.session.life_time == 0 {
            return Err(bad("session", "key_limit and life_time must be positive"));
        }
        self.ephemeral_curve()?;
        let mut ids: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for p in &self.puk {
            PassphraseFormat::from_name(&p.format).map_err(|e| bad("puk.format", e))?;
            if p.retry_limit > 10000 || p.value.is_empty() || p.value.len() > 128 {
                return Err(bad("puk", &p.id));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(bad("duplicate id", &p.id));
            }
            if !self.pin.iter().any(|pin| pin.puk.as_deref() == Some(&p.id)) {
                return Err(bad("PUK policy without PIN policy", &p.id));
            }
        }
        for p in &self.pin {
            p.resolve()?;
            if let Some(puk) = &p.puk
                && !self.puk.iter().any(|k| &k.id == puk)
            {
                return Err(bad("pin.puk names no PUK policy", puk));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(bad("duplicate id", &p.id));
            }
            if !self.key.iter().any(|k| k.pin.as_deref() == Some(&p.id)) {
                return Err(bad("PIN policy without key", &p.id));
            }
        }
        for k in &self.key {
            k.resolve()?;
            if let Some(pin) = &k.pin
                && !self.pin.iter().any(|p| &p.id == pin)
            {
                return Err(bad("key.pin names no PIN policy", pin));
            }
            if !ids.insert(k.id.as_str()) {
                return Err(bad("duplicate id", &k.id));
            }
        }
        Ok(())
    }

    /// The ephemeral key curve.
    pub fn ephemeral_curve(&self) -> Result<Curve, IssuerError> {
        Curve::from_name(&self.session.ephemeral_curve).map_err(|e| bad("ephemeral_curve", e))
    }

    /// The PIN policies protected by `puk`, in policy order.
    pub fn pins_under(&self, puk: Option<&str>) -> Vec<&PinPolicy> {
        self.pin
            .iter()
            .filter(|p| p.puk.as_deref() == puk)
            .collect()
    }

    /// The keys protected by `pin`, in policy order.
    pub fn keys_under(&self, pin: Option<&str>) -> Vec<&KeyPolicy> {
        self.key
            .iter()
            .filter(|k| k.pin.as_deref() == pin)
            .collect()
    }
}

/// A PIN policy with its names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPin {
    /// Format.
    pub format: PassphraseFormat,
    /// Grouping.
    pub grouping: Grouping,
    /// Input method.
    pub input_method: InputMethod,
    /// Patterns.
    pub patterns: Vec<PatternRestriction>,
}

impl PinPolicy {
    /// Resolves and checks the names and ranges.
    pub fn resolve(&self) -> Result<ResolvedPin, IssuerError> {
        if self.min_length == 0 || self.min_length > self.max_length || self.max_length > 128 {
            return Err(bad("pin lengths", &self.id));
        }
        if self.retry_limit == 0 || self.retry_limit > 10000 {
            return Err(bad("pin.retry_limit", &self.id));
        }
        let mut patterns = Vec::new();
        for n in &self.patterns {
            let p = PatternRestriction::from_name(n).map_err(|e| bad("pin.patterns", e))?;
            if patterns.contains(&p) {
                return Err(bad("duplicate pattern", n));
            }
            patterns.push(p);
        }
        Ok(ResolvedPin {
            format: PassphraseFormat::from_name(&self.format).map_err(|e| bad("pin.format", e))?,
            grouping: Grouping::from_name(&self.grouping).map_err(|e| bad("pin.grouping", e))?,
            input_method: InputMethod::from_name(&self.input_method)
                .map_err(|e| bad("pin.input_method", e))?,
            patterns,
        })
    }
}

/// A key policy with its names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// appUsage.
    pub app_usage: AppUsage,
    /// Biometric protection.
    pub biometric: BiometricProtection,
    /// Export protection.
    pub export: ExportProtection,
    /// Delete protection.
    pub delete: DeleteProtection,
    /// `keyParameters`.
    pub key_parameters: Option<Vec<u8>>,
    /// `serverSeed`.
    pub server_seed: Option<Vec<u8>>,
    /// Endorsed algorithms, sorted, deduplicated.
    pub endorsed: Vec<String>,
}

impl KeyPolicy {
    /// Resolves and checks the names and values.
    pub fn resolve(&self) -> Result<ResolvedKey, IssuerError> {
        let alg = airtight_proto::alg::lookup_keygen(&self.algorithm)
            .ok_or_else(|| bad("key.algorithm", &self.algorithm))?;
        let key_parameters = match (alg.keygen, self.rsa_exponent) {
            (
                Some(airtight_proto::alg::KeyGen::Rsa {
                    exponent_param: true,
                    ..
                }),
                Some(e),
            ) => {
                let bytes = e.to_be_bytes();
                let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
                let kp = bytes[first..].to_vec();
                if airtight_proto::alg::rsa_exponent_from_key_parameters(&kp).is_none() {
                    return Err(bad("key.rsa_exponent", e));
                }
                Some(kp)
            }
            (
                Some(airtight_proto::alg::KeyGen::Rsa {
                    exponent_param: true,
                    ..
                }),
                None,
            ) => {
                return Err(bad("key.rsa_exponent missing for", &self.algorithm));
            }
            (_, Some(_)) => return Err(bad("key.rsa_exponent not allowed for", &self.algorithm)),
            (_, None) => None,
        };
        let server_seed = self
            .server_seed
            .as_deref()
            .map(|s| b64url::decode(s).map_err(|e| bad("key.server_seed", e)))
            .transpose()?;
        if let Some(s) = &server_seed
            && (s.is_empty() || s.len() > 64)
        {
            return Err(bad("key.server_seed", "1 to 64 bytes"));
        }
        if let Some(a) = self
            .endorsed_algorithms
            .iter()
            .find(|a| !airtight_proto::alg::is_supported(a))
        {
            return Err(bad("key.endorsed_algorithms", a));
        }
        let mut endorsed = self.endorsed_algorithms.clone();
        endorsed.sort();
        endorsed.dedup();
        if self.update_discovered && self.clone_discovered {
            return Err(bad(
                "key",
                "update_discovered and clone_discovered exclude each other",
            ));
        }
        if self.import_private_key.is_some() && self.import_symmetric_key.is_some() {
            return Err(bad("key", "at most one import"));
        }
        Ok(ResolvedKey {
            app_usage: AppUsage::from_name(&self.app_usage).map_err(|e| bad("key.app_usage", e))?,
            biometric: BiometricProtection::from_name(&self.biometric_protection)
                .map_err(|e| bad("key.biometric_protection", e))?,
            export: ExportProtection::from_name(&self.export_protection)
                .map_err(|e| bad("key.export_protection", e))?,
            delete: DeleteProtection::from_name(&self.delete_protection)
                .map_err(|e| bad("key.delete_protection", e))?,
            key_parameters,
            server_seed,
            endorsed,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_validate() {
        Policy::default().validate().unwrap();
    }

    #[test]
    fn rsa_exponent_only_for_exp_algorithms() {
        let mut k = KeyPolicy {
            algorithm: "https://webpki.github.io/sks/algorithm#rsa1024.exp".into(),
            rsa_exponent: Some(65537),
            ..KeyPolicy::default()
        };
        assert_eq!(k.resolve().unwrap().key_parameters, Some(vec![1, 0, 1]));
        k.rsa_exponent = Some(4);
        assert!(k.resolve().is_err());
        k.rsa_exponent = None;
        assert!(k.resolve().is_err());
        k.algorithm = "https://webpki.github.io/sks/algorithm#ec.nist.p256".into();
        k.rsa_exponent = Some(3);
        assert!(k.resolve().is_err());
    }

    #[test]
    fn endorsed_algorithms_are_sorted_and_checked() {
        // [KG2-KCQ-007]
        let k = KeyPolicy {
            endorsed_algorithms: vec![
                "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256".into(),
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256".into(),
            ],
            ..KeyPolicy::default()
        };
        let r = k.resolve().unwrap();
        assert!(r.endorsed.windows(2).all(|w| w[0] < w[1]));
        let bad = KeyPolicy {
            endorsed_algorithms: vec!["https://example.com/unknown".into()],
            ..KeyPolicy::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn server_seed_length() {
        // [KG2-KCQ-008]
        let k = |n: usize| KeyPolicy {
            server_seed: Some(b64url::encode(&vec![1u8; n])),
            ..KeyPolicy::default()
        };
        assert!(k(64).resolve().is_ok());
        assert!(k(65).resolve().is_err());
        assert!(k(0).resolve().is_err());
    }

    #[test]
    fn unreferenced_pin_or_puk_is_refused() {
        let mut p = Policy::default();
        p.key[0].pin = None;
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.puk.push(PukPolicy::default());
        assert!(p.validate().is_err());
    }
}
