//! Typed public and private keys: SubjectPublicKeyInfo DER, the KeyGen2 JWK form, signatures
//! (RSA PKCS#1 v1.5, ECDSA as raw r‖s, Ed25519), ECDH and certificate helpers.
//!
//! Spec: `spec/crypto.md`. Facts: §1.4 (JWK form), §3.2 items 3 and 7 (ECDH, SPKI), §3.8
//! (KMK signatures). Everything here is a pure function; randomness comes only from a
//! caller-supplied [`rand_core::CryptoRng`].

use der::{Decode, Encode};
use elliptic_curve::Generate;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_core::CryptoRng;
use rsa::traits::PublicKeyParts;
use spki::{DecodePublicKey, EncodePublicKey};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::crypto;
use crate::jwk::Jwk;

mod oids {
    use spki::ObjectIdentifier as Oid;
    pub const ID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const SECP_256_R_1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP_384_R_1: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const SECP_521_R_1: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const ID_ED_25519: Oid = Oid::new_unwrap("1.3.101.112");
}

/// The fixed DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The fixed DER prefix of an Ed25519 PKCS#8 v1 key (RFC 8410 §7).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The SKS URI prefix of every algorithm.
const SKS_ALG: &str = "https://webpki.github.io/sks/algorithm#";

/// Errors from key parsing, encoding, signing and verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A SubjectPublicKeyInfo was malformed or not in its one canonical form.
    #[error("SubjectPublicKeyInfo: {0}")]
    Spki(&'static str),
    /// A JWK was malformed.
    #[error("JWK: {0}")]
    Jwk(&'static str),
    /// A curve name or URI is not one airtight supports.
    #[error("unsupported curve {0:?}")]
    UnsupportedCurve(String),
    /// An EC point is not on its curve, or is the identity.
    #[error("EC point is not on the curve")]
    BadPoint,
    /// An RSA modulus or exponent is unacceptable.
    #[error("RSA key: {0}")]
    BadRsa(&'static str),
    /// A private key was malformed.
    #[error("private key: {0}")]
    PrivateKey(&'static str),
    /// A certificate could not be parsed.
    #[error("certificate: {0}")]
    Certificate(&'static str),
    /// The signature algorithm does not fit the key.
    #[error("signature algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch {
        /// The algorithm (JOSE name).
        alg: &'static str,
        /// The key type.
        key: &'static str,
    },
    /// A signature had the wrong form (length, DER structure).
    #[error("malformed signature: {0}")]
    MalformedSignature(&'static str),
    /// The signature did not verify (deliberately opaque).
    #[error("signature verification failed")]
    BadSignature,
    /// ECDH between keys on different curves or of non-EC type.
    #[error("ECDH needs two EC keys on the same curve")]
    EcdhMismatch,
    /// An internal encoding step failed.
    #[error("encoding failed: {0}")]
    Encoding(&'static str),
}

/// The NIST curves the SKS supports (facts §3.2 item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// Every supported curve.
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    /// Bytes of one field element (and of r or s in a raw ECDSA signature).
    pub const fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The JOSE name, as KeyGen2 writes it (`P-256`).
    pub const fn jose_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The SKS key-generation URI (`…#ec.nist.p256`).
    pub const fn sks_uri(self) -> &'static str {
        match self {
            Curve::P256 => "https://webpki.github.io/sks/algorithm#ec.nist.p256",
            Curve::P384 => "https://webpki.github.io/sks/algorithm#ec.nist.p384",
            Curve::P521 => "https://webpki.github.io/sks/algorithm#ec.nist.p521",
        }
    }

    /// From a JOSE name or an SKS curve URI (both accepted on input, facts §1.4).
    pub fn from_name(name: &str) -> Result<Self, KeyError> {
        Curve::ALL
            .into_iter()
            .find(|c| c.jose_name() == name || c.sks_uri() == name)
            .ok_or_else(|| KeyError::UnsupportedCurve(name.to_owned()))
    }
}

/// The kind of a key, for algorithm compatibility checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// An EC key on the given curve.
    Ec(Curve),
    /// An RSA key with a modulus of this many bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// An Ed25519 key.
    Ed25519,
}

impl KeyType {
    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            KeyType::Ec(_) => "EC",
            KeyType::Rsa { .. } => "RSA",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}

/// A hash function used by a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The digest of `data` (on the current crypto provider).
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        crypto::current().backend.digest(self.into(), data)
    }
}

/// A signature algorithm as KeyGen2, JSF and the SKS use it. ECDSA signatures are always raw
/// r‖s, each half left-padded to the field length of the key's curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with the hash.
    RsaPkcs1(HashAlg),
    /// ECDSA with the hash (any supported curve), raw r‖s.
    Ecdsa(HashAlg),
    /// Pure Ed25519.
    Ed25519,
}

impl SignatureAlgorithm {
    /// RS256.
    pub const RS256: Self = Self::RsaPkcs1(HashAlg::Sha256);
    /// ES256.
    pub const ES256: Self = Self::Ecdsa(HashAlg::Sha256);

    /// The JOSE name (`RS256`, `ES384`, `Ed25519`).
    pub const fn jose_name(self) -> &'static str {
        match self {
            Self::RsaPkcs1(HashAlg::Sha256) => "RS256",
            Self::RsaPkcs1(HashAlg::Sha384) => "RS384",
            Self::RsaPkcs1(HashAlg::Sha512) => "RS512",
            Self::Ecdsa(HashAlg::Sha256) => "ES256",
            Self::Ecdsa(HashAlg::Sha384) => "ES384",
            Self::Ecdsa(HashAlg::Sha512) => "ES512",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// From a JOSE name (`RS256`…`RS512`, `ES256`…`ES512`, `Ed25519`/`EdDSA`).
    pub fn from_jose(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RsaPkcs1(HashAlg::Sha256),
            "RS384" => Self::RsaPkcs1(HashAlg::Sha384),
            "RS512" => Self::RsaPkcs1(HashAlg::Sha512),
            "ES256" => Self::Ecdsa(HashAlg::Sha256),
            "ES384" => Self::Ecdsa(HashAlg::Sha384),
            "ES512" => Self::Ecdsa(HashAlg::Sha512),
            "Ed25519" | "EdDSA" => Self::Ed25519,
            _ => return None,
        })
    }

    /// True if the algorithm can be used with a key of this type.
    pub fn fits(self, key: KeyType) -> bool {
        matches!(
            (self, key),
            (Self::RsaPkcs1(_), KeyType::Rsa { .. })
                | (Self::Ecdsa(_), KeyType::Ec(_))
                | (Self::Ed25519, KeyType::Ed25519)
        )
    }
}

