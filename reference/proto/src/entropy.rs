//! The one entropy seam of the engines: [`Entropy`], a source of random bytes.
//!
//! The card, the issuer, the middleware, the test driver and the simulator all take their
//! randomness through this trait, so one seed reproduces every party's output byte for byte.
//! Nothing in this crate draws randomness on its own: the engines are handed a source.
//!
//! - Every [`rand_core::CryptoRng`] is an [`Entropy`] (blanket implementation), and every
//!   `&mut dyn Entropy` becomes a `CryptoRng` again through [`EntropyRng`] for the key
//!   generators. Both directions forward `fill`, `next_u32` and `next_u64` to the underlying
//!   generator one to one, so wrapping a generator never changes which bytes it hands out or
//!   in which order.
//! - [`ChaChaEntropy`] is the source everyone uses: ChaCha20, either seeded explicitly
//!   ([`ChaChaEntropy::from_seed`], [`ChaChaEntropy::from_u64`]: tests, vectors, simulator) or
//!   seeded once from the operating system ([`ChaChaEntropy::from_os`], the system source). An
//!   OS failure is a typed error at construction, never in the middle of a draw.

use std::convert::Infallible;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, SeedableRng, TryCryptoRng, TryRng};

/// A source of cryptographically strong random bytes. Infallible once constructed.
///
/// Implemented for every [`CryptoRng`]; pass `&mut dyn Entropy` to code that should not care
/// which source it draws from, and wrap it in [`EntropyRng`] where a `CryptoRng` is needed.
pub trait Entropy {
    /// Fills `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);
    /// A random `u32` (the generator's own word draw, so streams stay identical).
    fn next_u32(&mut self) -> u32;
    /// A random `u64` (the generator's own draw).
    fn next_u64(&mut self) -> u64;
}

impl<R: CryptoRng + ?Sized> Entropy for R {
    fn fill(&mut self, out: &mut [u8]) {
        self.fill_bytes(out);
    }

    fn next_u32(&mut self) -> u32 {
        rand_core::Rng::next_u32(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::Rng::next_u64(self)
    }
}

/// `N` random bytes from `source`.
pub fn bytes<const N: usize>(source: &mut (impl Entropy + ?Sized)) -> [u8; N] {
    let mut out = [0u8; N];
    source.fill(&mut out);
    out
}

/// The Base64URL alphabet of [`token`].
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A random identifier of 32 Base64URL characters: 32 bytes from `source`, each mapped to
/// `ABC…789-_[b & 0x3f]` (the card's `clientSessionId`, the issuer's `serverSessionId`).
pub fn token(source: &mut (impl Entropy + ?Sized)) -> String {
    bytes::<32>(source)
        .iter()
        .map(|b| char::from(BASE64_URL[usize::from(b & 0x3f)]))
        .collect()
}

/// A [`CryptoRng`] view of an [`Entropy`] source (for the key generators of
/// [`keys`](crate::keys)): every draw is forwarded to the source unchanged.
pub struct EntropyRng<'a>(pub &'a mut dyn Entropy);

impl std::fmt::Debug for EntropyRng<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntropyRng(..)")
    }
}

impl TryRng for EntropyRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for EntropyRng<'_> {}

/// The operating system's entropy source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operating-system entropy unavailable: {0}")]
pub struct EntropyError(String);

/// ChaCha20 (`rand_chacha`), seeded explicitly (reproducible) or once from the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaChaEntropy {
    inner: ChaCha20Rng,
}

impl ChaChaEntropy {
    /// The deterministic source: the same seed yields the same byte stream.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
        }
    }

    /// The deterministic source from a small number (tests, simulator scenarios); the same
    /// stream as `rand_chacha`'s `ChaCha20Rng::seed_from_u64`.
    pub fn from_u64(seed: u64) -> Self {
        Self {
            inner: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// The system source: seeded with 32 bytes from the operating system.
    pub fn from_os() -> Result<Self, EntropyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| EntropyError(e.to_string()))?;
        let rng = Self::from_seed(seed);
        seed.fill(0);
        Ok(rng)
    }

    /// Fills `dst` with random bytes.
    pub fn fill(&mut self, dst: &mut [u8]) {
        let Ok(()) = self.inner.try_fill_bytes(dst);
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill(&mut out);
        out
    }
}

impl TryRng for ChaChaEntropy {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.inner.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.inner.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.try_fill_bytes(dst)
    }
}

impl TryCryptoRng for ChaChaEntropy {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_core::Rng;

    fn draws(e: &mut dyn Entropy) -> (u32, [u8; 7], u64, [u8; 33], u32) {
        let a = e.next_u32();
        let b = bytes::<7>(e);
        let c = e.next_u64();
        let d = bytes::<33>(e);
        (a, b, c, d, e.next_u32())
    }

    #[test]
    fn wrapping_never_changes_the_stream() {
        // The same mixed sequence of draws from the bare generator, through `dyn Entropy`,
        // and through `EntropyRng` over `dyn Entropy` gives the same values.
        let mut bare = ChaCha20Rng::seed_from_u64(9);
        let expected = (
            Rng::next_u32(&mut bare),
            {
                let mut b = [0u8; 7];
                bare.fill_bytes(&mut b);
                b
            },
            Rng::next_u64(&mut bare),
            {
                let mut b = [0u8; 33];
                bare.fill_bytes(&mut b);
                b
            },
            Rng::next_u32(&mut bare),
        );
        assert_eq!(draws(&mut ChaCha20Rng::seed_from_u64(9)), expected);
        assert_eq!(draws(&mut ChaChaEntropy::from_u64(9)), expected);
        let mut inner = ChaChaEntropy::from_u64(9);
        let mut rng = EntropyRng(&mut inner);
        assert_eq!(draws(&mut rng), expected);
    }

    #[test]
    fn tokens_are_32_base64url_characters_of_32_draws() {
        let mut a = ChaChaEntropy::from_u64(3);
        let t = token(&mut a);
        assert_eq!(t.len(), 32);
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let mut b = ChaChaEntropy::from_u64(3);
        let raw = b.bytes::<32>();
        assert_eq!(t.as_bytes()[0], BASE64_URL[usize::from(raw[0] & 0x3f)]);
        assert_eq!(a.bytes::<4>(), b.bytes::<4>());
    }

    #[test]
    fn seeded_source_is_chacha20() {
        // With an all-zero key, nonce and counter the ChaCha20 keystream starts
        // 76 b8 e0 ad a0 f1 3d 90 (RFC 8439 appendix A.1, test vector 1).
        let mut r = ChaChaEntropy::from_seed([0u8; 32]);
        assert_eq!(
            r.bytes::<8>(),
            [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]
        );
        assert_ne!(
            ChaChaEntropy::from_u64(1).bytes::<32>(),
            ChaChaEntropy::from_u64(2).bytes::<32>()
        );
    }

    #[test]
    fn system_source_differs_between_instances() {
        let mut a = ChaChaEntropy::from_os().unwrap();
        let mut b = ChaChaEntropy::from_os().unwrap();
        assert_ne!(a.bytes::<32>(), b.bytes::<32>());
    }
}
