//! Key-management-key authorizations (facts §3.8): target-key references and KMK roll-over.

use crate::keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm};

use super::Session1Error;

/// `KMK_TARGET_KEY_REFERENCE`.
pub const KMK_TARGET_KEY_REFERENCE: &str = "TargetKeyReference";
/// `KMK_ROLL_OVER_AUTHORIZATION`.
pub const KMK_ROLL_OVER_AUTHORIZATION: &str = "RollOverAuthorization";

/// `"TargetKeyReference" ‖ hmac`, where `hmac` is
/// [`super::SessionCrypto::target_key_reference`].
pub fn target_key_reference_signed_data(target_key_reference: &[u8]) -> Vec<u8> {
    let mut d = KMK_TARGET_KEY_REFERENCE.as_bytes().to_vec();
    d.extend_from_slice(target_key_reference);
    d
}

/// `"RollOverAuthorization" ‖ SPKI DER of the new KMK`.
pub fn roll_over_signed_data(new_kmk: &PublicKey) -> Result<Vec<u8>, Session1Error> {
    let mut d = KMK_ROLL_OVER_AUTHORIZATION.as_bytes().to_vec();
    d.extend_from_slice(&new_kmk.to_spki_der()?);
    Ok(d)
}

/// KMK signatures are SHA-256 only: RS256 for RSA, ES256 (raw r‖s) for EC.
pub fn kmk_signature_algorithm(key: KeyType) -> Result<SignatureAlgorithm, Session1Error> {
    match key {
        KeyType::Rsa { .. } => Ok(SignatureAlgorithm::RS256),
        KeyType::Ec(_) => Ok(SignatureAlgorithm::ES256),
        KeyType::Ed25519 => Err(crate::keys::KeyError::AlgorithmMismatch {
            alg: "KMK authorization (RS256/ES256)",
            key: "Ed25519",
        }
        .into()),
    }
}

/// Signs an authorization with a KMK (issuer side).
pub fn sign_kmk_authorization(kmk: &PrivateKey, data: &[u8]) -> Result<Vec<u8>, Session1Error> {
    let alg = kmk_signature_algorithm(kmk.key_type())?;
    Ok(kmk.sign(alg, data)?)
}

/// Verifies an authorization with a KMK public key (card side).
pub fn verify_kmk_authorization(
    kmk: &PublicKey,
    data: &[u8],
    signature: &[u8],
) -> Result<(), Session1Error> {
    let alg = kmk_signature_algorithm(kmk.key_type())?;
    Ok(kmk.verify(alg, data, signature)?)
}
