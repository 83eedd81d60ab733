//! A detector: one trained FNN plus everything scoring needs, shipped as a
//! single safetensors file (the FNN checkpoint, this in its metadata). A
//! sweep trial's checkpoint is one; `rwclip train` writes one directly.

use serde::{Deserialize, Serialize};

use rwclip_core::hash::content_hash;

/// The detector format this code writes and reads.
pub const DETECTOR_FORMAT: u32 = 1;
/// [`DetectorInfo::clip_weights_digest`] of a randomly initialised CLIP.
pub const RANDOM_INIT_DIGEST: &str = "random-init";

/// Which score a detector reports as `score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreKind {
    /// s_fnn alone (the paper's "Ours"; Table 5's best on Sewer-ML).
    #[serde(rename = "fnn")]
    Fnn,
    /// s_pr alone (CLIP's two-prompt score).
    #[serde(rename = "pr")]
    Pr,
    /// s_pr + s_fnn ("CLIP + ours").
    #[serde(rename = "pr+fnn")]
    PrFnn,
}

impl ScoreKind {
    pub fn parse(text: &str) -> Result<ScoreKind, String> {
        match text {
            "fnn" => Ok(ScoreKind::Fnn),
            "pr" => Ok(ScoreKind::Pr),
            "pr+fnn" => Ok(ScoreKind::PrFnn),
            other => Err(format!("unknown score {other:?}: expected fnn, pr or pr+fnn")),
        }
    }

    pub fn combine(self, s_pr: f64, s_fnn: f64) -> f64 {
        match self {
            ScoreKind::Fnn => s_fnn,
            ScoreKind::Pr => s_pr,
            ScoreKind::PrFnn => s_pr + s_fnn,
        }
    }
}

/// What a detector was trained with and how it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorInfo {
    pub format: u32,
    /// The CLIP architecture (`clip_config` preset name).
    pub clip_preset: String,
    /// [`weights_digest`] of the CLIP weights file, or [`RANDOM_INIT_DIGEST`].
    pub clip_weights_digest: String,
    pub normal_word: String,
    pub anomaly_word: String,
    /// The object word of s_pr's guide prompts (the unknown-object setup).
    pub object_word: String,
    pub temperature: f64,
    pub score: ScoreKind,
    /// Test-time multi-crop: mean over the eval view and four corners.
    pub multi_crop: bool,
    /// The training seed and Np, for provenance.
    pub seed: u64,
    pub pairs: u64,
}

/// The digest detectors record of a CLIP weights file: FNV-1a/128 of its
/// bytes, as 32 hex digits.
pub fn weights_digest(bytes: &[u8]) -> String {
    content_hash(bytes)
}

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("detector {detector} was trained with CLIP {preset} weights of digest {expected}, but the weights given ({given_name}) have digest {given}")]
    WrongWeights { detector: String, preset: String, expected: String, given: String, given_name: String },
    #[error("detector {detector} uses CLIP preset {expected}, not {given}")]
    WrongPreset { detector: String, expected: String, given: String },
    #[error("detector {detector} has format {found}; this rwclip reads format {DETECTOR_FORMAT}")]
    Format { detector: String, found: u32 },
}

impl DetectorInfo {
    /// Checks that `preset` and weights of `digest` (named `given_name` in
    /// the message) are what this detector was trained with.
    pub fn check_model(&self, detector: &str, preset: &str, digest: &str, given_name: &str) -> Result<(), DetectorError> {
        if self.format != DETECTOR_FORMAT {
            return Err(DetectorError::Format { detector: detector.to_string(), found: self.format });
        }
        if self.clip_preset != preset {
            return Err(DetectorError::WrongPreset { detector: detector.to_string(), expected: self.clip_preset.clone(), given: preset.to_string() });
        }
        if self.clip_weights_digest != digest {
            return Err(DetectorError::WrongWeights {
                detector: detector.to_string(),
                preset: preset.to_string(),
                expected: self.clip_weights_digest.clone(),
                given: digest.to_string(),
                given_name: given_name.to_string(),
            });
        }
        Ok(())
    }
}