/// A public key of a type KeyGen2 and the SKS use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// NIST P-256.
    P256(p256::PublicKey),
    /// NIST P-384.
    P384(p384::PublicKey),
    /// NIST P-521.
    P521(p521::PublicKey),
    /// RSA.
    Rsa(rsa::RsaPublicKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Splits an uncompressed SEC1 point into x and y.
fn split_uncompressed(sec1: &[u8], field_len: usize) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    if sec1.len() != 1 + 2 * field_len || sec1.first() != Some(&0x04) {
        return Err(KeyError::Encoding("EC point is not uncompressed"));
    }
    Ok((sec1[1..=field_len].to_vec(), sec1[1 + field_len..].to_vec()))
}

/// Strips leading zero bytes (a big-endian integer's minimal form).
fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

impl PublicKey {
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::P256(_) => KeyType::Ec(Curve::P256),
            PublicKey::P384(_) => KeyType::Ec(Curve::P384),
            PublicKey::P521(_) => KeyType::Ec(Curve::P521),
            PublicKey::Rsa(k) => KeyType::Rsa {
                bits: k.n().bits_vartime() as usize,
            },
            PublicKey::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The curve of an EC key.
    pub fn curve(&self) -> Option<Curve> {
        match self.key_type() {
            KeyType::Ec(c) => Some(c),
            _ => None,
        }
    }

    /// An EC public key from its uncompressed SEC1 encoding (`04 ‖ x ‖ y`).
    pub fn ec_from_uncompressed(curve: Curve, point: &[u8]) -> Result<Self, KeyError> {
        if point.len() != 1 + 2 * curve.field_len() || point.first() != Some(&0x04) {
            return Err(KeyError::BadPoint);
        }
        Ok(match curve {
            Curve::P256 => PublicKey::P256(
                p256::PublicKey::from_sec1_bytes(point).map_err(|_| KeyError::BadPoint)?,
            ),
            Curve::P384 => PublicKey::P384(
                p384::PublicKey::from_sec1_bytes(point).map_err(|_| KeyError::BadPoint)?,
            ),
            Curve::P521 => PublicKey::P521(
                p521::PublicKey::from_sec1_bytes(point).map_err(|_| KeyError::BadPoint)?,
            ),
        })
    }

    /// The uncompressed SEC1 point of an EC key.
    pub fn ec_uncompressed(&self) -> Option<Vec<u8>> {
        Some(match self {
            PublicKey::P256(k) => k.to_sec1_bytes().to_vec(),
            PublicKey::P384(k) => k.to_sec1_bytes().to_vec(),
            PublicKey::P521(k) => k.to_sec1_bytes().to_vec(),
            _ => return None,
        })
    }

