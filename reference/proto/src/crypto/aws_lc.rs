//! The aws-lc-rs backend (the default build).
//!
//! Where aws-lc-rs has no entry point for a combination, the operation is delegated to the
//! RustCrypto backend, with the same result bytes: ECDSA signing with a hash other than the
//! curve's own for P-256/P-384 (aws-lc-rs signs P-256 only with SHA-256 and P-384 only with
//! SHA-384), RSA keys below 2048 bits (aws-lc-rs refuses them), RSA-1024..2047 with SHA-384.
//! Ed25519 verification stays on `ed25519-dalek`'s strict check in both backends (see
//! [`crate::keys::PublicKey::verify`]).

use aws_lc_rs::{agreement, cipher, digest, hmac, rand, signature};
use zeroize::Zeroizing;

use super::{Backend, Digest, RUSTCRYPTO, raw_ecdsa_to_der};
use crate::keys::{Curve, HashAlg, KeyError};

/// The aws-lc-rs backend. ECDSA signatures use random nonces.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

const BAD_SCALAR: KeyError = KeyError::PrivateKey("not a valid scalar");

fn ecdh_alg(curve: Curve) -> &'static agreement::Algorithm {
    match curve {
        Curve::P256 => &agreement::ECDH_P256,
        Curve::P384 => &agreement::ECDH_P384,
        Curve::P521 => &agreement::ECDH_P521,
    }
}

fn ecdsa_verify_alg(curve: Curve, h: HashAlg) -> &'static signature::EcdsaVerificationAlgorithm {
    use signature as s;
    match (curve, h) {
        (Curve::P256, HashAlg::Sha256) => &s::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, HashAlg::Sha384) => &s::ECDSA_P256_SHA384_ASN1,
        (Curve::P256, HashAlg::Sha512) => &s::ECDSA_P256_SHA512_ASN1,
        (Curve::P384, HashAlg::Sha256) => &s::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, HashAlg::Sha384) => &s::ECDSA_P384_SHA384_ASN1,
        (Curve::P384, HashAlg::Sha512) => &s::ECDSA_P384_SHA512_ASN1,
        (Curve::P521, HashAlg::Sha256) => &s::ECDSA_P521_SHA256_ASN1,
        (Curve::P521, HashAlg::Sha384) => &s::ECDSA_P521_SHA384_ASN1,
        (Curve::P521, HashAlg::Sha512) => &s::ECDSA_P521_SHA512_ASN1,
    }
}

fn ecdsa_sign_alg(curve: Curve, h: HashAlg) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    use signature as s;
    Some(match (curve, h) {
        (Curve::P256, HashAlg::Sha256) => &s::ECDSA_P256_SHA256_FIXED_SIGNING,
        (Curve::P384, HashAlg::Sha384) => &s::ECDSA_P384_SHA384_FIXED_SIGNING,
        (Curve::P521, HashAlg::Sha256) => &s::ECDSA_P521_SHA256_FIXED_SIGNING,
        (Curve::P521, HashAlg::Sha384) => &s::ECDSA_P521_SHA384_FIXED_SIGNING,
        (Curve::P521, HashAlg::Sha512) => &s::ECDSA_P521_SHA512_FIXED_SIGNING,
        _ => return None,
    })
}

/// The named-curve OID (DER, with tag and length) for an RFC 5915 `ECPrivateKey`.
fn curve_oid_der(curve: Curve) -> &'static [u8] {
    match curve {
        Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
    }
}

/// `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] namedCurve }` (RFC
/// 5915) without the optional public key (aws-lc derives it).
pub(crate) fn rfc5915_der(curve: Curve, d: &[u8]) -> Zeroizing<Vec<u8>> {
    let oid = curve_oid_der(curve);
    let body_len = 3 + 2 + d.len() + 2 + oid.len();
    let mut out = Zeroizing::new(Vec::with_capacity(body_len + 3));
    out.push(0x30);
    if body_len < 0x80 {
        out.push(body_len as u8);
    } else {
        out.extend_from_slice(&[0x81, body_len as u8]);
    }
    out.extend_from_slice(&[0x02, 0x01, 0x01, 0x04, d.len() as u8]);
    out.extend_from_slice(d);
    out.extend_from_slice(&[0xa0, oid.len() as u8]);
    out.extend_from_slice(oid);
    out
}

