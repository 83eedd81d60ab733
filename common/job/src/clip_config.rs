//! CLIP architecture hyper-parameters (open_clip's ViT CLIP), as named presets.
//!
//! Values mirror open_clip's `model_configs/*.json`; open_clip derives the
//! vision head count as `width / head_width` (64) and the MLP width as
//! `4 * width`, so the presets spell those out. No libtorch here: the
//! coordinator validates job specs with these types.

use serde::{Deserialize, Serialize};

/// Per-channel RGB mean OpenAI CLIP (and open_clip) normalise images with.
/// (open_clip's digits, kept verbatim even where f32 cannot hold them all.)
#[allow(clippy::excessive_precision)]
pub const OPENAI_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// Per-channel RGB standard deviation OpenAI CLIP normalises images with.
#[allow(clippy::excessive_precision)]
pub const OPENAI_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Every name [`ClipConfig::preset`] accepts.
pub const PRESET_NAMES: &[&str] = &[
    "ViT-B-16-plus-240",
    "ViT-B-16",
    "ViT-B-16-quickgelu",
    "ViT-B-32",
    "ViT-B-32-quickgelu",
    "ViT-L-14",
    "ViT-L-14-quickgelu",
    "rwclip-tiny",
];

/// The whole dual-encoder: both towers plus the shared embedding width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    pub name: String,
    /// Width of the joint image/text embedding space (both projections end here).
    pub embed_dim: i64,
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// `x * sigmoid(1.702 x)` instead of exact GELU: OpenAI's original weights need it.
    pub quick_gelu: bool,
}

/// Vision transformer tower (patch embedding, class token, pre/post LayerNorm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    pub image_size: i64,
    pub patch_size: i64,
    pub width: i64,
    pub layers: i64,
    pub heads: i64,
    pub mlp_width: i64,
}

/// Causal text transformer tower, pooled at the end-of-text token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub context_length: i64,
    pub vocab_size: i64,
    pub width: i64,
    pub heads: i64,
    pub layers: i64,
    pub mlp_width: i64,
}

/// A preset name that is not in [`PRESET_NAMES`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown CLIP preset `{name}`; valid presets: {}", PRESET_NAMES.join(", "))]
pub struct UnknownPreset {
    pub name: String,
}

/// open_clip's width-64 attention heads (`head_width` default).
const VISION_HEAD_WIDTH: i64 = 64;
/// open_clip's `mlp_ratio` default.
const MLP_RATIO: i64 = 4;
const OPENAI_CONTEXT_LENGTH: i64 = 77;
const OPENAI_VOCAB_SIZE: i64 = 49408;

impl VisionConfig {
    fn open_clip(image_size: i64, patch_size: i64, width: i64, layers: i64) -> VisionConfig {
        VisionConfig {
            image_size,
            patch_size,
            width,
            layers,
            heads: width / VISION_HEAD_WIDTH,
            mlp_width: MLP_RATIO * width,
        }
    }

    /// Patches per side of the (square) image.
    pub fn grid_size(&self) -> i64 {
        self.image_size / self.patch_size
    }

    /// Tokens the transformer sees: one per patch plus the class token.
    pub fn num_tokens(&self) -> i64 {
        self.grid_size() * self.grid_size() + 1
    }
}

impl TextConfig {
    fn open_clip(width: i64, heads: i64, layers: i64) -> TextConfig {
        TextConfig {
            context_length: OPENAI_CONTEXT_LENGTH,
            vocab_size: OPENAI_VOCAB_SIZE,
            width,
            heads,
            layers,
            mlp_width: MLP_RATIO * width,
        }
    }
}

impl ClipConfig {
    /// Looks up a named architecture (see [`PRESET_NAMES`]).
    pub fn preset(name: &str) -> Result<ClipConfig, UnknownPreset> {
        let (base, quick_gelu) = match name.strip_suffix("-quickgelu") {
            Some(base) => (base, true),
            None => (name, false),
        };
        // Only listed names: e.g. the tiny preset has no QuickGELU twin.
        if !PRESET_NAMES.contains(&name) {
            return Err(UnknownPreset {
                name: name.to_string(),
            });
        }
        let (embed_dim, vision, text) = match base {
            "ViT-B-16-plus-240" => (
                640,
                VisionConfig::open_clip(240, 16, 896, 12),
                TextConfig::open_clip(640, 10, 12),
            ),
            "ViT-B-16" => (
                512,
                VisionConfig::open_clip(224, 16, 768, 12),
                TextConfig::open_clip(512, 8, 12),
            ),
            "ViT-B-32" => (
                512,
                VisionConfig::open_clip(224, 32, 768, 12),
                TextConfig::open_clip(512, 8, 12),
            ),
            "ViT-L-14" => (
                768,
                VisionConfig::open_clip(224, 14, 1024, 24),
                TextConfig::open_clip(768, 12, 12),
            ),
            // Small enough (~13 MB fp32, mostly the token embedding) for tests and
            // demos; tools/model_configs/rwclip-tiny.json is its open_clip twin.
            "rwclip-tiny" => (
                64,
                VisionConfig {
                    heads: 2,
                    ..VisionConfig::open_clip(64, 16, 64, 2)
                },
                TextConfig::open_clip(64, 2, 2),
            ),
            _ => {
                return Err(UnknownPreset {
                    name: name.to_string(),
                })
            }
        };
        Ok(ClipConfig {
            name: name.to_string(),
            embed_dim,
            vision,
            text,
            quick_gelu,
        })
    }

