//! `CredentialDiscoveryRequest` and `CredentialDiscoveryResponse`.

use serde_json::{Map, Value};

use super::initialization::{read_cert_path, read_jwk};
use super::reader::{Obj, Val};
use super::writer::{MapExt, obj};
use super::{DecodeError, ErrorKind, KeyGen2Message, jcs};
use crate::jwk::Jwk;
use crate::policy::{AppUsage, Grouping};
use crate::time::{IsoTime, TimeForm};

/// The JSF algorithm of a lookup signature: KeyGen2 requires SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsfAlgorithm {
    /// ECDSA P-256 SHA-256, raw r‖s.
    Es256,
    /// RSA PKCS#1 v1.5 SHA-256.
    Rs256,
}

impl JsfAlgorithm {
    /// The JSF name.
    pub fn as_str(self) -> &'static str {
        match self {
            JsfAlgorithm::Es256 => "ES256",
            JsfAlgorithm::Rs256 => "RS256",
        }
    }
}

/// A JSF signature object `{algorithm, publicKey, value}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsfSignature {
    /// `algorithm`.
    pub algorithm: JsfAlgorithm,
    /// `publicKey`: the key-management key.
    pub public_key: Jwk,
    /// `value`: the signature bytes (raw r‖s for ES256).
    pub value: Vec<u8>,
}

/// The `searchFilter` of a lookup specifier (at least one member).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchFilter {
    /// `fingerPrint`: SHA-256 of the end-entity certificate.
    pub finger_print: Option<Vec<u8>>,
    /// `issuerRegEx` (a Java regex).
    pub issuer_reg_ex: Option<String>,
    /// `serialNumber`: a decimal integer written as a JSON string.
    pub serial_number: Option<String>,
    /// `subjectRegEx`.
    pub subject_reg_ex: Option<String>,
    /// `emailRegEx`.
    pub email_reg_ex: Option<String>,
    /// `policyRules`; empty = absent.
    pub policy_rules: Vec<String>,
    /// `keyUsageRules`; empty = absent.
    pub key_usage_rules: Vec<String>,
    /// `extendedKeyUsageRules`; empty = absent.
    pub extended_key_usage_rules: Vec<String>,
    /// `issuedBefore`.
    pub issued_before: Option<IsoTime>,
    /// `issuedAfter`.
    pub issued_after: Option<IsoTime>,
    /// `grouping`.
    pub grouping: Option<Grouping>,
    /// `appUsage`.
    pub app_usage: Option<AppUsage>,
}

/// One `lookupSpecifiers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupSpecifier {
    /// `id`.
    pub id: String,
    /// `nonce` = SHA-256(L(clientSessionId) ‖ L(serverSessionId)).
    pub nonce: Vec<u8>,
    /// `searchFilter`.
    pub search_filter: Option<SearchFilter>,
    /// `signature`.
    pub signature: JsfSignature,
}

impl LookupSpecifier {
    /// The JSON object, with or without `signature.value`.
    fn to_json(&self, with_value: bool) -> Value {
        obj(|m| {
            m.s("id", &self.id);
            m.b("nonce", &self.nonce);
            if let Some(f) = &self.search_filter {
                m.put("searchFilter", write_filter(f));
            }
            m.put(
                "signature",
                obj(|s| {
                    s.s("algorithm", self.signature.algorithm.as_str());
                    s.put("publicKey", self.signature.public_key.to_json());
                    if with_value {
                        s.b("value", &self.signature.value);
                    }
                }),
            );
        })
    }

    /// The exact bytes the KMK signed (JSF): the JCS (RFC 8785) canonical form of this lookup
    /// object including `signature.algorithm` and `signature.publicKey` but without
    /// `signature.value`.
    ///
    /// The value of `signature.value` does not enter, so an issuer can fill in `id`, `nonce`,
    /// `searchFilter`, `signature.algorithm` and `signature.publicKey`, sign these bytes with the
    /// KMK, and then set `signature.value`; a proxy verifies `signature.value` over the same
    /// bytes. Decoding is lossless (strict Base64URL has one text per byte string, and strings
    /// are kept as written), so the bytes equal the JCS form of the received object.
    pub fn signed_data(&self) -> Vec<u8> {
        jcs::canonicalize(&self.to_json(false)).into_bytes()
    }
}

