//! `ProvisioningFinalizationRequest` and `ProvisioningFinalizationResponse`.

use serde_json::{Map, Value};

use super::initialization::read_cert_path;
use super::reader::Obj;
use super::writer::{MapExt, obj};
use super::{DecodeError, ErrorKind, KeyGen2Message};

/// SKS limit for strings other than ids and URIs.
const MAX_STRING: usize = 65_535;

/// The four logotype type URIs ([KG2-PFQ-007]).
pub const LOGOTYPES: [&str; 4] = [
    "https://webpki.github.io/keygen2/logotype#icon",
    "https://webpki.github.io/keygen2/logotype#card",
    "https://webpki.github.io/keygen2/logotype#list",
    "https://webpki.github.io/keygen2/logotype#application",
];

/// `importSymmetricKey` / `importPrivateKey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedKey {
    /// `encryptedKey` (IV ‖ AES-256-CBC).
    pub encrypted_key: Vec<u8>,
    /// `mac`.
    pub mac: [u8; 32],
}

/// One `extensions` or `encryptedExtensions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// `type` URI.
    pub extension_type: String,
    /// `extensionData` (encrypted for `encryptedExtensions`).
    pub extension_data: Vec<u8>,
    /// `mac` (addExtension).
    pub mac: [u8; 32],
}

/// One property of a property bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
    /// `writable` as written (absent means false).
    pub writable: Option<bool>,
}

/// One `propertyBags` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyBag {
    /// `type` URI.
    pub bag_type: String,
    /// `properties` (at least one).
    pub properties: Vec<Property>,
    /// `mac`.
    pub mac: [u8; 32],
}

/// One `logotypes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logotype {
    /// `type` URI.
    pub logotype_type: String,
    /// `mimeType`.
    pub mime_type: String,
    /// `extensionData`: the image.
    pub extension_data: Vec<u8>,
    /// `mac`.
    pub mac: [u8; 32],
}

/// A post-operation on a key of an earlier session (`updateKey`, `cloneKeyProtection`,
/// `unlockKeys[]`, `deleteKeys[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostOperation {
    /// `fingerPrint`: SHA-256 of the target key's end-entity certificate.
    pub finger_print: Vec<u8>,
    /// `serverSessionId` of the target key's session.
    pub server_session_id: String,
    /// `clientSessionId` of the target key's session.
    pub client_session_id: String,
    /// `authorization`: the KMK signature over the target-key reference.
    pub authorization: Vec<u8>,
    /// `mac`.
    pub mac: [u8; 32],
}

/// `updateKey` or `cloneKeyProtection` of an issued credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPostOperation {
    /// `updateKey`.
    UpdateKey(PostOperation),
    /// `cloneKeyProtection`.
    CloneKeyProtection(PostOperation),
}

/// One `issuedCredentials` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCredential {
    /// `id` of the key.
    pub id: String,
    /// `certificatePath` (DER, end-entity first).
    pub certificate_path: Vec<Vec<u8>>,
    /// `mac` (setCertificatePath).
    pub mac: [u8; 32],
    /// `trustAnchor` as written (absent means false).
    pub trust_anchor: Option<bool>,
    /// `importSymmetricKey`.
    pub import_symmetric_key: Option<EncryptedKey>,
    /// `importPrivateKey`.
    pub import_private_key: Option<EncryptedKey>,
    /// `extensions`; empty = absent.
    pub extensions: Vec<Extension>,
    /// `encryptedExtensions`; empty = absent.
    pub encrypted_extensions: Vec<Extension>,
    /// `propertyBags`; empty = absent.
    pub property_bags: Vec<PropertyBag>,
    /// `logotypes`; empty = absent.
    pub logotypes: Vec<Logotype>,
    /// `updateKey` or `cloneKeyProtection`.
    pub post_operation: Option<CredentialPostOperation>,
}

/// `sessionCloseData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCloseData {
    /// `nonce` (1-32 bytes).
    pub nonce: Vec<u8>,
    /// `mac` (closeProvisioningSession).
    pub mac: [u8; 32],
}

/// Step 7: certificates, secrets, post-operations and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningFinalizationRequest {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `issuedCredentials`; empty = absent.
    pub issued_credentials: Vec<IssuedCredential>,
    /// `unlockKeys`; empty = absent.
    pub unlock_keys: Vec<PostOperation>,
    /// `deleteKeys`; empty = absent.
    pub delete_keys: Vec<PostOperation>,
    /// `sessionCloseData`.
    pub session_close_data: SessionCloseData,
}

