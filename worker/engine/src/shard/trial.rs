//! One trial (config × seed): gather its embeddings from committed deps,
//! train the FNN, score every image under every setup.

use bytes::Bytes;
use rwclip_artifacts::{ImageEmbeddingRow, ScoreRow, TextEmbeddingRow};
use rwclip_datasets::ImageRecord;
use std::collections::{BTreeMap, HashMap};

use rwclip_job::detector::{DetectorInfo, ScoreKind, DETECTOR_FORMAT};
use rwclip_job::ObjectSetup;
use rwclip_plan::{ShardId, TrialDataset, TrialSpec};
use rwclip_inputs::preprocess::Corner;

use rwclip_store::shard_store::part;

use super::context::ExecContext;
use super::error::ShardError;
use super::read_dependency_part;
use crate::blocking_store::BlockingStore;
use crate::embed::tensor_of;
use crate::fnn::{l2_normalize_rows, Fnn};
use crate::pipeline::guides::{objects_for, Guides};
use crate::pipeline::summary::{trial_metrics, MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS, SCORE_WINCLIP};
use super::trial_maps::{dataset_maps, DatasetMapResults, MapScorers};
use rwclip_artifacts::{MetricRow, PixelMetricValues};
use rwclip_metrics::pixel::{mean_pixel_metrics, PixelMetrics};
use rwclip_figures::{MapFigures, SheetRef};
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

    let (fnn, _report) = with_intra_op_threads(1, || {
        Fnn::train(&tensor_of(&normal, dim), &tensor_of(&anomaly, dim), &s.fnn, s.seed, ctx.device)
    })
    .map_err(|e| fail(e.into()))?;
    progress(1, 3);

    let evaluated: Vec<EvaluatedImages> = s.datasets.iter().map(|d| read_dataset(store, id, d, dim)).collect::<Result<_, _>>()?;
    let mut categories: Vec<String> = evaluated.iter().flat_map(|e| e.records.iter().map(|r| r.category.clone())).collect();
    categories.sort();
    categories.dedup();
    let objects: Vec<ObjectSetup> = s.datasets.iter().flat_map(|d| d.setups.iter().map(|x| x.object())).collect();
    let model = ctx.model(&s.model).map_err(ShardError::run(id))?;
    let tokenizer = ctx.tokenizer().map_err(ShardError::run(id))?;
    let guides = Guides::embed(&model, &tokenizer, &s.words.normal, &s.words.anomaly, &objects_for(&objects, &s.object_word, &categories))
        .map_err(ShardError::run(id))?;
    progress(2, 3);

    let mut parts = Vec::new();
    if let Some(lm) = &s.layer_maps {
        let key = format!("{prefix}{}", part::LAYER_MAPS);
        let maps = layer_maps(lm, &normal, &anomaly, dim, &model, &tokenizer, &fnn, s.seed).map_err(ShardError::run(id))?;
        store.put(&key, Bytes::from(serde_json::to_vec(&maps).expect("maps are plain data"))).map_err(|e| ShardError::run(id)(e.into()))?;
        parts.push(key);
    }
    // The checkpoint is a detector: everything scoring needs is in it.
    let info = DetectorInfo {
        format: DETECTOR_FORMAT,
        clip_preset: s.model.preset.clone(),
        clip_weights_digest: ctx.weights_digest(&s.model).map_err(ShardError::run(id))?,
        normal_word: s.words.normal.clone(),
        anomaly_word: s.words.anomaly.clone(),
        object_word: s.object_word.clone(),
        temperature: s.temperature,
        score: ScoreKind::PrFnn,
        multi_crop: s.datasets.iter().any(|d| !d.corner_shards.is_empty()),
        seed: s.seed,
        pairs: s.pairs,
    };
    let ckpt = format!("{prefix}{}", part::CHECKPOINT);
    store
        .put(&ckpt, Bytes::from(fnn.to_detector(&info).map_err(|e| ShardError::run(id)(e.into()))?))
        .map_err(|e| ShardError::run(id)(e.into()))?;
    parts.push(ckpt);
    let mut metrics = Vec::new();
    // One scores part per setup, holding every dataset's rows.
    let mut scores: BTreeMap<String, Vec<ScoreRow>> = BTreeMap::new();
    let mut map_figures = MapFigures::default();
    let figure_trial = s.layer_maps.is_some();
    for (d, e) in s.datasets.iter().zip(&evaluated) {
        let maps = match (&d.maps, s.maps.is_empty()) {
            (Some(dm), false) => {
                let scorers = MapScorers { model: &model, tokenizer: &tokenizer, fnn: &fnn, guides: &guides, temperature: s.temperature, object_word: &s.object_word };
                let r = dataset_maps(id, s, d, dm, &e.records, &e.views[0], &e.references, &scorers, store, figure_trial)?;
                Some(r)
            }
            _ => None,
        };
        let per_view_fnn = e
            .views
            .iter()
            .map(|v| Vec::<f64>::try_from(fnn.score(v).to_kind(tch::Kind::Double)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ShardError::run(id)(err.into()))?;
        let s_fnn = mean_over_views(&per_view_fnn);
        for &setup in &d.setups {
            let pr = mean_over_views(
                &e.views
                    .iter()
                    .map(|v| guides.prompt_scores(setup.object(), &s.object_word, &e.records, v, s.temperature))
                    .collect::<Vec<_>>(),
            );
            let mut combined: Vec<f64> = pr.iter().zip(&s_fnn).map(|(a, b)| a + b).collect();
            if let Some(k) = setup.shots() {
                let s_img = few_shot_scores(id, d, e, k)?;
                combined.iter_mut().zip(&s_img).for_each(|(c, i)| *c += i);
            }
            scores.entry(setup.label()).or_default().extend(e.records.iter().enumerate().map(|(i, r)| ScoreRow {
                dataset: d.name.clone(),
                path: r.path.clone(),
                category: r.category.clone(),
                label: r.label,
                seed: s.seed,
                s_pr: pr[i],
                s_fnn: s_fnn[i],
                s_combined: combined[i],
            }));
            let config = config_name(s, &setup.label());
            let winclip = maps.as_ref().and_then(|m| m.winclip_scores.get(&setup.label()));
            let methods = [(SCORE_CLIP, &pr), (SCORE_OURS, &s_fnn), (SCORE_COMBINED, &combined)].into_iter().chain(winclip.map(|w| (SCORE_WINCLIP, w)));
            for (score, values) in methods {
                let mut rows = trial_metrics(&d.name, &config, s.seed, score, &e.records, values).map_err(ShardError::run(id))?;
                if let Some(per_category) = maps.as_ref().and_then(|m| m.pixel.get(&(setup.label(), score.to_string()))) {
                    attach_pixel_metrics(&mut rows, per_category);
                }
                metrics.extend(rows);
            }
        }
        if let Some(DatasetMapResults { curves, sheets, .. }) = maps {
            map_figures.curves.extend(curves);
            for sheet in sheets {
                for (ext, bytes) in [("svg", Bytes::from(sheet.svg)), ("png", Bytes::from(sheet.png))] {
                    let key = format!("{prefix}{}.{ext}", sheet.name);
                    store.put(&key, bytes).map_err(|e| ShardError::run(id)(e.into()))?;
                    parts.push(key);
                }
                map_figures.sheets.push(SheetRef { name: sheet.name, title: sheet.title });
            }
        }
    }
    if figure_trial && !s.maps.is_empty() {
        let key = format!("{prefix}{}", part::MAP_FIGURES);
        store.put(&key, Bytes::from(serde_json::to_vec(&map_figures).expect("map figures are plain data"))).map_err(|e| ShardError::run(id)(e.into()))?;
        parts.push(key);
    }
    for (label, rows) in scores {
        let key = format!("{prefix}{}", part::scores(&label));
        store.write_rows(&key, &rows).map_err(ShardError::run(id))?;
        parts.push(key);
    }
    let key = format!("{prefix}{}", part::METRICS);
    store.write_rows(&key, &metrics).map_err(ShardError::run(id))?;
    parts.push(key);
    progress(3, 3);
    Ok(parts)
}

