//! [`ClientError`]: what failed, in which issuer message, and whether the SKS session was
//! aborted.

use airtight_proto::messages::DecodeError;
use airtight_proto::sks::{SksError, SksErrorCode, SksMethod};
use thiserror::Error;

use crate::pin::PinProblem;

/// What went wrong while processing one issuer message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Failure {
    /// The issuer's bytes are not a valid KeyGen2 message ([KG2-ENC-004] and friends).
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A message that is not the expected next one ([KG2-FLW-001]).
    #[error("out-of-order message: expected {expected}, got {got}")]
    OutOfOrder {
        /// What the engine expected.
        expected: &'static str,
        /// The `@qualifier` received.
        got: &'static str,
    },
    /// A session id that does not match the session ([KG2-FLW-002]).
    #[error("{field} mismatch: expected {expected:?}, got {got:?}")]
    SessionId {
        /// `serverSessionId` or `clientSessionId`.
        field: &'static str,
        /// The id of the session.
        expected: String,
        /// The id in the message.
        got: String,
    },
    /// The issuer message breaks a protocol rule (the spec tag names it).
    #[error("[{rule}] {detail}")]
    Invalid {
        /// The spec tag of the broken rule.
        rule: &'static str,
        /// What exactly is wrong.
        detail: String,
    },
    /// An SKS call failed.
    #[error("SKS call {call} failed: {error}")]
    Sks {
        /// The failing method.
        call: SksMethod,
        /// The SKS error (code and message).
        error: SksError,
    },
    /// The SKS returned something unusable (e.g. a public key that does not parse).
    #[error("SKS call {call} returned an invalid result: {detail}")]
    BadSksResult {
        /// The method.
        call: SksMethod,
        /// What is wrong with its result.
        detail: String,
    },
    /// The issuer queried a client attribute that this middleware is not configured to
    /// disclose (an empty `values` list is not valid KeyGen2, [KG2-ENC-014]).
    #[error("client attribute {capability} is queried but not configured")]
    UnconfiguredAttribute {
        /// The queried URI.
        capability: String,
    },
    /// The user declined ([KG2-INV-005]).
    #[error("the user declined")]
    ConsentDeclined,
    /// The PIN source has no (more) PIN to give, or the user cancelled PIN entry.
    #[error("no PIN available for PIN policy {pin_policy:?} ({group})")]
    PinSourceExhausted {
        /// The PIN policy id.
        pin_policy: String,
        /// The PIN group (key ids or appUsage).
        group: String,
    },
    /// A collected PIN breaks its policy; it never reached the SKS ([KG2-KCQ-013]).
    #[error("PIN for PIN policy {pin_policy:?} rejected: {problem}")]
    PinRejected {
        /// The PIN policy id.
        pin_policy: String,
        /// The broken rule.
        problem: PinProblem,
    },
    /// The engine already finished the session.
    #[error("the session is already finished")]
    Finished,
    /// An earlier message failed; the session is dead ([KG2-FLW-006]).
    #[error("the session already failed")]
    AlreadyFailed,
}

impl Failure {
    pub(crate) fn invalid(rule: &'static str, detail: impl Into<String>) -> Self {
        Failure::Invalid {
            rule,
            detail: detail.into(),
        }
    }

    pub(crate) fn sks(call: SksMethod) -> impl FnOnce(SksError) -> Failure {
        move |error| Failure::Sks { call, error }
    }

    pub(crate) fn bad_result(call: SksMethod, detail: impl Into<String>) -> Self {
        Failure::BadSksResult {
            call,
            detail: detail.into(),
        }
    }
}

/// What happened to the SKS provisioning session after the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortStatus {
    /// No provisioning session was open (the failure came before `createProvisioningSession`
    /// or after a successful close).
    NoSession,
    /// `abortProvisioningSession` succeeded.
    Aborted,
    /// `abortProvisioningSession` itself failed (the SKS tears a failed session down on its
    /// own, so this is usually `ERROR_NO_SESSION`).
    AbortFailed(SksError),
}

/// A failed KeyGen2 step: the issuer message being processed, what failed, and the abort.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}: {failure} (session: {})", abort_text(.abort))]
pub struct ClientError {
    /// The `@qualifier` of the issuer message being processed (`"-"` before one was decoded).
    pub message: &'static str,
    /// What failed.
    pub failure: Failure,
    /// Whether the SKS session was aborted.
    pub abort: AbortStatus,
}

fn abort_text(a: &AbortStatus) -> String {
    match a {
        AbortStatus::NoSession => "none open".into(),
        AbortStatus::Aborted => "aborted".into(),
        // The card tears a session down itself after most failures ([SKS-TXN-002]): no
        // session left to abort is the expected end, not a second failure.
        AbortStatus::AbortFailed(e) if e.code() == SksErrorCode::NoSession => {
            "already torn down by the card".into()
        }
        AbortStatus::AbortFailed(e) => format!("abort failed: {e}"),
    }
}

impl ClientError {
    /// The failing SKS method and its error code, if an SKS call failed.
    pub fn sks_failure(&self) -> Option<(SksMethod, SksErrorCode)> {
        match &self.failure {
            Failure::Sks { call, error } => Some((*call, error.code())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod abort_text_tests {
    use super::*;

    #[test]
    fn a_session_the_card_already_tore_down_is_not_a_second_failure() {
        let gone = AbortStatus::AbortFailed(SksError::new(
            SksErrorCode::NoSession,
            "No such provisioning session: 2",
        ));
        assert_eq!(abort_text(&gone), "already torn down by the card");
        let other = AbortStatus::AbortFailed(SksError::new(SksErrorCode::Storage, "disk full"));
        assert!(
            abort_text(&other).starts_with("abort failed: "),
            "{}",
            abort_text(&other)
        );
    }
}
