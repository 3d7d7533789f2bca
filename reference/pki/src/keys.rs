//! Key material: signing keys (P-256, P-384, P-521, RSA), public keys parsed from
//! SubjectPublicKeyInfo DER, and the X.509 signature algorithms.
//!
//! The keys are `airtight-proto`'s one key type (`airtight_proto::keys`) and every signature
//! and verification goes through its crypto seam (`airtight_proto::crypto`: aws-lc-rs by
//! default, RustCrypto for pure-Rust builds). Everything random comes from a caller-supplied
//! [`rand_core::CryptoRng`]; ECDSA signatures are deterministic (RFC 6979) unless the current
//! crypto provider has `deterministic_ecdsa` off, RSA signatures are PKCS#1 v1.5
//! (deterministic by construction). The same seed therefore gives the same keys and the same
//! signatures, byte for byte.

use core::fmt;

use airtight_proto::keys::{
    HashAlg, KeyError as ProtoKeyError, PrivateKey as ProtoPrivateKey, PublicKey as ProtoPublicKey,
    SignatureAlgorithm as ProtoAlg, ecdsa_der_to_raw, ecdsa_raw_to_der,
};
use der::asn1::{Any, ObjectIdentifier};
use pkcs8::{DecodePrivateKey, PrivateKeyInfoRef};
use rand_core::CryptoRng;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use der::Decode as _;

