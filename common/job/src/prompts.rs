//! Random-word prompt augmentation (paper §3.2, defaults from §4.2) and the
//! two guide prompts of prompt-guided anomaly detection (§3.1).
//!
//! # Generated prompts are part of the artifact format
//!
//! Pair `i` under seed `s` is a pure function of `(s, i, words, lengths)`, so a
//! distributed run can hand pair ranges to different workers and still train on
//! exactly the prompts a single machine would make. The algorithm below is
//! therefore fixed; changing any step changes every stored prompt artifact.
//!
//! 1. Key: `state = mix(mix(seed ^ SEED_DOMAIN) ^ pair_id)` where `mix` is the
//!    SplitMix64 finaliser (`z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
//!    z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31`, wrapping) and
//!    `SEED_DOMAIN = 0x7277_636C_6970_0001`. `mix` is a bijection, so for one
//!    seed distinct pair ids get distinct states.
//! 2. Stream: SplitMix64 from that state: `state += 0x9E3779B97F4A7C15`
//!    (wrapping), output `mix(state)`.
//! 3. Bounded draw in `[0, n)`, unbiased by rejection: draw `x`; reject while
//!    `x < 2^64 mod n` (computed as `n.wrapping_neg() % n`); return `x % n`.
//! 4. Ten words `w0..w9`, in that order. Each word: length
//!    `min_len + draw(max_len - min_len + 1)`, then that many characters, each
//!    `ALPHABET[draw(36)]` with `ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"`.
//! 5. Normal prompt `"{w0} a {w1} photo {w2} of {w3} {n} {w4}"`, anomalous
//!    prompt `"{w5} a {w6} photo {w7} of {w8} {a} {w9}"`, where `n` / `a` are the
//!    normal / anomaly words with surrounding whitespace trimmed.

/// Characters a random word is drawn from: the English alphabet and digits (§3.2).
pub const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Separates the seed's key space from the pair id's (any fixed odd constant would do).
const SEED_DOMAIN: u64 = 0x7277_636C_6970_0001;
const SPLITMIX_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
const RANDOM_WORDS_PER_PAIR: usize = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromptError {
    #[error("prompt min_len must be at least 1, got {min_len}")]
    ZeroMinLen { min_len: usize },
    #[error("prompt min_len {min_len} is greater than max_len {max_len}")]
    MinAboveMax { min_len: usize, max_len: usize },
    #[error("prompt {which} word is empty (after trimming whitespace)")]
    EmptyWord { which: &'static str },
}

/// How training prompts are generated: the state words inserted at `[n]`/`[a]`
/// and the random-word length range `[min_len, max_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptGenerator {
    pub seed: u64,
    pub normal_word: String,
    pub anomaly_word: String,
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for PromptGenerator {
    /// The paper's defaults (§4.2): "a" / "a damaged", words of 5 to 10 characters.
    fn default() -> Self {
        PromptGenerator {
            seed: 0,
            normal_word: "a".to_string(),
            anomaly_word: "a damaged".to_string(),
            min_len: 5,
            max_len: 10,
        }
    }
}

/// One training sample pair: the normal and the anomalous prompt of `pair_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptPair {
    pub pair_id: u64,
    pub normal: String,
    pub anomaly: String,
}

impl PromptGenerator {
    pub fn validate(&self) -> Result<(), PromptError> {
        if self.min_len < 1 {
            return Err(PromptError::ZeroMinLen {
                min_len: self.min_len,
            });
        }
        if self.min_len > self.max_len {
            return Err(PromptError::MinAboveMax {
                min_len: self.min_len,
                max_len: self.max_len,
            });
        }
        if self.normal_word.trim().is_empty() {
            return Err(PromptError::EmptyWord { which: "normal" });
        }
        if self.anomaly_word.trim().is_empty() {
            return Err(PromptError::EmptyWord { which: "anomaly" });
        }
        Ok(())
    }

    /// The prompt pair `pair_id` (see the module doc for the exact algorithm).
    /// Call [`PromptGenerator::validate`] first: an invalid spec gives well-defined
    /// but meaningless output (for example empty words), never a panic.
    pub fn pair(&self, pair_id: u64) -> PromptPair {
        let mut rng = PairRng::new(self.seed, pair_id);
        let words: Vec<String> = (0..RANDOM_WORDS_PER_PAIR)
            .map(|_| rng.word(self.min_len, self.max_len))
            .collect();
        let normal = self.normal_word.trim();
        let anomaly = self.anomaly_word.trim();
        PromptPair {
            pair_id,
            normal: format!(
                "{} a {} photo {} of {} {normal} {}",
                words[0], words[1], words[2], words[3], words[4]
            ),
            anomaly: format!(
                "{} a {} photo {} of {} {anomaly} {}",
                words[5], words[6], words[7], words[8], words[9]
            ),
        }
    }

    /// Pairs `start, start + 1, ..., start + count - 1` (stopping at `u64::MAX`).
    pub fn pairs(&self, start: u64, count: u64) -> Vec<PromptPair> {
        if count == 0 {
            return Vec::new();
        }
        (start..=start.saturating_add(count - 1))
            .map(|id| self.pair(id))
            .collect()
    }
}

/// The two prompts of prompt-guided detection (§3.1): `"a photo of {n} {object}"`
/// and `"a photo of {a} {object}"`; `object` is "object" or a category name.
pub fn guide_prompts(normal_word: &str, anomaly_word: &str, object: &str) -> (String, String) {
    (
        format!("a photo of {} {}", normal_word.trim(), object.trim()),
        format!("a photo of {} {}", anomaly_word.trim(), object.trim()),
    )
}

/// SplitMix64 finaliser: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Counter-based generator for one pair. Written here rather than taken from
/// the `rand` crate so a dependency upgrade can never change stored prompts.
struct PairRng {
    state: u64,
}

impl PairRng {
    fn new(seed: u64, pair_id: u64) -> PairRng {
        PairRng {
            state: mix(mix(seed ^ SEED_DOMAIN) ^ pair_id),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(SPLITMIX_GAMMA);
        mix(self.state)
    }

    /// Uniform in `[0, n)` without modulo bias; `n = 0` yields 0.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // 2^64 mod n: rejecting draws under it leaves a range whose length is a multiple of n.
        let threshold = n.wrapping_neg() % n;
        loop {
            let x = self.next_u64();
            if x >= threshold {
                return x % n;
            }
        }
    }

    fn word(&mut self, min_len: usize, max_len: usize) -> String {
        let span = max_len.saturating_sub(min_len) as u64 + 1;
        let len = min_len + self.below(span) as usize;
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len() as u64) as usize]))
            .collect()
    }
}