/// An aws-lc-rs ECDSA key pair from a private scalar (`None` where aws-lc-rs has no signing
/// algorithm for the curve and hash).
pub(crate) fn ecdsa_key_pair(
    curve: Curve,
    d: &[u8],
    h: HashAlg,
) -> Result<Option<signature::EcdsaKeyPair>, KeyError> {
    let Some(alg) = ecdsa_sign_alg(curve, h) else {
        return Ok(None);
    };
    if d.len() != curve.field_len() {
        return Err(BAD_SCALAR);
    }
    signature::EcdsaKeyPair::from_private_key_der(alg, &rfc5915_der(curve, d))
        .map(Some)
        .map_err(|_| BAD_SCALAR)
}

fn rsa_params(bits: usize, h: HashAlg) -> Option<&'static signature::RsaParameters> {
    use signature as s;
    Some(match (bits >= 2048, h) {
        (true, HashAlg::Sha256) => &s::RSA_PKCS1_2048_8192_SHA256,
        (true, HashAlg::Sha384) => &s::RSA_PKCS1_2048_8192_SHA384,
        (true, HashAlg::Sha512) => &s::RSA_PKCS1_2048_8192_SHA512,
        (false, HashAlg::Sha256) => &s::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        (false, HashAlg::Sha512) => &s::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        (false, HashAlg::Sha384) => return None,
    })
}

fn rsa_encoding(h: HashAlg) -> &'static dyn signature::RsaEncoding {
    match h {
        HashAlg::Sha256 => &signature::RSA_PKCS1_SHA256,
        HashAlg::Sha384 => &signature::RSA_PKCS1_SHA384,
        HashAlg::Sha512 => &signature::RSA_PKCS1_SHA512,
    }
}

/// An aws-lc-rs RSA key pair (`None` below 2048 bits, which aws-lc-rs refuses).
pub(crate) fn rsa_key_pair(
    key: &rsa::RsaPrivateKey,
) -> Result<Option<signature::RsaKeyPair>, KeyError> {
    use pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    if key.n().bits_vartime() < 2048 {
        return Ok(None);
    }
    let der = key
        .to_pkcs8_der()
        .map_err(|_| KeyError::Encoding("PKCS#8"))?;
    signature::RsaKeyPair::from_pkcs8(der.as_bytes())
        .map(Some)
        .map_err(|_| KeyError::BadRsa("aws-lc-rs rejected the RSA key"))
}

/// A kept key pair of one private key ([`super::KeyHandles`]).
pub(crate) enum Handle {
    /// No handle applies (a key or combination aws-lc-rs does not sign).
    None,
    /// An ECDSA key pair, for the hash it was made for.
    Ecdsa(HashAlg, signature::EcdsaKeyPair),
    /// An RSA key pair.
    Rsa(signature::RsaKeyPair),
}

/// Signs with a prepared aws-lc-rs RSA key pair.
pub(crate) fn rsa_sign_prepared(
    pair: &signature::RsaKeyPair,
    h: HashAlg,
    data: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(rsa_encoding(h), &rand::SystemRandom::new(), data, &mut sig)
        .map_err(|_| KeyError::Encoding("RSA signing failed"))?;
    Ok(sig)
}

/// Signs with a prepared aws-lc-rs ECDSA key pair (raw r‖s).
pub(crate) fn ecdsa_sign_prepared(
    pair: &signature::EcdsaKeyPair,
    data: &[u8],
) -> Result<Vec<u8>, KeyError> {
    pair.sign(&rand::SystemRandom::new(), data)
        .map(|s| s.as_ref().to_vec())
        .map_err(|_| KeyError::Encoding("ECDSA signing failed"))
}

