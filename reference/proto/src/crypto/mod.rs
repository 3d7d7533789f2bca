//! The crypto backend seam: every primitive the engines use (EC public-key derivation, ECDH,
//! ECDSA, RSA PKCS#1 v1.5, Ed25519, SHA-1/2, HMAC-SHA256, AES-256-CBC) goes through one
//! [`Backend`], chosen by a [`CryptoProvider`].
//!
//! Two backends exist: [`AWS_LC`] (aws-lc-rs, the default build) and [`RUSTCRYPTO`] (the pure-Rust
//! RustCrypto crates, always compiled in: it is the RFC 6979 signer and the other half of the
//! differential tests). The cargo feature `rustcrypto` (or building without `aws-lc`) makes
//! RustCrypto the default.
//!
//! Key *material* stays in the typed containers of [`crate::keys`] (parsed once, at the edge);
//! a backend receives the parsed key and performs the operation. Key generation draws the
//! private scalar (or Ed25519 seed, or RSA primes) from the caller's injected RNG exactly as
//! before, so a seeded RNG still reproduces every key byte for byte; only the public-key
//! derivation (a scalar multiplication) runs on the backend.
//!
//! **ECDSA determinism.** aws-lc-rs signs ECDSA with random nonces. A provider with
//! [`CryptoProvider::deterministic_ecdsa`] set signs ECDSA with RustCrypto's RFC 6979 signer
//! whatever its backend, so vectors, golden sessions and seeded simulations stay byte-identical.
//! The process default has it set; an engine that runs on operating-system entropy (the issuer
//! server, a card with OS entropy) clears it with [`CryptoProvider::scope`] or
//! [`CryptoProvider::install_default`]. Every other primitive is deterministic in both
//! backends and gives identical bytes (the differential tests check it).

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::keys::{Curve, HashAlg, KeyError};

#[cfg(feature = "aws-lc")]
mod aws_lc;
mod rustcrypto;

#[cfg(feature = "aws-lc")]
pub use aws_lc::AwsLc;
pub use rustcrypto::RustCrypto;

/// The RustCrypto backend (pure Rust).
pub static RUSTCRYPTO: RustCrypto = RustCrypto;

/// The aws-lc-rs backend.
#[cfg(feature = "aws-lc")]
pub static AWS_LC: AwsLc = AwsLc;

/// A digest algorithm (SHA-1 for device IDs and legacy certificates, SHA-2 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digest {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl From<HashAlg> for Digest {
    fn from(h: HashAlg) -> Self {
        match h {
            HashAlg::Sha256 => Digest::Sha256,
            HashAlg::Sha384 => Digest::Sha384,
            HashAlg::Sha512 => Digest::Sha512,
        }
    }
}

/// One implementation of the primitives. Keys arrive parsed (scalars and points as fixed-length
/// big-endian bytes, RSA keys as `rsa` crate containers); every method is a pure function of
/// its inputs except [`Backend::ecdsa_sign`], which may use fresh randomness (aws-lc-rs).
pub trait Backend: Send + Sync + fmt::Debug {
    /// A short name (`aws-lc-rs`, `rustcrypto`).
    fn name(&self) -> &'static str;

