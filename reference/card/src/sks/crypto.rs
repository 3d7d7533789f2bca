//! Card-side cryptography that session.1 does not cover: key generation with the server seed,
//! the User-API operations (signatures, RSA decryption, ECDH, HMAC, AES) and key-material
//! checks. Every failure is an [`SksError`] with the code the Java reference uses.

use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
    block_padding::Pkcs7,
};
use airtight_proto::alg::{self, AlgGroup, Algorithm, KeyRequirement};
use airtight_proto::keys::{HashAlg, KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use airtight_proto::sks::SksError;
use hmac::Mac;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::env::CardRng;

/// RSA modulus sizes the card generates and accepts (facts §3.10; Java `SKS_DEFAULT_RSA_SUPPORT`).
pub(crate) const RSA_SIZES: [usize; 2] = [1024, 2048];

/// The largest RSA public exponent the card generates (the rsa crate's limit).
pub(crate) const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// A key-generation request decoded from `keyAlgorithm` and `keyParameters`.
pub(crate) use super::entropy::KeyPairSpec as KeySpec;

/// A per-key generator: ChaCha20 seeded with SHA-256(32 bytes of the card RNG ‖ serverSeed),
/// so the server seed is mixed in without ever replacing the card's own entropy
/// ([SKS-KEY-009]).
pub(crate) fn key_rng(
    card: &mut dyn airtight_proto::entropy::Entropy,
    server_seed: &[u8],
) -> ChaCha20Rng {
    let own = Zeroizing::new(airtight_proto::entropy::bytes::<32>(card));
    let mut h = sha2::Sha256::new();
    h.update(own.as_slice());
    h.update(server_seed);
    let seed: [u8; 32] = h.finalize().into();
    ChaCha20Rng::from_seed(seed)
}

/// Generates the key pair of `spec`.
pub(crate) fn generate(spec: KeySpec, rng: &mut ChaCha20Rng) -> Result<PrivateKey, SksError> {
    Ok(match spec {
        KeySpec::Ec(c) => PrivateKey::generate_ec(c, rng),
        KeySpec::Ed25519 => PrivateKey::generate_ed25519(rng),
        KeySpec::Rsa { bits, exponent } => PrivateKey::generate_rsa(bits, exponent, rng)
            .map_err(|e| SksError::crypto(format!("RSA key generation: {e}")))?,
    })
}

/// Parses a stored PKCS#8 private key (state written by this card).
pub(crate) fn private_key(pkcs8: &[u8]) -> Result<PrivateKey, SksError> {
    PrivateKey::from_pkcs8_der(pkcs8)
        .map_err(|e| SksError::internal(format!("stored private key: {e}")))
}

/// SPKI DER of a public key.
pub(crate) fn spki(key: &PublicKey) -> Result<Vec<u8>, SksError> {
    key.to_spki_der()
        .map_err(|e| SksError::internal(format!("SPKI encoding: {e}")))
}

/// Checks that an RSA or EC public key is one the card supports (Java
/// `checkRsaKeyCompatibility` / `checkEcKeyCompatibility`: `ERROR_OPTION`); Ed25519 passes.
pub(crate) fn check_key_compatibility(key: &PublicKey, what: &str) -> Result<(), SksError> {
    match key.key_type() {
        KeyType::Rsa { bits } if !RSA_SIZES.contains(&bits) => Err(SksError::option(format!(
            "Unsupported RSA key size {bits} for: {what}"
        ))),
        _ => Ok(()),
    }
}

/// The Java `isRsa`/EC/Ed25519 class of a key type, for mix-up checks.
pub(crate) fn same_family(a: KeyType, b: KeyType) -> bool {
    matches!(
        (a, b),
        (KeyType::Rsa { .. }, KeyType::Rsa { .. })
            | (KeyType::Ec(_), KeyType::Ec(_))
            | (KeyType::Ed25519, KeyType::Ed25519)
    )
}

/// Looks up a supported algorithm URI (unknown or unsupported: `ERROR_ALGORITHM`).
pub(crate) fn algorithm(uri: &str) -> Result<&'static Algorithm, SksError> {
    alg::lookup(uri)
        .filter(|a| a.supported)
        .ok_or_else(|| SksError::algorithm(format!("Unsupported algorithm: {uri}")))
}