fn string_list(v: Val<'_, '_>) -> Result<Vec<String>, DecodeError> {
    v.each(|e| e.text(1000))
}

fn read_filter(o: &mut Obj<'_>) -> Result<SearchFilter, DecodeError> {
    let f = SearchFilter {
        finger_print: o.opt("fingerPrint", |v| v.bytes(32, 32))?,
        issuer_reg_ex: o.opt("issuerRegEx", |v| v.text(1000))?,
        serial_number: o.opt("serialNumber", |v| {
            let s = v.text(1000)?;
            if s.bytes().all(|b| b.is_ascii_digit()) {
                Ok(s)
            } else {
                Err(v.err(
                    ErrorKind::WrongType,
                    "serialNumber is a decimal integer string",
                ))
            }
        })?,
        subject_reg_ex: o.opt("subjectRegEx", |v| v.text(1000))?,
        email_reg_ex: o.opt("emailRegEx", |v| v.text(1000))?,
        policy_rules: o.opt("policyRules", string_list)?.unwrap_or_default(),
        key_usage_rules: o.opt("keyUsageRules", string_list)?.unwrap_or_default(),
        extended_key_usage_rules: o
            .opt("extendedKeyUsageRules", string_list)?
            .unwrap_or_default(),
        issued_before: o.opt("issuedBefore", |v| v.time(TimeForm::General))?,
        issued_after: o.opt("issuedAfter", |v| v.time(TimeForm::General))?,
        grouping: o.opt("grouping", |v| {
            Grouping::from_name(v.string()?).map_err(|e| v.err(ErrorKind::BadEnum, e.to_string()))
        })?,
        app_usage: o.opt("appUsage", |v| {
            AppUsage::from_name(v.string()?).map_err(|e| v.err(ErrorKind::BadEnum, e.to_string()))
        })?,
    };
    if f == SearchFilter::default() {
        return Err(DecodeError::new(
            o.path(),
            ErrorKind::BadLength,
            "an empty searchFilter is not allowed",
        ));
    }
    Ok(f)
}

fn write_filter(f: &SearchFilter) -> Value {
    obj(|m| {
        if let Some(x) = &f.finger_print {
            m.b("fingerPrint", x);
        }
        if let Some(x) = &f.issuer_reg_ex {
            m.s("issuerRegEx", x);
        }
        if let Some(x) = &f.serial_number {
            m.s("serialNumber", x);
        }
        if let Some(x) = &f.subject_reg_ex {
            m.s("subjectRegEx", x);
        }
        if let Some(x) = &f.email_reg_ex {
            m.s("emailRegEx", x);
        }
        if !f.policy_rules.is_empty() {
            m.strs("policyRules", &f.policy_rules);
        }
        if !f.key_usage_rules.is_empty() {
            m.strs("keyUsageRules", &f.key_usage_rules);
        }
        if !f.extended_key_usage_rules.is_empty() {
            m.strs("extendedKeyUsageRules", &f.extended_key_usage_rules);
        }
        if let Some(x) = &f.issued_before {
            m.s("issuedBefore", x.as_str());
        }
        if let Some(x) = &f.issued_after {
            m.s("issuedAfter", x.as_str());
        }
        if let Some(x) = f.grouping {
            m.s("grouping", x.as_str());
        }
        if let Some(x) = f.app_usage {
            m.s("appUsage", x.as_str());
        }
    })
}

