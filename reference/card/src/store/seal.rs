//! Sealing of the store's payloads: every snapshot payload and every journal record payload of
//! a sealed store is encrypted and authenticated with XChaCha20-Poly1305 under a key kept apart
//! from the store files ([`SealKey`]), and the commit counter files carry an HMAC-SHA256 under a
//! sibling key. A copy of `state.snap` and `journal.log` alone reveals nothing of the state.
//!
//! # Keys
//!
//! A [`SealKey`] is derived, never stored:
//! - [`SealKey::from_device_key`] (mode [`SealMode::DeviceKey`], the card's default):
//!   HKDF-SHA256 over the device key's PKCS#8 DER (which lives in its own 0600 file beside the
//!   store), salt `"airtight-card store seal v1"`; three subkeys are expanded with the infos
//!   `"aead"`, `"nonce"` and `"counter"`.
//! - [`SealKey::from_device_key_and_passphrase`] (mode [`SealMode::DeviceKeyAndPassphrase`]):
//!   PBKDF2-HMAC-SHA256 over the passphrase with a salt expanded from the device key (so it is
//!   unique per device and secret), then HKDF over both: the store needs the device key *and*
//!   the passphrase.
//!
//! # Nonces
//!
//! The store has no random generator of its own and must stay reproducible, so the 192-bit
//! nonce is *synthetic*: HMAC-SHA256 (nonce subkey) over the associated data and the plaintext,
//! truncated to 24 bytes, and stored in front of the ciphertext. Two different messages never
//! share a nonce (short of an HMAC collision), and the same message under the same associated
//! data gives the same bytes, which reveals only that equality.
//!
//! The associated data binds each payload to its place: file kind, schema, generation and
//! commit number (snapshot) or sequence number (record), so a sealed payload cannot be moved to
//! another file, generation or position.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of the synthetic nonce stored in front of each sealed payload.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag at the end of each sealed payload.
pub const TAG_LEN: usize = 16;
/// PBKDF2 iterations of [`SealKey::from_device_key_and_passphrase`] unless told otherwise.
pub const DEFAULT_PASSPHRASE_ITERATIONS: u32 = 600_000;

const HKDF_SALT: &[u8] = b"airtight-card store seal v1";

/// How the payloads of a store are protected; recorded (as one byte) in every snapshot, so a
/// store opened with the wrong kind of key is refused with a message that says which it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealMode {
    /// Plaintext payloads (format 1 stores, and the generic store's tests and benches).
    None,
    /// Sealed under a key derived from the device key.
    DeviceKey,
    /// Sealed under a key derived from the device key and a passphrase.
    DeviceKeyAndPassphrase,
}

impl SealMode {
    /// The byte recorded in the snapshot header.
    pub fn to_byte(self) -> u8 {
        match self {
            SealMode::None => 0,
            SealMode::DeviceKey => 1,
            SealMode::DeviceKeyAndPassphrase => 2,
        }
    }

    /// The mode of a snapshot header byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(SealMode::None),
            1 => Some(SealMode::DeviceKey),
            2 => Some(SealMode::DeviceKeyAndPassphrase),
            _ => None,
        }
    }

    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            SealMode::None => "not sealed",
            SealMode::DeviceKey => "sealed with the device key",
            SealMode::DeviceKeyAndPassphrase => "sealed with the device key and a passphrase",
        }
    }
}

