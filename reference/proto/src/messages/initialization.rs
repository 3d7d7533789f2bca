//! `ProvisioningInitializationRequest` and `ProvisioningInitializationResponse`.

use serde_json::{Map, Value};

use super::reader::{Obj, Val};
use super::writer::{MapExt, obj};
use super::{DecodeError, ErrorKind, KeyGen2Message};
use crate::jwk::Jwk;
use crate::time::{IsoTime, TimeForm};

pub(crate) fn read_jwk(v: Val<'_, '_>) -> Result<Jwk, DecodeError> {
    Jwk::from_json(v.v, v.path)
}

/// An ephemeral ECDH key: EC on P-256, P-384 or P-521 ([KG2-PIQ-005]).
fn read_ephemeral(v: Val<'_, '_>) -> Result<Jwk, DecodeError> {
    const NIST: [&str; 6] = [
        "P-256",
        "P-384",
        "P-521",
        "https://webpki.github.io/sks/algorithm#ec.nist.p256",
        "https://webpki.github.io/sks/algorithm#ec.nist.p384",
        "https://webpki.github.io/sks/algorithm#ec.nist.p521",
    ];
    match read_jwk(v)? {
        k @ Jwk::Ec { .. } if matches!(&k, Jwk::Ec { crv, .. } if NIST.contains(&crv.as_str())) => {
            Ok(k)
        }
        Jwk::Ec { .. } => Err(DecodeError::new(
            super::reader::join(v.path, "crv"),
            ErrorKind::BadEnum,
            "an ephemeral key is on P-256, P-384 or P-521",
        )),
        _ => Err(DecodeError::new(
            super::reader::join(v.path, "kty"),
            ErrorKind::BadEnum,
            "an ephemeral key is EC",
        )),
    }
}

/// A key-management key: RSA or EC ([KG2-PIQ-006]).
fn read_kmk(v: Val<'_, '_>) -> Result<Jwk, DecodeError> {
    match read_jwk(v)? {
        Jwk::Okp { .. } => Err(DecodeError::new(
            super::reader::join(v.path, "kty"),
            ErrorKind::BadEnum,
            "a key-management key is RSA or EC",
        )),
        k => Ok(k),
    }
}

/// One `updatableKeyManagementKeys` entry: an older KMK that may be rolled over to the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatableKeyManagementKey {
    /// `publicKey`: the older KMK.
    pub public_key: Jwk,
    /// `authorization`: `Sign(this key, "RollOverAuthorization" ‖ SPKI(parent KMK))`.
    pub authorization: Vec<u8>,
    /// Nested older keys; empty = absent.
    pub updatable_key_management_keys: Vec<UpdatableKeyManagementKey>,
}

fn read_ukmk(o: &mut Obj<'_>) -> Result<UpdatableKeyManagementKey, DecodeError> {
    Ok(UpdatableKeyManagementKey {
        public_key: o.req("publicKey", read_kmk)?,
        authorization: o.req("authorization", |v| v.bytes(1, 1024))?,
        updatable_key_management_keys: o
            .opt("updatableKeyManagementKeys", |v| v.objects(read_ukmk))?
            .unwrap_or_default(),
    })
}

fn write_ukmk(k: &UpdatableKeyManagementKey, m: &mut Map<String, Value>) {
    m.put("publicKey", k.public_key.to_json());
    m.b("authorization", &k.authorization);
    if !k.updatable_key_management_keys.is_empty() {
        m.objs(
            "updatableKeyManagementKeys",
            &k.updatable_key_management_keys,
            write_ukmk,
        );
    }
}

/// Step 3: the issuer asks for a provisioning session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningInitializationRequest {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `serverTime` (`YYYY-MM-DDThh:mm:ssZ`).
    pub server_time: IsoTime,
    /// `sessionKeyAlgorithm` (`…#session.1`).
    pub session_key_algorithm: String,
    /// `sessionKeyLimit` (1-65535).
    pub session_key_limit: u16,
    /// `sessionLifeTime` in seconds (1-65535); a `short` in Java and a ushort in the SKS
    /// attestation.
    pub session_life_time: u16,
    /// `serverEphemeralKey` (EC).
    pub server_ephemeral_key: Jwk,
    /// `keyManagementKey`.
    pub key_management_key: Option<Jwk>,
    /// `updatableKeyManagementKeys`; empty = absent.
    pub updatable_key_management_keys: Vec<UpdatableKeyManagementKey>,
}

impl KeyGen2Message for ProvisioningInitializationRequest {
    const QUALIFIER: &'static str = "ProvisioningInitializationRequest";
}

