//! A tiny deterministic generator (SplitMix64), written out here so the
//! synthetic data sets cannot change with a dependency's version.

pub(super) struct Rng(u64);

impl Rng {
    /// A generator for one stream, derived from a seed and any number of
    /// stream labels (category index, split, image index...).
    pub(super) fn new(seed: u64, stream: &[u64]) -> Rng {
        let mut rng = Rng(seed);
        for &label in stream {
            rng.0 = rng.next_u64() ^ label.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        }
        rng
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub(super) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}
