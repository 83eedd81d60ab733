//! Window-embedding shards: per image, what its anomaly maps are made of
//! (every window's embedding, optionally the patch tokens) and its
//! ground-truth mask in the model's view, stored as f16.
//!
//! Batches start at absolute multiples of the batch size, as for image
//! shards, so the stored values do not depend on how a job was sharded.

use rwclip_artifacts::WindowEmbeddingRow;
use rwclip_plan::{ShardId, WindowShardSpec};
use rwclip_store::shard_store::part;
use rwclip_inputs::preprocess::{check_mask_size, Preprocess, View};
use tch::{Kind, Tensor};

use super::context::ExecContext;
use super::error::ShardError;
use crate::blocking_store::BlockingStore;
use crate::embed::{aligned_runs, decode_image_views, pixel_batch};
use crate::error::EngineError;
use crate::image_reader::{ImageReadError, ImageReader};
use crate::maps::encode_for_maps;
use crate::maps::windows::WindowSet;
use crate::overlap::{overlapped, PREFETCH_DEPTH};

/// Rows of a [rows, cols] tensor as f16 little-endian bytes, one row each.
pub fn f16_rows(t: &Tensor) -> Vec<Vec<u8>> {
    let n = t.size()[0];
    let half = t.to_kind(Kind::Half).contiguous().view_dtype(Kind::Int16).view([n, -1]);
    let flat: Vec<i16> = Vec::try_from(half.view([-1])).expect("an i16 view of f16 values");
    let per = flat.len() / n.max(1) as usize;
    flat.chunks(per.max(1)).take(n as usize).map(|row| row.iter().flat_map(|v| v.to_le_bytes()).collect()).collect()
}

/// f16 little-endian bytes as an f32 tensor [len / (2 · cols), cols];
/// `what` names the value in the error when the length does not fit.
pub fn f16_tensor(bytes: &[u8], cols: i64, what: &str) -> Result<Tensor, String> {
    if cols <= 0 || bytes.len() % (2 * cols as usize) != 0 {
        return Err(format!("{what}: {} bytes are not rows of {cols} f16 values", bytes.len()));
    }
    let values: Vec<i16> = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    Ok(Tensor::from_slice(&values).view_dtype(Kind::Half).to_kind(Kind::Float).view([-1, cols]))
}

pub fn windows(
    id: &ShardId,
    s: &WindowShardSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    prefix: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<String>, ShardError> {
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let grid = model.cfg.vision.grid_size();
    if let Some(&k) = s.scales.iter().find(|&&k| k < 1 || k > grid) {
        return Err(bad(format!("window scale {k} does not fit the {grid}×{grid} patch grid of {}", s.model.preset)));
    }
    let sets: Vec<WindowSet> = s.scales.iter().map(|&k| WindowSet::new(grid, k)).collect();
    let preprocess = Preprocess::openai(s.image_size);
    let reader = ImageReader::open(&s.dataset_root).map_err(|e| ShardError::run(id)(e.into()))?;
    let batches = aligned_runs(s.first_image, s.images.len(), s.batch_size);
    let read_error = |e: ImageReadError| match e {
        ImageReadError::Missing { .. } => bad(e.to_string()),
        ImageReadError::Store { source, .. } => ShardError::run(id)(EngineError::Store(source)),
    };
    // Per image: its pixels, and its mask (when it has one) in the same geometry.
    type Prepared = (Vec<Vec<Vec<f32>>>, Vec<Option<Vec<u8>>>);
    let prepare = |b: usize| -> Result<Prepared, ShardError> {
        let records = &s.images[batches[b].clone()];
        let paths: Vec<String> = records.iter().map(|r| r.path.clone()).collect();
        let images = reader.read_all(&paths).map_err(read_error)?;
        let pixels = decode_image_views(&preprocess, &images, &[View::Center]).map_err(|e| match e {
            EngineError::Image(e) => bad(e.to_string()),
            other => ShardError::run(id)(other),
        })?;
        let mut masks = Vec::with_capacity(records.len());
        for (r, (_, image)) in records.iter().zip(&images) {
            masks.push(match &r.mask {
                Some(mask) => {
                    let bytes = reader.read_all(std::slice::from_ref(mask)).map_err(read_error)?;
                    check_mask_size(&bytes[0].1, mask, image, &r.path).map_err(|e| bad(e.to_string()))?;
                    Some(preprocess.load_mask_bytes(&bytes[0].1, mask).map_err(|e| bad(format!("mask of {}: {e}", r.path)))?)
                }
                None => None,
            });
        }
        Ok((pixels, masks))
    };
    let size = preprocess.image_size;
    let mut rows = Vec::with_capacity(s.images.len());
    overlapped(batches.len(), PREFETCH_DEPTH, prepare, |b, prepared| {
        let (pixels, masks) = prepared?;
        let flat: Vec<f32> = pixels.iter().flat_map(|views| views[0].iter().copied()).collect();
        let encoded = encode_for_maps(&model, &pixel_batch(&flat, pixels.len(), size), &sets);
        // [B, Σ windows, D]: the scales one after the other.
        let windows = f16_rows(&Tensor::cat(&encoded.windows, 1).flatten(1, 2));
        let tokens = s.patch_tokens.then(|| f16_rows(&encoded.patch_tokens.flatten(1, 2)));
        for (i, (r, mask)) in s.images[batches[b].clone()].iter().zip(masks).enumerate() {
            rows.push(WindowEmbeddingRow {
                path: r.path.clone(),
                category: r.category.clone(),
                label: Some(r.label),
                mask,
                windows: windows[i].clone(),
                patch_tokens: tokens.as_ref().map(|t| t[i].clone()),
            });
        }
        progress(batches[b].end as u64, s.images.len() as u64);
        Ok::<(), ShardError>(())
    })?;
    let key = format!("{prefix}{}", part::WINDOW_EMBEDDINGS);
    store.write_rows(&key, &rows).map_err(ShardError::run(id))?;
    Ok(vec![key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_bytes_round_trip_and_name_a_bad_length() {
        let t = Tensor::from_slice(&[1.0f32, -0.5, 3.25, 65504.0, 1e-3, 0.0]).view([2, 3]);
        let rows = f16_rows(&t);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].len(), 6);
        let back = f16_tensor(&rows.concat(), 3, "x").unwrap();
        let got: Vec<f32> = Vec::try_from(back.view([-1])).unwrap();
        let want: Vec<f32> = Vec::try_from(t.to_kind(Kind::Half).to_kind(Kind::Float).view([-1])).unwrap();
        assert_eq!(got, want);
        assert!(f16_tensor(&rows[0][..5], 3, "windows of a.png").unwrap_err().contains("windows of a.png: 5 bytes"));
    }
}
