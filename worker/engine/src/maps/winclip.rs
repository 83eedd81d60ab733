//! WinCLIP (Jeong et al., CVPR 2023) exactly as anomalib 2.7.0's
//! `WinClipModel` computes it, on rwclip's towers:
//!
//! - text: a prompt ensemble around the object word (7 normal and 4
//!   anomalous states × 21 templates), each class's prototype the mean of its
//!   *unnormalised* text embeddings;
//! - zero-shot: softmax(cos / 0.07) over [normal, anomalous] for the whole
//!   image and for every window; per patch the harmonic mean over the windows
//!   covering it; the map the harmonic mean of {image score, one map per
//!   scale}; the image score the whole image's alone;
//! - few-shot: a memory of the reference images' patch tokens (after
//!   `ln_post`, not projected) and window embeddings; per patch or window
//!   min over the memory of (1 − cos) / 2; the map the mean over
//!   {patches, scales}; the final map (zero-shot + few-shot) / 2 and the image
//!   score (zero-shot score + max of the few-shot map) / 2;
//! - bilinear upsampling to the input resolution (align_corners = false).

use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Kind, Tensor};

use super::windows::WindowSet;
use super::{EncodedImages, MapScores};
use crate::clip::ClipModel;
use crate::embed::embed_texts;
use crate::error::Result;

/// The CLIP paper's temperature, which WinCLIP uses.
pub const WINCLIP_TEMPERATURE: f64 = 0.07;

const NORMAL_STATES: [&str; 7] = [
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
];

const ANOMALOUS_STATES: [&str; 4] = ["damaged {}", "{} with flaw", "{} with defect", "{} with damage"];

/// anomalib's 21 templates, the jpeg one listed twice as there.
const TEMPLATES: [&str; 21] = [
    "a cropped photo of the {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
];

/// The (normal, anomalous) prompts for `object`: 147 and 84, states outer,
/// templates inner, as anomalib lists them.
pub fn prompt_ensemble(object: &str) -> (Vec<String>, Vec<String>) {
    let expand = |states: &[&str]| -> Vec<String> {
        states
            .iter()
            .flat_map(|state| {
                let state = state.replace("{}", object);
                TEMPLATES.iter().map(move |t| t.replace("{}", &state))
            })
            .collect()
    };
    (expand(&NORMAL_STATES), expand(&ANOMALOUS_STATES))
}

/// [2, embed_dim]: the normal and anomalous prototypes for `object`.
pub fn text_prototypes(model: &ClipModel, tokenizer: &ClipTokenizer, object: &str, batch_size: usize) -> Result<Tensor> {
    let (normal, anomalous) = prompt_ensemble(object);
    let mean = |prompts: &[String]| -> Result<Tensor> {
        Ok(embed_texts(model, tokenizer, prompts, batch_size, None)?.mean_dim(0, true, Kind::Float))
    };
    Ok(Tensor::cat(&[mean(&normal)?, mean(&anomalous)?], 0))
}

/// torch's `F.normalize(x, dim=-1)`: x / max(‖x‖, 1e-12).
fn normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-12)
}

/// softmax(cos(x, prototypes) / T)[.., anomalous]: `x` [.., D] -> [..].
pub fn class_scores(x: &Tensor, prototypes: &Tensor, temperature: f64) -> Tensor {
    let cos = normalize(x).matmul(&normalize(prototypes).transpose(0, 1));
    (cos / temperature).softmax(-1, Kind::Float).select(-1, 1)
}

/// min over `memory` [M, D] of (1 − cos) / 2 for each row of `x` [B, N, D] -> [B, N].
fn association_scores(x: &Tensor, memory: &Tensor) -> Tensor {
    let cos = normalize(x).matmul(&normalize(memory).transpose(0, 1));
    let (min, _) = cos.neg().g_add_scalar(1.0).min_dim(-1, false);
    min / 2.0
}

/// The harmonic mean of equal-shaped maps [B, G, G].
pub fn harmonic_mean(maps: &[Tensor]) -> Tensor {
    let inverse_sum = Tensor::stack(&maps.iter().map(Tensor::reciprocal).collect::<Vec<_>>(), 0).sum_dim_intlist(0, false, None::<Kind>);
    maps.len() as f64 / inverse_sum
}

/// The k reference images' patch tokens and window embeddings, all images'
/// pooled together as anomalib pools them.
#[derive(Debug)]
pub struct ReferenceMemory {
    /// [k × grid², width]
    patch_tokens: Tensor,
    /// Per scale, [k × windows, embed_dim].
    windows: Vec<Tensor>,
    pub shots: i64,
}

impl ReferenceMemory {
    pub fn new(references: &EncodedImages) -> ReferenceMemory {
        let flat = |t: &Tensor| t.flatten(0, 1);
        ReferenceMemory {
            patch_tokens: flat(&references.patch_tokens),
            windows: references.windows.iter().map(flat).collect(),
            shots: references.embeddings.size()[0],
        }
    }
}

/// WinCLIP for one object word and, for k-shot, one set of references.
#[derive(Debug)]
pub struct WinClip {
    prototypes: Tensor,
    memory: Option<ReferenceMemory>,
}

impl WinClip {
    pub fn new(prototypes: Tensor, memory: Option<ReferenceMemory>) -> WinClip {
        WinClip { prototypes, memory }
    }

    /// Image scores and maps at patch-grid resolution of encoded images.
    pub fn score(&self, images: &EncodedImages, windows: &[WindowSet]) -> MapScores {
        let t = WINCLIP_TEMPERATURE;
        let mut image_scores = class_scores(&images.embeddings, &self.prototypes, t);
        let grid = windows.first().map_or(1, |w| w.grid);
        let batch = image_scores.size()[0];
        let mut maps = vec![image_scores.view([batch, 1, 1]).expand([batch, grid, grid], false)];
        for (set, embeddings) in windows.iter().zip(&images.windows) {
            maps.push(set.harmonic_aggregation(&class_scores(embeddings, &self.prototypes, t)));
        }
        let mut map = harmonic_mean(&maps);
        if let Some(memory) = &self.memory {
            let mut few = vec![association_scores(&images.patch_tokens, &memory.patch_tokens).view([batch, grid, grid])];
            for ((set, embeddings), reference) in windows.iter().zip(&images.windows).zip(&memory.windows) {
                few.push(set.harmonic_aggregation(&association_scores(embeddings, reference)));
            }
            let few_shot = Tensor::stack(&few, 0).mean_dim(0, false, None::<Kind>);
            map = (map + &few_shot) / 2.0;
            image_scores = (image_scores + few_shot.amax([-2, -1], false)) / 2.0;
        }
        MapScores { image_scores, maps: map }
    }
}