impl super::sealed::Body for ProvisioningInitializationRequest {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(ProvisioningInitializationRequest {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            server_time: o.req("serverTime", |v| v.time(TimeForm::Server))?,
            session_key_algorithm: o.req("sessionKeyAlgorithm", |v| v.uri())?,
            session_key_limit: o.req("sessionKeyLimit", |v| v.u16(1, u16::MAX))?,
            session_life_time: o.req("sessionLifeTime", |v| v.u16(1, u16::MAX))?,
            server_ephemeral_key: o.req("serverEphemeralKey", read_ephemeral)?,
            key_management_key: o.opt("keyManagementKey", read_kmk)?,
            updatable_key_management_keys: o
                .opt("updatableKeyManagementKeys", |v| v.objects(read_ukmk))?
                .unwrap_or_default(),
        })
        .and_then(|r| {
            if r.key_management_key.is_none() && !r.updatable_key_management_keys.is_empty() {
                Err(DecodeError::new(
                    "updatableKeyManagementKeys",
                    ErrorKind::Conflict,
                    "updatableKeyManagementKeys needs keyManagementKey",
                ))
            } else {
                Ok(r)
            }
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("serverTime", self.server_time.as_str());
        m.s("sessionKeyAlgorithm", &self.session_key_algorithm);
        m.n("sessionKeyLimit", i64::from(self.session_key_limit));
        m.n("sessionLifeTime", i64::from(self.session_life_time));
        m.put("serverEphemeralKey", self.server_ephemeral_key.to_json());
        if let Some(k) = &self.key_management_key {
            m.put("keyManagementKey", k.to_json());
        }
        if !self.updatable_key_management_keys.is_empty() {
            m.objs(
                "updatableKeyManagementKeys",
                &self.updatable_key_management_keys,
                write_ukmk,
            );
        }
    }
}

/// Step 4: the attested session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningInitializationResponse {
    /// `serverSessionId`.
    pub server_session_id: String,
    /// `clientSessionId`.
    pub client_session_id: String,
    /// `serverTime`: a verbatim echo (compare [`IsoTime::as_str`]).
    pub server_time: IsoTime,
    /// `clientTime` (`YYYY-MM-DDThh:mm:ss±hh:mm`).
    pub client_time: IsoTime,
    /// `clientEphemeralKey` (EC).
    pub client_ephemeral_key: Jwk,
    /// `deviceId.certificatePath` (DER certificates); `None` in privacy mode.
    pub device_certificate_path: Option<Vec<Vec<u8>>>,
    /// `attestation`.
    pub attestation: Vec<u8>,
    /// `serverCertificateFingerPrint` (SHA-256 of the TLS server certificate), optional; read
    /// by the Java decoder, absent from every recorded sample.
    pub server_certificate_finger_print: Option<Vec<u8>>,
}

/// DER certificates in a `certificatePath` array (each 1..=65535 bytes).
pub(crate) fn read_cert_path(v: Val<'_, '_>) -> Result<Vec<Vec<u8>>, DecodeError> {
    v.each(|e| e.bytes(1, 65_535))
}

impl KeyGen2Message for ProvisioningInitializationResponse {
    const QUALIFIER: &'static str = "ProvisioningInitializationResponse";
}

impl super::sealed::Body for ProvisioningInitializationResponse {
    fn read_body(o: &mut Obj<'_>) -> Result<Self, DecodeError> {
        Ok(ProvisioningInitializationResponse {
            server_session_id: o.req("serverSessionId", |v| v.id())?,
            client_session_id: o.req("clientSessionId", |v| v.id())?,
            server_time: o.req("serverTime", |v| v.time(TimeForm::Server))?,
            client_time: o.req("clientTime", |v| v.time(TimeForm::Client))?,
            client_ephemeral_key: o.req("clientEphemeralKey", read_ephemeral)?,
            device_certificate_path: o
                .opt_obj("deviceId", |d| d.req("certificatePath", read_cert_path))?,
            attestation: o.req("attestation", |v| v.bytes(1, 1024))?,
            server_certificate_finger_print: o
                .opt("serverCertificateFingerPrint", |v| v.bytes(32, 32))?,
        })
    }

    fn write_body(&self, m: &mut Map<String, Value>) {
        m.s("serverSessionId", &self.server_session_id);
        m.s("clientSessionId", &self.client_session_id);
        m.s("serverTime", self.server_time.as_str());
        m.s("clientTime", self.client_time.as_str());
        m.put("clientEphemeralKey", self.client_ephemeral_key.to_json());
        if let Some(p) = &self.device_certificate_path {
            m.put("deviceId", obj(|m| m.blobs("certificatePath", p)));
        }
        m.b("attestation", &self.attestation);
        if let Some(f) = &self.server_certificate_finger_print {
            m.b("serverCertificateFingerPrint", f);
        }
    }
}