    /// X.509 SubjectPublicKeyInfo DER (facts §3.2 item 7): named-curve OID and uncompressed
    /// point for EC, rsaEncryption with NULL parameters for RSA, the Ed25519 OID.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        let doc = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::P521(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => {
                // SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) } (RFC 8410).
                let mut out = ED25519_SPKI_PREFIX.to_vec();
                out.extend_from_slice(k.as_bytes());
                return Ok(out);
            }
        }
        .map_err(|_| KeyError::Encoding("SubjectPublicKeyInfo"))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// Parses SubjectPublicKeyInfo DER strictly: the input must be exactly the canonical
    /// encoding [`PublicKey::to_spki_der`] writes (so a compressed point, absent RSA NULL
    /// parameters, explicit curve parameters or trailing bytes are all rejected).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| KeyError::Spki("not a DER SubjectPublicKeyInfo"))?;
        let oid = spki.algorithm.oid;
        let key = if oid == oids::ID_EC_PUBLIC_KEY {
            let params = spki
                .algorithm
                .parameters
                .ok_or(KeyError::Spki("EC key without a named curve"))?;
            let curve_oid = params
                .decode_as::<spki::ObjectIdentifier>()
                .map_err(|_| KeyError::Spki("EC parameters are not a named-curve OID"))?;
            let curve = if curve_oid == oids::SECP_256_R_1 {
                Curve::P256
            } else if curve_oid == oids::SECP_384_R_1 {
                Curve::P384
            } else if curve_oid == oids::SECP_521_R_1 {
                Curve::P521
            } else {
                return Err(KeyError::UnsupportedCurve(curve_oid.to_string()));
            };
            let point = spki
                .subject_public_key
                .as_bytes()
                .ok_or(KeyError::Spki("public key bit string has unused bits"))?;
            Self::ec_from_uncompressed(curve, point)?
        } else if oid == oids::RSA_ENCRYPTION {
            let k = rsa::RsaPublicKey::from_public_key_der(der)
                .map_err(|_| KeyError::BadRsa("unacceptable RSA SubjectPublicKeyInfo"))?;
            PublicKey::Rsa(k)
        } else if oid == oids::ID_ED_25519 {
            let k = ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map_err(|_| KeyError::Spki("bad Ed25519 key"))?;
            PublicKey::Ed25519(k)
        } else {
            return Err(KeyError::Spki("unsupported key algorithm OID"));
        };
        if key.to_spki_der()? != der {
            return Err(KeyError::Spki("not in canonical form"));
        }
        Ok(key)
    }

    /// The KeyGen2/JSF public-key object (EC x and y at full field length, RSA n and e without
    /// leading zeros, `crv` as a JOSE name).
    pub fn to_jwk(&self) -> Jwk {
        match self {
            PublicKey::Rsa(k) => Jwk::Rsa {
                n: strip_zeros(&k.n_bytes()),
                e: strip_zeros(&k.e_bytes()),
            },
            PublicKey::Ed25519(k) => Jwk::Okp {
                crv: "Ed25519".to_owned(),
                x: k.to_bytes().to_vec(),
            },
            ec => {
                let curve = ec.curve().unwrap_or(Curve::P256);
                let point = ec.ec_uncompressed().unwrap_or_default();
                let (x, y) = split_uncompressed(&point, curve.field_len()).unwrap_or_default();
                Jwk::Ec {
                    crv: curve.jose_name().to_owned(),
                    x,
                    y,
                }
            }
        }
    }

    /// From the KeyGen2 public-key object. Accepts JOSE curve names and SKS curve URIs; checks
    /// full-length coordinates, the point being on the curve, and RSA integers without leading
    /// zeros.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        match jwk {
            Jwk::Ec { crv, x, y } => {
                let curve = Curve::from_name(crv)?;
                let n = curve.field_len();
                if x.len() != n || y.len() != n {
                    return Err(KeyError::Jwk("EC x and y must be exactly the field length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * n);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Self::ec_from_uncompressed(curve, &point)
            }
            Jwk::Rsa { n, e } => {
                if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                    return Err(KeyError::Jwk("RSA n and e must not have leading zeros"));
                }
                let n = rsa::BoxedUint::from_be_slice_vartime(n);
                let e = rsa::BoxedUint::from_be_slice_vartime(e);
                let k = rsa::RsaPublicKey::new(n, e)
                    .map_err(|_| KeyError::BadRsa("modulus or exponent rejected"))?;
                Ok(PublicKey::Rsa(k))
            }
            Jwk::Okp { crv, x } => {
                if crv != "Ed25519" && crv != "https://webpki.github.io/sks/algorithm#ed25519" {
                    return Err(KeyError::UnsupportedCurve(crv.clone()));
                }
                let bytes: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyError::Jwk("Ed25519 x must be 32 bytes"))?;
                let k = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| KeyError::BadPoint)?;
                Ok(PublicKey::Ed25519(k))
            }
        }
    }

    /// Verifies `sig` over `data` (ECDSA: raw r‖s at the curve's field length) on the current
    /// crypto provider. Ed25519 is verified strictly (`ed25519-dalek`'s `verify_strict`:
    /// non-canonical and small-order inputs are rejected) whatever the provider.
    pub fn verify(&self, alg: SignatureAlgorithm, data: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        let mismatch = || KeyError::AlgorithmMismatch {
            alg: alg.jose_name(),
            key: self.key_type().name(),
        };
        let backend = crypto::current().backend;
        match (alg, self) {
            (SignatureAlgorithm::RsaPkcs1(h), PublicKey::Rsa(k)) => {
                backend.rsa_verify(k, h, data, sig)
            }
            (SignatureAlgorithm::Ecdsa(h), ec) => {
                let (Some(curve), Some(point)) = (ec.curve(), ec.ec_uncompressed()) else {
                    return Err(mismatch());
                };
                // r and s in [1, n-1], checked here so every backend reports the same error.
                let malformed = |_| KeyError::MalformedSignature("raw r‖s");
                match curve {
                    Curve::P256 => {
                        p256::ecdsa::Signature::from_slice(sig).map_err(malformed)?;
                    }
                    Curve::P384 => {
                        p384::ecdsa::Signature::from_slice(sig).map_err(malformed)?;
                    }
                    Curve::P521 => {
                        p521::ecdsa::Signature::from_slice(sig).map_err(malformed)?;
                    }
                }
                backend.ecdsa_verify(curve, &point, h, data, sig)
            }
            (SignatureAlgorithm::Ed25519, PublicKey::Ed25519(k)) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| KeyError::MalformedSignature("Ed25519 signature length"))?;
                k.verify_strict(data, &s)
                    .map_err(|_| KeyError::BadSignature)
            }
            _ => Err(mismatch()),
        }
    }
}

/// Raw r‖s (each left-padded to the field length) to an ASN.1 DER `ECDSA-Sig-Value`.
pub fn ecdsa_raw_to_der(curve: Curve, raw: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = |_| KeyError::MalformedSignature("raw r‖s");
    Ok(match curve {
        Curve::P256 => p256::ecdsa::Signature::from_slice(raw)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
        Curve::P384 => p384::ecdsa::Signature::from_slice(raw)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
        Curve::P521 => p521::ecdsa::Signature::from_slice(raw)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec(),
    })
}

/// An ASN.1 DER `ECDSA-Sig-Value` to raw r‖s, each value left-padded to the field length.
pub fn ecdsa_der_to_raw(curve: Curve, der_sig: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = |_| KeyError::MalformedSignature("DER ECDSA-Sig-Value");
    Ok(match curve {
        Curve::P256 => p256::ecdsa::Signature::from_der(der_sig)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
        Curve::P384 => p384::ecdsa::Signature::from_der(der_sig)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
        Curve::P521 => p521::ecdsa::Signature::from_der(der_sig)
            .map_err(bad)?
            .to_bytes()
            .to_vec(),
    })
}

/// A private key: SKS device keys, key-management keys, ephemeral ECDH keys and generated
/// key pairs.
#[derive(Clone)]
pub enum PrivateKey {
    /// NIST P-256.
    P256(p256::SecretKey),
    /// NIST P-384.
    P384(p384::SecretKey),
    /// NIST P-521.
    P521(p521::SecretKey),
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, ..)", self.key_type())
    }
}