fn read_post_op(o: &mut Obj<'_>) -> Result<PostOperation, DecodeError> {
    Ok(PostOperation {
        finger_print: o.req("fingerPrint", |v| v.bytes(32, 32))?,
        server_session_id: o.req("serverSessionId", |v| v.id())?,
        client_session_id: o.req("clientSessionId", |v| v.id())?,
        authorization: o.req("authorization", |v| v.bytes(1, 1024))?,
        mac: o.req("mac", |v| v.mac())?,
    })
}

fn write_post_op(p: &PostOperation, m: &mut Map<String, Value>) {
    m.b("fingerPrint", &p.finger_print);
    m.s("serverSessionId", &p.server_session_id);
    m.s("clientSessionId", &p.client_session_id);
    m.b("authorization", &p.authorization);
    m.b("mac", &p.mac);
}

fn read_encrypted_key(o: &mut Obj<'_>) -> Result<EncryptedKey, DecodeError> {
    Ok(EncryptedKey {
        encrypted_key: o.req("encryptedKey", |v| v.bytes(32, 16_384))?,
        mac: o.req("mac", |v| v.mac())?,
    })
}

fn read_extension(o: &mut Obj<'_>) -> Result<Extension, DecodeError> {
    Ok(Extension {
        extension_type: o.req("type", |v| v.uri())?,
        extension_data: o.req("extensionData", |v| v.bytes(1, 250_000))?,
        mac: o.req("mac", |v| v.mac())?,
    })
}

fn write_extension(e: &Extension, m: &mut Map<String, Value>) {
    m.s("type", &e.extension_type);
    m.b("extensionData", &e.extension_data);
    m.b("mac", &e.mac);
}

fn read_credential(o: &mut Obj<'_>) -> Result<IssuedCredential, DecodeError> {
    let mut c = IssuedCredential {
        id: o.req("id", |v| v.id())?,
        certificate_path: o.req("certificatePath", read_cert_path)?,
        mac: o.req("mac", |v| v.mac())?,
        trust_anchor: o.opt("trustAnchor", |v| v.bool())?,
        import_symmetric_key: o.opt_obj("importSymmetricKey", read_encrypted_key)?,
        import_private_key: o.opt_obj("importPrivateKey", read_encrypted_key)?,
        extensions: o
            .opt("extensions", |v| v.objects(read_extension))?
            .unwrap_or_default(),
        encrypted_extensions: o
            .opt("encryptedExtensions", |v| v.objects(read_extension))?
            .unwrap_or_default(),
        property_bags: o
            .opt("propertyBags", |v| {
                v.objects(|b| {
                    Ok(PropertyBag {
                        bag_type: b.req("type", |v| v.uri())?,
                        properties: b.req("properties", |v| {
                            v.objects(|p| {
                                Ok(Property {
                                    name: p.req("name", |v| v.text(MAX_STRING))?,
                                    value: p.req("value", |v| {
                                        let s = v.string()?;
                                        if s.len() > MAX_STRING {
                                            return Err(
                                                v.err(ErrorKind::BadLength, "value too long")
                                            );
                                        }
                                        Ok(s.to_owned())
                                    })?,
                                    writable: p.opt("writable", |v| v.bool())?,
                                })
                            })
                        })?,
                        mac: b.req("mac", |v| v.mac())?,
                    })
                })
            })?
            .unwrap_or_default(),
        logotypes: o
            .opt("logotypes", |v| {
                v.objects(|l| {
                    Ok(Logotype {
                        logotype_type: l.req("type", |v| {
                            let t = v.uri()?;
                            if LOGOTYPES.contains(&t.as_str()) {
                                Ok(t)
                            } else {
                                Err(v.err(ErrorKind::BadEnum, "not a logotype URI"))
                            }
                        })?,
                        mime_type: l.req("mimeType", |v| v.text(128))?,
                        extension_data: l.req("extensionData", |v| v.bytes(1, 250_000))?,
                        mac: l.req("mac", |v| v.mac())?,
                    })
                })
            })?
            .unwrap_or_default(),
        post_operation: None,
    };
    if c.import_symmetric_key.is_some() && c.import_private_key.is_some() {
        return Err(DecodeError::new(
            super::reader::join(o.path(), "importPrivateKey"),
            ErrorKind::Conflict,
            "importSymmetricKey and importPrivateKey are exclusive",
        ));
    }
    if o.has("updateKey") && o.has("cloneKeyProtection") {
        return Err(DecodeError::new(
            super::reader::join(o.path(), "cloneKeyProtection"),
            ErrorKind::Conflict,
            "updateKey and cloneKeyProtection are exclusive",
        ));
    }
    c.post_operation = match o.opt_obj("updateKey", read_post_op)? {
        Some(p) => Some(CredentialPostOperation::UpdateKey(p)),
        None => o
            .opt_obj("cloneKeyProtection", read_post_op)?
            .map(CredentialPostOperation::CloneKeyProtection),
    };
    Ok(c)
}