/// True for algorithms that operate on an imported symmetric key (AES, HMAC).
pub(crate) fn is_symmetric_alg(a: &Algorithm) -> bool {
    matches!(a.group, AlgGroup::SymmetricEncryption | AlgGroup::Hmac)
}

/// The AES key-length rule of a symmetric encryption algorithm (Java `testAESKey`,
/// `ERROR_OPTION`); HMAC accepts any length.
pub(crate) fn test_aes_key(a: &Algorithm, key_len: usize, key_id: &str) -> Result<(), SksError> {
    if a.group == AlgGroup::SymmetricEncryption
        && let KeyRequirement::Symmetric(lens) = a.requirement
        && !lens.is_empty()
        && !lens.contains(&key_len)
    {
        return Err(SksError::option(format!(
            "Key {key_id} has wrong size ({key_len}) for algorithm: {}",
            a.uri
        )));
    }
    Ok(())
}

/// True if an asymmetric algorithm fits the key type (RSA, EC or Ed25519 family).
pub(crate) fn asymmetric_fits(a: &Algorithm, key: KeyType) -> bool {
    matches!(
        (a.requirement, key),
        (KeyRequirement::Rsa, KeyType::Rsa { .. })
            | (KeyRequirement::Ec, KeyType::Ec(_))
            | (KeyRequirement::Ed25519, KeyType::Ed25519)
            | (KeyRequirement::Any, _)
    )
}

fn signature_algorithm(uri: &str) -> Option<SignatureAlgorithm> {
    const MORE: &str = "http://www.w3.org/2001/04/xmldsig-more#";
    let rest = uri.strip_prefix(MORE);
    Some(match rest {
        Some("rsa-sha256") => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha256),
        Some("rsa-sha384") => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha384),
        Some("rsa-sha512") => SignatureAlgorithm::RsaPkcs1(HashAlg::Sha512),
        Some("ecdsa-sha256") => SignatureAlgorithm::Ecdsa(HashAlg::Sha256),
        Some("ecdsa-sha384") => SignatureAlgorithm::Ecdsa(HashAlg::Sha384),
        Some("ecdsa-sha512") => SignatureAlgorithm::Ecdsa(HashAlg::Sha512),
        _ if uri == "https://webpki.github.io/sks/algorithm#ed25519" => SignatureAlgorithm::Ed25519,
        _ => return None,
    })
}

/// `signData`: signs raw data (ECDSA as raw r‖s).
pub(crate) fn sign(key: &PrivateKey, uri: &str, data: &[u8]) -> Result<Vec<u8>, SksError> {
    let alg = signature_algorithm(uri)
        .ok_or_else(|| SksError::algorithm(format!("Unsupported algorithm: {uri}")))?;
    key.sign(alg, data)
        .map_err(|e| SksError::crypto(format!("signature: {e}")))
}

/// `asymmetricKeyDecrypt`: RSA PKCS#1 v1.5, OAEP SHA-1 or OAEP SHA-256 (MGF1 with the same
/// hash).
pub(crate) fn rsa_decrypt(
    key: &PrivateKey,
    uri: &str,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SksError> {
    let PrivateKey::Rsa(k) = key else {
        return Err(SksError::algorithm("RSA decryption needs an RSA key"));
    };
    let fail = |_| SksError::crypto("RSA decryption failed");
    let out = match uri {
        "https://webpki.github.io/sks/algorithm#rsa.es.pkcs1_5" => {
            k.decrypt(rsa::Pkcs1v15Encrypt, data).map_err(fail)?
        }
        "https://webpki.github.io/sks/algorithm#rsa.oaep.sha1" => k
            .decrypt(rsa::Oaep::<sha1::Sha1>::new(), data)
            .map_err(fail)?,
        "https://webpki.github.io/sks/algorithm#rsa.oaep.sha256" => k
            .decrypt(rsa::Oaep::<sha2::Sha256>::new(), data)
            .map_err(fail)?,
        _ => return Err(SksError::algorithm(format!("Unsupported algorithm: {uri}"))),
    };
    Ok(Zeroizing::new(out))
}

/// `performHmac`.
pub(crate) fn hmac(uri: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SksError> {
    macro_rules! run {
        ($h:ty) => {{
            let mut m = <hmac::Hmac<$h> as hmac::digest::KeyInit>::new_from_slice(key)
                .map_err(|_| SksError::crypto("HMAC key"))?;
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => run!(sha1::Sha1),
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" => run!(sha2::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384" => run!(sha2::Sha384),
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512" => run!(sha2::Sha512),
        _ => return Err(SksError::algorithm(format!("Unsupported algorithm: {uri}"))),
    })
}

/// The AES modes of `symmetricKeyEncrypt` (facts §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AesMode {
    /// `xmlenc#aesNNN-cbc`: PKCS#5 padding, IV generated and prepended on encryption, taken
    /// from the data on decryption.
    CbcInternalIv,
    /// `#aes.cbc`: PKCS#5 padding, IV in `parameters`.
    CbcExternalIv,
    /// `#aes.ecb.nopad`.
    EcbNoPad,
}

pub(crate) fn aes_mode(uri: &str) -> Option<AesMode> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
        | "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
        | "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => AesMode::CbcInternalIv,
        "https://webpki.github.io/sks/algorithm#aes.cbc" => AesMode::CbcExternalIv,
        "https://webpki.github.io/sks/algorithm#aes.ecb.nopad" => AesMode::EcbNoPad,
        _ => return None,
    })
}

