//! Image anomaly scores (paper §3.1, §3.3): the prompt-guided score s_pr, the FNN score s_fnn,
//! and their sum.

use tch::{Device, Kind, Tensor};

use crate::fnn::{l2_normalize_rows, Fnn, FnnError};

/// CLIP's temperature, T = 0.01 (the inverse of its logit scale of 100), as the paper uses.
pub const DEFAULT_TEMPERATURE: f64 = 0.01;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("image embeddings must be a 2-D [N, D] tensor, got shape {shape:?}")]
    ImageNotAMatrix { shape: Vec<i64> },
    #[error("{which} text embedding must be [D] or [1, D], got shape {shape:?}")]
    TextNotAVector { which: &'static str, shape: Vec<i64> },
    #[error("{which} text embedding has shape {text:?} but image embeddings have shape {image:?}; feature dimensions differ")]
    DimMismatch { which: &'static str, text: Vec<i64>, image: Vec<i64> },
    #[error("temperature must be finite and > 0, got {0}")]
    BadTemperature(f64),
    #[error(transparent)]
    Fnn(#[from] FnnError),
    #[error("torch failed while {context}: {source}")]
    Torch { context: &'static str, source: tch::TchError },
}

/// s_pr (§3.1): softmax over the two guide prompts at temperature T (0.01) — all three
/// embeddings L2-normalised first, as the paper does (cosine similarity). Returns the anomaly
/// prompt's probability, [N] f32, on the image embeddings' device.
///
/// # Panics
/// On inconsistent shapes or a non-positive temperature; `try_prompt_score` returns an error.
pub fn prompt_score(image: &Tensor, normal_text: &Tensor, anomaly_text: &Tensor, temperature: f64) -> Tensor {
    try_prompt_score(image, normal_text, anomaly_text, temperature).unwrap_or_else(|e| panic!("{e}"))
}

/// `prompt_score`, returning shape and temperature errors instead of panicking.
pub fn try_prompt_score(
    image: &Tensor,
    normal_text: &Tensor,
    anomaly_text: &Tensor,
    temperature: f64,
) -> Result<Tensor, ScoreError> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(ScoreError::BadTemperature(temperature));
    }
    let image_shape = image.size();
    if image_shape.len() != 2 {
        return Err(ScoreError::ImageNotAMatrix { shape: image_shape });
    }
    let device = image.device();
    let normal = text_row("normal", normal_text, &image_shape, device)?;
    let anomaly = text_row("anomaly", anomaly_text, &image_shape, device)?;
    Ok(tch::no_grad(|| {
        // Both prompts as the rows of one [2, D] matrix: column 0 normal, column 1 anomaly.
        let prompts = l2_normalize_rows(&Tensor::cat(&[normal, anomaly], 0));
        let cosines = l2_normalize_rows(image).matmul(&prompts.tr()); // [N, 2]
        (cosines / temperature).softmax(-1, Kind::Float).select(1, 1)
    }))
}

/// A guide prompt embedding as a [1, D] row on `device`, checked against the images' D.
fn text_row(which: &'static str, text: &Tensor, image_shape: &[i64], device: Device) -> Result<Tensor, ScoreError> {
    let shape = text.size();
    let dim = match shape.as_slice() {
        [d] | [1, d] => *d,
        _ => return Err(ScoreError::TextNotAVector { which, shape }),
    };
    if dim != image_shape[1] {
        return Err(ScoreError::DimMismatch { which, text: shape, image: image_shape.to_vec() });
    }
    Ok(text.reshape([1, dim]).to_device(device))
}

/// Per-image scores, as f64 for the metrics code.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageScores {
    pub s_pr: Vec<f64>,
    pub s_fnn: Vec<f64>,
    /// s_pr + s_fnn ("CLIP + ours" in the zero-shot tables). Both terms lie in [0, 1], so a
    /// plain sum weighs them equally.
    pub combined: Vec<f64>,
}

/// s_pr, s_fnn and their sum for image embeddings [N, D] (unnormalised; each score normalises).
///
/// # Panics
/// On inconsistent shapes or a bad temperature; `try_score_images` returns an error.
pub fn score_images(
    image: &Tensor,
    normal_text: &Tensor,
    anomaly_text: &Tensor,
    fnn: &Fnn,
    temperature: f64,
) -> ImageScores {
    try_score_images(image, normal_text, anomaly_text, fnn, temperature).unwrap_or_else(|e| panic!("{e}"))
}

/// `score_images`, returning errors instead of panicking.
pub fn try_score_images(
    image: &Tensor,
    normal_text: &Tensor,
    anomaly_text: &Tensor,
    fnn: &Fnn,
    temperature: f64,
) -> Result<ImageScores, ScoreError> {
    let s_pr = to_f64_vec(&try_prompt_score(image, normal_text, anomaly_text, temperature)?)?;
    let s_fnn = to_f64_vec(&fnn.try_score(image)?)?;
    let combined = s_pr.iter().zip(&s_fnn).map(|(p, f)| p + f).collect();
    Ok(ImageScores { s_pr, s_fnn, combined })
}

fn to_f64_vec(scores: &Tensor) -> Result<Vec<f64>, ScoreError> {
    Vec::<f64>::try_from(&scores.to_device(Device::Cpu))
        .map_err(|source| ScoreError::Torch { context: "copying scores to host", source })
}
