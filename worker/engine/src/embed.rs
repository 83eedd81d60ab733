//! Batched CLIP encoding of prompts and images.
//!
//! Batches are cut at fixed absolute positions of the input list, so a given
//! prompt or image is always encoded in the same batch composition whatever
//! the caller's sharding: CPU results are then bit-identical across runs.

use std::path::Path;

use indicatif::ProgressBar;
use rwclip_inputs::preprocess::{Preprocess, View};
use rwclip_inputs::tokenizer::ClipTokenizer;
use tch::{Kind, Tensor};

use crate::clip::ClipModel;
use crate::error::Result;

/// Encodes `texts` with the text tower: [N, embed_dim] f32 on the CPU,
/// unnormalised (open_clip `encode_text(normalize=False)`).
pub fn embed_texts(
    model: &ClipModel,
    tokenizer: &ClipTokenizer,
    texts: &[String],
    batch_size: usize,
    progress: Option<&ProgressBar>,
) -> Result<Tensor> {
    let ctx = model.cfg.text.context_length;
    let mut out = Vec::with_capacity(texts.len().div_ceil(batch_size.max(1)));
    for chunk in texts.chunks(batch_size.max(1)) {
        let ids = tokenizer.tokenize_batch(chunk, ctx as usize)?;
        let tokens = Tensor::from_slice(&ids)
            .view([chunk.len() as i64, ctx])
            .to_device(model.vs.device());
        let emb = tch::no_grad(|| model.clip.encode_text(&tokens));
        out.push(emb.to_kind(Kind::Float).to_device(tch::Device::Cpu));
        if let Some(pb) = progress {
            pb.inc(chunk.len() as u64);
        }
    }
    Ok(concat_or_empty(&out, model.cfg.embed_dim))
}

/// Encodes the prompts of one aligned range (a text shard's, which starts
/// at absolute prompt index `first`) as sweeps do: in windows of `window`
/// prompts at absolute multiples of `window`, clipped to the range. Within
/// a window the prompts are ordered by token count (ties by position)
/// before being cut into batches of `batch_size`, so a batch's longest
/// prompt — where the causal tower stops — is close to its shortest, and
/// almost only real tokens are computed. Batch composition is a function of
/// the range and the window alone, so CPU output is bit-identical however
/// a job is sharded. `window == 0` keeps every batch in input order at
/// absolute multiples of `batch_size` (shards planned before windows).
/// [N, embed_dim] f32 on the CPU, in input order.
pub fn embed_prompt_range(
    model: &ClipModel,
    tokenizer: &ClipTokenizer,
    texts: &[String],
    first: u64,
    batch_size: usize,
    window: usize,
) -> Result<Tensor> {
    let batch = batch_size.max(1);
    if window == 0 {
        let mut parts = Vec::new();
        for run in aligned_runs(first, texts.len(), batch) {
            parts.push(embed_texts(model, tokenizer, &texts[run], batch, None)?);
        }
        return Ok(concat_or_empty(&parts, model.cfg.embed_dim));
    }
    let ctx = model.cfg.text.context_length as usize;
    let ids = tokenizer.tokenize_batch(texts, ctx)?;
    let lengths: Vec<usize> = ids.chunks(ctx).map(token_count).collect();
    let device = model.vs.device();
    let out = Tensor::zeros([texts.len() as i64, model.cfg.embed_dim], (Kind::Float, tch::Device::Cpu));
    for run in aligned_runs(first, texts.len(), window) {
        let mut order: Vec<usize> = run.collect();
        order.sort_by_key(|&i| (lengths[i], i));
        for rows in order.chunks(batch) {
            let flat: Vec<i64> = rows.iter().flat_map(|&i| ids[i * ctx..(i + 1) * ctx].iter().copied()).collect();
            let tokens = Tensor::from_slice(&flat).view([rows.len() as i64, ctx as i64]).to_device(device);
            let emb = tch::no_grad(|| model.clip.encode_text(&tokens)).to_kind(Kind::Float).to_device(tch::Device::Cpu);
            let index = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>());
            let _ = out.shallow_clone().index_copy_(0, &index, &emb);
        }
    }
    Ok(out)
}

