//! `https://webpki.github.io/sks/algorithm#session.1`: session-key establishment, the session
//! attestation, the MAC counter, every per-method MAC input, the confidential download, the
//! key-management authorizations, property bags and device IDs. Both sides (issuer and card)
//! use the same functions.
//!
//! Spec: `spec/crypto.md`. Facts: §3.2–§3.9, §4 ("Dual-use device IDs").

mod cipher;
mod data;
mod device_id;
mod kmk;
mod mac;
mod propbag;

pub use cipher::{CipherError, decrypt_with_key, encrypt_with_key};
pub use data::{
    ExtensionSubType, KeyEntryMacInput, PinPolicyMacInput, add_extension_data,
    close_attestation_data, close_provisioning_session_data, create_key_entry_data,
    create_pin_policy_data, create_puk_policy_data, import_key_data, key_attestation_data,
    post_delete_or_unlock_data, post_update_or_clone_data, set_certificate_path_data,
};
pub use device_id::{DeviceIdError, device_id_string, validate_device_id};
pub use kmk::{
    KMK_ROLL_OVER_AUTHORIZATION, KMK_TARGET_KEY_REFERENCE, kmk_signature_algorithm,
    roll_over_signed_data, sign_kmk_authorization, target_key_reference_signed_data,
    verify_kmk_authorization,
};
pub use mac::{
    CounterUse, KDF_DEVICE_ATTESTATION, KDF_ENCRYPTION_KEY, Method, Operation,
    SESSION_KEY_COST_TABLE, SessionCrypto, counter_plan, key_modifier, session_key_uses,
};
pub use propbag::{Property, PropertyBagError, encode_property_bag, parse_property_bag};

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::codec::{TooLong, Writer};
use crate::keys::{KeyError, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};

/// `KDF_ANONYMOUS`: the DeviceID in privacy mode (facts §3.2 item 5).
pub const KDF_ANONYMOUS: &str = "Anonymous";

/// The session-key algorithm URI.
pub const SESSION_KEY_ALGORITHM: &str = crate::alg::SESSION_1;