fn write_credential(c: &IssuedCredential, m: &mut Map<String, Value>) {
    m.s("id", &c.id);
    m.blobs("certificatePath", &c.certificate_path);
    m.b("mac", &c.mac);
    if let Some(t) = c.trust_anchor {
        m.flag("trustAnchor", t);
    }
    let ek = |k: &EncryptedKey| {
        obj(|m| {
            m.b("encryptedKey", &k.encrypted_key);
            m.b("mac", &k.mac);
        })
    };
    if let Some(k) = &c.import_symmetric_key {
        m.put("importSymmetricKey", ek(k));
    }
    if let Some(k) = &c.import_private_key {
        m.put("importPrivateKey", ek(k));
    }
    if !c.extensions.is_empty() {
        m.objs("extensions", &c.extensions, write_extension);
    }
    if !c.encrypted_extensions.is_empty() {
        m.objs(
            "encryptedExtensions",
            &c.encrypted_extensions,
            write_extension,
        );
    }
    if !c.property_bags.is_empty() {
        m.objs("propertyBags", &c.property_bags, |b, m| {
            m.s("type", &b.bag_type);
            m.objs("properties", &b.properties, |p, m| {
                m.s("name", &p.name);
                m.s("value", &p.value);
                if let Some(w) = p.writable {
                    m.flag("writable", w);
                }
            });
            m.b("mac", &b.mac);
        });
    }
    if !c.logotypes.is_empty() {
        m.objs("logotypes", &c.logotypes, |l, m| {
            m.s("type", &l.logotype_type);
            m.s("mimeType", &l.mime_type);
            m.b("extensionData", &l.extension_data);
            m.b("mac", &l.mac);
        });
    }
    match &c.post_operation {
        Some(CredentialPostOperation::UpdateKey(p)) => {
            m.put("updateKey", obj(|m| write_post_op(p, m)));
        }
        Some(CredentialPostOperation::CloneKeyProtection(p)) => {
            m.put("cloneKeyProtection", obj(|m| write_post_op(p, m)));
        }
        None => {}
    }
}

impl KeyGen2Message for ProvisioningFinalizationRequest {
    const QUALIFIER: &'static str = "ProvisioningFinalizationRequest";
}

impl super::sealed::Body for ProvisioningFinalizationRequest {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(ProvisioningFinalizationRequest {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            issued_credentials: o
                .opt("issuedCredentials", |v| v.objects(read_credential))?
                .unwrap_or_default(),
            unlock_keys: o
                .opt("unlockKeys", |v| v.objects(read_post_op))?
                .unwrap_or_default(),
            delete_keys: o
                .opt("deleteKeys", |v| v.objects(read_post_op))?
                .unwrap_or_default(),
            session_close_data: o.req_obj("sessionCloseData", |s| {
                Ok(SessionCloseData {
                    nonce: s.req("nonce", |v| v.bytes(1, 32))?,
                    mac: s.req("mac", |v| v.mac())?,
                })
            })?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        if !self.issued_credentials.is_empty() {
            m.objs(
                "issuedCredentials",
                &self.issued_credentials,
                write_credential,
            );
        }
        if !self.unlock_keys.is_empty() {
            m.objs("unlockKeys", &self.unlock_keys, write_post_op);
        }
        if !self.delete_keys.is_empty() {
            m.objs("deleteKeys", &self.delete_keys, write_post_op);
        }
        m.put(
            "sessionCloseData",
            obj(|m| {
                m.b("nonce", &self.session_close_data.nonce);
                m.b("mac", &self.session_close_data.mac);
            }),
        );
    }
}

/// Step 8: the close attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningFinalizationResponse {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `attestation` (32-byte HMAC over the close nonce).
    pub attestation: [u8; 32],
}

impl KeyGen2Message for ProvisioningFinalizationResponse {
    const QUALIFIER: &'static str = "ProvisioningFinalizationResponse";
}

impl super::sealed::Body for ProvisioningFinalizationResponse {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(ProvisioningFinalizationResponse {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            attestation: o.req("attestation", |v| v.mac())?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.b("attestation", &self.attestation);
    }
}
