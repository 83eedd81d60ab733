//! The FNN's own random numbers: a SplitMix64 generator and the draws built on it.
//!
//! Why not torch's RNG: `tch::manual_seed` seeds one process-global generator, so two
//! trainings running on different threads would interleave their draws and neither would be
//! reproducible. Every random choice of a training (weight init, pair shuffling, dropout masks)
//! comes from generators owned by that training instead, so a seed alone fixes the result.
//! SplitMix64 (Steele, Lea & Flood 2014) is tiny, fast and statistically sound for this use; it
//! is re-implemented bit for bit in `tests/reference/fnn.py` for the PyTorch cross-check.

/// Golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which independent stream of a seed a generator draws from. Separate streams keep, e.g., the
/// initial weights unchanged when only the number of epochs (and so the number of shuffles and
/// dropout draws) changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    WeightInit = 1,
    PairShuffle = 2,
    Dropout = 3,
}

#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The generator for one purpose of one seed; the double mixing decorrelates the start
    /// states of neighbouring seeds and streams.
    pub fn for_stream(seed: u64, stream: Stream) -> Self {
        SplitMix64::new(mix64(mix64(seed).wrapping_add(stream as u64)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    /// Uniform in [0, 1) with 53 random bits (every value is an exact multiple of 2^-53).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n), without modulo bias (Lemire's multiply-and-reject).
    /// `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut product = (self.next_u64() as u128) * (n as u128);
        if (product as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (product as u64) < threshold {
                product = (self.next_u64() as u128) * (n as u128);
            }
        }
        (product >> 64) as u64
    }

    /// A uniformly random permutation of 0..n (Fisher–Yates, from the last index down).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_splitmix64_vector() {
        // First outputs for seed 1234567 from the reference C implementation (Vigna's
        // splitmix64.c), as listed in numerous ports' test suites.
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
        assert_eq!(rng.next_u64(), 9817491932198370423);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut rng = SplitMix64::new(7);
        let mut p = rng.permutation(101);
        p.sort_unstable();
        assert_eq!(p, (0..101).collect::<Vec<_>>());
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(3);
        for n in [1u64, 2, 3, 7, 1000] {
            for _ in 0..200 {
                assert!(rng.below(n) < n);
            }
        }
    }
}
