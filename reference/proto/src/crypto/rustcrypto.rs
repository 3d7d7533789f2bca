//! The pure-Rust backend: `p256`/`p384`/`p521` (RFC 6979 ECDSA), `rsa`, `ed25519-dalek`,
//! `sha1`/`sha2`, `hmac`, `aes`+`cbc`.

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use hmac::{KeyInit, Mac};
use sha2::Digest as _;
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use zeroize::Zeroizing;

use super::{Backend, Digest};
use crate::keys::{Curve, HashAlg, KeyError};

/// The RustCrypto backend. ECDSA signatures are deterministic (RFC 6979).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

fn pkcs1_scheme(h: HashAlg) -> rsa::Pkcs1v15Sign {
    match h {
        HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn hash(h: HashAlg, data: &[u8]) -> Vec<u8> {
    RustCrypto.digest(h.into(), data)
}

const BAD_SCALAR: KeyError = KeyError::PrivateKey("not a valid scalar");

impl Backend for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn ec_public_point(&self, curve: Curve, d: &[u8]) -> Result<Vec<u8>, KeyError> {
        macro_rules! public {
            ($k:ident) => {
                $k::SecretKey::from_slice(d)
                    .map_err(|_| BAD_SCALAR)?
                    .public_key()
                    .to_sec1_bytes()
                    .to_vec()
            };
        }
        Ok(match curve {
            Curve::P256 => public!(p256),
            Curve::P384 => public!(p384),
            Curve::P521 => public!(p521),
        })
    }

    fn ecdh(&self, curve: Curve, d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        macro_rules! dh {
            ($k:ident) => {{
                let sk = $k::SecretKey::from_slice(d).map_err(|_| BAD_SCALAR)?;
                let pk = $k::PublicKey::from_sec1_bytes(peer).map_err(|_| KeyError::BadPoint)?;
                sk.diffie_hellman(&pk).raw_secret_bytes().to_vec()
            }};
        }
        Ok(Zeroizing::new(match curve {
            Curve::P256 => dh!(p256),
            Curve::P384 => dh!(p384),
            Curve::P521 => dh!(p521),
        }))
    }

    fn ecdsa_sign(
        &self,
        curve: Curve,
        d: &[u8],
        h: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let digest = hash(h, data);
        macro_rules! sign {
            ($k:ident) => {{
                let sk = $k::ecdsa::SigningKey::from_slice(d).map_err(|_| BAD_SCALAR)?;
                let s: $k::ecdsa::Signature = sk
                    .sign_prehash(&digest)
                    .map_err(|_| KeyError::Encoding("ECDSA signing failed"))?;
                s.to_bytes().to_vec()
            }};
        }
        Ok(match curve {
            Curve::P256 => sign!(p256),
            Curve::P384 => sign!(p384),
            Curve::P521 => sign!(p521),
        })
    }

    fn ecdsa_verify(
        &self,
        curve: Curve,
        point: &[u8],
        h: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        macro_rules! verify {
            ($k:ident) => {{
                let s = $k::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| KeyError::MalformedSignature("raw r‖s"))?;
                let vk = $k::ecdsa::VerifyingKey::from_sec1_bytes(point)
                    .map_err(|_| KeyError::BadPoint)?;
                vk.verify_prehash(&hash(h, data), &s)
                    .map_err(|_| KeyError::BadSignature)
            }};
        }
        match curve {
            Curve::P256 => verify!(p256),
            Curve::P384 => verify!(p384),
            Curve::P521 => verify!(p521),
        }
    }

    fn rsa_sign(
        &self,
        key: &rsa::RsaPrivateKey,
        h: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        key.sign(pkcs1_scheme(h), &hash(h, data))
            .map_err(|_| KeyError::Encoding("RSA signing failed"))
    }

    fn rsa_verify(
        &self,
        key: &rsa::RsaPublicKey,
        h: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError> {
        key.verify(pkcs1_scheme(h), &hash(h, data), sig)
            .map_err(|_| KeyError::BadSignature)
    }

    fn ed25519_sign(&self, seed: &[u8; 32], data: &[u8]) -> Vec<u8> {
        use signature::Signer;
        ed25519_dalek::SigningKey::from_bytes(seed)
            .sign(data)
            .to_bytes()
            .to_vec()
    }

    fn digest(&self, alg: Digest, data: &[u8]) -> Vec<u8> {
        match alg {
            Digest::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Digest::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Digest::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Digest::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; 32] {
        type H = hmac::Hmac<sha2::Sha256>;
        // An HMAC accepts keys of any length, so this cannot fail.
        let mut m = <H as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <H as KeyInit>::new(&Default::default()));
        m.update(data);
        m.finalize().into_bytes().into()
    }

    fn aes256_cbc_encrypt(&self, key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let pad = 16 - plaintext.len() % 16;
        let mut buf = vec![0u8; plaintext.len() + pad];
        buf[..plaintext.len()].copy_from_slice(plaintext);
        match cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
            .encrypt_padded::<Pkcs7>(&mut buf, plaintext.len())
        {
            Ok(ct) => ct.to_vec(),
            // The buffer always has room for the padding.
            Err(_) => Vec::new(),
        }
    }

    fn aes256_cbc_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 16],
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = cbc::Decryptor::<aes::Aes256>::new(key.into(), iv.into())
            .decrypt_padded::<Pkcs7>(&mut buf)
            .ok()?
            .len();
        buf.truncate(len);
        Some(buf)
    }
}
