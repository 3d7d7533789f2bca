//! The target configuration (TOML). Structure, every field optional but `[target]`:
//!
//! ```toml
//! destructive = false              # run cases marked destructive (they delete keys)
//!
//! [target]
//! name = "reference card"          # display name
//! transport = "in-process"         # in-process | apdu-loopback | pcsc | shim | http (issuer)
//! device = "p256"                  # in-process: p256 | rsa2048
//! reader = "Virtual PCD"           # pcsc: reader name (substring)
//! atr_allowlist = ["3B8F80..."]    # pcsc: ATRs (hex) that may be touched
//! command = ["my-sks", "--stdio"]  # shim: program and arguments
//! url = "http://127.0.0.1:8080/"   # issuer: the invocation URL
//!
//! [features]
//! declared = ["privacy", "kmk"]    # optional features the target implements
//! algorithms = []                  # algorithm URIs to add to supportedAlgorithms
//! disabled_algorithms = []         # algorithm URIs to treat as unsupported
//!
//! [disabled]                       # case id (or prefix ending in '.') = reason
//! "card.user.rsa" = "RSA keygen too slow on this card"
//!
//! [expected_failures]              # known bugs: fail -> expected-failure, pass -> unexpected-pass
//! "card.mac.close.wrong-mac" = "firmware 1.2 bug #12"
//!
//! [known_divergences]              # deliberate deviations: fail -> known-divergence
//! "card.session.lifetime.expired" = "no trusted clock"
//!
//! [issuer]                         # issuer targets (transport = "http") only
//! device_key = "device.key.pem"    # the harness card's device key (PKCS#8 PEM); default:
//! device_chain = "device.chain.pem"#   the airtight test device (the reference issuer trusts it)
//! pins = ["4739", "8261"]          # PINs the harness's user enters, in order
//! timeout_ms = 10000               # bound of every wait for the issuer
//! slow_client_ms = 6000            # how long slow-client cases dribble a request
//! max_body_bytes = 1048576         # the issuer's body limit (oversized cases send more)
//! trust_anchors = ["root.pem"]    # https:// issuers: the certificates trusted (no default roots)
//! ```
//!
//! Every reason must be a non-empty sentence; unknown keys are errors. Schema:
//! `spec/schemas/harness-target.schema.json` (for the parsed TOML as JSON). Examples:
//! `harness/targets/*.toml`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::target::{DeviceKind, TargetSpec};

/// Features the harness knows (declared in `[features] declared`).
pub const KNOWN_FEATURES: &[&str] = &[
    "privacy",
    "kmk",
    "rsa-kmk",
    "clock",
    "import-private-key",
    "import-symmetric-key",
    "extensions",
    "property-bags",
    "update-firmware",
    "resource-limits",
];

/// Where the reference card disagrees with the spec today: expected failures of the reference
/// configuration, so a fix shows up as an unexpected pass. Empty: the twelve differences the
/// harness found were resolved by making the spec name the Java reference's error codes.
pub const REFERENCE_EXPECTED_FAILURES: &[(&str, &str)] = &[];

/// The `[target]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `in-process`, `pcsc`, `shim` or `http`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// In-process device identity.
    #[serde(default)]
    pub device: Option<DeviceKind>,
    /// PC/SC reader name.
    #[serde(default)]
    pub reader: Option<String>,
    /// PC/SC ATR allowlist (hex).
    #[serde(default)]
    pub atr_allowlist: Vec<String>,
    /// Shim command.
    #[serde(default)]
    pub command: Vec<String>,
    /// Issuer URL.
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for TargetSection {
    fn default() -> Self {
        Self {
            name: None,
            transport: default_transport(),
            device: None,
            reader: None,
            atr_allowlist: Vec::new(),
            command: Vec::new(),
            url: None,
        }
    }
}

fn default_transport() -> String {
    "in-process".into()
}

/// The `[features]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSection {
    /// Declared optional features.
    #[serde(default)]
    pub declared: BTreeSet<String>,
    /// Extra algorithm URIs.
    #[serde(default)]
    pub algorithms: BTreeSet<String>,
    /// Algorithm URIs to treat as unsupported.
    #[serde(default)]
    pub disabled_algorithms: BTreeSet<String>,
}

/// A whole target configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Run destructive cases.
    #[serde(default)]
    pub destructive: bool,
    /// The target.
    #[serde(default)]
    pub target: TargetSection,
    /// Declared features and algorithms.
    #[serde(default)]
    pub features: FeatureSection,
    /// Disabled cases (id or prefix ending in `.`) with reasons.
    #[serde(default)]
    pub disabled: BTreeMap<String, String>,
    /// Expected failures with reasons.
    #[serde(default)]
    pub expected_failures: BTreeMap<String, String>,
    /// Known divergences with reasons.
    #[serde(default)]
    pub known_divergences: BTreeMap<String, String>,
    /// Issuer targets: the harness's card and user, and the bounds of its waits.
    #[serde(default)]
    pub issuer: crate::issuer::IssuerSection,
}

/// A configuration error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not valid TOML, or not the documented structure.
    #[error("configuration: {0}")]
    Parse(String),
    /// A rule of the structure is broken.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// True if `id` is named by `key`: equal, or `key` ends in `.` and prefixes `id`.
pub fn matches_id(key: &str, id: &str) -> bool {
    key == id || (key.ends_with('.') && id.starts_with(key))
}

fn lookup<'a>(map: &'a BTreeMap<String, String>, id: &str) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| matches_id(k, id))
        .map(|(_, v)| v.as_str())
}