fn read_signature(o: &mut Obj<'_>) -> Result<JsfSignature, DecodeError> {
    let algorithm = o.req("algorithm", |v| match v.string()? {
        "ES256" => Ok(JsfAlgorithm::Es256),
        "RS256" => Ok(JsfAlgorithm::Rs256),
        _ => Err(v.err(
            ErrorKind::BadEnum,
            "a lookup signature must be ES256 or RS256",
        )),
    })?;
    let public_key = o.req("publicKey", |v| {
        let k = read_jwk(v)?;
        match (&k, algorithm) {
            (Jwk::Ec { .. }, JsfAlgorithm::Es256) | (Jwk::Rsa { .. }, JsfAlgorithm::Rs256) => Ok(k),
            _ => Err(v.err(ErrorKind::Conflict, "key type does not match algorithm")),
        }
    })?;
    let value = o.req("value", |v| match algorithm {
        JsfAlgorithm::Es256 => v.bytes(64, 64),
        JsfAlgorithm::Rs256 => v.bytes(1, 1024),
    })?;
    Ok(JsfSignature {
        algorithm,
        public_key,
        value,
    })
}

/// Optional step: signed key lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDiscoveryRequest {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `lookupSpecifiers` (at least one).
    pub lookup_specifiers: Vec<LookupSpecifier>,
}

impl KeyGen2Message for CredentialDiscoveryRequest {
    const QUALIFIER: &'static str = "CredentialDiscoveryRequest";
}

impl super::sealed::Body for CredentialDiscoveryRequest {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(CredentialDiscoveryRequest {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            lookup_specifiers: o.req("lookupSpecifiers", |v| {
                v.objects(|l| {
                    Ok(LookupSpecifier {
                        id: l.req("id", |v| v.id())?,
                        nonce: l.req("nonce", |v| v.bytes(32, 32))?,
                        search_filter: l.opt_obj("searchFilter", read_filter)?,
                        signature: l.req_obj("signature", read_signature)?,
                    })
                })
            })?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.put(
            "lookupSpecifiers",
            Value::Array(
                self.lookup_specifiers
                    .iter()
                    .map(|l| l.to_json(true))
                    .collect(),
            ),
        );
    }
}

/// One matching key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchingCredential {
    /// `serverSessionId` of the session that created the key.
    pub server_session_id: String,
    /// `clientSessionId` of that session.
    pub client_session_id: String,
    /// `certificatePath` (DER).
    pub certificate_path: Vec<Vec<u8>>,
    /// `locked` as written (absent means false; Java writes it only when true).
    pub locked: Option<bool>,
}

/// One `lookupResults` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupResult {
    /// `id` of the lookup.
    pub id: String,
    /// `matchingCredentials` (always present, may be empty).
    pub matching_credentials: Vec<MatchingCredential>,
}

/// Optional step: the keys found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDiscoveryResponse {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `lookupResults` (at least one).
    pub lookup_results: Vec<LookupResult>,
}

impl KeyGen2Message for CredentialDiscoveryResponse {
    const QUALIFIER: &'static str = "CredentialDiscoveryResponse";
}

impl super::sealed::Body for CredentialDiscoveryResponse {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(CredentialDiscoveryResponse {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            lookup_results: o.req("lookupResults", |v| {
                v.objects(|r| {
                    Ok(LookupResult {
                        id: r.req("id", |v| v.id())?,
                        matching_credentials: r.req("matchingCredentials", |v| {
                            match v.v {
                                Value::Array(a) if a.is_empty() => return Ok(Vec::new()),
                                _ => {}
                            }
                            v.objects(|c| {
                                Ok(MatchingCredential {
                                    server_session_id: c.req("serverSessionId", |v| v.id())?,
                                    client_session_id: c.req("clientSessionId", |v| v.id())?,
                                    certificate_path: c.req("certificatePath", read_cert_path)?,
                                    locked: c.opt("locked", |v| v.bool())?,
                                })
                            })
                        })?,
                    })
                })
            })?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.objs("lookupResults", &self.lookup_results, |r, m| {
            m.s("id", &r.id);
            m.objs("matchingCredentials", &r.matching_credentials, |c, m| {
                m.s("serverSessionId", &c.server_session_id);
                m.s("clientSessionId", &c.client_session_id);
                m.blobs("certificatePath", &c.certificate_path);
                if let Some(l) = c.locked {
                    m.flag("locked", l);
                }
            });
        });
    }
}
