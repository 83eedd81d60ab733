//! Projection of CLIP embeddings onto the unit sphere.

use tch::{Kind, Tensor};

/// Smallest norm divided by, so an all-zero row maps to zeros instead of NaN (as
/// `torch.nn.functional.normalize` does).
const MIN_NORM: f64 = 1e-12;

/// Each row divided by its L2 norm, as f32.
///
/// Why every FNN input goes through this: CLIP's contrastive loss compares embeddings only by
/// cosine similarity, so it aligns *directions* of text and image embeddings, never their
/// magnitudes — and the two towers' raw outputs have systematically different norms. Only the
/// unit-sphere embeddings live in a shared space where an FNN trained on text can score images.
pub fn l2_normalize_rows(embeddings: &Tensor) -> Tensor {
    let x = embeddings.to_kind(Kind::Float);
    let norms = x
        .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
        .clamp_min(MIN_NORM);
    x / norms
}
