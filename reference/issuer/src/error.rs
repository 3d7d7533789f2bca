//! The issuer's errors: one variant per broken rule, each naming the rule (spec tag) it enforces.

use airtight_proto::messages::DecodeError;
use airtight_proto::session1::Session1Error;
use thiserror::Error;

/// Why the issuer refused a middleware message (or could not build its own). Any error marks the
/// session failed: the server redirects to its error page and records no issuance.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IssuerError {
    /// The HTTP body exceeds the configured limit (checked before parsing).
    #[error("[KG2-IMP-009] body of {size} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// Received size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The body is not a valid KeyGen2 message.
    #[error("[KG2-ENC-004] malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// The message is not the one expected in this state (order, replay, repetition).
    #[error("[KG2-FLW-001] expected {expected}, received {received}")]
    UnexpectedMessage {
        /// What the state expects.
        expected: &'static str,
        /// The `@qualifier` received.
        received: String,
    },
    /// The session is finished (done or failed) and accepts nothing more.
    #[error("[KG2-ISS-006] session is {0} and accepts no further message")]
    SessionClosed(&'static str),
    /// `serverSessionId` differs from this session's (e.g. a response from another session).
    #[error("[KG2-FLW-002] serverSessionId {received:?} is not this session's")]
    ServerSessionIdMismatch {
        /// The received id.
        received: String,
    },
    /// `clientSessionId` differs from the one of the ProvisioningInitializationResponse.
    #[error("[KG2-FLW-002] clientSessionId {received:?} is not this session's")]
    ClientSessionIdMismatch {
        /// The received id.
        received: String,
    },
    /// The session lifetime is over.
    #[error("[KG2-IMP-006] session expired at {deadline} (now {now})")]
    SessionExpired {
        /// serverTime + sessionLifeTime.
        deadline: i64,
        /// Now.
        now: i64,
    },
    /// The capability answers do not match the query.
    #[error("[KG2-IRS-004] capability answer: {0}")]
    Capabilities(String),
    /// The echoed `serverTime` is not the exact string sent.
    #[error("[KG2-IMP-007] serverTime echo {received:?} differs from {sent:?}")]
    ServerTimeEcho {
        /// What we sent.
        sent: String,
        /// What came back.
        received: String,
    },
    /// `clientTime` is outside the configured window around `now`.
    #[error("[KG2-IMP-005] clientTime {client_time} is {skew} s from now (window {window} s)")]
    ClientTimeSkew {
        /// The client time (unix seconds).
        client_time: i64,
        /// |clientTime - now|.
        skew: i64,
        /// Configured window.
        window: i64,
    },
    /// `deviceId` is absent although E2ES was requested (a downgrade attempt).
    #[error("[KG2-IMP-001] deviceId missing although privacy mode was not requested")]
    DeviceIdMissing,
    /// `deviceId` is present although privacy mode was requested.
    #[error("[KG2-IMP-001] deviceId present although privacy mode was requested")]
    DeviceIdInPrivacyMode,
    /// The device certificate path does not validate against the configured anchors.
    #[error("[KG2-IMP-002] device certificate path: {0}")]
    DeviceUntrusted(String),
    /// The attested device is not the one enrolled for this session.
    #[error("[KG2-IMP-003] device ID {actual} differs from the enrolled {expected}")]
    DeviceIdMismatch {
        /// The enrolled ID.
        expected: String,
        /// The attested device's ID.
        actual: String,
    },
    /// `clientEphemeralKey` is not a valid point on the server ephemeral key's curve.
    #[error("[KG2-PIR-003] clientEphemeralKey: {0}")]
    ClientEphemeralKey(String),
    /// The session attestation (E2ES signature or privacy HMAC) does not verify.
    #[error("[CRY-ATT-005] session attestation does not verify")]
    SessionAttestation,
    /// The lookup results do not answer the lookup specifiers one by one.
    #[error("[KG2-CDR-001] lookup results: {0}")]
    LookupResults(String),
    /// A generated key is missing, repeated, unknown or out of order.
    #[error("[KG2-KCR-001] generatedKeys: {0}")]
    KeyOrder(String),
    /// A generated key does not have the requested type, size or exponent.
    #[error("[KG2-KCR-002] key {id}: {reason}")]
    KeyType {
        /// The key id.
        id: String,
        /// What differs.
        reason: String,
    },
    /// A key attestation does not verify (also: the public key was substituted).
    #[error("[KG2-KCR-003] key attestation of {id} does not verify")]
    KeyAttestation {
        /// The key id.
        id: String,
    },
    /// A certificate to issue does not carry the generated public key.
    #[error("[KG2-ISS-008] certificate of {id} does not carry its generated public key")]
    CertificateKeyMismatch {
        /// The key id.
        id: String,
    },
    /// The close attestation does not verify.
    #[error("[KG2-ISS-003] close attestation does not verify")]
    CloseAttestation,
    /// A MAC in a request adopted from a recording differs from the one this engine computes.
    #[error("[CRY-MAC-001] MAC of {what} in the adopted request differs from ours")]
    AdoptedMac {
        /// Which operation.
        what: String,
    },
    /// A request adopted from a recording is inconsistent with this session.
    #[error("adopted request: {0}")]
    Adopted(String),
    /// The issuance policy cannot be carried out (configuration error, not the peer's fault).
    #[error("policy: {0}")]
    Policy(String),
    /// The session would need more session-key uses than `sessionKeyLimit` allows.
    #[error(
        "[CRY-LIM-001] the session needs {needed} session-key uses, sessionKeyLimit is {limit}"
    )]
    SessionKeyLimit {
        /// Uses needed so far.
        needed: u32,
        /// The limit.
        limit: u16,
    },
    /// A session.1 computation failed.
    #[error("session.1: {0}")]
    Crypto(#[from] Session1Error),
    /// The CA could not issue a certificate.
    #[error("CA: {0}")]
    Ca(String),
    /// The stored session state is unusable.
    #[error("session state: {0}")]
    State(String),
}