    /// The uncompressed SEC1 public point of the private scalar `d` (field-length big endian).
    fn ec_public_point(&self, curve: Curve, d: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// ECDH: the x-coordinate of `d · peer` at the field length. `peer` is an uncompressed
    /// point already known to be on the curve.
    fn ecdh(&self, curve: Curve, d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// ECDSA over `data` hashed with `hash`, as raw r‖s. May be randomized.
    fn ecdsa_sign(
        &self,
        curve: Curve,
        d: &[u8],
        hash: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError>;

    /// Verifies a raw r‖s ECDSA signature (r and s must lie in [1, n-1]; high s is accepted,
    /// as Java does).
    fn ecdsa_verify(
        &self,
        curve: Curve,
        point: &[u8],
        hash: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError>;

    /// RSASSA-PKCS1-v1_5 over `data` hashed with `hash`.
    fn rsa_sign(
        &self,
        key: &rsa::RsaPrivateKey,
        hash: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError>;

    /// Verifies an RSASSA-PKCS1-v1_5 signature.
    fn rsa_verify(
        &self,
        key: &rsa::RsaPublicKey,
        hash: HashAlg,
        data: &[u8],
        sig: &[u8],
    ) -> Result<(), KeyError>;

    /// Pure Ed25519 with the 32-byte seed.
    fn ed25519_sign(&self, seed: &[u8; 32], data: &[u8]) -> Vec<u8>;

    /// The digest of `data`.
    fn digest(&self, alg: Digest, data: &[u8]) -> Vec<u8>;

    /// HMAC-SHA256 (any key length, RFC 2104).
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; 32];

    /// AES-256-CBC with PKCS#7 padding (the ciphertext only, without the IV).
    fn aes256_cbc_encrypt(&self, key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8>;

    /// AES-256-CBC decryption and PKCS#7 unpadding; `None` on a padding error. `ciphertext` is a
    /// non-empty whole number of blocks (the caller checks).
    fn aes256_cbc_decrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 16],
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>>;
}

/// A backend and the ECDSA signing mode: what the engines call through.
#[derive(Clone, Copy)]
pub struct CryptoProvider {
    /// The backend of every primitive.
    pub backend: &'static dyn Backend,
    /// Sign ECDSA with RFC 6979 nonces (RustCrypto's signer) whatever the backend: for vectors,
    /// golden sessions and seeded simulations.
    pub deterministic_ecdsa: bool,
}

impl fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CryptoProvider({}{})",
            self.backend.name(),
            if self.deterministic_ecdsa {
                ", RFC 6979 ECDSA"
            } else {
                ""
            }
        )
    }
}

thread_local! {
    static SCOPED: Cell<Option<CryptoProvider>> = const { Cell::new(None) };
}

static INSTALLED: OnceLock<CryptoProvider> = OnceLock::new();

/// Restores the previous thread-scoped provider when dropped (also on unwind).
struct Restore(Option<CryptoProvider>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0.take();
        SCOPED.with(|s| s.set(prev));
    }
}

impl CryptoProvider {
    /// The RustCrypto backend, RFC 6979 ECDSA.
    pub const fn rustcrypto() -> Self {
        CryptoProvider {
            backend: &RUSTCRYPTO,
            deterministic_ecdsa: true,
        }
    }

    /// The aws-lc-rs backend with its own (randomized) ECDSA signer.
    #[cfg(feature = "aws-lc")]
    pub const fn aws_lc() -> Self {
        CryptoProvider {
            backend: &AWS_LC,
            deterministic_ecdsa: false,
        }
    }

    /// The build's default backend (aws-lc-rs unless the `rustcrypto` feature is on or
    /// `aws-lc` is off) with RFC 6979 ECDSA, so that library calls are reproducible.
    pub const fn build_default() -> Self {
        #[cfg(all(feature = "aws-lc", not(feature = "rustcrypto")))]
        {
            CryptoProvider {
                backend: &AWS_LC,
                deterministic_ecdsa: true,
            }
        }
        #[cfg(not(all(feature = "aws-lc", not(feature = "rustcrypto"))))]
        {
            CryptoProvider::rustcrypto()
        }
    }

    /// Every backend compiled in, each with RFC 6979 ECDSA (for differential tests).
    pub fn all() -> Vec<CryptoProvider> {
        let mut v = vec![CryptoProvider::rustcrypto()];
        #[cfg(feature = "aws-lc")]
        v.push(CryptoProvider {
            backend: &AWS_LC,
            deterministic_ecdsa: true,
        });
        v
    }

    /// The same backend with the ECDSA signing mode set.
    #[must_use]
    pub const fn with_deterministic_ecdsa(self, on: bool) -> Self {
        CryptoProvider {
            backend: self.backend,
            deterministic_ecdsa: on,
        }
    }

    /// Makes this the process default (once; like rustls' `install_default`). Returns the
    /// already-installed provider if another one got there first.
    pub fn install_default(self) -> Result<(), CryptoProvider> {
        INSTALLED.set(self).map_err(|_| get_default())
    }

    /// Runs `f` with this provider as the current one on this thread (nesting restores the
    /// outer one). Engines use it to apply their configured provider to one step.
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        let prev = SCOPED.with(|s| s.replace(Some(self)));
        let _restore = Restore(prev);
        f()
    }

    /// The backend's name.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// ECDSA signing with this provider's mode.
    pub fn ecdsa_sign(
        &self,
        curve: Curve,
        d: &[u8],
        hash: HashAlg,
        data: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        if self.deterministic_ecdsa {
            RUSTCRYPTO.ecdsa_sign(curve, d, hash, data)
        } else {
            self.backend.ecdsa_sign(curve, d, hash, data)
        }
    }
}