/// Gives one score kind's metric rows their category's pixel metrics, and
/// the mean row the mean over the categories that define each.
fn attach_pixel_metrics(rows: &mut [MetricRow], per_category: &BTreeMap<String, PixelMetrics>) {
    let mean = mean_pixel_metrics(per_category.values());
    for r in rows {
        let m = if r.category == MEAN_CATEGORY { Some(mean) } else { per_category.get(&r.category).copied() };
        if let Some(m) = m {
            r.pixel = PixelMetricValues { pixel_auroc: m.pixel_auroc, aupro: m.aupro, pro_200: m.pro_200 };
        }
    }
}

/// Fig. 3's and Fig. 5's maps: the first `lm.pairs` prompt pairs and the
/// sentences, as CLIP embeds them and as each FNN layer sees them.
#[allow(clippy::too_many_arguments)]
fn layer_maps(
    lm: &rwclip_plan::LayerMapsSpec,
    normal: &[Vec<f32>],
    anomaly: &[Vec<f32>],
    dim: i64,
    model: &crate::clip::ClipModel,
    tokenizer: &rwclip_inputs::tokenizer::ClipTokenizer,
    fnn: &Fnn,
    seed: u64,
) -> Result<rwclip_figures::LayerMaps, crate::error::EngineError> {
    use rwclip_figures::PointKind;
    let k = (lm.pairs as usize).min(normal.len());
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(2 * k + lm.sentences.len());
    let mut kinds = Vec::with_capacity(rows.capacity());
    for i in 0..k {
        rows.push(normal[i].clone());
        kinds.push(PointKind::Normal);
        rows.push(anomaly[i].clone());
        kinds.push(PointKind::Anomaly);
    }
    let mut texts = vec![String::new(); rows.len()];
    if !lm.sentences.is_empty() {
        rows.extend(crate::embed::rows_of(&crate::embed::embed_texts(model, tokenizer, &lm.sentences, 64, None)?));
        kinds.extend(lm.sentences.iter().map(|_| PointKind::Sentence));
        texts.extend(lm.sentences.iter().cloned());
    }
    let layers = fnn.layer_outputs(&tensor_of(&rows, dim))?;
    let named: Vec<(String, Vec<Vec<f32>>)> = layers
        .iter()
        .enumerate()
        .map(|(i, t)| (if i == 0 { "CLIP text embedding".to_string() } else { format!("FNN hidden layer {i}") }, crate::embed::rows_of(t)))
        .collect();
    Ok(rwclip_figures::layer_maps(named, kinds, texts, seed))
}