impl IssuerError {
    /// The spec tag the error enforces, when it has one.
    pub fn rule(&self) -> Option<&'static str> {
        Some(match self {
            IssuerError::BodyTooLarge { .. } => "KG2-IMP-009",
            IssuerError::Decode(_) => "KG2-ENC-004",
            IssuerError::UnexpectedMessage { .. } => "KG2-FLW-001",
            IssuerError::SessionClosed(_) => "KG2-ISS-006",
            IssuerError::ServerSessionIdMismatch { .. }
            | IssuerError::ClientSessionIdMismatch { .. } => "KG2-FLW-002",
            IssuerError::SessionExpired { .. } => "KG2-IMP-006",
            IssuerError::Capabilities(_) => "KG2-IRS-004",
            IssuerError::ServerTimeEcho { .. } => "KG2-IMP-007",
            IssuerError::ClientTimeSkew { .. } => "KG2-IMP-005",
            IssuerError::DeviceIdMissing | IssuerError::DeviceIdInPrivacyMode => "KG2-IMP-001",
            IssuerError::DeviceUntrusted(_) => "KG2-IMP-002",
            IssuerError::DeviceIdMismatch { .. } => "KG2-IMP-003",
            IssuerError::ClientEphemeralKey(_) => "KG2-PIR-003",
            IssuerError::SessionAttestation => "CRY-ATT-005",
            IssuerError::LookupResults(_) => "KG2-CDR-001",
            IssuerError::KeyOrder(_) => "KG2-KCR-001",
            IssuerError::KeyType { .. } => "KG2-KCR-002",
            IssuerError::KeyAttestation { .. } => "KG2-KCR-003",
            IssuerError::CertificateKeyMismatch { .. } => "KG2-ISS-008",
            IssuerError::CloseAttestation => "KG2-ISS-003",
            _ => return None,
        })
    }
}