/// Errors of session.1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Session1Error {
    /// A value did not fit its length prefix.
    #[error(transparent)]
    TooLong(#[from] TooLong),
    /// Every allowed use of the session key is spent (`if (sessionKeyLimit-- <= 0) abort`).
    #[error("sessionKeyLimit exhausted")]
    SessionKeyLimitExhausted,
    /// The 16-bit MAC sequence counter would wrap.
    #[error("MAC sequence counter exhausted (it never wraps)")]
    CounterExhausted,
    /// A method MAC did not verify.
    #[error("MAC error in {method}")]
    MacMismatch {
        /// The method name.
        method: &'static str,
    },
    /// An attestation did not verify.
    #[error("attestation mismatch")]
    AttestationMismatch,
    /// A MAC or attestation did not have 32 bytes.
    #[error("{what} must be 32 bytes, got {len}")]
    BadLength {
        /// What.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// Decryption failed (length or padding; deliberately opaque).
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// A key operation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A property bag was empty or malformed.
    #[error(transparent)]
    PropertyBag(#[from] PropertyBagError),
    /// `endorsedAlgorithms` were not in strictly ascending order.
    #[error("endorsed algorithms must be sorted in strictly ascending order")]
    EndorsedNotSorted,
    /// The attestation mode (device certificate present or not) disagrees with
    /// `privacyEnabled`.
    #[error("privacyEnabled is {privacy_enabled} but a device certificate was {}", if *.certificate_present { "given" } else { "not given" })]
    PrivacyMismatch {
        /// The session's privacyEnabled.
        privacy_enabled: bool,
        /// Whether a device certificate was supplied.
        certificate_present: bool,
    },
}

/// The DeviceID that enters the KDF and attestation: `"Anonymous"` in privacy mode, otherwise
/// the device certificate DER (facts §3.2 item 5).
pub fn device_id_bytes(
    privacy_enabled: bool,
    device_certificate_der: Option<&[u8]>,
) -> Result<Vec<u8>, Session1Error> {
    match (privacy_enabled, device_certificate_der) {
        (true, None) => Ok(KDF_ANONYMOUS.as_bytes().to_vec()),
        (false, Some(cert)) => Ok(cert.to_vec()),
        (p, c) => Err(Session1Error::PrivacyMismatch {
            privacy_enabled: p,
            certificate_present: c.is_some(),
        }),
    }
}

/// The KDF input `L(clientSessionId) ‖ L(serverSessionId) ‖ L(issuerUri) ‖ L(DeviceID)`.
pub fn kdf_input(
    client_session_id: &str,
    server_session_id: &str,
    issuer_uri: &str,
    device_id: &[u8],
) -> Result<Vec<u8>, Session1Error> {
    let mut w = Writer::new();
    w.l_str(client_session_id)?
        .l_str(server_session_id)?
        .l_str(issuer_uri)?
        .l(device_id)?;
    Ok(w.into_bytes())
}

/// `sessionKey = HMAC-SHA256(Z, kdf_input(...))` (facts §3.2 item 4).
pub fn derive_session_key(
    z: &[u8],
    client_session_id: &str,
    server_session_id: &str,
    issuer_uri: &str,
    device_id: &[u8],
) -> Result<Zeroizing<[u8; 32]>, Session1Error> {
    let input = kdf_input(client_session_id, server_session_id, issuer_uri, device_id)?;
    Ok(Zeroizing::new(hmac_sha256(z, &input)))
}

/// HMAC-SHA256 with an arbitrary key (keys over 64 bytes are hashed, RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    crate::crypto::current().backend.hmac_sha256(key, data)
}

/// Constant-time equality of two byte strings (lengths are not secret): the one comparison of
/// MACs, attestations, PINs and PUKs used by the card and the issuer ([CRY-IMP-002]).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Everything the session attestation covers (facts §3.2 item 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAttestationInput<'a> {
    /// `clientSessionId`.
    pub client_session_id: &'a str,
    /// `serverSessionId`.
    pub server_session_id: &'a str,
    /// `issuerUri` (the URL the middleware posts to).
    pub issuer_uri: &'a str,
    /// The DeviceID ([`device_id_bytes`]).
    pub device_id: &'a [u8],
    /// `sessionKeyAlgorithm` (session.1).
    pub session_key_algorithm: &'a str,
    /// `privacyEnabled`.
    pub privacy_enabled: bool,
    /// The server ephemeral key, SPKI DER.
    pub server_ephemeral_key_spki: &'a [u8],
    /// The client ephemeral key, SPKI DER.
    pub client_ephemeral_key_spki: &'a [u8],
    /// The key-management key, SPKI DER, if the session has one.
    pub key_management_key_spki: Option<&'a [u8]>,
    /// `clientTime` in Unix seconds.
    pub client_time: u32,
    /// `sessionLifeTime`.
    pub session_life_time: u16,
    /// `sessionKeyLimit`.
    pub session_key_limit: u16,
    /// The issuer's TLS end-entity certificate DER (`serverCertificate`).
    pub server_certificate: &'a [u8],
}

impl SessionAttestationInput<'_> {
    /// The byte string that is signed (E2ES) or HMACed (privacy mode).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Session1Error> {
        let mut w = Writer::new();
        w.l_str(self.client_session_id)?
            .l_str(self.server_session_id)?
            .l_str(self.issuer_uri)?
            .l(self.device_id)?
            .l_str(self.session_key_algorithm)?
            .bool(self.privacy_enabled)
            .l(self.server_ephemeral_key_spki)?
            .l(self.client_ephemeral_key_spki)?
            .l(self.key_management_key_spki.unwrap_or(&[]))?
            .uint(self.client_time)
            .ushort(self.session_life_time)
            .ushort(self.session_key_limit)
            .l(self.server_certificate)?;
        Ok(w.into_bytes())
    }
}