/// Backend handles of one private key, made on its first signature and kept, so that a key
/// that signs many times (a CA, a key-management key) is parsed once: aws-lc-rs parses the key
/// and derives its public point when a key pair is made, which costs about as much as the
/// signature itself. Bound to one key: hold it beside that key only and sign through
/// [`crate::keys::PrivateKey::sign_cached`]. Clones share the handles. Other backends (and
/// RFC 6979 ECDSA) keep no handles.
#[derive(Clone, Default)]
pub struct KeyHandles {
    #[cfg(feature = "aws-lc")]
    aws_lc: std::sync::Arc<OnceLock<aws_lc::Handle>>,
}

impl fmt::Debug for KeyHandles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHandles(..)")
    }
}

impl KeyHandles {
    /// Signs with the kept handle of `key` when the current provider is aws-lc-rs (making the
    /// handle on first use); `None` where no handle applies (another backend, RFC 6979 ECDSA,
    /// a combination aws-lc-rs does not sign, or a hash other than the one of the first
    /// ECDSA signature), for the caller's ordinary path.
    #[cfg_attr(not(feature = "aws-lc"), allow(unused_variables))]
    pub(crate) fn try_sign(
        &self,
        key: &crate::keys::PrivateKey,
        alg: crate::keys::SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, KeyError> {
        #[cfg(feature = "aws-lc")]
        {
            let provider = current();
            if provider.backend.name() == AWS_LC.name() {
                return self.aws_lc_sign(provider, key, alg, data);
            }
        }
        Ok(None)
    }

    #[cfg(feature = "aws-lc")]
    fn aws_lc_sign(
        &self,
        provider: CryptoProvider,
        key: &crate::keys::PrivateKey,
        alg: crate::keys::SignatureAlgorithm,
        data: &[u8],
    ) -> Result<Option<Vec<u8>>, KeyError> {
        use crate::keys::{PrivateKey, SignatureAlgorithm};
        use aws_lc::Handle;
        match (alg, key) {
            (SignatureAlgorithm::RsaPkcs1(h), PrivateKey::Rsa(k)) => {
                let handle = self.aws_lc.get_or_init(|| match aws_lc::rsa_key_pair(k) {
                    Ok(Some(pair)) => Handle::Rsa(pair),
                    _ => Handle::None,
                });
                if let Handle::Rsa(pair) = handle {
                    return aws_lc::rsa_sign_prepared(pair, h, data).map(Some);
                }
            }
            (SignatureAlgorithm::Ecdsa(h), ec) if !provider.deterministic_ecdsa => {
                let handle = self.aws_lc.get_or_init(|| {
                    let Some((curve, d)) = ec.ec_scalar() else {
                        return Handle::None;
                    };
                    match aws_lc::ecdsa_key_pair(curve, &d, h) {
                        Ok(Some(pair)) => Handle::Ecdsa(h, pair),
                        _ => Handle::None,
                    }
                });
                if let Handle::Ecdsa(made_for, pair) = handle
                    && *made_for == h
                {
                    return aws_lc::ecdsa_sign_prepared(pair, data).map(Some);
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

/// The process default: the installed one, else [`CryptoProvider::build_default`].
pub fn get_default() -> CryptoProvider {
    INSTALLED
        .get()
        .copied()
        .unwrap_or(CryptoProvider::build_default())
}

/// The provider in effect on this thread: the innermost [`CryptoProvider::scope`], else the
/// process default.
pub fn current() -> CryptoProvider {
    SCOPED.with(Cell::get).unwrap_or_else(get_default)
}

/// Encodes a raw r‖s signature (two halves of equal length) as a DER `ECDSA-Sig-Value`, without
/// judging the values (zero or out-of-range integers are left for the verifier to reject).
pub(crate) fn raw_ecdsa_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    fn int(v: &[u8], out: &mut Vec<u8>) {
        let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        let v = &v[first..];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        let len = v.len() + usize::from(pad);
        out.push(0x02);
        push_len(len.max(1), out);
        if v.is_empty() {
            out.push(0);
            return;
        }
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    fn push_len(len: usize, out: &mut Vec<u8>) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.push(0x81);
            out.push(len as u8);
        }
    }
    let mut body = Vec::with_capacity(raw.len() + 8);
    int(r, &mut body);
    int(s, &mut body);
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    push_len(body.len(), &mut out);
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