impl PrivateKey {
    /// A fresh EC key (used for ephemeral ECDH keys and generated key pairs).
    pub fn generate_ec<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        match curve {
            Curve::P256 => PrivateKey::P256(p256::SecretKey::generate_from_rng(rng)),
            Curve::P384 => PrivateKey::P384(p384::SecretKey::generate_from_rng(rng)),
            Curve::P521 => PrivateKey::P521(p521::SecretKey::generate_from_rng(rng)),
        }
    }

    /// A fresh RSA key with the modulus size and public exponent.
    pub fn generate_rsa<R: CryptoRng + ?Sized>(
        bits: usize,
        exponent: u64,
        rng: &mut R,
    ) -> Result<Self, KeyError> {
        let k = rsa::RsaPrivateKey::new_with_exp(rng, bits, rsa::BoxedUint::from(exponent))
            .map_err(|_| KeyError::BadRsa("key generation failed"))?;
        Ok(PrivateKey::Rsa(Box::new(k)))
    }

    /// A fresh Ed25519 key.
    pub fn generate_ed25519<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Parses PKCS#8 `PrivateKeyInfo` DER (EC P-256/384/521, RSA, Ed25519).
    pub fn from_pkcs8_der(der_bytes: &[u8]) -> Result<Self, KeyError> {
        let info = pkcs8::PrivateKeyInfoRef::from_der(der_bytes)
            .map_err(|_| KeyError::PrivateKey("not PKCS#8 DER"))?;
        let oid = info.algorithm.oid;
        let bad = |_| KeyError::PrivateKey("unacceptable PKCS#8 key");
        if oid == oids::ID_EC_PUBLIC_KEY {
            let curve_oid = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok())
                .ok_or(KeyError::PrivateKey("EC key without a named curve"))?;
            let curve = if curve_oid == oids::SECP_256_R_1 {
                Curve::P256
            } else if curve_oid == oids::SECP_384_R_1 {
                Curve::P384
            } else if curve_oid == oids::SECP_521_R_1 {
                Curve::P521
            } else {
                return Err(KeyError::UnsupportedCurve(curve_oid.to_string()));
            };
            ec_from_pkcs8(curve, curve_oid, info.private_key.as_bytes(), der_bytes)
        } else if oid == oids::RSA_ENCRYPTION {
            Ok(PrivateKey::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs8_der(der_bytes).map_err(bad)?,
            )))
        } else if oid == oids::ID_ED_25519 {
            Ok(PrivateKey::Ed25519(
                ed25519_dalek::SigningKey::from_pkcs8_der(der_bytes).map_err(bad)?,
            ))
        } else {
            Err(KeyError::PrivateKey("unsupported key algorithm OID"))
        }
    }

    /// PKCS#8 DER of the key.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if let Some((curve, d)) = self.ec_scalar() {
            return ec_to_pkcs8(curve, &d);
        }
        let doc = match self {
            PrivateKey::P256(k) => k.to_pkcs8_der(),
            PrivateKey::P384(k) => k.to_pkcs8_der(),
            PrivateKey::P521(k) => k.to_pkcs8_der(),
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
            PrivateKey::Ed25519(k) => {
                // OneAsymmetricKey v1 with the 32-byte seed in an OCTET STRING (RFC 8410).
                let mut out = Zeroizing::new(ED25519_PKCS8_PREFIX.to_vec());
                out.extend_from_slice(k.as_bytes());
                return Ok(out);
            }
        }
        .map_err(|_| KeyError::Encoding("PKCS#8"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 DER of an EC key without the optional public point of its RFC 5915
    /// `ECPrivateKey` (no scalar multiplication to write it, none to read it back with
    /// [`PrivateKey::from_pkcs8_der`]): for keys kept only by their owner, such as the issuer's
    /// ephemeral key between two messages. Other keys as [`PrivateKey::to_pkcs8_der`].
    pub fn to_pkcs8_der_without_public(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match self.ec_scalar() {
            Some((curve, d)) => ec_pkcs8(curve, &d, None),
            None => self.to_pkcs8_der(),
        }
    }

    /// An EC private key from the JWK form with `d` (the samples' `secrets.json`): the public
    /// part in `jwk` must match the one derived from `d`.
    pub fn from_ec_jwk(jwk: &Jwk, d: &[u8]) -> Result<Self, KeyError> {
        let Jwk::Ec { crv, .. } = jwk else {
            return Err(KeyError::Jwk("not an EC key"));
        };
        let curve = Curve::from_name(crv)?;
        if d.len() != curve.field_len() {
            return Err(KeyError::Jwk("d must be exactly the field length"));
        }
        let bad = |_| KeyError::PrivateKey("d is not a valid scalar");
        let key = match curve {
            Curve::P256 => PrivateKey::P256(p256::SecretKey::from_slice(d).map_err(bad)?),
            Curve::P384 => PrivateKey::P384(p384::SecretKey::from_slice(d).map_err(bad)?),
            Curve::P521 => PrivateKey::P521(p521::SecretKey::from_slice(d).map_err(bad)?),
        };
        if key.public_key() != PublicKey::from_jwk(jwk)? {
            return Err(KeyError::Jwk("x and y do not match d"));
        }
        Ok(key)
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match self {
            PrivateKey::P256(_) => KeyType::Ec(Curve::P256),
            PrivateKey::P384(_) => KeyType::Ec(Curve::P384),
            PrivateKey::P521(_) => KeyType::Ec(Curve::P521),
            PrivateKey::Rsa(k) => KeyType::Rsa {
                bits: k.n().bits_vartime() as usize,
            },
            PrivateKey::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The curve and the private scalar (field-length big endian) of an EC key.
    pub fn ec_scalar(&self) -> Option<(Curve, Zeroizing<Vec<u8>>)> {
        Some(match self {
            PrivateKey::P256(k) => (Curve::P256, Zeroizing::new(k.to_bytes().to_vec())),
            PrivateKey::P384(k) => (Curve::P384, Zeroizing::new(k.to_bytes().to_vec())),
            PrivateKey::P521(k) => (Curve::P521, Zeroizing::new(k.to_bytes().to_vec())),
            _ => return None,
        })
    }

    /// The matching public key (an EC public key is derived on the current crypto provider).
    pub fn public_key(&self) -> PublicKey {
        if let Some((curve, d)) = self.ec_scalar()
            && let Ok(point) = crypto::current().backend.ec_public_point(curve, &d)
            && let Ok(public) = PublicKey::ec_from_uncompressed(curve, &point)
        {
            return public;
        }
        match self {
            PrivateKey::P256(k) => PublicKey::P256(k.public_key()),
            PrivateKey::P384(k) => PublicKey::P384(k.public_key()),
            PrivateKey::P521(k) => PublicKey::P521(k.public_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// Signs `data` on the current crypto provider. ECDSA returns raw r‖s and is deterministic
    /// (RFC 6979) unless the provider has `deterministic_ecdsa` off; RSA PKCS#1 v1.5 and
    /// Ed25519 are deterministic by construction.
    pub fn sign(&self, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mismatch = || KeyError::AlgorithmMismatch {
            alg: alg.jose_name(),
            key: self.key_type().name(),
        };
        let provider = crypto::current();
        match (alg, self) {
            (SignatureAlgorithm::RsaPkcs1(h), PrivateKey::Rsa(k)) => {
                provider.backend.rsa_sign(k, h, data)
            }
            (SignatureAlgorithm::Ecdsa(h), ec) => {
                let (curve, d) = ec.ec_scalar().ok_or_else(mismatch)?;
                provider.ecdsa_sign(curve, &d, h, data)
            }
            (SignatureAlgorithm::Ed25519, PrivateKey::Ed25519(k)) => {
                Ok(provider.backend.ed25519_sign(k.as_bytes(), data))
            }
            _ => Err(mismatch()),
        }
    }
}

fn curve_oid(curve: Curve) -> spki::ObjectIdentifier {
    match curve {
        Curve::P256 => oids::SECP_256_R_1,
        Curve::P384 => oids::SECP_384_R_1,
        Curve::P521 => oids::SECP_521_R_1,
    }
}

/// PKCS#8 of an EC key, the bytes RustCrypto writes (an RFC 5915 `ECPrivateKey` v1 with the
/// public point and without inner parameters, the curve in the algorithm identifier), with
/// the public point derived on the current crypto provider instead of in pure Rust.
fn ec_to_pkcs8(curve: Curve, d: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let point = crypto::current().backend.ec_public_point(curve, d)?;
    ec_pkcs8(curve, d, Some(&point))
}

/// PKCS#8 of an EC key with or without the (optional, RFC 5915) public point.
fn ec_pkcs8(curve: Curve, d: &[u8], point: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let encoding = |_| KeyError::Encoding("PKCS#8");
    let inner = Zeroizing::new(
        sec1::EcPrivateKey {
            private_key: d,
            parameters: None,
            public_key: point,
        }
        .to_der()
        .map_err(encoding)?,
    );
    let oid = curve_oid(curve);
    let info = pkcs8::PrivateKeyInfoRef::new(
        pkcs8::AlgorithmIdentifierRef {
            oid: oids::ID_EC_PUBLIC_KEY,
            parameters: Some((&oid).into()),
        },
        der::asn1::OctetStringRef::new(&inner).map_err(encoding)?,
    );
    Ok(Zeroizing::new(info.to_der().map_err(encoding)?))
}

/// An EC key from the `ECPrivateKey` inside PKCS#8: the inner curve (if named) must be the
/// outer one, the scalar valid, and an uncompressed public point (if present) the one the
/// scalar gives on the current crypto provider. A compressed point is left to RustCrypto's
/// parser (`der_bytes`, the whole PKCS#8).
fn ec_from_pkcs8(
    curve: Curve,
    oid: spki::ObjectIdentifier,
    inner: &[u8],
    der_bytes: &[u8],
) -> Result<PrivateKey, KeyError> {
    let bad = KeyError::PrivateKey("unacceptable PKCS#8 key");
    let ec = sec1::EcPrivateKey::from_der(inner).map_err(|_| bad.clone())?;
    if let Some(sec1::EcParameters::NamedCurve(named)) = ec.parameters
        && named != oid
    {
        return Err(bad);
    }
    let pk = ec.public_key;
    if pk.is_some_and(|p| p.first() != Some(&0x04)) {
        let key = match curve {
            Curve::P256 => p256::SecretKey::from_pkcs8_der(der_bytes).map(PrivateKey::P256),
            Curve::P384 => p384::SecretKey::from_pkcs8_der(der_bytes).map(PrivateKey::P384),
            Curve::P521 => p521::SecretKey::from_pkcs8_der(der_bytes).map(PrivateKey::P521),
        };
        return key.map_err(|_| bad);
    }
    let key = match curve {
        Curve::P256 => p256::SecretKey::from_slice(ec.private_key).map(PrivateKey::P256),
        Curve::P384 => p384::SecretKey::from_slice(ec.private_key).map(PrivateKey::P384),
        Curve::P521 => p521::SecretKey::from_slice(ec.private_key).map(PrivateKey::P521),
    }
    .map_err(|_| bad.clone())?;
    if let Some(pk) = pk {
        let (_, d) = key.ec_scalar().ok_or(bad.clone())?;
        let ours = crypto::current().backend.ec_public_point(curve, &d)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(pk, ours.as_slice())) {
            return Err(bad);
        }
    }
    Ok(key)
}

impl PrivateKey {
    /// [`PrivateKey::sign`] through `handles`, the kept backend handles of this key (parsed on
    /// the first signature, reused after): the same signatures, without parsing the key again
    /// for each one. `handles` must belong to this key.
    pub fn sign_cached(
        &self,
        handles: &crypto::KeyHandles,
        alg: SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match handles.try_sign(self, alg, data)? {
            Some(sig) => Ok(sig),
            None => self.sign(alg, data),
        }
    }
}

/// ECDH (SP800-56A ECC CDH) on the current crypto provider: the x-coordinate of the shared
/// point at full field length (facts §3.2 item 3).
pub fn ecdh_z(private: &PrivateKey, peer: &PublicKey) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (curve, d) = private.ec_scalar().ok_or(KeyError::EcdhMismatch)?;
    if peer.curve() != Some(curve) {
        return Err(KeyError::EcdhMismatch);
    }
    let point = peer.ec_uncompressed().ok_or(KeyError::EcdhMismatch)?;
    crypto::current().backend.ecdh(curve, &d, &point)
}

/// An ephemeral EC key pair for session.1 on `curve`.
pub fn generate_ephemeral<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> PrivateKey {
    PrivateKey::generate_ec(curve, rng)
}

/// The SubjectPublicKeyInfo DER of an X.509 certificate (DER).
pub fn certificate_spki_der(cert_der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|_| KeyError::Certificate("not a DER X.509 certificate"))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| KeyError::Certificate("SubjectPublicKeyInfo"))
}

/// The public key of an X.509 certificate (DER), parsed strictly.
pub fn certificate_public_key(cert_der: &[u8]) -> Result<PublicKey, KeyError> {
    PublicKey::from_spki_der(&certificate_spki_der(cert_der)?)
}

/// SHA-256 (on the current crypto provider).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        &crypto::current()
            .backend
            .digest(crypto::Digest::Sha256, data),
    );
    out
}