/// The signature algorithm of a device attestation key: RS256 for RSA, ES256 (raw r‖s) for EC.
fn device_signature_algorithm(key: KeyType) -> Result<SignatureAlgorithm, Session1Error> {
    match key {
        KeyType::Rsa { .. } => Ok(SignatureAlgorithm::RS256),
        KeyType::Ec(_) => Ok(SignatureAlgorithm::ES256),
        KeyType::Ed25519 => Err(KeyError::AlgorithmMismatch {
            alg: "device attestation (RS256/ES256)",
            key: "Ed25519",
        }
        .into()),
    }
}

/// E2ES mode: the card signs the attestation input with its device key.
pub fn sign_session_attestation(
    device_key: &PrivateKey,
    input: &SessionAttestationInput<'_>,
) -> Result<Vec<u8>, Session1Error> {
    if input.privacy_enabled {
        return Err(Session1Error::PrivacyMismatch {
            privacy_enabled: true,
            certificate_present: true,
        });
    }
    let alg = device_signature_algorithm(device_key.key_type())?;
    Ok(device_key.sign(alg, &input.to_bytes()?)?)
}

/// Privacy mode: `HMAC-SHA256(sessionKey, input)`, no modifier, no counter, not counted against
/// `sessionKeyLimit`.
pub fn privacy_session_attestation(
    session_key: &[u8],
    input: &SessionAttestationInput<'_>,
) -> Result<[u8; 32], Session1Error> {
    if !input.privacy_enabled {
        return Err(Session1Error::PrivacyMismatch {
            privacy_enabled: false,
            certificate_present: false,
        });
    }
    Ok(hmac_sha256(session_key, &input.to_bytes()?))
}

/// The issuer's check of the session attestation. With a device certificate the session must
/// not be privacy-enabled and the signature must verify with the certificate's key; without one
/// the session must be privacy-enabled and the HMAC must match (so a proxy cannot strip the
/// device certificate to downgrade an E2ES session, facts §6 item 3).
pub fn verify_session_attestation(
    input: &SessionAttestationInput<'_>,
    attestation: &[u8],
    device_certificate_der: Option<&[u8]>,
    session_key: &[u8],
) -> Result<(), Session1Error> {
    match (input.privacy_enabled, device_certificate_der) {
        (false, Some(cert)) => {
            let key = crate::keys::certificate_public_key(cert)?;
            let alg = device_signature_algorithm(key.key_type())?;
            key.verify(alg, &input.to_bytes()?, attestation)
                .map_err(|e| match e {
                    KeyError::BadSignature | KeyError::MalformedSignature(_) => {
                        Session1Error::AttestationMismatch
                    }
                    other => other.into(),
                })
        }
        (true, None) => {
            let expected = privacy_session_attestation(session_key, input)?;
            if ct_eq(&expected, attestation) {
                Ok(())
            } else {
                Err(Session1Error::AttestationMismatch)
            }
        }
        (p, c) => Err(Session1Error::PrivacyMismatch {
            privacy_enabled: p,
            certificate_present: c.is_some(),
        }),
    }
}

/// The CredentialDiscovery lookup nonce `SHA-256(L(clientSessionId) ‖ L(serverSessionId))`
/// (facts §3.9).
pub fn lookup_nonce(
    client_session_id: &str,
    server_session_id: &str,
) -> Result<[u8; 32], Session1Error> {
    let mut w = Writer::new();
    w.l_str(client_session_id)?.l_str(server_session_id)?;
    Ok(crate::keys::sha256(w.as_bytes()))
}

/// The SPKI DER of a public key, as it enters MACs (convenience).
pub fn spki(key: &PublicKey) -> Result<Vec<u8>, Session1Error> {
    Ok(key.to_spki_der()?)
}

#[cfg(test)]
mod tests;
