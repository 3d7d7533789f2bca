//! The one error type of strict message decoding.

use thiserror::Error;

/// What rule a field broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The bytes are not JSON (or not UTF-8, or nested too deeply).
    Syntax,
    /// An object holds the same property twice.
    DuplicateProperty,
    /// A property that the decoder does not read (the Java decoders reject unread properties).
    UnknownProperty,
    /// A required property is absent.
    Missing,
    /// The JSON type is wrong (e.g. a number where a string is required).
    WrongType,
    /// An id is not 1-32 characters in 0x21-0x7E.
    BadId,
    /// A string, byte string or array has a length outside the allowed range.
    BadLength,
    /// Not strict unpadded Base64URL.
    BadBase64,
    /// A name that is not a value of the enumeration.
    BadEnum,
    /// A list that must be strictly ascending is not.
    NotSorted,
    /// `@context` is not the KeyGen2 namespace.
    WrongContext,
    /// `@qualifier` is not the expected (or any known) message name.
    WrongQualifier,
    /// A date-time that does not have the required ISO 8601 form.
    BadTime,
    /// A number outside its range.
    OutOfRange,
    /// Properties that are individually valid but contradict each other.
    Conflict,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A message (or part of one) that breaks a decoding rule; names the JSON path of the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} at `{path}`: {detail}")]
pub struct DecodeError {
    path: String,
    kind: ErrorKind,
    detail: String,
}

impl DecodeError {
    /// A new error.
    pub fn new(path: impl Into<String>, kind: ErrorKind, detail: impl Into<String>) -> Self {
        DecodeError {
            path: path.into(),
            kind,
            detail: detail.into(),
        }
    }

    /// The JSON path of the offending field, e.g. `pinPolicySpecifiers[0].keyEntrySpecifiers[1].mac`
    /// (empty for the message itself).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The broken rule.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A human-readable explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}