    /// Parameter counts as open_clip's state dict has them: (`visual.*`,
    /// everything else — the text tower plus the scalar `logit_scale`).
    pub fn num_params(&self) -> (i64, i64) {
        let v = &self.vision;
        let patch_embedding = 3 * v.patch_size * v.patch_size * v.width;
        let visual = patch_embedding
            + v.width // class_embedding
            + v.num_tokens() * v.width // positional_embedding
            + 2 * v.width // ln_pre
            + v.layers * residual_block_params(v.width, v.mlp_width)
            + 2 * v.width // ln_post
            + v.width * self.embed_dim; // proj

        let t = &self.text;
        let text = t.vocab_size * t.width // token_embedding
            + t.context_length * t.width // positional_embedding
            + t.layers * residual_block_params(t.width, t.mlp_width)
            + 2 * t.width // ln_final
            + t.width * self.embed_dim // text_projection
            + 1; // logit_scale
        (visual, text)
    }
}

/// One pre-LN block: LayerNorm, fused-QKV attention with output projection,
/// LayerNorm, two-layer MLP (all with biases).
fn residual_block_params(width: i64, mlp_width: i64) -> i64 {
    let layer_norm = 2 * width;
    let attention = 3 * width * width + 3 * width + width * width + width;
    let mlp = width * mlp_width + mlp_width + mlp_width * width + width;
    2 * layer_norm + attention + mlp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b16_plus_240_param_counts_match_open_clip() {
        let (visual, text) = ClipConfig::preset("ViT-B-16-plus-240")
            .unwrap()
            .num_params();
        // FACTS.md: visual 117,213,824; text tower 91,163,520 (counted without
        // the model-level `logit_scale`, which our text count includes).
        assert_eq!(visual, 117_213_824);
        assert_eq!(text, 91_163_520 + 1);
    }

    #[test]
    fn b16_plus_240_matches_open_clip_model_config() {
        let cfg = ClipConfig::preset("ViT-B-16-plus-240").unwrap();
        assert_eq!(cfg.embed_dim, 640);
        assert_eq!(cfg.vision.heads, 14);
        assert_eq!(cfg.vision.mlp_width, 3584);
        assert_eq!(cfg.vision.num_tokens(), 226);
        assert_eq!(cfg.text.heads, 10);
        assert!(!cfg.quick_gelu);
    }

    #[test]
    fn every_listed_preset_resolves_to_its_own_name() {
        for name in PRESET_NAMES {
            let cfg = ClipConfig::preset(name).unwrap();
            assert_eq!(cfg.name, *name);
            assert_eq!(cfg.quick_gelu, name.ends_with("-quickgelu"));
            assert_eq!(cfg.vision.image_size % cfg.vision.patch_size, 0, "{name}");
            assert_eq!(cfg.vision.width % cfg.vision.heads, 0, "{name}");
            assert_eq!(cfg.text.width % cfg.text.heads, 0, "{name}");
        }
    }

    #[test]
    fn quickgelu_variant_differs_only_in_activation() {
        let exact = ClipConfig::preset("ViT-B-16").unwrap();
        let quick = ClipConfig::preset("ViT-B-16-quickgelu").unwrap();
        assert_eq!(
            quick,
            ClipConfig {
                name: quick.name.clone(),
                quick_gelu: true,
                ..exact
            }
        );
    }

    #[test]
    fn tiny_preset_weights_fit_in_20_mb() {
        let (visual, text) = ClipConfig::preset("rwclip-tiny").unwrap().num_params();
        assert!((visual + text) * 4 <= 20_000_000);
    }

    #[test]
    fn unknown_preset_error_lists_valid_names() {
        for bad in ["ViT-X-1", "rwclip-tiny-quickgelu", ""] {
            let message = ClipConfig::preset(bad).unwrap_err().to_string();
            assert!(message.contains(&format!("`{bad}`")), "{message}");
            assert!(message.contains("ViT-B-16-plus-240") && message.contains("rwclip-tiny"));
        }
    }
}
