//! The card's injected environment: time and randomness.
//!
//! Nothing in the card reads the system clock or the OS generator directly; both come
//! through these types, so a test (or the simulator) fixes time and a seed and gets the
//! card's outputs byte for byte.
//!
//! Randomness: [`CardRng`] is always a ChaCha20 stream (`rand_chacha` 0.10). It is either
//! seeded explicitly ([`CardRng::from_seed`], reproducible) or seeded once from the operating
//! system through `getrandom` ([`CardRng::from_os_entropy`]). Seeding once and then
//! generating infallibly keeps the card free of panics: an OS-entropy failure is a typed error
//! at construction, never in the middle of an SKS call. `CardRng` implements `rand_core`
//! 0.10's `CryptoRng`, so it can be passed to the RustCrypto key generators.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

/// A source of the current time, as seconds since the Unix epoch.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// The current time in Unix seconds.
    fn now_unix(&self) -> u64;
}

/// The machine's clock. A clock set before 1970 reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test keeps one
/// handle and gives another to the card.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `unix_seconds`.
    pub fn new(unix_seconds: u64) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(unix_seconds)),
        }
    }

    /// Set the time.
    pub fn set(&self, unix_seconds: u64) {
        self.now.store(unix_seconds, Ordering::SeqCst);
    }

    /// Move the time forward (saturating).
    pub fn advance(&self, seconds: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(seconds))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The OS entropy source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operating-system entropy unavailable: {0}")]
pub struct EntropyError(String);

/// The card's cryptographic random generator: ChaCha20, seeded explicitly or from the OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRng {
    inner: ChaCha20Rng,
}

impl CardRng {
    /// A reproducible generator: the same seed yields the same byte stream.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
        }
    }

    /// A reproducible generator from a small number (tests, simulator scenarios).
    pub fn from_u64(seed: u64) -> Self {
        Self {
            inner: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// A generator seeded with 32 bytes from the operating system.
    pub fn from_os_entropy() -> Result<Self, EntropyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| EntropyError(e.to_string()))?;
        let rng = Self::from_seed(seed);
        seed.fill(0);
        Ok(rng)
    }

    /// Fill `dst` with random bytes.
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

impl TryRng for CardRng {
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

impl TryCryptoRng for CardRng {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand_core::{CryptoRng, Rng};

    fn assert_crypto_rng<R: CryptoRng>(_: &R) {}

    #[test]
    fn manual_clock_is_shared_and_moves_only_when_told() {
        let c = ManualClock::new(1_700_000_000);
        let card_view: Box<dyn Clock> = Box::new(c.clone());
        assert_eq!(card_view.now_unix(), 1_700_000_000);
        c.advance(60);
        assert_eq!(card_view.now_unix(), 1_700_000_060);
        c.set(5);
        assert_eq!(card_view.now_unix(), 5);
        c.set(u64::MAX);
        c.advance(1);
        assert_eq!(card_view.now_unix(), u64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_unix() > 1_577_836_800);
    }

    #[test]
    fn seeded_rng_is_chacha20_and_reproducible() {
        // RFC 8439 section 2.3.2 / 2.4.2 use nonces; with an all-zero key and nonce and block
        // counter 0, the ChaCha20 keystream starts 76 b8 e0 ad a0 f1 3d 90 (RFC 7539 A.1 #1).
        let mut r = CardRng::from_seed([0u8; 32]);
        assert_eq!(
            r.bytes::<8>(),
            [0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]
        );
        let mut a = CardRng::from_u64(42);
        let mut b = CardRng::from_u64(42);
        assert_eq!(a.bytes::<64>(), b.bytes::<64>());
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(
            CardRng::from_u64(1).bytes::<32>(),
            CardRng::from_u64(2).bytes::<32>()
        );
        assert_crypto_rng(&a);
    }

    #[test]
    fn os_rng_works_and_differs() {
        let mut a = CardRng::from_os_entropy().unwrap();
        let mut b = CardRng::from_os_entropy().unwrap();
        assert_ne!(a.bytes::<32>(), b.bytes::<32>());
    }
}
