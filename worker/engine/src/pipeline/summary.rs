//! Per-category metrics of one trial, and mean ± std over trials.

use std::collections::BTreeMap;

use rwclip_artifacts::MetricRow;
use rwclip_datasets::ImageRecord;
use rwclip_metrics::{binary_metrics, mean_std, BinaryMetrics};

use crate::error::{Result, EngineError};

/// Score kinds and the mean category, as in the paper's tables (the
/// aggregate groups trials' rows by them).
pub use rwclip_artifacts::labels::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS, SCORE_WINCLIP};

/// Metrics of each category (sorted by name) and their unweighted mean over
/// categories, the MVTec/VisA convention. Errors name the category.
pub fn per_category<'a>(
    categories: impl IntoIterator<Item = &'a str>,
    labels: &[u8],
    scores: &[f64],
) -> Result<(Vec<(String, BinaryMetrics)>, BinaryMetrics)> {
    let mut by_category: BTreeMap<&str, (Vec<u8>, Vec<f64>)> = BTreeMap::new();
    for ((c, &l), &s) in categories.into_iter().zip(labels).zip(scores) {
        let e = by_category.entry(c).or_default();
        e.0.push(l);
        e.1.push(s);
    }
    let mut out = Vec::with_capacity(by_category.len());
    for (category, (l, s)) in by_category {
        let m = binary_metrics(&l, &s).map_err(|e| EngineError::Metrics(e).in_category(category))?;
        out.push((category.to_string(), m));
    }
    let mean = |f: fn(&BinaryMetrics) -> f64| mean_std(&out.iter().map(|(_, m)| f(m)).collect::<Vec<_>>()).0;
    let m = BinaryMetrics {
        auroc: mean(|m| m.auroc),
        aupr: mean(|m| m.aupr),
        average_precision: mean(|m| m.average_precision),
        f1_max: mean(|m| m.f1_max),
    };
    Ok((out, m))
}

/// [`per_category`] as metric rows of one trial on one dataset, plus the
/// "mean" row.
pub fn trial_metrics(
    dataset: &str,
    config: &str,
    seed: u64,
    score: &str,
    records: &[ImageRecord],
    scores: &[f64],
) -> Result<Vec<MetricRow>> {
    let labels: Vec<u8> = records.iter().map(|r| r.label).collect();
    let (cats, mean) = per_category(records.iter().map(|r| r.category.as_str()), &labels, scores)?;
    let mut rows: Vec<MetricRow> = cats.into_iter().map(|(c, m)| row(dataset, config, seed, &c, score, m)).collect();
    rows.push(row(dataset, config, seed, MEAN_CATEGORY, score, mean));
    Ok(rows)
}

fn row(dataset: &str, config: &str, seed: u64, category: &str, score: &str, m: BinaryMetrics) -> MetricRow {
    MetricRow {
        dataset: dataset.to_string(),
        config: config.to_string(),
        seed,
        category: category.to_string(),
        score: score.to_string(),
        auroc: m.auroc,
        aupr: m.aupr,
        average_precision: m.average_precision,
        f1_max: m.f1_max,
        pixel: Default::default(),
    }
}