impl TargetConfig {
    /// The in-process reference card, P-256 device, every optional feature of the reference
    /// declared.
    pub fn reference() -> Self {
        let mut c = Self::default();
        c.target.name = Some("airtight reference SKS (in-process)".into());
        c.target.transport = "in-process".into();
        c.target.device = Some(DeviceKind::P256);
        c.features.declared = [
            "privacy",
            "kmk",
            "rsa-kmk",
            "import-private-key",
            "import-symmetric-key",
            "extensions",
            "property-bags",
            "resource-limits",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        c.destructive = true;
        for (id, reason) in REFERENCE_EXPECTED_FAILURES {
            c.expected_failures
                .insert((*id).to_owned(), (*reason).to_owned());
        }
        c
    }

    /// Parses and validates TOML.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let c: Self = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks the rules the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (table, map) in [
            ("disabled", &self.disabled),
            ("expected_failures", &self.expected_failures),
            ("known_divergences", &self.known_divergences),
        ] {
            for (id, reason) in map {
                if reason.trim().is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "[{table}] \"{id}\" needs a written reason"
                    )));
                }
            }
        }
        for id in self.expected_failures.keys() {
            if self.known_divergences.contains_key(id) {
                return Err(ConfigError::Invalid(format!(
                    "\"{id}\" is both an expected failure and a known divergence"
                )));
            }
        }
        for f in &self.features.declared {
            if !KNOWN_FEATURES.contains(&f.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "unknown feature \"{f}\" (known: {})",
                    KNOWN_FEATURES.join(", ")
                )));
            }
        }
        match self.target.transport.as_str() {
            "in-process" | "apdu-loopback" | "shim" | "http" => {}
            "pcsc" => {
                if self.target.atr_allowlist.is_empty() {
                    return Err(ConfigError::Invalid(
                        "pcsc needs a non-empty atr_allowlist: the harness touches only listed cards"
                            .into(),
                    ));
                }
            }
            t => {
                return Err(ConfigError::Invalid(format!("unknown transport \"{t}\"")));
            }
        }
        if self.issuer.device_key.is_some() != self.issuer.device_chain.is_some() {
            return Err(ConfigError::Invalid(
                "[issuer] device_key and device_chain go together".into(),
            ));
        }
        if self.target.transport == "shim" && self.target.command.is_empty() {
            return Err(ConfigError::Invalid("shim needs a command".into()));
        }
        Ok(())
    }

    /// The card target this configuration names.
    pub fn card_spec(&self) -> Result<TargetSpec, ConfigError> {
        match self.target.transport.as_str() {
            "in-process" => Ok(TargetSpec::InProcess {
                device: self.target.device.unwrap_or_default(),
            }),
            "apdu-loopback" => Ok(TargetSpec::ApduLoopback {
                device: self.target.device.unwrap_or_default(),
            }),
            "pcsc" => Ok(TargetSpec::Pcsc {
                reader: self.target.reader.clone(),
                atr_allowlist: self.target.atr_allowlist.clone(),
            }),
            "shim" => Ok(TargetSpec::Shim {
                command: self.target.command.clone(),
            }),
            t => Err(ConfigError::Invalid(format!(
                "\"{t}\" is not a card transport"
            ))),
        }
    }

    /// The reason a case is disabled, if it is.
    pub fn disabled_reason(&self, id: &str) -> Option<&str> {
        lookup(&self.disabled, id)
    }

    /// The reason a case is expected to fail, if it is.
    pub fn expected_failure(&self, id: &str) -> Option<&str> {
        lookup(&self.expected_failures, id)
    }

    /// The reason a case is a known divergence, if it is.
    pub fn known_divergence(&self, id: &str) -> Option<&str> {
        lookup(&self.known_divergences, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_files_parse_and_the_reference_file_matches_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("targets");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("targets/") {
            let p = e.expect("entry").path();
            let text = std::fs::read_to_string(&p).expect("read");
            let c =
                TargetConfig::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if p.ends_with("reference-in-process.toml") {
                let r = TargetConfig::reference();
                assert_eq!(c.features, r.features);
                assert_eq!(
                    c.expected_failures.keys().collect::<Vec<_>>(),
                    r.expected_failures.keys().collect::<Vec<_>>()
                );
            }
            n += 1;
        }
        assert!(n >= 3);
    }

    #[test]
    fn parses_the_documented_structure() {
        let c = TargetConfig::from_toml(
            r#"
destructive = true
[target]
name = "x"
transport = "in-process"
device = "rsa2048"
[features]
declared = ["privacy"]
[disabled]
"card.user." = "slow"
[known_divergences]
"card.session.lifetime.expired" = "no clock"
"#,
        )
        .expect("valid");
        assert!(c.destructive);
        assert_eq!(c.target.device, Some(DeviceKind::Rsa2048));
        assert_eq!(c.disabled_reason("card.user.sign.p256"), Some("slow"));
        assert_eq!(c.disabled_reason("card.userx"), None);
        assert_eq!(
            c.known_divergence("card.session.lifetime.expired"),
            Some("no clock")
        );
    }

    #[test]
    fn rejects_missing_reasons_unknown_fields_and_unlisted_readers() {
        assert!(TargetConfig::from_toml("[disabled]\n\"a\" = \"\"\n").is_err());
        assert!(TargetConfig::from_toml("bogus = 1\n").is_err());
        assert!(TargetConfig::from_toml("[target]\ntransport = \"pcsc\"\n").is_err());
        assert!(TargetConfig::from_toml("[features]\ndeclared = [\"teleport\"]\n").is_err());
        assert!(TargetConfig::from_toml("").is_ok());
        assert!(!TargetConfig::from_toml("").expect("empty").destructive);
    }
}
