//! The card's injected environment: time and randomness.
//!
//! Nothing in the card reads the system clock or the OS generator directly; both come
//! through these types, so a test (or the simulator) fixes time and a seed and gets the
//! card's outputs byte for byte.
//!
//! Both are the workspace's one seam, re-exported from `airtight-proto`: time is a
//! [`UnixTime`] read from a [`Clock`] ([`SystemClock`], or a [`ManualClock`] shared with the
//! test or simulator that moves it), randomness an [`Entropy`] source.
//!
//! Randomness: [`CardRng`] (`airtight_proto::entropy::ChaChaEntropy`) is always a ChaCha20
//! stream. It is either seeded explicitly ([`CardRng::from_seed`], reproducible) or seeded once
//! from the operating system ([`CardRng::from_os`]). Seeding once and then generating
//! infallibly keeps the card free of panics: an OS-entropy failure is a typed error at
//! construction, never in the middle of an SKS call. `CardRng` implements `rand_core` 0.10's
//! `CryptoRng`, so it can be passed to the RustCrypto key generators.

pub use airtight_proto::entropy::{ChaChaEntropy as CardRng, Entropy, EntropyError};
pub use airtight_proto::time::{Clock, ManualClock, SystemClock, UnixTime};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_rng_is_the_seeded_chacha20_stream() {
        // The card's seeded streams are those of `rand_chacha`'s `seed_from_u64` (every
        // recorded card output depends on it).
        use rand_chacha::ChaCha20Rng;
        use rand_core::{Rng, SeedableRng};
        let mut a = CardRng::from_u64(42);
        let mut b = ChaCha20Rng::seed_from_u64(42);
        let mut x = [0u8; 64];
        b.fill_bytes(&mut x);
        assert_eq!(a.bytes::<64>(), x);
    }
}
