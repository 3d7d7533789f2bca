//! Seeded random streams: one stream per concern (`network`, `card`, `user`, …), and per session
//! a sub-stream derived from (seed, stream name, session index), so that adding a fault knob or a
//! session does not shift any other draw.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The generator every draw of a run comes from (ChaCha8: fast, portable, reproducible).
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream `name` of run `seed`, for session `index` (`u64::MAX` for run-wide streams).
    pub fn derive(seed: u64, name: &str, index: u64) -> Self {
        Self(ChaCha8Rng::from_seed(seed_of(seed, name, index)))
    }

    /// A uniform 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform 32-bit word.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// Fills `dest` with random bytes (entropy for engines in full mode).
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }

    /// A uniform float in the open interval (0, 1): never 0, so `ln` is finite.
    pub fn open01(&mut self) -> f64 {
        // 53 random bits, shifted by half a step off zero.
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (p ≤ 0 never, p ≥ 1 always; no draw is skipped either way).
    pub fn chance(&mut self, p: f64) -> bool {
        self.open01() < p
    }

    /// A uniform integer in `0..n` (`n` > 0; 0 gives 0). Lemire's multiply-shift, unbiased
    /// enough for n ≪ 2^64 (bias below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Derives the 32-byte ChaCha key from (seed, name, index): FNV-1a over the name, then four
/// SplitMix64 outputs over the mixed words. Stable across builds and platforms.
pub fn seed_of(seed: u64, name: &str, index: u64) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut state = seed ^ h.rotate_left(17) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15 ^ (i as u64) ^ h);
        chunk.copy_from_slice(&splitmix(state).to_le_bytes());
    }
    out
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The streams of one run.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    seed: u64,
}

impl Streams {
    /// The streams of run `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A run-wide stream (arrivals, issuer crashes, partitions).
    pub fn stream(&self, name: &str) -> SimRng {
        SimRng::derive(self.seed, name, u64::MAX)
    }

    /// Session `index`'s sub-stream of `name`.
    pub fn session(&self, name: &str, index: u64) -> SimRng {
        SimRng::derive(self.seed, name, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let s = Streams::new(7);
        let a1: Vec<u64> = (0..4).map(|_| s.stream("network").next_u64()).collect();
        assert!(
            a1.windows(2).all(|w| w[0] == w[1]),
            "same stream, same first word"
        );
        let mut n = s.stream("network");
        let mut c = s.stream("card");
        assert_ne!(n.next_u64(), c.next_u64());
        assert_ne!(
            s.session("card", 1).next_u64(),
            s.session("card", 2).next_u64()
        );
        assert_ne!(Streams::new(8).stream("network").next_u64(), a1[0]);
    }

    #[test]
    fn open01_and_below_stay_in_range() {
        let mut r = Streams::new(1).stream("t");
        for _ in 0..10_000 {
            let u = r.open01();
            assert!(u > 0.0 && u < 1.0);
            assert!(r.below(10) < 10);
        }
    }
}

/// A uniform float in (0, 1) from a hash of (seed, tag, index, k): cheap per-session decisions
/// (is this session hit by fault `k`?) that do not consume any stream, so adding a knob shifts
/// no other draw.
pub fn hash_unit(seed: u64, tag: u64, index: u64, k: u64) -> f64 {
    let h = splitmix(splitmix(seed ^ tag.rotate_left(32)) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_mul(0xd1b5_4a32_d192_ed03));
    ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}
