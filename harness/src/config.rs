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
//! [expected_failures]              # known bugs (exact case ids): fail -> expected-failure,
//! "card.mac.close.wrong-mac" = "firmware 1.2 bug #12"            # pass -> unexpected-pass
//! "card.keys.x" = { actual = "ERROR_ACCESS", reason = "bug #13" } # pinned: only this outcome
//!
//! [known_divergences]              # deliberate deviations (exact case ids), each pinning the
//! "card.session.lifetime.expired" = { actual = "accepted", reason = "no trusted clock" }
//!                                  # actual outcome it excuses; another failure stays a failure
//!
//! [policy]                         # what fails the run beyond MUST failures (default: nothing)
//! should_fails_run = false         # a failed SHOULD case fails the run (else: a warning)
//! device_weakness_fails_run = false# a weak device (RSA < 2048, SHA-1, certificate out of its
//!                                  #   validity) fails the run (else: a warning)
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

/// The device identity of an in-process reference card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The P-256 test device.
    #[default]
    P256,
    /// The RSA-2048 test device.
    Rsa2048,
}

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

/// A failure the configuration excuses with the outcome it pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    /// The actual outcome excused (the `actual` of the failure, e.g. `ERROR_ACCESS` or
    /// `accepted`, or its whole message when the case states no `actual`), exactly.
    pub actual: String,
    /// Why.
    pub reason: String,
}

/// An expected failure: a reason, or a reason with the pinned actual outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Excuse {
    /// Any failure of the case is expected.
    Reason(String),
    /// Only a failure with this actual outcome is excused.
    Pinned(Pinned),
}

impl Excuse {
    /// Why.
    pub fn reason(&self) -> &str {
        match self {
            Excuse::Reason(r) => r,
            Excuse::Pinned(p) => &p.reason,
        }
    }

    /// The pinned outcome, if any.
    pub fn actual(&self) -> Option<&str> {
        match self {
            Excuse::Reason(_) => None,
            Excuse::Pinned(p) => Some(&p.actual),
        }
    }
}

impl From<Pinned> for Excuse {
    fn from(p: Pinned) -> Self {
        Excuse::Pinned(p)
    }
}

/// The `[policy]` table: what fails the run beyond a failed MUST case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A failed SHOULD case fails the run (otherwise it is a warning).
    #[serde(default)]
    pub should_fails_run: bool,
    /// A device weakness (RSA key shorter than 2048 bits, SHA-1 signed device certificate,
    /// device certificate expired or not yet valid) fails the run (otherwise a warning).
    #[serde(default)]
    pub device_weakness_fails_run: bool,
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
    /// Expected failures (exact case ids) with reasons, optionally pinned.
    #[serde(default)]
    pub expected_failures: BTreeMap<String, Excuse>,
    /// Known divergences (exact case ids), each pinning the actual outcome it excuses.
    #[serde(default)]
    pub known_divergences: BTreeMap<String, Pinned>,
    /// What fails the run beyond failed MUST cases.
    #[serde(default)]
    pub policy: Policy,
    /// Issuer targets: the harness's card and user, and the bounds of its waits.
    #[serde(default)]
    pub issuer: IssuerSection,
}

/// The `[issuer]` table of a target configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSection {
    /// PEM file of the device key of the harness's card (PKCS#8). Default: the airtight test
    /// device (which the reference issuer trusts).
    #[serde(default)]
    pub device_key: Option<String>,
    /// PEM file of that device's certificate path (device certificate first).
    #[serde(default)]
    pub device_chain: Option<String>,
    /// PINs the harness's user enters when asked, in order.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Bound of every wait for the issuer, milliseconds (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// How long slow-client cases dribble their request, milliseconds (default: a little more
    /// than the issuer's header timeout; 6000).
    #[serde(default)]
    pub slow_client_ms: Option<u64>,
    /// The issuer's body limit in bytes (default 1 MiB): oversized cases send more.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// PEM files of the certificates trusted for an `https://` issuer (there are no default
    /// roots).
    #[serde(default)]
    pub trust_anchors: Vec<String>,
    /// Trust anchors given in code (DER), e.g. by the reference starter; not in TOML.
    #[serde(skip)]
    pub trust_anchor_der: Vec<Vec<u8>>,
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