/// Positions up to and including the end-of-text token (the row's highest
/// id, as the text tower's pooling finds it).
fn token_count(row: &[i64]) -> usize {
    let mut best = 0;
    for (i, &id) in row.iter().enumerate() {
        if id > row[best] {
            best = i;
        }
    }
    best + 1
}

/// Splits `0..n` items starting at absolute index `first` into runs whose
/// boundaries fall on absolute multiples of `unit`.
pub fn aligned_runs(first: u64, n: usize, unit: usize) -> Vec<std::ops::Range<usize>> {
    let unit = unit.max(1) as u64;
    let mut runs = Vec::new();
    let mut start = 0usize;
    while start < n {
        let absolute = first + start as u64;
        let to_boundary = (unit - absolute % unit) as usize;
        let end = (start + to_boundary).min(n);
        runs.push(start..end);
        start = end;
    }
    runs
}

/// Decodes, preprocesses and encodes image files: [N, embed_dim] f32 on the
/// CPU, unnormalised. Decoding runs on all cores while libtorch computes.
pub fn embed_image_files(
    model: &ClipModel,
    preprocess: &Preprocess,
    paths: &[impl AsRef<Path> + Sync],
    batch_size: usize,
    progress: Option<&ProgressBar>,
) -> Result<Tensor> {
    embed_image_views(model, preprocess, paths, View::Center, batch_size, progress)
}

/// [`embed_image_files`] for one [`View`] of every file (multi-crop).
pub fn embed_image_views(
    model: &ClipModel,
    preprocess: &Preprocess,
    paths: &[impl AsRef<Path> + Sync],
    view: View,
    batch_size: usize,
    progress: Option<&ProgressBar>,
) -> Result<Tensor> {
    let size = preprocess.image_size as i64;
    let mut out = Vec::with_capacity(paths.len().div_ceil(batch_size.max(1)));
    for chunk in paths.chunks(batch_size.max(1)) {
        let pixels = preprocess_parallel(preprocess, chunk, view)?;
        let batch = Tensor::from_slice(&pixels)
            .view([chunk.len() as i64, 3, size, size])
            .to_device(model.vs.device());
        let emb = tch::no_grad(|| model.clip.encode_image(&batch));
        out.push(emb.to_kind(Kind::Float).to_device(tch::Device::Cpu));
        if let Some(pb) = progress {
            pb.inc(chunk.len() as u64);
        }
    }
    Ok(concat_or_empty(&out, model.cfg.embed_dim))
}

/// Decodes images already read into memory (through the object store),
/// `(name, encoded bytes)` with the name used in errors, into every view of
/// each, each image decoded once, on all cores: per image, one CHW pixel
/// vector per view in `views` order.
pub fn decode_image_views(preprocess: &Preprocess, images: &[(String, bytes::Bytes)], views: &[View]) -> Result<Vec<Vec<Vec<f32>>>> {
    decode_views_parallel(images, |(name, bytes)| preprocess.load_bytes_views(bytes, name, views))
}

/// Encodes decoded views ([`decode_image_views`]): one [N, embed_dim]
/// tensor per view, each in one batch of the N images.
pub fn encode_image_views(model: &ClipModel, decoded: &[Vec<Vec<f32>>], views: usize, size: u32) -> Vec<Tensor> {
    (0..views)
        .map(|v| {
            let pixels: Vec<f32> = decoded.iter().flat_map(|d| d[v].iter().copied()).collect();
            encode_pixels(model, &pixels, decoded.len(), size)
        })
        .collect()
}

