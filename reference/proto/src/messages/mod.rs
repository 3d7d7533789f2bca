//! The ten KeyGen2 messages (facts §1.3) as typed values: strict decoding from JSON and
//! encoding in the Java encoders' property order.
//!
//! Decoding is strict like the Java decoders (facts §1.4): every property must be read,
//! required properties must be present with the right JSON type, ids, MACs, Base64URL, enums,
//! times and ranges are checked, and every error names the JSON path of the field
//! ([`DecodeError::path`]) and the rule ([`DecodeError::kind`]).
//!
//! Optional properties keep whether they were present (`Option`), so that
//! `encode(decode(m))` gives back exactly the properties of `m`.

mod credential_discovery;
mod error;
mod finalization;
mod initialization;
mod invocation;
pub mod jcs;
mod key_creation;
mod pretty;
pub(crate) mod reader;
mod writer;

pub use credential_discovery::*;
pub use error::{DecodeError, ErrorKind};
pub use finalization::*;
pub use initialization::*;
pub use invocation::*;
pub use key_creation::*;

use reader::{Obj, Val};
use serde_json::{Map, Value};

/// The KeyGen2 `@context`.
pub const CONTEXT: &str = "https://webpki.github.io/keygen2#20190318";

/// One KeyGen2 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Step 1.
    InvocationRequest(InvocationRequest),
    /// Step 2.
    InvocationResponse(InvocationResponse),
    /// Step 3.
    ProvisioningInitializationRequest(ProvisioningInitializationRequest),
    /// Step 4.
    ProvisioningInitializationResponse(ProvisioningInitializationResponse),
    /// Optional key discovery, request.
    CredentialDiscoveryRequest(CredentialDiscoveryRequest),
    /// Optional key discovery, response.
    CredentialDiscoveryResponse(CredentialDiscoveryResponse),
    /// Step 5.
    KeyCreationRequest(KeyCreationRequest),
    /// Step 6.
    KeyCreationResponse(KeyCreationResponse),
    /// Step 7.
    ProvisioningFinalizationRequest(ProvisioningFinalizationRequest),
    /// Step 8.
    ProvisioningFinalizationResponse(ProvisioningFinalizationResponse),
}

pub(crate) mod sealed {
    use super::{DecodeError, Obj};
    use serde_json::{Map, Value};

    /// The per-message body reader and writer (not nameable outside the crate).
    pub trait Body: Sized {
        /// Reads the properties after `@context`/`@qualifier`; the caller checks leftovers.
        fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError>;
        /// Writes the properties after `@context`/`@qualifier`.
        fn write_body(&self, m: &mut Map<String, Value>);
    }
}

use sealed::Body;

/// Implemented by each of the ten message structs.
pub trait KeyGen2Message: Body {
    /// The `@qualifier`.
    const QUALIFIER: &'static str;

    /// Strictly decodes this message from JSON bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_value(&reader::parse_json(bytes)?)
    }

    /// Strictly decodes this message from a JSON value.
    fn from_value(value: &Value) -> Result<Self, DecodeError> {
        let mut o = root(value)?;
        read_context(&mut o)?;
        let q = read_qualifier(&mut o)?;
        if q != Self::QUALIFIER {
            return Err(DecodeError::new(
                "@qualifier",
                ErrorKind::WrongQualifier,
                format!("expected {}, found {q:?}", Self::QUALIFIER),
            ));
        }
        let m = Self::read_body(&mut o)?;
        o.finish()?;
        Ok(m)
    }

    /// The JSON value, properties in the Java encoders' order.
    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("@context".into(), Value::String(CONTEXT.into()));
        m.insert("@qualifier".into(), Value::String(Self::QUALIFIER.into()));
        self.write_body(&mut m);
        Value::Object(m)
    }

    /// Compact JSON bytes.
    fn to_bytes(&self) -> Vec<u8> {
        // Sized for a typical message, so the writer does not grow it from 128 bytes.
        let mut out = Vec::with_capacity(2048);
        match serde_json::to_writer(&mut out, &self.encode()) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }

    /// The Java `PRETTY_PRINT` bytes (what the recorded samples hold).
    fn to_java_pretty(&self) -> Vec<u8> {
        pretty::java_pretty(&self.encode()).into_bytes()
    }
}

