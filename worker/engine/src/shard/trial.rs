//! One trial (config × seed): gather its embeddings from committed deps,
//! train the FNN, score every image under every setup.

use bytes::Bytes;
use rwclip_common::artifacts::{ImageEmbeddingRow, ScoreRow, TextEmbeddingRow};
use rwclip_common::dataset::ImageRecord;
use rwclip_common::plan::{ShardId, TrialSpec};
use rwclip_inputs::preprocess::Corner;

use rwclip_common::shard_store::part;

use super::context::ExecContext;
use super::error::ShardError;
use super::read_dependency_part;
use crate::blocking_store::BlockingStore;
use crate::embed::tensor_of;
use crate::fnn::Fnn;
use crate::pipeline::guides::{objects_for, Guides};
use crate::pipeline::summary::{trial_metrics, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS};
use crate::pipeline::with_intra_op_threads;

/// The metric-row config of a setup at this trial's grid point.
pub fn config_name(s: &TrialSpec, setup_label: &str) -> String {
    if s.config.is_empty() {
        setup_label.to_string()
    } else {
        format!("{setup_label} {}", s.config)
    }
}

/// Rows of `part` of every shard in `shards`, in order.
fn read_image_part(
    store: &BlockingStore,
    id: &ShardId,
    shards: &[ShardId],
    name: &str,
) -> Result<Vec<ImageEmbeddingRow>, ShardError> {
    let mut rows = Vec::new();
    for dep in shards {
        rows.extend(read_dependency_part::<ImageEmbeddingRow>(store, id, dep, name)?);
    }
    Ok(rows)
}

/// Per-image mean of one score over the views (multi-crop's image score);
/// with a single view, that view's scores unchanged.
fn mean_over_views(per_view: &[Vec<f64>]) -> Vec<f64> {
    if per_view.len() == 1 {
        return per_view[0].clone();
    }
    let n = per_view.len() as f64;
    (0..per_view[0].len()).map(|i| per_view.iter().map(|v| v[i]).sum::<f64>() / n).collect()
}

pub fn trial(
    id: &ShardId,
    s: &TrialSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    prefix: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Vec<String>, ShardError> {
    let fail = ShardError::run(id);
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };

    if s.pairs == 0 {
        return Err(bad("`pairs` (Np) is 0".to_string()));
    }
    // Text: the first Np pairs of the blocks, normal and anomaly rows.
    let mut text: Vec<TextEmbeddingRow> = Vec::new();
    for dep in &s.text_shards {
        text.extend(read_dependency_part::<TextEmbeddingRow>(store, id, dep, part::TEXT_EMBEDDINGS)?);
    }
    text.retain(|r| r.pair_id < s.pairs);
    text.sort_by_key(|r| (r.pair_id, r.label));
    if text.len() as u64 != 2 * s.pairs {
        return Err(bad(format!("text shards hold {} prompts, need 2 × Np = {}", text.len(), 2 * s.pairs)));
    }
    let dim = text[0].embedding.len() as i64;
    let normal: Vec<Vec<f32>> = text.iter().step_by(2).map(|r| r.embedding.clone()).collect();
    let anomaly: Vec<Vec<f32>> = text.iter().skip(1).step_by(2).map(|r| r.embedding.clone()).collect();

    let images = read_image_part(store, id, &s.image_shards, part::IMAGE_EMBEDDINGS)?;
    // Multi-crop: the four corner views of the same images, in the same order.
    let mut corner_views = Vec::new();
    if !s.corner_shards.is_empty() {
        for corner in Corner::ALL {
            let rows = read_image_part(store, id, &s.corner_shards, &part::corner_embeddings(corner.label()))?;
            if rows.len() != images.len() || rows.iter().zip(&images).any(|(a, b)| a.path != b.path) {
                return Err(bad(format!(
                    "corner view {} lists other images than the eval view ({} vs {} rows)",
                    corner.label(),
                    rows.len(),
                    images.len()
                )));
            }
            corner_views.push(rows);
        }
    }
    let mut records = Vec::with_capacity(images.len());
    for r in &images {
        let label = r.label.ok_or_else(|| bad(format!("image {} has no label", r.path)))?;
        records.push(ImageRecord {
            path: r.path.clone(),
            category: r.category.clone(),
            label,
            defect: r.defect.clone(),
            mask: None,
        });
    }
    // View 0 is the eval view; multi-crop adds the corners.
    let views: Vec<tch::Tensor> = std::iter::once(&images)
        .chain(&corner_views)
        .map(|rows| tensor_of(&rows.iter().map(|r| r.embedding.clone()).collect::<Vec<_>>(), dim))
        .collect();
    progress(1, 3);

    let (fnn, _report) = with_intra_op_threads(1, || {
        Fnn::train(&tensor_of(&normal, dim), &tensor_of(&anomaly, dim), &s.fnn, s.seed, ctx.device)
    })
    .map_err(|e| fail(e.into()))?;
    progress(2, 3);
    let per_view_fnn = views
        .iter()
        .map(|v| Vec::<f64>::try_from(fnn.score(v).to_kind(tch::Kind::Double)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ShardError::run(id)(e.into()))?;
    let s_fnn = mean_over_views(&per_view_fnn);

    let mut categories: Vec<String> = records.iter().map(|r| r.category.clone()).collect();
    categories.dedup();
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let tokenizer = ctx.tokenizer().map_err(ShardError::run(id))?;
    let objects = objects_for(&s.setups, &s.object_word, &categories);
    let guides = Guides::embed(&model, &tokenizer, &s.words.normal, &s.words.anomaly, &objects)
        .map_err(ShardError::run(id))?;

    let mut parts = Vec::new();
    let ckpt = format!("{prefix}{}", part::CHECKPOINT);
    store
        .put(&ckpt, Bytes::from(fnn.to_safetensors().map_err(|e| ShardError::run(id)(e.into()))?))
        .map_err(|e| ShardError::run(id)(e.into()))?;
    parts.push(ckpt);
    let mut metrics = Vec::new();
    for &setup in &s.setups {
        let pr = mean_over_views(
            &views
                .iter()
                .map(|v| guides.prompt_scores(setup, &s.object_word, &records, v, s.temperature))
                .collect::<Vec<_>>(),
        );
        let combined: Vec<f64> = pr.iter().zip(&s_fnn).map(|(a, b)| a + b).collect();
        let rows: Vec<ScoreRow> = records
            .iter()
            .enumerate()
            .map(|(i, r)| ScoreRow {
                path: r.path.clone(),
                category: r.category.clone(),
                label: r.label,
                seed: s.seed,
                s_pr: pr[i],
                s_fnn: s_fnn[i],
                s_combined: combined[i],
            })
            .collect();
        let key = format!("{prefix}{}", part::scores(setup.label()));
        store.write_rows(&key, &rows).map_err(ShardError::run(id))?;
        parts.push(key);
        let config = config_name(s, setup.label());
        for (score, values) in [(SCORE_CLIP, &pr), (SCORE_OURS, &s_fnn), (SCORE_COMBINED, &combined)] {
            metrics.extend(trial_metrics(&config, s.seed, score, &records, values).map_err(ShardError::run(id))?);
        }
    }
    let key = format!("{prefix}{}", part::METRICS);
    store.write_rows(&key, &metrics).map_err(ShardError::run(id))?;
    parts.push(key);
    progress(3, 3);
    Ok(parts)
}