impl std::fmt::Display for SealMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The keys that seal a store. Derived from secrets kept outside the store directory; wiped
/// when dropped; `Debug` shows only the mode.
#[derive(Clone)]
pub struct SealKey {
    mode: SealMode,
    aead: Zeroizing<[u8; 32]>,
    nonce: Zeroizing<[u8; 32]>,
    counter: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The AEAD refused a payload: wrong key or altered bytes (deliberately not more precise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsealError;

fn expand(prk: &hkdf::Hkdf<Sha256>, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32: this cannot fail.
    let _ = prk.expand(info, out.as_mut_slice());
    out
}

impl SealKey {
    fn from_ikm(mode: SealMode, ikm: &[u8]) -> Self {
        let prk = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm);
        Self {
            mode,
            aead: expand(&prk, b"aead"),
            nonce: expand(&prk, b"nonce"),
            counter: expand(&prk, b"counter"),
        }
    }

    /// The default: keys derived from the device key (its PKCS#8 DER).
    pub fn from_device_key(device_key_pkcs8: &[u8]) -> Self {
        Self::from_ikm(SealMode::DeviceKey, device_key_pkcs8)
    }

    /// Keys derived from the device key and a passphrase (PBKDF2-HMAC-SHA256 with
    /// `iterations` rounds, at least 1; [`DEFAULT_PASSPHRASE_ITERATIONS`] is the default).
    pub fn from_device_key_and_passphrase(
        device_key_pkcs8: &[u8],
        passphrase: &[u8],
        iterations: u32,
    ) -> Self {
        let device = hkdf::Hkdf::<Sha256>::new(Some(HKDF_SALT), device_key_pkcs8);
        let salt = expand(&device, b"passphrase salt");
        let mut stretched = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(
            passphrase,
            salt.as_slice(),
            iterations.max(1),
            stretched.as_mut_slice(),
        );
        let mut ikm = Zeroizing::new(Vec::with_capacity(device_key_pkcs8.len() + 32));
        ikm.extend_from_slice(stretched.as_slice());
        ikm.extend_from_slice(device_key_pkcs8);
        Self::from_ikm(SealMode::DeviceKeyAndPassphrase, &ikm)
    }

    /// The mode these keys seal with.
    pub fn mode(&self) -> SealMode {
        self.mode
    }

    fn synthetic_nonce(&self, ad: &[u8], plaintext: &[u8]) -> [u8; NONCE_LEN] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.nonce.as_slice())
            .unwrap_or_else(|_| unreachable_hmac());
        m.update(&(ad.len() as u64).to_le_bytes());
        m.update(ad);
        m.update(plaintext);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; NONCE_LEN];
        out.copy_from_slice(&full[..NONCE_LEN]);
        out
    }

    /// Seal `plaintext` bound to `ad`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = self.synthetic_nonce(ad, plaintext);
        let cipher = XChaCha20Poly1305::new(&(*self.aead).into());
        let n = XNonce::from(nonce);
        // Encryption fails only for messages beyond 256 GiB; payloads are capped far below.
        let ct = cipher
            .encrypt(
                &n,
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Open a payload sealed by [`SealKey::seal`] with the same `ad`.
    pub fn open(&self, ad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(UnsealError);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let n = XNonce::try_from(nonce).map_err(|_| UnsealError)?;
        let cipher = XChaCha20Poly1305::new(&(*self.aead).into());
        cipher
            .decrypt(&n, Payload { msg: ct, aad: ad })
            .map(Zeroizing::new)
            .map_err(|_| UnsealError)
    }

    /// The tag of a commit counter slot.
    pub fn counter_tag(&self, data: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(self.counter.as_slice())
            .unwrap_or_else(|_| unreachable_hmac());
        m.update(data);
        m.finalize().into_bytes().into()
    }
}

/// HMAC accepts keys of any length, so `new_from_slice` cannot fail.
#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // Never reached; an HMAC under a fixed key keeps this total without a panic.
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_round_trip_binds_the_associated_data() {
        let k = SealKey::from_device_key(b"device key bytes");
        let s = k.seal(b"ad-1", b"secret");
        assert_eq!(k.open(b"ad-1", &s).unwrap().as_slice(), b"secret");
        assert_eq!(k.open(b"ad-2", &s), Err(UnsealError));
        let other = SealKey::from_device_key(b"another device");
        assert_eq!(other.open(b"ad-1", &s), Err(UnsealError));
        for i in 0..s.len() {
            let mut c = s.clone();
            c[i] ^= 1;
            assert_eq!(k.open(b"ad-1", &c), Err(UnsealError), "byte {i}");
        }
        assert_eq!(k.open(b"ad-1", &s[..s.len() - 1]), Err(UnsealError));
        // Deterministic, and the plaintext does not appear.
        assert_eq!(k.seal(b"ad-1", b"secret"), s);
        assert_ne!(k.seal(b"ad-1", b"secreT")[..NONCE_LEN], s[..NONCE_LEN]);
        assert!(!s.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn passphrase_keys_need_both_factors() {
        let a = SealKey::from_device_key_and_passphrase(b"dev", b"pass", 2);
        let b = SealKey::from_device_key_and_passphrase(b"dev", b"Pass", 2);
        let c = SealKey::from_device_key_and_passphrase(b"dev2", b"pass", 2);
        let d = SealKey::from_device_key(b"dev");
        let s = a.seal(b"x", b"payload");
        for other in [&b, &c, &d] {
            assert!(other.open(b"x", &s).is_err());
        }
        assert_eq!(a.mode(), SealMode::DeviceKeyAndPassphrase);
        assert_eq!(d.mode(), SealMode::DeviceKey);
        assert_ne!(a.counter_tag(b"1"), d.counter_tag(b"1"));
        assert!(!format!("{a:?}").contains("aead:"));
    }

    #[test]
    fn modes_round_trip_as_bytes() {
        for m in [
            SealMode::None,
            SealMode::DeviceKey,
            SealMode::DeviceKeyAndPassphrase,
        ] {
            assert_eq!(SealMode::from_byte(m.to_byte()), Some(m));
        }
        assert_eq!(SealMode::from_byte(3), None);
    }
}
