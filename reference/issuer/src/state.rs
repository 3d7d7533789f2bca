//! The serializable state of one issuance session (stored between HTTP requests, e.g. in
//! SQLite, so that a session survives an issuer restart).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::IssuerError;

/// Where a session stands: which middleware message it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Sent InvocationRequest.
    AwaitInvocationResponse,
    /// Sent ProvisioningInitializationRequest.
    AwaitInitializationResponse,
    /// Sent CredentialDiscoveryRequest.
    AwaitDiscoveryResponse,
    /// Sent KeyCreationRequest.
    AwaitKeyCreationResponse,
    /// Sent ProvisioningFinalizationRequest.
    AwaitFinalizationResponse,
    /// Close attestation verified.
    Done,
    /// An error ended the session.
    Failed,
}

impl Phase {
    /// The qualifier of the message this phase expects.
    pub fn expected(self) -> &'static str {
        match self {
            Phase::AwaitInvocationResponse => "InvocationResponse",
            Phase::AwaitInitializationResponse => "ProvisioningInitializationResponse",
            Phase::AwaitDiscoveryResponse => "CredentialDiscoveryResponse",
            Phase::AwaitKeyCreationResponse => "KeyCreationResponse",
            Phase::AwaitFinalizationResponse => "ProvisioningFinalizationResponse",
            Phase::Done => "nothing (done)",
            Phase::Failed => "nothing (failed)",
        }
    }
}

/// Secrets of the session, zeroized on drop.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// PKCS#8 of the server ephemeral key, until the session key is derived.
    pub ephemeral_pkcs8: Vec<u8>,
    /// The session key, once derived.
    pub session_key: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// A key the issuer asked for, with what it expects back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedKey {
    /// Key id.
    pub id: String,
    /// Key generation URI.
    pub key_algorithm: String,
    /// `keyParameters` (RSA exponent).
    pub key_parameters: Option<Vec<u8>>,
    /// The `createKeyEntry` MAC (covered by the key attestation).
    pub create_mac: Vec<u8>,
    /// The counter value of the key attestation ([CRY-CTR-005]).
    pub attestation_counter: u16,
    /// appUsage name.
    pub app_usage: String,
    /// `friendlyName`.
    pub friendly_name: Option<String>,
    /// The generated public key (SPKI DER), once attested.
    pub public_key_spki: Option<Vec<u8>>,
}

/// A credential found by discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    /// The lookup specifier id.
    pub lookup_id: String,
    /// Session ids of the session that created the key.
    pub server_session_id: String,
    /// Its clientSessionId.
    pub client_session_id: String,
    /// Its certificate path, end entity first.
    pub certificate_path: Vec<Vec<u8>>,
    /// PIN blocked.
    pub locked: bool,
    /// SPKI of the key-management key that signed the lookup (it authorizes post-operations).
    pub kmk_spki: Vec<u8>,
}

/// A certificate path delivered for a key of this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// Key id.
    pub id: String,
    /// Certificate path, end entity first.
    pub certificate_path: Vec<Vec<u8>>,
    /// True when a private key was imported (the certificate certifies that key).
    pub imported_private_key: bool,
    /// True when a symmetric key was imported.
    pub imported_symmetric_key: bool,
}

/// A post-operation on a key of an earlier session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostOp {
    /// `update`, `clone`, `unlock` or `delete`.
    pub kind: String,
    /// The new key (update/clone).
    pub new_key: Option<String>,
    /// SHA-256 of the target's end-entity certificate.
    pub target_finger_print: Vec<u8>,
}

/// Everything the engine remembers about one session. Serialize it with serde (e.g.
/// [`SessionState::to_json`]) between requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// Phase.
    pub phase: Phase,
    /// Why the session failed.
    pub failure: Option<String>,
    /// `manage` or `unlock`.
    pub action: String,
    /// Requested privacy mode.
    pub privacy_enabled: bool,
    /// Unix seconds at start.
    pub started_at: i64,
    /// Device ID enrolled for this session, if any ([KG2-IMP-003]).
    pub expected_device_id: Option<String>,
    /// Caller's label (e.g. user name) that goes into certificate subjects.
    pub subject_label: String,
    /// Capability URIs queried.
    pub capability_query: Vec<String>,
    /// The answers received (type, JSON of the answer).
    pub capabilities: Vec<(String, String)>,
    /// `serverTime` exactly as sent.
    pub server_time: Option<String>,
    /// serverTime in unix seconds.
    pub server_time_unix: i64,
    /// `sessionKeyLimit`.
    pub session_key_limit: u16,
    /// `sessionLifeTime`.
    pub session_life_time: u16,
    /// Server ephemeral key SPKI.
    pub server_ephemeral_spki: Vec<u8>,
    /// Key-management key SPKI.
    pub kmk_spki: Option<Vec<u8>>,
    /// `clientSessionId`.
    pub client_session_id: Option<String>,
    /// `clientTime` in unix seconds.
    pub client_time: Option<i64>,
    /// Device certificate path (E2ES).
    pub device_certificate_path: Vec<Vec<u8>>,
    /// Long device ID of the attested device (E2ES).
    pub device_id: Option<String>,
    /// Next MAC counter value.
    pub counter: u32,
    /// Session-key uses the card will have spent so far ([CRY-LIM-003]).
    pub key_uses: u32,
    /// Lookup specifier ids sent.
    pub lookup_ids: Vec<String>,
    /// SPKI of the key that signed each lookup.
    pub lookup_kmks: Vec<Vec<u8>>,
    /// Credentials discovered.
    pub discovered: Vec<Discovered>,
    /// Keys requested, in SKS execution order.
    pub keys: Vec<PlannedKey>,
    /// Certificates delivered.
    pub issued: Vec<IssuedCertificate>,
    /// Post-operations sent.
    pub post_ops: Vec<PostOp>,
    /// Counter of the expected close attestation.
    pub close_attestation_counter: Option<u16>,
    /// Close nonce.
    pub close_nonce: Vec<u8>,
    /// Secrets.
    pub secrets: Secrets,
}

impl SessionState {
    /// JSON form for storage.
    pub fn to_json(&self) -> Result<String, IssuerError> {
        serde_json::to_string(self).map_err(|e| IssuerError::State(e.to_string()))
    }

    /// From the JSON form.
    pub fn from_json(text: &str) -> Result<Self, IssuerError> {
        serde_json::from_str(text).map_err(|e| IssuerError::State(e.to_string()))
    }

    /// True once the close attestation verified.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// True once an error ended the session.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }
}