/// Runs `load` (every view of one item) over `items` on scoped threads, in
/// input order; the first failing item (in input order) is reported.
fn decode_views_parallel<T: Sync>(
    items: &[T],
    load: impl Fn(&T) -> std::result::Result<Vec<Vec<f32>>, rwclip_inputs::preprocess::ImageLoadError> + Sync,
) -> Result<Vec<Vec<Vec<f32>>>> {
    parallel_map(items, load).into_iter().map(|r| r.map_err(Into::into)).collect()
}

/// `f` over `items` on scoped threads (one contiguous part per core), the
/// results in input order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().max(1));
    let per = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(per).map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("preprocessing thread panicked")).collect()
    })
}

/// Encodes `n` preprocessed images (`3 * size * size` values each, CHW, as
/// `Preprocess` makes them): [n, embed_dim] f32 on the CPU, unnormalised.
/// `n` preprocessed images laid end to end (CHW each) as one [n, 3, S, S] tensor.
pub fn pixel_batch(pixels: &[f32], n: usize, size: u32) -> Tensor {
    let size = i64::from(size);
    Tensor::from_slice(pixels).view([n as i64, 3, size, size])
}

pub fn encode_pixels(model: &ClipModel, pixels: &[f32], n: usize, size: u32) -> Tensor {
    if n == 0 {
        return Tensor::zeros([0, model.cfg.embed_dim], (Kind::Float, tch::Device::Cpu));
    }
    let emb = tch::no_grad(|| model.clip.encode_image(&pixel_batch(pixels, n, size)));
    emb.to_kind(Kind::Float).to_device(tch::Device::Cpu)
}

/// Preprocesses a batch of files on scoped threads; the first failing file
/// (in input order) is reported.
fn preprocess_parallel(preprocess: &Preprocess, paths: &[impl AsRef<Path> + Sync], view: View) -> Result<Vec<f32>> {
    decode_parallel(paths, |p| preprocess.load_view(p.as_ref(), view))
}

/// Runs `load` over `items` on scoped threads, concatenating the pixels in
/// input order; the first failing item (in input order) is reported.
fn decode_parallel<T: Sync>(
    items: &[T],
    load: impl Fn(&T) -> std::result::Result<Vec<f32>, rwclip_inputs::preprocess::ImageLoadError> + Sync,
) -> Result<Vec<f32>> {
    let mut pixels = Vec::new();
    for r in parallel_map(items, load) {
        pixels.extend_from_slice(&r?);
    }
    Ok(pixels)
}

#[cfg(test)]
mod tests {
    use super::{aligned_runs, token_count};

    #[test]
    fn runs_break_at_absolute_multiples() {
        assert_eq!(aligned_runs(0, 10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(aligned_runs(6, 10, 4), vec![0..2, 2..6, 6..10]);
        assert_eq!(aligned_runs(6, 1, 4), vec![0..1]);
        assert_eq!(aligned_runs(3, 0, 4), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn token_count_ends_at_the_end_of_text_token() {
        assert_eq!(token_count(&[49406, 320, 1125, 49407, 0, 0]), 4);
        assert_eq!(token_count(&[49406, 49407, 0]), 2);
    }
}

fn concat_or_empty(parts: &[Tensor], dim: i64) -> Tensor {
    if parts.is_empty() {
        Tensor::zeros([0, dim], (Kind::Float, tch::Device::Cpu))
    } else {
        Tensor::cat(parts, 0)
    }
}

/// Rows of a [N, D] f32 CPU tensor as vectors (for Parquet).
pub fn rows_of(t: &Tensor) -> Vec<Vec<f32>> {
    let (n, d) = t.size2().expect("embeddings are 2-D");
    let flat: Vec<f32> = Vec::<f32>::try_from(t.contiguous().view([-1])).expect("f32 tensor");
    (0..n as usize)
        .map(|i| flat[i * d as usize..(i + 1) * d as usize].to_vec())
        .collect()
}

/// A [N, D] f32 CPU tensor from equal-length rows.
pub fn tensor_of(rows: &[Vec<f32>], dim: i64) -> Tensor {
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, dim])
}
