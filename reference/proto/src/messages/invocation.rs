//! `InvocationRequest` and `InvocationResponse`.

use serde_json::{Map, Value};

use super::reader::{Obj, Val};
use super::writer::{MapExt, obj};
use super::{DecodeError, ErrorKind, KeyGen2Message};

/// `action` of an `InvocationRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create (and optionally manage) keys.
    Manage,
    /// Unlock keys only; the client must refuse KeyCreation.
    Unlock,
}

impl Action {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Manage => "manage",
            Action::Unlock => "unlock",
        }
    }
}

/// A `targetKeyContainers` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyContainer {
    /// `software`.
    Software,
    /// `embedded`.
    Embedded,
    /// `uicc`.
    Uicc,
    /// `sdcard`.
    Sdcard,
    /// `external`.
    External,
}

impl KeyContainer {
    /// Every value.
    pub const ALL: &'static [KeyContainer] = &[
        KeyContainer::Software,
        KeyContainer::Embedded,
        KeyContainer::Uicc,
        KeyContainer::Sdcard,
        KeyContainer::External,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyContainer::Software => "software",
            KeyContainer::Embedded => "embedded",
            KeyContainer::Uicc => "uicc",
            KeyContainer::Sdcard => "sdcard",
            KeyContainer::External => "external",
        }
    }

    /// From the JSON name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// Step 1: the issuer states its intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRequest {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `action`.
    pub action: Action,
    /// `privacyEnabled` as written (absent means false).
    pub privacy_enabled: Option<bool>,
    /// `preferredLanguages` (ISO 639-1); empty = absent.
    pub preferred_languages: Vec<String>,
    /// `targetKeyContainers`; empty = absent.
    pub target_key_containers: Vec<KeyContainer>,
    /// `clientCapabilityQuery` URIs; empty = absent.
    pub client_capability_query: Vec<String>,
}

impl InvocationRequest {
    /// Whether privacy mode is requested (default false).
    pub fn privacy_enabled(&self) -> bool {
        self.privacy_enabled.unwrap_or(false)
    }
}

impl KeyGen2Message for InvocationRequest {
    const QUALIFIER: &'static str = "InvocationRequest";
}

impl super::sealed::Body for InvocationRequest {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(InvocationRequest {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            action: o.req("action", |v| match v.string()? {
                "manage" => Ok(Action::Manage),
                "unlock" => Ok(Action::Unlock),
                _ => Err(v.err(ErrorKind::BadEnum, "action must be manage or unlock")),
            })?,
            privacy_enabled: o.opt("privacyEnabled", |v| v.bool())?,
            preferred_languages: o
                .opt("preferredLanguages", |v| v.each(|e| e.text(35)))?
                .unwrap_or_default(),
            target_key_containers: o
                .opt("targetKeyContainers", |v| {
                    let mut seen = Vec::new();
                    v.each(|e| {
                        let c = KeyContainer::from_name(e.string()?)
                            .ok_or_else(|| e.err(ErrorKind::BadEnum, "unknown key container"))?;
                        if seen.contains(&c) {
                            return Err(e.err(ErrorKind::Conflict, "duplicate key container"));
                        }
                        seen.push(c);
                        Ok(c)
                    })
                })?
                .unwrap_or_default(),
            client_capability_query: o
                .opt("clientCapabilityQuery", |v| {
                    let mut seen: Vec<String> = Vec::new();
                    v.each(|e| {
                        let u = e.uri()?;
                        if seen.contains(&u) {
                            return Err(e.err(ErrorKind::Conflict, "duplicate capability URI"));
                        }
                        seen.push(u.clone());
                        Ok(u)
                    })
                })?
                .unwrap_or_default(),
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("action", self.action.as_str());
        if let Some(p) = self.privacy_enabled {
            m.flag("privacyEnabled", p);
        }
        if !self.preferred_languages.is_empty() {
            m.strs("preferredLanguages", &self.preferred_languages);
        }
        if !self.target_key_containers.is_empty() {
            let v: Vec<String> = self
                .target_key_containers
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect();
            m.strs("targetKeyContainers", &v);
        }
        if !self.client_capability_query.is_empty() {
            m.strs("clientCapabilityQuery", &self.client_capability_query);
        }
    }
}

/// `imageAttributes` of a logotype capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAttributes {
    /// `mimeType`.
    pub mime_type: String,
    /// `width` in pixels.
    pub width: u32,
    /// `height` in pixels.
    pub height: u32,
}

/// The answer to one queried capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityValue {
    /// `supported` (features and algorithms).
    Supported(bool),
    /// `values` (client attributes).
    Values(Vec<String>),
    /// `imageAttributes` (logotype preferences).
    ImageAttributes(ImageAttributes),
}

/// One `clientCapabilities` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCapability {
    /// `type`: the queried URI.
    pub capability_type: String,
    /// The answer.
    pub value: CapabilityValue,
}

/// Step 2: the middleware accepts and answers the capability query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationResponse {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientCapabilities`; empty = absent.
    pub client_capabilities: Vec<ClientCapability>,
}

fn read_capability(o: &mut Obj<'_>) -> Result<ClientCapability, DecodeError> {
    let capability_type = o.req("type", |v| v.uri())?;
    let n = ["supported", "values", "imageAttributes"]
        .iter()
        .filter(|k| o.has(k))
        .count();
    if n != 1 {
        return Err(DecodeError::new(
            o.path(),
            if n == 0 {
                ErrorKind::Missing
            } else {
                ErrorKind::Conflict
            },
            "exactly one of supported, values, imageAttributes",
        ));
    }
    let value = if let Some(b) = o.opt("supported", |v| v.bool())? {
        CapabilityValue::Supported(b)
    } else if let Some(vs) = o.opt("values", |v| v.each(|e| e.string().map(str::to_owned)))? {
        CapabilityValue::Values(vs)
    } else {
        CapabilityValue::ImageAttributes(o.req_obj("imageAttributes", |a| {
            let dim = |v: Val<'_, '_>| v.int(1, i64::from(i32::MAX)).map(|x| x as u32);
            Ok(ImageAttributes {
                mime_type: a.req("mimeType", |v| v.text(128))?,
                width: a.req("width", dim)?,
                height: a.req("height", dim)?,
            })
        })?)
    };
    Ok(ClientCapability {
        capability_type,
        value,
    })
}

impl KeyGen2Message for InvocationResponse {
    const QUALIFIER: &'static str = "InvocationResponse";
}

impl super::sealed::Body for InvocationResponse {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(InvocationResponse {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_capabilities: o
                .opt("clientCapabilities", |v| v.objects(read_capability))?
                .unwrap_or_default(),
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        if !self.client_capabilities.is_empty() {
            m.objs("clientCapabilities", &self.client_capabilities, |c, m| {
                m.s("type", &c.capability_type);
                match &c.value {
                    CapabilityValue::Supported(b) => m.flag("supported", *b),
                    CapabilityValue::Values(v) => m.strs("values", v),
                    CapabilityValue::ImageAttributes(a) => m.put(
                        "imageAttributes",
                        obj(|m| {
                            m.s("mimeType", &a.mime_type);
                            m.n("width", i64::from(a.width));
                            m.n("height", i64::from(a.height));
                        }),
                    ),
                }
            });
        }
    }
}