/// True if `id` is named by the `[disabled]` key `key`: equal, or `key` ends in `.` and
/// prefixes `id`. (Excuses name one case exactly.)
pub fn matches_id(key: &str, id: &str) -> bool {
    key == id || (key.ends_with('.') && id.starts_with(key))
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
        // Our own card meets every SHOULD rule and has no weak device: hold it to that.
        c.policy = Policy {
            should_fails_run: true,
            device_weakness_fails_run: true,
        };
        for (id, reason) in REFERENCE_EXPECTED_FAILURES {
            c.expected_failures
                .insert((*id).to_owned(), Excuse::Reason((*reason).to_owned()));
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
        let reasons = self
            .disabled
            .iter()
            .map(|(id, r)| ("disabled", id, r.as_str()))
            .chain(
                self.expected_failures
                    .iter()
                    .map(|(id, e)| ("expected_failures", id, e.reason())),
            )
            .chain(
                self.known_divergences
                    .iter()
                    .map(|(id, p)| ("known_divergences", id, p.reason.as_str())),
            );
        for (table, id, reason) in reasons {
            if reason.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "[{table}] \"{id}\" needs a written reason"
                )));
            }
            if table != "disabled" && id.ends_with('.') {
                return Err(ConfigError::Invalid(format!(
                    "[{table}] \"{id}\": an excuse names one case exactly (prefixes only \
                     disable cases, in [disabled])"
                )));
            }
        }
        for (id, p) in &self.known_divergences {
            if p.actual.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "[known_divergences] \"{id}\" needs the actual outcome it excuses"
                )));
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
        if self.target.transport == "pcsc" && self.destructive && self.target.reader.is_none() {
            return Err(ConfigError::Invalid(
                "destructive = true on a pcsc target needs the exact reader name in [target] \
                 reader: consent is for one reader, not for whichever comes first"
                    .into(),
            ));
        }
        if self.target.transport == "shim" && self.target.command.is_empty() {
            return Err(ConfigError::Invalid("shim needs a command".into()));
        }
        Ok(())
    }

    /// The reason a case is disabled, if it is (by its id or a prefix ending in `.`).
    pub fn disabled_reason(&self, id: &str) -> Option<&str> {
        self.disabled
            .iter()
            .find(|(k, _)| matches_id(k, id))
            .map(|(_, v)| v.as_str())
    }

    /// The reason a case is expected to fail, if it is (exact id).
    pub fn expected_failure(&self, id: &str) -> Option<&str> {
        self.expected_failures.get(id).map(Excuse::reason)
    }

    /// The reason a case is a known divergence, if it is (exact id).
    pub fn known_divergence(&self, id: &str) -> Option<&str> {
        self.known_divergences.get(id).map(|p| p.reason.as_str())
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
"card.session.lifetime.expired" = { actual = "accepted", reason = "no clock" }
[expected_failures]
"card.a" = "bug"
"card.b" = { actual = "ERROR_ACCESS", reason = "bug 2" }
[policy]
should_fails_run = true
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
        assert_eq!(c.expected_failures["card.a"].actual(), None);
        assert_eq!(c.expected_failures["card.b"].actual(), Some("ERROR_ACCESS"));
        assert!(c.policy.should_fails_run && !c.policy.device_weakness_fails_run);
    }

    #[test]
    fn excuses_name_one_case_and_divergences_pin_their_outcome() {
        // The old unpinned form of a divergence is refused.
        assert!(TargetConfig::from_toml("[known_divergences]\n\"card.x\" = \"r\"\n").is_err());
        assert!(
            TargetConfig::from_toml(
                "[known_divergences]\n\"card.\" = { actual = \"a\", reason = \"r\" }\n"
            )
            .is_err()
        );
        assert!(TargetConfig::from_toml("[expected_failures]\n\"card.\" = \"r\"\n").is_err());
        assert!(
            TargetConfig::from_toml(
                "[known_divergences]\n\"card.x\" = { actual = \"\", reason = \"r\" }\n"
            )
            .is_err()
        );
        assert!(
            TargetConfig::from_toml(
                "[expected_failures]\n\"card.x\" = { actual = \"a\", reason = \"r\", x = 1 }\n"
            )
            .is_err()
        );
        assert!(TargetConfig::from_toml("[disabled]\n\"card.\" = \"r\"\n").is_ok());
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
