//! What a small synthetic data set in the exact MVTec-AD layout looks like
//! (the job file's `[dataset.synth]`); `rwclip_inputs::synth` draws it:
//! procedural textures per category, drawn defects with masks.
//!
//! ```text
//! <cat>/train/good/000.png      <cat>/test/good/000.png
//! <cat>/test/<defect>/000.png   <cat>/ground_truth/<defect>/000_mask.png
//! ```
//! Every second category is written as JPEG (`.jpg`) so both decoders are
//! exercised; masks are always PNG. The same spec gives byte-identical files.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What to generate. Counts are per category; `test_defective` is per defect type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthSpec {
    pub categories: Vec<String>,
    pub train_good: usize,
    pub test_good: usize,
    pub test_defective: usize,
    pub defect_types: Vec<String>,
    /// Side of the square images, in pixels.
    pub image_size: u32,
    pub seed: u64,
}

impl Default for SynthSpec {
    /// Three categories (one per texture style), 288 px, a few images each.
    fn default() -> SynthSpec {
        SynthSpec {
            categories: vec!["weave".into(), "brushed".into(), "granite".into()],
            train_good: 4,
            test_good: 3,
            test_defective: 2,
            defect_types: vec!["scratch".into(), "hole".into(), "stain".into()],
            image_size: 288,
            seed: 0,
        }
    }
}

/// What `rwclip_inputs::synth::write` produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SynthSummary {
    pub root: PathBuf,
    pub categories: Vec<String>,
    pub train_images: usize,
    pub test_good_images: usize,
    pub test_defective_images: usize,
    pub masks: usize,
}

/// Defects must be visible after a 240 px centre crop of a resized image.
pub const MIN_IMAGE_SIZE: u32 = 64;

/// Rejects a spec that cannot be drawn (bad names, too small images).
/// The error is the reason, for the caller to wrap with where the spec came from.
pub fn validate(spec: &SynthSpec) -> Result<(), String> {
    let invalid = |reason: String| Err(reason);
    if spec.categories.is_empty() {
        return invalid("no categories".into());
    }
    if spec.image_size < MIN_IMAGE_SIZE {
        return invalid(format!("image_size {} is below {MIN_IMAGE_SIZE}", spec.image_size));
    }
    for name in spec.categories.iter().chain(&spec.defect_types) {
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return invalid(format!("'{name}' is not a plain directory name"));
        }
    }
    if spec.defect_types.iter().any(|d| d == "good") {
        return invalid("'good' is the normal class, not a defect type".into());
    }
    let mut names = spec.categories.clone();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return invalid("duplicate category names".into());
    }
    Ok(())
}

/// Overrides for `rwclip dataset synth`'s defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthOptions {
    pub categories: Option<Vec<String>>,
    pub train_good: Option<usize>,
    pub test_good: Option<usize>,
    pub test_defective: Option<usize>,
    pub image_size: Option<u32>,
    pub seed: Option<u64>,
}

impl SynthOptions {
    /// The synthesiser's defaults with these overrides applied.
    pub fn to_spec(&self) -> SynthSpec {
        let mut s = SynthSpec::default();
        if let Some(v) = &self.categories {
            s.categories = v.clone();
        }
        if let Some(v) = self.train_good {
            s.train_good = v;
        }
        if let Some(v) = self.test_good {
            s.test_good = v;
        }
        if let Some(v) = self.test_defective {
            s.test_defective = v;
        }
        if let Some(v) = self.image_size {
            s.image_size = v;
        }
        if let Some(v) = self.seed {
            s.seed = v;
        }
        s
    }
}