/// One dataset's test images as a trial scores them.
struct EvaluatedImages {
    records: Vec<ImageRecord>,
    /// View 0 is the eval view; multi-crop adds the four corners.
    views: Vec<tch::Tensor>,
    /// Few-shot: reference path → eval-view embedding.
    references: HashMap<String, Vec<f32>>,
}

fn read_dataset(store: &BlockingStore, id: &ShardId, d: &TrialDataset, dim: i64) -> Result<EvaluatedImages, ShardError> {
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };
    let images = read_image_part(store, id, &d.image_shards, part::IMAGE_EMBEDDINGS)?;
    // Multi-crop: the four corner views of the same images, in the same order.
    let mut corner_views = Vec::new();
    if !d.corner_shards.is_empty() {
        for corner in Corner::ALL {
            let rows = read_image_part(store, id, &d.corner_shards, &part::corner_embeddings(corner.label()))?;
            if rows.len() != images.len() || rows.iter().zip(&images).any(|(a, b)| a.path != b.path) {
                return Err(bad(format!(
                    "dataset {:?}: corner view {} lists other images than the eval view ({} vs {} rows)",
                    d.name,
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
        let label = r.label.ok_or_else(|| bad(format!("dataset {:?}: image {} has no label", d.name, r.path)))?;
        records.push(ImageRecord { path: r.path.clone(), category: r.category.clone(), label, defect: r.defect.clone(), mask: None });
    }
    let views = std::iter::once(&images)
        .chain(&corner_views)
        .map(|rows| tensor_of(&rows.iter().map(|r| r.embedding.clone()).collect::<Vec<_>>(), dim))
        .collect();
    let references = read_image_part(store, id, &d.reference_shards, part::IMAGE_EMBEDDINGS)?
        .into_iter()
        .map(|r| (r.path, r.embedding))
        .collect();
    Ok(EvaluatedImages { records, views, references })
}

/// s_img of every image, WinCLIP's vision-based score on image embeddings:
/// the minimum over the k references of the image's category of
/// (1 − cos(test, reference)) / 2, averaged over the test image's views
/// (references are compared in their eval view).
fn few_shot_scores(id: &ShardId, d: &TrialDataset, e: &EvaluatedImages, k: u32) -> Result<Vec<f64>, ShardError> {
    let bad = |problem: String| ShardError::BadInput { shard: id.clone(), problem };
    let mut out = vec![0.0; e.records.len()];
    let mut by_category: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (i, r) in e.records.iter().enumerate() {
        by_category.entry(r.category.as_str()).or_default().push(i as i64);
    }
    for (category, idx) in by_category {
        let draw = d
            .references
            .iter()
            .find(|x| x.shots == k && x.category == category)
            .ok_or_else(|| bad(format!("dataset {:?}: no {k}-shot references drawn for category {category:?}", d.name)))?;
        let rows: Vec<Vec<f32>> = draw
            .paths
            .iter()
            .map(|p| e.references.get(p).cloned().ok_or_else(|| bad(format!("dataset {:?}: reference image {p} has no embedding", d.name))))
            .collect::<Result<_, _>>()?;
        let dim = rows[0].len() as i64;
        let refs = l2_normalize_rows(&tensor_of(&rows, dim));
        let select = tch::Tensor::from_slice(&idx);
        let per_view: Vec<Vec<f64>> = e
            .views
            .iter()
            .map(|v| {
                let test = l2_normalize_rows(&v.index_select(0, &select));
                let distance: tch::Tensor = test.matmul(&refs.tr()) * -0.5 + 0.5;
                Vec::<f64>::try_from(distance.amin(1, false).to_kind(tch::Kind::Double)).expect("a [N] score vector")
            })
            .collect();
        for (k, &i) in idx.iter().enumerate() {
            out[i as usize] = per_view.iter().map(|v| v[k]).sum::<f64>() / per_view.len() as f64;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rwclip_plan::ReferenceDraw;

    fn record(path: &str, category: &str) -> ImageRecord {
        ImageRecord { path: path.into(), category: category.into(), label: 0, defect: "good".into(), mask: None }
    }

    #[test]
    fn s_img_is_the_minimum_over_the_category_references_of_half_one_minus_cosine() {
        let dataset = TrialDataset {
            name: "d".into(),
            setups: vec![],
            image_shards: vec![],
            corner_shards: vec![],
            reference_shards: vec![],
            references: vec![
                ReferenceDraw { shots: 2, category: "a".into(), paths: vec!["ra1".into(), "ra2".into()] },
                ReferenceDraw { shots: 2, category: "b".into(), paths: vec!["rb1".into(), "rb2".into()] },
            ],
            maps: None,
        };
        let references = [("ra1", [1.0, 0.0]), ("ra2", [0.0, 1.0]), ("rb1", [-1.0, 0.0]), ("rb2", [-1.0, 0.1])]
            .into_iter()
            .map(|(p, e)| (p.to_string(), e.to_vec()))
            .collect();
        // Unnormalised on purpose: cosine ignores length.
        let test = [[2.0f32, 0.0], [1.0, 1.0], [0.0, 3.0]];
        let images = EvaluatedImages {
            records: vec![record("t0", "a"), record("t1", "a"), record("t2", "b")],
            views: vec![tensor_of(&test.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), 2)],
            references,
        };
        let s = few_shot_scores(&ShardId("trial-x".into()), &dataset, &images, 2).unwrap();
        let expected = [0.0, (1.0 - 0.5f64.sqrt()) / 2.0, (1.0 - 0.1 / 1.01f64.sqrt()) / 2.0];
        for (got, want) in s.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{s:?} vs {expected:?}");
        }
        let missing = few_shot_scores(&ShardId("trial-x".into()), &dataset, &images, 4).unwrap_err().to_string();
        assert!(missing.contains("no 4-shot references drawn for category \"a\""), "{missing}");
    }
}