fn root(value: &Value) -> Result<Obj<'_>, DecodeError> {
    Val { v: value, path: "" }.object()
}

fn read_context(o: &mut Obj<'_>) -> Result<(), DecodeError> {
    o.req("@context", |v| {
        if v.string()? == CONTEXT {
            Ok(())
        } else {
            Err(v.err(
                ErrorKind::WrongContext,
                format!("@context must be {CONTEXT}"),
            ))
        }
    })
}

fn read_qualifier(o: &mut Obj<'_>) -> Result<String, DecodeError> {
    o.req("@qualifier", |v| v.string().map(str::to_owned))
}

macro_rules! dispatch {
    ($($name:ident),+) => {
        impl Message {
            /// Strictly decodes any of the ten messages from JSON bytes.
            pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
                Self::from_value(&reader::parse_json(bytes)?)
            }

            /// Strictly decodes any of the ten messages from a JSON value, picked by
            /// `@context` plus `@qualifier`.
            pub fn from_value(value: &Value) -> Result<Message, DecodeError> {
                let mut o = root(value)?;
                read_context(&mut o)?;
                let q = read_qualifier(&mut o)?;
                let m = match q.as_str() {
                    $(<$name as KeyGen2Message>::QUALIFIER => Message::$name($name::read_body(&mut o)?),)+
                    _ => {
                        return Err(DecodeError::new(
                            "@qualifier",
                            ErrorKind::WrongQualifier,
                            format!("unknown message {q:?}"),
                        ));
                    }
                };
                o.finish()?;
                Ok(m)
            }

            /// `serverSessionId` (every message has one).
            pub fn server_session_id(&self) -> &str {
                match self { $(Message::$name(m) => &m.server_session_id,)+ }
            }

            /// The `@qualifier`.
            pub fn qualifier(&self) -> &'static str {
                match self { $(Message::$name(_) => $name::QUALIFIER,)+ }
            }

            /// The JSON value, properties in the Java encoders' order.
            pub fn encode(&self) -> Value {
                match self { $(Message::$name(m) => m.encode(),)+ }
            }

            /// Compact JSON bytes.
            pub fn to_bytes(&self) -> Vec<u8> {
                match self { $(Message::$name(m) => m.to_bytes(),)+ }
            }

            /// The Java `PRETTY_PRINT` bytes.
            pub fn to_java_pretty(&self) -> Vec<u8> {
                match self { $(Message::$name(m) => m.to_java_pretty(),)+ }
            }
        }

        $(impl From<$name> for Message {
            fn from(m: $name) -> Message { Message::$name(m) }
        })+
    };
}

dispatch!(
    InvocationRequest,
    InvocationResponse,
    ProvisioningInitializationRequest,
    ProvisioningInitializationResponse,
    CredentialDiscoveryRequest,
    CredentialDiscoveryResponse,
    KeyCreationRequest,
    KeyCreationResponse,
    ProvisioningFinalizationRequest,
    ProvisioningFinalizationResponse
);

impl Message {
    /// `clientSessionId`, for the messages that carry one (all but the Invocation pair and
    /// `ProvisioningInitializationRequest`).
    pub fn client_session_id(&self) -> Option<&str> {
        match self {
            Message::InvocationRequest(_)
            | Message::InvocationResponse(_)
            | Message::ProvisioningInitializationRequest(_) => None,
            Message::ProvisioningInitializationResponse(m) => Some(&m.client_session_id),
            Message::CredentialDiscoveryRequest(m) => Some(&m.client_session_id),
            Message::CredentialDiscoveryResponse(m) => Some(&m.client_session_id),
            Message::KeyCreationRequest(m) => Some(&m.client_session_id),
            Message::KeyCreationResponse(m) => Some(&m.client_session_id),
            Message::ProvisioningFinalizationRequest(m) => Some(&m.client_session_id),
            Message::ProvisioningFinalizationResponse(m) => Some(&m.client_session_id),
        }
    }
}
