//! Text- and image-embedding shards.
//!
//! Encoder batches start at absolute multiples of the batch size (pair or
//! image index × batch), so an embedding is computed in the same batch
//! composition however the job was sharded: CPU output is bit-identical.

use rwclip_artifacts::{ImageEmbeddingRow, TextEmbeddingRow};
use rwclip_plan::{ImageShardSpec, ShardId, TextShardSpec};
use rwclip_inputs::preprocess::{Corner, Preprocess, View};
use rwclip_job::prompts::PromptGenerator;
use rwclip_store::shard_store::part;
use tch::Tensor;

use super::context::ExecContext;
use super::error::ShardError;
use crate::blocking_store::BlockingStore;
use crate::embed::{aligned_runs, decode_image_views, embed_prompt_range, encode_image_views, rows_of};
use crate::overlap::{overlapped, PREFETCH_DEPTH};
use crate::image_reader::{ImageReadError, ImageReader};
use crate::error::EngineError;
use crate::pipeline::prompt_rows;


fn cat(parts: Vec<Tensor>) -> Tensor {
    Tensor::cat(&parts, 0)
}

pub fn text(
    id: &ShardId,
    s: &TextShardSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    prefix: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<String>, ShardError> {
    let fail = ShardError::run(id);
    let generator = PromptGenerator {
        seed: s.seed,
        normal_word: s.words.normal.clone(),
        anomaly_word: s.words.anomaly.clone(),
        min_len: s.min_len,
        max_len: s.max_len,
    };
    generator.validate().map_err(|e| ShardError::BadInput {
        shard: id.clone(),
        problem: e.to_string(),
    })?;
    let pairs = generator.pairs(s.first_pair, s.pairs);
    // The prompts themselves are an artifact too (pair id, seed, label, text).
    let prompts_key = format!("{prefix}{}", part::PROMPTS);
    store.write_rows(&prompts_key, &prompt_rows(s.seed, &pairs)).map_err(ShardError::run(id))?;
    // Interleaved normal/anomaly so pair i is rows 2i and 2i+1.
    let texts: Vec<String> = pairs.iter().flat_map(|p| [p.normal.clone(), p.anomaly.clone()]).collect();
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let tokenizer = ctx.tokenizer().map_err(ShardError::run(id))?;
    let total = texts.len() as u64;
    let emb = embed_prompt_range(&model, &tokenizer, &texts, 2 * s.first_pair, s.batch_size, s.sort_window).map_err(ShardError::run(id))?;
    progress(total, total);
    let rows: Vec<TextEmbeddingRow> = texts
        .iter()
        .zip(rows_of(&emb))
        .enumerate()
        .map(|(i, (text, embedding))| TextEmbeddingRow {
            pair_id: s.first_pair + (i / 2) as u64,
            seed: Some(s.seed),
            label: Some((i % 2) as u8),
            text: text.clone(),
            embedding,
        })
        .collect();
    let key = format!("{prefix}{}", part::TEXT_EMBEDDINGS);
    store.write_rows(&key, &rows).map_err(fail)?;
    Ok(vec![prompts_key, key])
}

pub fn image(
    id: &ShardId,
    s: &ImageShardSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    prefix: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<String>, ShardError> {
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let preprocess = Preprocess::openai(s.image_size);
    let reader = ImageReader::open(&s.dataset_root).map_err(|e| ShardError::run(id)(e.into()))?;
    let views: Vec<(View, String)> = if s.corners {
        Corner::ALL.into_iter().map(|c| (View::Corner(c), part::corner_embeddings(c.label()))).collect()
    } else {
        vec![(View::Center, part::IMAGE_EMBEDDINGS.to_string())]
    };
    let n = s.images.len();
    let view_list: Vec<View> = views.iter().map(|(v, _)| *v).collect();
    // Batches at absolute multiples of the batch size; each is read and
    // decoded once for all its views (multi-crop's corners come from one
    // decode), the next ones while the model encodes this one.
    let batches: Vec<std::ops::Range<usize>> = aligned_runs(s.first_image, n, s.batch_size);
    let size = preprocess.image_size;
    let prepare = |b: usize| -> Result<Vec<Vec<Vec<f32>>>, ShardError> {
        let paths: Vec<String> = s.images[batches[b].clone()].iter().map(|r| r.path.clone()).collect();
        let images = reader.read_all(&paths).map_err(|e| match e {
            ImageReadError::Missing { .. } => ShardError::BadInput { shard: id.clone(), problem: e.to_string() },
            ImageReadError::Store { source, .. } => ShardError::run(id)(EngineError::Store(source)),
        })?;
        decode_image_views(&preprocess, &images, &view_list).map_err(|e| match e {
            // A file that does not decode fails the same way everywhere.
            EngineError::Image(e) => ShardError::BadInput { shard: id.clone(), problem: e.to_string() },
            other => ShardError::run(id)(other),
        })
    };
    let mut per_view: Vec<Vec<Tensor>> = views.iter().map(|_| Vec::new()).collect();
    overlapped(batches.len(), PREFETCH_DEPTH, prepare, |b, decoded| {
        let decoded = decoded?;
        for (parts, emb) in per_view.iter_mut().zip(encode_image_views(&model, &decoded, view_list.len(), size)) {
            parts.push(emb);
        }
        progress(batches[b].end as u64, n as u64);
        Ok::<(), ShardError>(())
    })?;
    let mut keys = Vec::new();
    for ((_, name), parts) in views.iter().zip(per_view) {
        let emb = cat(parts);
        let rows: Vec<ImageEmbeddingRow> = s
            .images
            .iter()
            .zip(rows_of(&emb))
            .map(|(r, embedding)| ImageEmbeddingRow {
                path: r.path.clone(),
                category: r.category.clone(),
                label: Some(r.label),
                defect: r.defect.clone(),
                embedding,
            })
            .collect();
        let key = format!("{prefix}{name}");
        store.write_rows(&key, &rows).map_err(ShardError::run(id))?;
        keys.push(key);
    }
    Ok(keys)
}