/// `id-ecPublicKey` (RFC 5480).
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` / P-256.
pub const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` / P-384.
pub const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` / P-521.
pub const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `rsaEncryption` (RFC 8017).
pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Errors of key generation, import, export and signing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The RSA modulus size is outside 1024..=8192 bits or not a multiple of 8.
    #[error("unsupported RSA modulus size {0} bits (1024..=8192, multiple of 8)")]
    RsaSize(u32),
    /// Key generation failed inside the RSA implementation.
    #[error("RSA key generation failed")]
    Generation,
    /// The PKCS#8 structure could not be decoded.
    #[error("malformed PKCS#8 private key: {0}")]
    Pkcs8(String),
    /// The SubjectPublicKeyInfo could not be decoded.
    #[error("malformed SubjectPublicKeyInfo: {0}")]
    Spki(String),
    /// The key algorithm (or EC curve) is not one we support.
    #[error("unsupported key algorithm {0}")]
    UnsupportedKey(String),
    /// The signature algorithm does not fit the key type (e.g. RSA with an EC key).
    #[error("signature algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch {
        /// The requested algorithm.
        alg: SignatureAlgorithm,
        /// The key kind.
        key: KeyKind,
    },
    /// The signature operation failed.
    #[error("signing failed")]
    Sign,
    /// An encoding step failed (DER or PEM).
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// PEM input was not a single `PRIVATE KEY` block.
    #[error("malformed PEM: {0}")]
    Pem(String),
}

/// The kind (and size) of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// ECDSA on NIST P-521.
    P521,
    /// RSA with the given modulus size in bits (public exponent 65537 when generated).
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
}

impl KeyKind {
    /// RSA-2048.
    pub const RSA2048: KeyKind = KeyKind::Rsa { bits: 2048 };

    /// A short human name: `P-256`, `P-384`, `P-521`, `RSA-2048`, ...
    pub fn label(&self) -> String {
        match self {
            KeyKind::P256 => "P-256".to_owned(),
            KeyKind::P384 => "P-384".to_owned(),
            KeyKind::P521 => "P-521".to_owned(),
            KeyKind::Rsa { bits } => format!("RSA-{bits}"),
        }
    }

    /// True for the EC kinds.
    pub fn is_ec(&self) -> bool {
        !matches!(self, KeyKind::Rsa { .. })
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The X.509 signature algorithms this crate produces and checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2).
    EcdsaSha256,
    /// `ecdsa-with-SHA384` (1.2.840.10045.4.3.3).
    EcdsaSha384,
    /// `ecdsa-with-SHA512` (1.2.840.10045.4.3.4).
    EcdsaSha512,
    /// `sha256WithRSAEncryption` (1.2.840.113549.1.1.11).
    RsaSha256,
    /// `sha384WithRSAEncryption` (1.2.840.113549.1.1.12).
    RsaSha384,
    /// `sha512WithRSAEncryption` (1.2.840.113549.1.1.13).
    RsaSha512,
    /// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5): legacy, verification only when allowed.
    RsaSha1,
}

impl SignatureAlgorithm {
    /// Every algorithm, for iteration in tests and registries.
    pub const ALL: [SignatureAlgorithm; 7] = [
        SignatureAlgorithm::EcdsaSha256,
        SignatureAlgorithm::EcdsaSha384,
        SignatureAlgorithm::EcdsaSha512,
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha384,
        SignatureAlgorithm::RsaSha512,
        SignatureAlgorithm::RsaSha1,
    ];

    /// The algorithm's OID.
    pub fn oid(&self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::EcdsaSha256 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            SignatureAlgorithm::EcdsaSha384 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3"),
            SignatureAlgorithm::EcdsaSha512 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4"),
            SignatureAlgorithm::RsaSha256 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
            SignatureAlgorithm::RsaSha384 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12"),
            SignatureAlgorithm::RsaSha512 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13"),
            SignatureAlgorithm::RsaSha1 => ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5"),
        }
    }

    /// The algorithm for an OID, if we know it.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<SignatureAlgorithm> {
        Self::ALL.into_iter().find(|a| a.oid() == *oid)
    }

    /// True for the ECDSA algorithms.
    pub fn is_ecdsa(&self) -> bool {
        matches!(
            self,
            SignatureAlgorithm::EcdsaSha256
                | SignatureAlgorithm::EcdsaSha384
                | SignatureAlgorithm::EcdsaSha512
        )
    }

    /// The AlgorithmIdentifier as RFC 5758 / RFC 4055 want it: ECDSA without parameters,
    /// RSA with an explicit NULL.
    pub fn algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: if self.is_ecdsa() {
                None
            } else {
                Some(Any::null())
            },
        }
    }

    /// The digest of `data` under this algorithm's hash.
    pub fn digest(&self, data: &[u8]) -> Vec<u8> {
        match self {
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::RsaSha256 => {
                sha2::Sha256::digest(data).to_vec()
            }
            SignatureAlgorithm::EcdsaSha384 | SignatureAlgorithm::RsaSha384 => {
                sha2::Sha384::digest(data).to_vec()
            }
            SignatureAlgorithm::EcdsaSha512 | SignatureAlgorithm::RsaSha512 => {
                sha2::Sha512::digest(data).to_vec()
            }
            SignatureAlgorithm::RsaSha1 => sha1::Sha1::digest(data).to_vec(),
        }
    }

    /// True when this algorithm can be used with a key of `kind`.
    pub fn fits(&self, kind: KeyKind) -> bool {
        self.is_ecdsa() == kind.is_ec()
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-with-SHA256",
            SignatureAlgorithm::EcdsaSha384 => "ecdsa-with-SHA384",
            SignatureAlgorithm::EcdsaSha512 => "ecdsa-with-SHA512",
            SignatureAlgorithm::RsaSha256 => "sha256WithRSAEncryption",
            SignatureAlgorithm::RsaSha384 => "sha384WithRSAEncryption",
            SignatureAlgorithm::RsaSha512 => "sha512WithRSAEncryption",
            SignatureAlgorithm::RsaSha1 => "sha1WithRSAEncryption",
        })
    }
}

/// How an ECDSA signature is encoded (RSA signatures have one form only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcdsaEncoding {
    /// ASN.1 `Ecdsa-Sig-Value` (X.509, CMS).
    Der,
    /// Raw `r ‖ s`, each left-padded to the field length (IEEE P1363; KeyGen2 attestations).
    Raw,
}

/// A private signing key: the one key type of `airtight-proto` (`keys::PrivateKey`), with the
/// public half derived once and held beside it. Every signature goes through the crypto seam
/// (`airtight_proto::crypto`), like the engines' own.
///
/// The inner keys zeroize themselves on drop. `Debug` prints the kind only.
#[derive(Clone)]
pub struct SigningKey {
    key: ProtoPrivateKey,
    public: ProtoPublicKey,
    /// The backend's parsed key, made on the first signature (a CA signs many times).
    handles: airtight_proto::crypto::KeyHandles,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kind())
    }
}

impl From<ProtoPrivateKey> for SigningKey {
    fn from(key: ProtoPrivateKey) -> Self {
        let public = key.public_key();
        SigningKey {
            key,
            public,
            handles: Default::default(),
        }
    }
}

/// The proto hash and signature algorithm of an X.509 algorithm (`None` for SHA-1, which only
/// the `rsa` crate path handles).
fn proto_alg(alg: SignatureAlgorithm) -> Option<ProtoAlg> {
    Some(match alg {
        SignatureAlgorithm::EcdsaSha256 => ProtoAlg::Ecdsa(HashAlg::Sha256),
        SignatureAlgorithm::EcdsaSha384 => ProtoAlg::Ecdsa(HashAlg::Sha384),
        SignatureAlgorithm::EcdsaSha512 => ProtoAlg::Ecdsa(HashAlg::Sha512),
        SignatureAlgorithm::RsaSha256 => ProtoAlg::RsaPkcs1(HashAlg::Sha256),
        SignatureAlgorithm::RsaSha384 => ProtoAlg::RsaPkcs1(HashAlg::Sha384),
        SignatureAlgorithm::RsaSha512 => ProtoAlg::RsaPkcs1(HashAlg::Sha512),
        SignatureAlgorithm::RsaSha1 => return None,
    })
}

fn kind_of(key: &ProtoPublicKey) -> KeyKind {
    match key {
        ProtoPublicKey::P256(_) => KeyKind::P256,
        ProtoPublicKey::P384(_) => KeyKind::P384,
        ProtoPublicKey::P521(_) => KeyKind::P521,
        ProtoPublicKey::Rsa(k) => KeyKind::Rsa { bits: rsa_bits(k) },
        // Not constructible through this crate (no Ed25519 in X.509 here).
        ProtoPublicKey::Ed25519(_) => KeyKind::P256,
    }
}

impl SigningKey {
    /// Generates a fresh key of `kind` from `rng` (deterministic for a deterministic `rng`:
    /// the scalar or the primes come from `rng` exactly as before the crypto seam).
    pub fn generate<R: CryptoRng + ?Sized>(kind: KeyKind, rng: &mut R) -> Result<Self, KeyError> {
        use elliptic_curve_generate::Generate as _;
        let key = match kind {
            KeyKind::P256 => ProtoPrivateKey::P256(p256::SecretKey::from(
                p256::ecdsa::SigningKey::generate_from_rng(rng).as_nonzero_scalar(),
            )),
            KeyKind::P384 => ProtoPrivateKey::P384(p384::SecretKey::from(
                p384::ecdsa::SigningKey::generate_from_rng(rng).as_nonzero_scalar(),
            )),
            KeyKind::P521 => ProtoPrivateKey::P521(p521::SecretKey::from(
                p521::ecdsa::SigningKey::generate_from_rng(rng).as_nonzero_scalar(),
            )),
            KeyKind::Rsa { bits } => {
                if !(1024..=8192).contains(&bits) || bits % 8 != 0 {
                    return Err(KeyError::RsaSize(bits));
                }
                let key =
                    RsaPrivateKey::new(rng, bits as usize).map_err(|_| KeyError::Generation)?;
                ProtoPrivateKey::Rsa(Box::new(key))
            }
        };
        Ok(key.into())
    }

    /// The key as `airtight-proto`'s key type.
    pub fn as_proto(&self) -> &ProtoPrivateKey {
        &self.key
    }

    /// The key's kind (for RSA, the modulus size in bits).
    pub fn kind(&self) -> KeyKind {
        kind_of(&self.public)
    }

    /// Imports a PKCS#8 `PrivateKeyInfo` (DER). EC keys must name their curve.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
        let alg = info.algorithm.oid;
        let p8 = |e: pkcs8::Error| KeyError::Pkcs8(e.to_string());
        if alg == OID_RSA_ENCRYPTION {
            let key = RsaPrivateKey::from_pkcs8_der(der).map_err(p8)?;
            return Ok(ProtoPrivateKey::Rsa(Box::new(key)).into());
        }
        if alg != OID_EC_PUBLIC_KEY {
            return Err(KeyError::UnsupportedKey(alg.to_string()));
        }
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|e| KeyError::Pkcs8(e.to_string()))?;
        let key = match curve {
            c if c == OID_P256 => {
                ProtoPrivateKey::P256(p256::SecretKey::from_pkcs8_der(der).map_err(p8)?)
            }
            c if c == OID_P384 => {
                ProtoPrivateKey::P384(p384::SecretKey::from_pkcs8_der(der).map_err(p8)?)
            }
            c if c == OID_P521 => {
                ProtoPrivateKey::P521(p521::SecretKey::from_pkcs8_der(der).map_err(p8)?)
            }
            other => return Err(KeyError::UnsupportedKey(format!("EC curve {other}"))),
        };
        Ok(key.into())
    }

    /// Exports the key as PKCS#8 `PrivateKeyInfo` DER (zeroized on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// Imports a PEM `PRIVATE KEY` block (PKCS#8).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let blocks = crate::pem::decode_all(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        match blocks.as_slice() {
            [(label, der)] if label == crate::pem::PRIVATE_KEY => Self::from_pkcs8_der(der),
            [(label, _)] => Err(KeyError::Pem(format!("unexpected label {label}"))),
            _ => Err(KeyError::Pem(format!(
                "expected one PEM block, found {}",
                blocks.len()
            ))),
        }
    }

    /// Exports the key as a PEM `PRIVATE KEY` block (PKCS#8, LF line endings).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        crate::pem::encode(crate::pem::PRIVATE_KEY, &der)
            .map(Zeroizing::new)
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER (named curve and uncompressed point for
    /// EC, `rsaEncryption` with NULL parameters for RSA).
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        self.public
            .to_spki_der()
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.public.clone())
    }

    /// The signature algorithm a certificate signed by this key uses by default:
    /// ecdsa-with-SHA256 (P-256), ecdsa-with-SHA384 (P-384), ecdsa-with-SHA512 (P-521),
    /// sha256WithRSAEncryption (RSA).
    pub fn default_signature_algorithm(&self) -> SignatureAlgorithm {
        match self.kind() {
            KeyKind::P256 => SignatureAlgorithm::EcdsaSha256,
            KeyKind::P384 => SignatureAlgorithm::EcdsaSha384,
            KeyKind::P521 => SignatureAlgorithm::EcdsaSha512,
            KeyKind::Rsa { .. } => SignatureAlgorithm::RsaSha256,
        }
    }

    /// Signs `data` as X.509 needs it, with the default algorithm: DER ECDSA or PKCS#1 v1.5.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign_with(self.default_signature_algorithm(), data)
    }

    /// Signs `data` with `alg`; ECDSA signatures are DER (`Ecdsa-Sig-Value`).
    pub fn sign_with(&self, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign_encoded(alg, data, EcdsaEncoding::Der)
    }

    /// Signs `data` with `alg`; ECDSA signatures are raw `r ‖ s` (KeyGen2 attestations use
    /// this form with SHA-256), RSA signatures are PKCS#1 v1.5 as always.
    pub fn sign_raw(&self, alg: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign_encoded(alg, data, EcdsaEncoding::Raw)
    }

    /// Signs `data` with `alg` and the chosen ECDSA encoding, on the current crypto provider
    /// (ECDSA is RFC 6979 unless the provider says otherwise).
    pub fn sign_encoded(
        &self,
        alg: SignatureAlgorithm,
        data: &[u8],
        encoding: EcdsaEncoding,
    ) -> Result<Vec<u8>, KeyError> {
        if !alg.fits(self.kind()) {
            return Err(KeyError::AlgorithmMismatch {
                alg,
                key: self.kind(),
            });
        }
        let Some(proto) = proto_alg(alg) else {
            // sha1WithRSAEncryption: legacy fixtures only, on the `rsa` crate.
            let ProtoPrivateKey::Rsa(k) = &self.key else {
                return Err(KeyError::Sign);
            };
            return k
                .sign(Pkcs1v15Sign::new::<sha1::Sha1>(), &alg.digest(data))
                .map_err(|_| KeyError::Sign);
        };
        let sig = self
            .key
            .sign_cached(&self.handles, proto, data)
            .map_err(|_| KeyError::Sign)?;
        match (encoding, self.public.curve()) {
            (EcdsaEncoding::Der, Some(curve)) => {
                ecdsa_raw_to_der(curve, &sig).map_err(|_| KeyError::Sign)
            }
            _ => Ok(sig),
        }
    }
}

/// A public key parsed from SubjectPublicKeyInfo DER: `airtight-proto`'s key type, parsed with
/// this crate's X.509 rules (any DER form the certificate holds, RSA 1024..=8192 bits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(ProtoPublicKey);

impl From<ProtoPublicKey> for PublicKey {
    fn from(key: ProtoPublicKey) -> Self {
        PublicKey(key)
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The algorithm does not fit the key type.
    #[error("signature algorithm {alg} does not fit a {key} key")]
    AlgorithmMismatch {
        /// The algorithm.
        alg: SignatureAlgorithm,
        /// The key kind.
        key: KeyKind,
    },
    /// The signature bytes are not a well-formed signature for this key.
    #[error("malformed signature")]
    MalformedSignature,
    /// The signature does not verify.
    #[error("signature mismatch")]
    Mismatch,
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER (strict DER; EC keys must use a named curve we support,
    /// RSA moduli must be 1024..=8192 bits).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki =
            SubjectPublicKeyInfoRef::from_der(der).map_err(|e| KeyError::Spki(e.to_string()))?;
        let alg = spki.algorithm.oid;
        let sp = |e: spki::Error| KeyError::Spki(e.to_string());
        if alg == OID_RSA_ENCRYPTION {
            let key = RsaPublicKey::from_public_key_der(der).map_err(sp)?;
            return Ok(PublicKey(ProtoPublicKey::Rsa(key)));
        }
        if alg != OID_EC_PUBLIC_KEY {
            return Err(KeyError::UnsupportedKey(alg.to_string()));
        }
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|e| KeyError::Spki(e.to_string()))?;
        Ok(PublicKey(match curve {
            c if c == OID_P256 => {
                ProtoPublicKey::P256(p256::PublicKey::from_public_key_der(der).map_err(sp)?)
            }
            c if c == OID_P384 => {
                ProtoPublicKey::P384(p384::PublicKey::from_public_key_der(der).map_err(sp)?)
            }
            c if c == OID_P521 => {
                ProtoPublicKey::P521(p521::PublicKey::from_public_key_der(der).map_err(sp)?)
            }
            other => return Err(KeyError::UnsupportedKey(format!("EC curve {other}"))),
        }))
    }

    /// The key as `airtight-proto`'s key type.
    pub fn as_proto(&self) -> &ProtoPublicKey {
        &self.0
    }

    /// The SubjectPublicKeyInfo DER of this key.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, KeyError> {
        self.0
            .to_spki_der()
            .map_err(|e| KeyError::Encoding(e.to_string()))
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        kind_of(&self.0)
    }

    /// Verifies an X.509-form signature (DER ECDSA, PKCS#1 v1.5 RSA).
    pub fn verify(
        &self,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        self.verify_encoded(alg, data, signature, EcdsaEncoding::Der)
    }

    /// Verifies a signature with the chosen ECDSA encoding, on the current crypto provider.
    pub fn verify_encoded(
        &self,
        alg: SignatureAlgorithm,
        data: &[u8],
        signature: &[u8],
        encoding: EcdsaEncoding,
    ) -> Result<(), VerifyError> {
        if !alg.fits(self.kind()) {
            return Err(VerifyError::AlgorithmMismatch {
                alg,
                key: self.kind(),
            });
        }
        let Some(proto) = proto_alg(alg) else {
            let ProtoPublicKey::Rsa(k) = &self.0 else {
                return Err(VerifyError::Mismatch);
            };
            return k
                .verify(
                    Pkcs1v15Sign::new::<sha1::Sha1>(),
                    &alg.digest(data),
                    signature,
                )
                .map_err(|_| VerifyError::Mismatch);
        };
        let raw;
        let signature = match (encoding, self.0.curve()) {
            (EcdsaEncoding::Der, Some(curve)) => {
                raw = ecdsa_der_to_raw(curve, signature)
                    .map_err(|_| VerifyError::MalformedSignature)?;
                &raw[..]
            }
            _ => signature,
        };
        self.0.verify(proto, data, signature).map_err(|e| match e {
            ProtoKeyError::MalformedSignature(_) => VerifyError::MalformedSignature,
            _ => VerifyError::Mismatch,
        })
    }
}

fn rsa_bits(key: &RsaPublicKey) -> u32 {
    use rsa::traits::PublicKeyParts as _;
    u32::try_from(key.size() * 8).unwrap_or(u32::MAX)
}

/// `Generate` lives in `crypto-common`, re-exported by `elliptic-curve` through `p256`.
mod elliptic_curve_generate {
    pub use p256::elliptic_curve::Generate;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn rng(seed: u8) -> ChaCha20Rng {
        ChaCha20Rng::from_seed([seed; 32])
    }

    #[test]
    fn same_seed_same_key_and_signature() {
        for kind in [KeyKind::P256, KeyKind::P384, KeyKind::P521] {
            let a = SigningKey::generate(kind, &mut rng(1)).unwrap();
            let b = SigningKey::generate(kind, &mut rng(1)).unwrap();
            let c = SigningKey::generate(kind, &mut rng(2)).unwrap();
            assert_eq!(*a.to_pkcs8_der().unwrap(), *b.to_pkcs8_der().unwrap());
            assert_ne!(*a.to_pkcs8_der().unwrap(), *c.to_pkcs8_der().unwrap());
            // RFC 6979: deterministic signatures.
            assert_eq!(a.sign(b"x").unwrap(), b.sign(b"x").unwrap());
            assert_eq!(a.kind(), kind);
        }
    }

    #[test]
    fn pkcs8_round_trip_and_spki() {
        for kind in [
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::P521,
            KeyKind::Rsa { bits: 1024 },
        ] {
            let k = SigningKey::generate(kind, &mut rng(3)).unwrap();
            let der = k.to_pkcs8_der().unwrap();
            let back = SigningKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(back.kind(), kind);
            assert_eq!(
                back.public_key_spki_der().unwrap(),
                k.public_key_spki_der().unwrap()
            );
            let pem = k.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
            assert_eq!(*back.to_pkcs8_der().unwrap(), *der);
            let pk = PublicKey::from_spki_der(&k.public_key_spki_der().unwrap()).unwrap();
            assert_eq!(pk, k.public_key());
            assert_eq!(pk.to_spki_der().unwrap(), k.public_key_spki_der().unwrap());
        }
    }

    #[test]
    fn spki_byte_forms() {
        // [CRY-SPK-001] [CRY-SPK-002] [CRY-SPK-003]
        let p256 = SigningKey::generate(KeyKind::P256, &mut rng(4)).unwrap();
        let der = p256.public_key_spki_der().unwrap();
        let prefix: [u8; 27] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
        ];
        assert_eq!(der.len(), 91);
        assert_eq!(der[..27], prefix);
        let p384 = SigningKey::generate(KeyKind::P384, &mut rng(4)).unwrap();
        let der = p384.public_key_spki_der().unwrap();
        assert_eq!(der.len(), 120);
        assert_eq!(
            der[..24],
            [
                0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04
            ]
        );
        let p521 = SigningKey::generate(KeyKind::P521, &mut rng(4)).unwrap();
        let der = p521.public_key_spki_der().unwrap();
        assert_eq!(der.len(), 158);
        assert_eq!(
            der[..26],
            [
                0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00, 0x04
            ]
        );
    }

    #[test]
    fn sign_and_verify_every_fitting_algorithm() {
        let ec = SigningKey::generate(KeyKind::P256, &mut rng(5)).unwrap();
        let rsa = SigningKey::generate(KeyKind::Rsa { bits: 1024 }, &mut rng(5)).unwrap();
        for alg in SignatureAlgorithm::ALL {
            for key in [&ec, &rsa] {
                let r = key.sign_with(alg, b"data");
                if !alg.fits(key.kind()) {
                    assert!(matches!(r, Err(KeyError::AlgorithmMismatch { .. })));
                    continue;
                }
                let sig = r.unwrap();
                let pk = key.public_key();
                pk.verify(alg, b"data", &sig).unwrap();
                assert_eq!(pk.verify(alg, b"date", &sig), Err(VerifyError::Mismatch));
                assert_eq!(alg.algorithm_identifier().oid, alg.oid());
                assert_eq!(SignatureAlgorithm::from_oid(&alg.oid()), Some(alg));
            }
        }
    }

    #[test]
    fn raw_ecdsa_is_r_concat_s() {
        // [CRY-ATT-007] raw r ‖ s at full field length.
        for (kind, len) in [
            (KeyKind::P256, 64),
            (KeyKind::P384, 96),
            (KeyKind::P521, 132),
        ] {
            let k = SigningKey::generate(kind, &mut rng(6)).unwrap();
            let raw = k.sign_raw(SignatureAlgorithm::EcdsaSha256, b"A").unwrap();
            assert_eq!(raw.len(), len);
            k.public_key()
                .verify_encoded(
                    SignatureAlgorithm::EcdsaSha256,
                    b"A",
                    &raw,
                    EcdsaEncoding::Raw,
                )
                .unwrap();
            // The DER form of the same deterministic signature carries the same r and s.
            let der = k.sign_with(SignatureAlgorithm::EcdsaSha256, b"A").unwrap();
            assert_ne!(der, raw);
        }
    }

    #[test]
    fn rsa_size_limits() {
        assert_eq!(
            SigningKey::generate(KeyKind::Rsa { bits: 512 }, &mut rng(7)).unwrap_err(),
            KeyError::RsaSize(512)
        );
        assert_eq!(
            SigningKey::generate(KeyKind::Rsa { bits: 1025 }, &mut rng(7)).unwrap_err(),
            KeyError::RsaSize(1025)
        );
    }

    #[test]
    fn rsa_spki_has_null_parameters() {
        // [CRY-SPK-004]
        let k = SigningKey::generate(KeyKind::Rsa { bits: 1024 }, &mut rng(8)).unwrap();
        let der = k.public_key_spki_der().unwrap();
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        assert_eq!(der[3..3 + alg.len()], alg);
    }

    #[test]
    fn garbage_pkcs8_and_spki_are_errors() {
        assert!(matches!(
            SigningKey::from_pkcs8_der(&[]),
            Err(KeyError::Pkcs8(_))
        ));
        assert!(matches!(
            SigningKey::from_pkcs8_der(&[0x30, 0x00]),
            Err(KeyError::Pkcs8(_))
        ));
        assert!(matches!(
            PublicKey::from_spki_der(&[0x30]),
            Err(KeyError::Spki(_))
        ));
        assert!(matches!(
            SigningKey::from_pkcs8_pem("hello"),
            Err(KeyError::Pem(_))
        ));
    }
}