macro_rules! with_aes {
    ($key:expr, |$c:ident| $body:expr) => {{
        match $key.len() {
            16 => {
                type $c = aes::Aes128;
                $body
            }
            24 => {
                type $c = aes::Aes192;
                $body
            }
            32 => {
                type $c = aes::Aes256;
                $body
            }
            n => Err(SksError::option(format!("AES key of {n} bytes"))),
        }
    }};
}

fn cbc_encrypt(key: &[u8], iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, SksError> {
    with_aes!(key, |C| {
        let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| SksError::crypto("AES key or IV"))?;
        let pad = 16 - data.len() % 16;
        let mut buf = vec![0u8; data.len() + pad];
        buf[..data.len()].copy_from_slice(data);
        let out = enc
            .encrypt_padded::<Pkcs7>(&mut buf, data.len())
            .map_err(|_| SksError::crypto("AES-CBC encryption"))?
            .to_vec();
        Ok(out)
    })
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, SksError> {
    with_aes!(key, |C| {
        let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| SksError::crypto("AES key or IV"))?;
        let mut buf = data.to_vec();
        let len = dec
            .decrypt_padded::<Pkcs7>(&mut buf)
            .map_err(|_| SksError::crypto("AES-CBC decryption failed"))?
            .len();
        buf.truncate(len);
        Ok(buf)
    })
}

fn ecb(key: &[u8], data: &[u8], encrypt: bool) -> Result<Vec<u8>, SksError> {
    with_aes!(key, |C| {
        let c = <C as KeyInit>::new_from_slice(key).map_err(|_| SksError::crypto("AES key"))?;
        let mut out = data.to_vec();
        for chunk in out.chunks_exact_mut(16) {
            let block =
                <&mut aes::Block>::try_from(chunk).map_err(|_| SksError::internal("AES block"))?;
            if encrypt {
                c.encrypt_block(block);
            } else {
                c.decrypt_block(block);
            }
        }
        Ok(out)
    })
}

/// `symmetricKeyEncrypt` after the argument checks (data length multiple of 16 where needed,
/// IV present exactly when required).
pub(crate) fn aes(
    mode: AesMode,
    key: &[u8],
    encrypt: bool,
    iv_param: Option<&[u8]>,
    data: &[u8],
    rng: &mut CardRng,
) -> Result<Zeroizing<Vec<u8>>, SksError> {
    let out = match mode {
        AesMode::CbcInternalIv => {
            if encrypt {
                let iv = rng.bytes::<16>();
                let mut out = iv.to_vec();
                out.extend_from_slice(&cbc_encrypt(key, &iv, data)?);
                out
            } else {
                if data.len() < 16 {
                    return Err(SksError::crypto("AES decryption failed"));
                }
                let (iv, ct) = data.split_at(16);
                cbc_decrypt(key, iv, ct)?
            }
        }
        AesMode::CbcExternalIv => {
            let iv: &[u8; 16] = iv_param
                .and_then(|p| p.try_into().ok())
                .ok_or_else(|| SksError::option("IV must be 16 bytes"))?;
            if encrypt {
                cbc_encrypt(key, iv, data)?
            } else {
                cbc_decrypt(key, iv, data)?
            }
        }
        AesMode::EcbNoPad => ecb(key, data, encrypt)?,
    };
    Ok(Zeroizing::new(out))
}