impl Backend for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc-rs"
    }

    fn ec_public_point(&self, curve: Curve, d: &[u8]) -> Result<Vec<u8>, KeyError> {
        let k =
            agreement::PrivateKey::from_private_key(ecdh_alg(curve), d).map_err(|_| BAD_SCALAR)?;
        Ok(k.compute_public_key()
            .map_err(|_| BAD_SCALAR)?
            .as_ref()
            .to_vec())
    }

    fn ecdh(&self, curve: Curve, d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let alg = ecdh_alg(curve);
        let k = agreement::PrivateKey::from_private_key(alg, d).map_err(|_| BAD_SCALAR)?;
        agreement::agree(
            &k,
            agreement::UnparsedPublicKey::new(alg, peer),
            KeyError::BadPoint,
            |z| Ok(Zeroizing::new(z.to_vec())),
        )
    }

    fn ecdsa_sign(
        &self,
        curve: Curve,
        d: &[u8],
        h: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match ecdsa_key_pair(curve, d, h)? {
            Some(pair) => ecdsa_sign_prepared(&pair, data),
            None => RUSTCRYPTO.ecdsa_sign(curve, d, h, data),
        }
    }

    fn ecdsa_verify(
        &self,
        curve: Curve,
        point: &[u8],
        h: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        if sig.len() != 2 * curve.field_len() {
            return Err(KeyError::MalformedSignature("raw r‖s"));
        }
        let der = raw_ecdsa_to_der(sig).ok_or(KeyError::MalformedSignature("raw r‖s"))?;
        signature::UnparsedPublicKey::new(ecdsa_verify_alg(curve, h), point)
            .verify(data, &der)
            .map_err(|_| KeyError::BadSignature)
    }

    fn rsa_sign(
        &self,
        key: &rsa::RsaPrivateKey,
        h: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match rsa_key_pair(key)? {
            Some(pair) => rsa_sign_prepared(&pair, h, data),
            None => RUSTCRYPTO.rsa_sign(key, h, data),
        }
    }

    fn rsa_verify(
        &self,
        key: &rsa::RsaPublicKey,
        h: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        use rsa::traits::PublicKeyParts;
        let Some(params) = rsa_params(key.n().bits_vartime() as usize, h) else {
            return RUSTCRYPTO.rsa_verify(key, h, data, sig);
        };
        let n = key.n_bytes();
        let e = key.e_bytes();
        signature::RsaPublicKeyComponents {
            n: n.as_ref(),
            e: e.as_ref(),
        }
        .verify(params, data, sig)
        .map_err(|_| KeyError::BadSignature)
    }

    fn ed25519_sign(&self, seed: &[u8; 32], data: &[u8]) -> Vec<u8> {
        match signature::Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(k) => k.sign(data).as_ref().to_vec(),
            Err(_) => RUSTCRYPTO.ed25519_sign(seed, data),
        }
    }

    fn digest(&self, alg: Digest, data: &[u8]) -> Vec<u8> {
        let a = match alg {
            Digest::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 => &digest::SHA256,
            Digest::Sha384 => &digest::SHA384,
            Digest::Sha512 => &digest::SHA512,
        };
        digest::digest(a, data).as_ref().to_vec()
    }

    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aes256_cbc_encrypt(&self, key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let run = || -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
            let k = cipher::PaddedBlockEncryptingKey::cbc_pkcs7(cipher::UnboundCipherKey::new(
                &cipher::AES_256,
                key,
            )?)?;
            let mut buf = plaintext.to_vec();
            k.less_safe_encrypt(
                &mut buf,
                cipher::EncryptionContext::Iv128(aws_lc_rs::iv::FixedLength::from(*iv)),
            )?;
            Ok(buf)
        };
        run().unwrap_or_else(|_| RUSTCRYPTO.aes256_cbc_encrypt(key, iv, plaintext))
    }

    fn aes256_cbc_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 16],
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let k = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(
            cipher::UnboundCipherKey::new(&cipher::AES_256, key).ok()?,
        )
        .ok()?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = k
            .decrypt(
                &mut buf,
                cipher::DecryptionContext::Iv128(aws_lc_rs::iv::FixedLength::from(*iv)),
            )
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}
