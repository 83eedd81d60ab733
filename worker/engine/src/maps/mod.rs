//! Where the anomaly is: per image an image score and an anomaly map, from
//! window embeddings (k×k patches encoded as their own sequences) and patch
//! tokens. One encoding feeds every map method: WinCLIP (zero- and
//! few-shot), the FNN (`ours`), the two-prompt score (`clip`) and their sum.

pub mod windows;
pub mod winclip;

use tch::{Kind, Tensor};

use crate::clip::ClipModel;
pub use windows::WindowSet;

/// WinCLIP's window scales (in patches per side).
pub const DEFAULT_SCALES: [i64; 2] = rwclip_job::map_method::WINDOW_SCALES;

/// What the map methods need of a batch of images (f32).
#[derive(Debug)]
pub struct EncodedImages {
    /// [B, embed_dim]: the whole-image embeddings, unnormalised.
    pub embeddings: Tensor,
    /// [B, grid², width]: patch tokens after `ln_post`, not projected.
    pub patch_tokens: Tensor,
    /// Per window scale, [B, windows, embed_dim], unnormalised.
    pub windows: Vec<Tensor>,
}

/// Per image, a score and a map at patch-grid resolution.
#[derive(Debug)]
pub struct MapScores {
    /// [B]
    pub image_scores: Tensor,
    /// [B, grid, grid]
    pub maps: Tensor,
}

impl MapScores {
    /// Maps at the model's input resolution: [B, size, size], bilinear
    /// (align_corners = false), as WinCLIP upsamples.
    pub fn upsampled(&self, size: i64) -> Tensor {
        self.maps.unsqueeze(1).upsample_bilinear2d([size, size], false, None, None).squeeze_dim(1)
    }

    /// The sum of two methods' scores and maps (`clip+ours`).
    pub fn plus(&self, other: &MapScores) -> MapScores {
        MapScores { image_scores: &self.image_scores + &other.image_scores, maps: &self.maps + &other.maps }
    }
}

/// The model's view of an image (`Preprocess` output, CHW, normalised) as
/// RGB bytes, its normalisation undone: what an overlay is drawn on.
pub fn view_rgb(pixels: &[f32], size: usize) -> Vec<u8> {
    use rwclip_job::clip_config::{OPENAI_MEAN, OPENAI_STD};
    let plane = size * size;
    (0..plane)
        .flat_map(|p| (0..3).map(move |c| (p, c)))
        .map(|(p, c)| ((pixels[c * plane + p] * OPENAI_STD[c] as f32 + OPENAI_MEAN[c] as f32) * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// The window sets of `scales` for `model`'s patch grid.
pub fn window_sets(model: &ClipModel, scales: &[i64]) -> Vec<WindowSet> {
    let grid = model.cfg.vision.grid_size();
    scales.iter().map(|&s| WindowSet::new(grid, s)).collect()
}

/// Encodes images for the map methods: one whole-image pass, then every
/// window of each scale (all images × windows of a scale in one batched
/// call). `pixels` [B, 3, S, S] as for `encode_image`.
pub fn encode_for_maps(model: &ClipModel, pixels: &Tensor, windows: &[WindowSet]) -> EncodedImages {
    let tokens = model.clip.encode_image_tokens(pixels);
    let windows = windows.iter().map(|w| model.clip.encode_windows(&tokens.embedded, &w.tokens)).collect();
    EncodedImages { embeddings: tokens.embeddings, patch_tokens: tokens.patch_tokens, windows }
}

/// Maps from a per-embedding score (the FNN's, or the two-prompt one):
/// the image score from the whole-image embedding; per scale the windows'
/// scores aggregated per patch by harmonic mean; the map the harmonic mean
/// of {image score, one map per scale}, as WinCLIP's zero-shot map.
/// `score` takes [N, embed_dim] unnormalised embeddings and gives [N].
pub fn embedding_score_maps(images: &EncodedImages, windows: &[WindowSet], score: impl Fn(&Tensor) -> Tensor) -> MapScores {
    let image_scores = score(&images.embeddings).to_kind(Kind::Float);
    let batch = image_scores.size()[0];
    let grid = windows.first().map_or(1, |w| w.grid);
    let mut maps = vec![image_scores.view([batch, 1, 1]).expand([batch, grid, grid], false)];
    for (set, embeddings) in windows.iter().zip(&images.windows) {
        let (b, w, d) = embeddings.size3().expect("window embeddings are [B, W, D]");
        let scores = score(&embeddings.reshape([b * w, d])).to_kind(Kind::Float).view([b, w]);
        maps.push(set.harmonic_aggregation(&scores));
    }
    MapScores { image_scores, maps: winclip::harmonic_mean(&maps) }
}

/// A detector's maps for its score kind: `fnn` → the FNN's (`ours`), `pr`
/// → the two guide prompts' (`clip`), `pr+fnn` → their sum (`clip+ours`).
pub fn detector_maps(
    images: &EncodedImages,
    windows: &[WindowSet],
    fnn: &crate::fnn::Fnn,
    guides: (&Tensor, &Tensor),
    temperature: f64,
    kind: rwclip_job::detector::ScoreKind,
) -> MapScores {
    use rwclip_job::detector::ScoreKind;
    let ours = || embedding_score_maps(images, windows, |e| fnn.score(e));
    let clip = || embedding_score_maps(images, windows, |e| crate::score::prompt_score(e, guides.0, guides.1, temperature));
    match kind {
        ScoreKind::Fnn => ours(),
        ScoreKind::Pr => clip(),
        ScoreKind::PrFnn => clip().plus(&ours()),
    }
}