/// SHA-1 (device IDs only; on the current crypto provider).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&crypto::current().backend.digest(crypto::Digest::Sha1, data));
    out
}

/// The SKS algorithm URI prefix (`https://webpki.github.io/sks/algorithm#`).
pub const fn sks_algorithm_prefix() -> &'static str {
    SKS_ALG
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// Facts §3.2 item 7.
    const P256_SPKI_PREFIX: [u8; 27] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ];

    #[test]
    fn p256_spki_prefix() {
        // [CRY-SPK-001] [CRY-SPK-002]
        let k = PrivateKey::generate_ec(Curve::P256, &mut rng(1)).public_key();
        let der = k.to_spki_der().unwrap();
        assert_eq!(der.len(), 91);
        assert_eq!(der[..27], P256_SPKI_PREFIX);
        assert_eq!(der[27..], k.ec_uncompressed().unwrap()[1..]);
        assert_eq!(PublicKey::from_spki_der(&der).unwrap(), k);
    }

    #[test]
    fn spki_round_trip_every_type() {
        // [CRY-SPK-003] [CRY-SPK-005]
        let mut r = rng(2);
        let mut keys: Vec<PrivateKey> = Curve::ALL
            .into_iter()
            .map(|c| PrivateKey::generate_ec(c, &mut r))
            .collect();
        keys.push(PrivateKey::generate_ed25519(&mut r));
        for k in &keys {
            let p = k.public_key();
            let der = p.to_spki_der().unwrap();
            assert_eq!(PublicKey::from_spki_der(&der).unwrap(), p);
            assert_eq!(PublicKey::from_jwk(&p.to_jwk()).unwrap(), p);
        }
        // Ed25519 SPKI is the RFC 8410 form (independent of the ed25519 crate's encoder).
        let ed = keys[3].public_key();
        let der = ed.to_spki_der().unwrap();
        assert_eq!(der.len(), 44);
        assert_eq!(&der[..12], &ED25519_SPKI_PREFIX);
    }

    #[test]
    fn spki_strictness() {
        let k = PrivateKey::generate_ec(Curve::P256, &mut rng(3)).public_key();
        let der = k.to_spki_der().unwrap();
        // Trailing data.
        let mut t = der.clone();
        t.push(0);
        assert!(PublicKey::from_spki_der(&t).is_err());
        // A compressed point in an otherwise valid structure.
        let point = k.ec_uncompressed().unwrap();
        let mut c = vec![
            0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
        ];
        c.push(0x02 | (point[64] & 1));
        c.extend_from_slice(&point[1..33]);
        assert!(PublicKey::from_spki_der(&c).is_err());
        // An unknown curve OID (secp256k1 1.3.132.0.10).
        let mut k1 = der.clone();
        k1[15..25].copy_from_slice(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00]);
        assert!(PublicKey::from_spki_der(&k1).is_err());
        // Garbage.
        assert!(PublicKey::from_spki_der(&[0x30, 0x00]).is_err());
    }

    #[test]
    fn rsa_spki_requires_null_params() {
        // [CRY-SPK-004] A hand-built RSA SPKI (n = 2^1023 + 1 ... odd, e = 65537) with and
        // without the NULL parameter.
        let mut n = vec![0u8; 128];
        n[0] = 0xc0;
        n[127] = 0x01;
        let jwk = Jwk::Rsa {
            n: n.clone(),
            e: vec![1, 0, 1],
        };
        let key = PublicKey::from_jwk(&jwk).unwrap();
        let der = key.to_spki_der().unwrap();
        // AlgorithmIdentifier with NULL: 30 0d 06 09 <rsaEncryption> 05 00.
        let alg_null = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let pos = der.windows(15).position(|w| w == alg_null).unwrap();
        assert_eq!(PublicKey::from_spki_der(&der).unwrap(), key);
        // Remove the NULL and fix the two outer lengths (both long-form, 2-byte lengths).
        let mut no_null = der.clone();
        no_null.drain(pos + 13..pos + 15);
        no_null[pos + 1] = 0x0b;
        let outer = u16::from_be_bytes([no_null[2], no_null[3]]) - 2;
        no_null[2..4].copy_from_slice(&outer.to_be_bytes());
        assert!(PublicKey::from_spki_der(&no_null).is_err());
        assert_eq!(key.to_jwk(), jwk);
    }

    #[test]
    fn jwk_checks() {
        // [KG2-ENC-006] full-length coordinates, SKS curve URIs on input, points on the curve.
        let k = PrivateKey::generate_ec(Curve::P384, &mut rng(4)).public_key();
        let Jwk::Ec { x, y, .. } = k.to_jwk() else {
            panic!("EC")
        };
        assert_eq!(x.len(), 48);
        // SKS curve URI accepted on input.
        let uri = Jwk::Ec {
            crv: "https://webpki.github.io/sks/algorithm#ec.nist.p384".into(),
            x: x.clone(),
            y: y.clone(),
        };
        assert_eq!(PublicKey::from_jwk(&uri).unwrap(), k);
        // Short coordinate.
        let short = Jwk::Ec {
            crv: "P-384".into(),
            x: x[1..].to_vec(),
            y: y.clone(),
        };
        assert!(matches!(PublicKey::from_jwk(&short), Err(KeyError::Jwk(_))));
        // Off the curve.
        let mut y2 = y.clone();
        y2[47] ^= 1;
        let off = Jwk::Ec {
            crv: "P-384".into(),
            x,
            y: y2,
        };
        assert_eq!(PublicKey::from_jwk(&off), Err(KeyError::BadPoint));
        // Unknown curve.
        let Jwk::Ec { x, y, .. } = k.to_jwk() else {
            panic!("EC")
        };
        assert!(matches!(
            PublicKey::from_jwk(&Jwk::Ec {
                crv: "secp256k1".into(),
                x,
                y
            }),
            Err(KeyError::UnsupportedCurve(_))
        ));
        // RSA with a leading zero.
        let mut n = vec![0u8; 129];
        n[1] = 0xc0;
        n[128] = 1;
        assert!(
            PublicKey::from_jwk(&Jwk::Rsa {
                n,
                e: vec![1, 0, 1]
            })
            .is_err()
        );
        // Ed25519 with SKS URI and wrong length.
        let ed = PrivateKey::generate_ed25519(&mut rng(5)).public_key();
        let Jwk::Okp { x, .. } = ed.to_jwk() else {
            panic!("OKP")
        };
        assert!(
            PublicKey::from_jwk(&Jwk::Okp {
                crv: "Ed25519".into(),
                x: x[..31].to_vec()
            })
            .is_err()
        );
    }

    #[test]
    fn sign_verify_every_algorithm() {
        // [CRY-ALG-008] raw data hashed inside, ECDSA as raw r‖s at the field length.
        let mut r = rng(6);
        let cases = [
            (Curve::P256, HashAlg::Sha256),
            (Curve::P384, HashAlg::Sha384),
            (Curve::P521, HashAlg::Sha512),
            (Curve::P384, HashAlg::Sha256),
            (Curve::P521, HashAlg::Sha256),
        ];
        for (c, h) in cases {
            let k = PrivateKey::generate_ec(c, &mut r);
            let alg = SignatureAlgorithm::Ecdsa(h);
            let sig = k.sign(alg, b"data").unwrap();
            // Raw r‖s at the field length; deterministic (RFC 6979).
            assert_eq!(sig.len(), 2 * c.field_len());
            assert_eq!(k.sign(alg, b"data").unwrap(), sig);
            let p = k.public_key();
            p.verify(alg, b"data", &sig).unwrap();
            assert_eq!(p.verify(alg, b"datA", &sig), Err(KeyError::BadSignature));
            // raw <-> DER
            let der_sig = ecdsa_raw_to_der(c, &sig).unwrap();
            assert_eq!(der_sig[0], 0x30);
            assert_eq!(ecdsa_der_to_raw(c, &der_sig).unwrap(), sig);
            assert!(ecdsa_raw_to_der(c, &sig[1..]).is_err());
            assert!(p.verify(alg, b"data", &der_sig).is_err());
            // Wrong family.
            assert!(matches!(
                p.verify(SignatureAlgorithm::RS256, b"data", &sig),
                Err(KeyError::AlgorithmMismatch { .. })
            ));
        }
        let ed = PrivateKey::generate_ed25519(&mut r);
        let sig = ed.sign(SignatureAlgorithm::Ed25519, b"m").unwrap();
        ed.public_key()
            .verify(SignatureAlgorithm::Ed25519, b"m", &sig)
            .unwrap();
        assert!(ed.sign(SignatureAlgorithm::ES256, b"m").is_err());
    }

    #[test]
    fn ecdsa_accepts_high_s_and_rejects_out_of_range() {
        // Java (JCE) does not normalize s, so both (r, s) and (r, n - s) must verify.
        // [CRY-IMP-007] r and s outside [1, n-1] are rejected.
        let k = PrivateKey::generate_ec(Curve::P256, &mut rng(12));
        let sig = k.sign(SignatureAlgorithm::ES256, b"hi").unwrap();
        let parsed = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        let flipped = p256::ecdsa::Signature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
        let flipped = flipped.to_bytes().to_vec();
        assert_ne!(flipped, sig);
        let p = k.public_key();
        p.verify(SignatureAlgorithm::ES256, b"hi", &sig).unwrap();
        p.verify(SignatureAlgorithm::ES256, b"hi", &flipped)
            .unwrap();
        let mut zero_r = sig.clone();
        zero_r[..32].fill(0);
        assert!(p.verify(SignatureAlgorithm::ES256, b"hi", &zero_r).is_err());
        let mut big_s = sig.clone();
        big_s[32..].fill(0xff);
        assert!(p.verify(SignatureAlgorithm::ES256, b"hi", &big_s).is_err());
    }

    #[test]
    fn rsa_sign_verify_and_pkcs8() {
        let k = PrivateKey::generate_rsa(1024, 65537, &mut rng(7)).unwrap();
        for h in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            let alg = SignatureAlgorithm::RsaPkcs1(h);
            let sig = k.sign(alg, b"x").unwrap();
            assert_eq!(sig.len(), 128);
            k.public_key().verify(alg, b"x", &sig).unwrap();
            assert!(k.public_key().verify(alg, b"y", &sig).is_err());
        }
        let der = k.to_pkcs8_der().unwrap();
        let back = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(k.public_key().key_type(), KeyType::Rsa { bits: 1024 });
    }

    #[test]
    fn pkcs8_without_public_point() {
        let mut r = rng(9);
        for c in Curve::ALL {
            let k = PrivateKey::generate_ec(c, &mut r);
            let bare = k.to_pkcs8_der_without_public().unwrap();
            let full = k.to_pkcs8_der().unwrap();
            // The same key, read back without the public point ...
            let back = PrivateKey::from_pkcs8_der(&bare).unwrap();
            assert_eq!(back.ec_scalar().unwrap().1, k.ec_scalar().unwrap().1);
            assert_eq!(back.public_key(), k.public_key());
            // ... which is absent: the RFC 5915 [1] publicKey field (tag 0xa1) is not written,
            // and the encoding is the full one less that field.
            let point = k.public_key().ec_uncompressed().unwrap();
            assert!(!bare.windows(point.len()).any(|w| w == point.as_slice()));
            assert!(full.windows(point.len()).any(|w| w == point.as_slice()));
            assert!(bare.len() + point.len() < full.len());
        }
        // Other keys are written as by `to_pkcs8_der`.
        let ed = PrivateKey::generate_ed25519(&mut r);
        assert_eq!(
            ed.to_pkcs8_der_without_public().unwrap(),
            ed.to_pkcs8_der().unwrap()
        );
    }

    #[test]
    fn pkcs8_and_jwk_private_keys() {
        let mut r = rng(8);
        for c in Curve::ALL {
            let k = PrivateKey::generate_ec(c, &mut r);
            let der = k.to_pkcs8_der().unwrap();
            assert_eq!(
                PrivateKey::from_pkcs8_der(&der).unwrap().public_key(),
                k.public_key()
            );
        }
        let ed = PrivateKey::generate_ed25519(&mut r);
        let der = ed.to_pkcs8_der().unwrap();
        assert_eq!(&der[..16], &ED25519_PKCS8_PREFIX);
        assert_eq!(
            PrivateKey::from_pkcs8_der(&der).unwrap().public_key(),
            ed.public_key()
        );
        // EC JWK with d.
        let k = PrivateKey::generate_ec(Curve::P256, &mut r);
        let PrivateKey::P256(sk) = &k else { panic!() };
        let d = sk.to_bytes().to_vec();
        let jwk = k.public_key().to_jwk();
        assert_eq!(
            PrivateKey::from_ec_jwk(&jwk, &d).unwrap().public_key(),
            k.public_key()
        );
        let other = PrivateKey::generate_ec(Curve::P256, &mut r)
            .public_key()
            .to_jwk();
        assert!(PrivateKey::from_ec_jwk(&other, &d).is_err());
        assert!(PrivateKey::from_ec_jwk(&jwk, &d[1..]).is_err());
        assert!(PrivateKey::from_pkcs8_der(b"\x30\x00").is_err());
    }

    #[test]
    fn seeds_reproduce_keys() {
        let a = PrivateKey::generate_ec(Curve::P256, &mut rng(9)).public_key();
        let b = PrivateKey::generate_ec(Curve::P256, &mut rng(9)).public_key();
        let c = PrivateKey::generate_ec(Curve::P256, &mut rng(10)).public_key();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ecdh_both_ways() {
        // [CRY-KDF-005] [CRY-ALG-013] Z at full field length; a peer on another curve fails.
        let mut r = rng(11);
        for c in Curve::ALL {
            let a = generate_ephemeral(c, &mut r);
            let b = generate_ephemeral(c, &mut r);
            let z1 = ecdh_z(&a, &b.public_key()).unwrap();
            let z2 = ecdh_z(&b, &a.public_key()).unwrap();
            assert_eq!(*z1, *z2);
            assert_eq!(z1.len(), c.field_len());
        }
        let a = generate_ephemeral(Curve::P256, &mut r);
        let b = generate_ephemeral(Curve::P384, &mut r);
        assert_eq!(
            ecdh_z(&a, &b.public_key()).unwrap_err(),
            KeyError::EcdhMismatch
        );
    }

    #[test]
    fn hashes_known_answers() {
        // FIPS 180-2 "abc".
        assert_eq!(
            sha256(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(abc) starts ba7816bf"
        );
        assert_eq!(sha1(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
    }

    #[test]
    fn certificate_helpers_reject_garbage() {
        assert!(certificate_spki_der(b"not a certificate").is_err());
        assert!(certificate_public_key(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(Curve::from_name("P-521").unwrap(), Curve::P521);
        assert_eq!(
            Curve::from_name("https://webpki.github.io/sks/algorithm#ec.nist.p256").unwrap(),
            Curve::P256
        );
        for n in [
            "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "Ed25519",
        ] {
            assert_eq!(SignatureAlgorithm::from_jose(n).unwrap().jose_name(), n);
        }
        assert!(SignatureAlgorithm::from_jose("PS256").is_none());
        assert!(SignatureAlgorithm::ES256.fits(KeyType::Ec(Curve::P521)));
        assert!(!SignatureAlgorithm::ES256.fits(KeyType::Ed25519));
    }

    proptest::proptest! {
        #[test]
        fn spki_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = PublicKey::from_spki_der(&bytes);
            let _ = PrivateKey::from_pkcs8_der(&bytes);
            let _ = certificate_spki_der(&bytes);
        }
    }
}
