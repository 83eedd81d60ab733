//! Per-category metrics of one trial, and mean ± std over trials.

use std::collections::BTreeMap;

use rwclip_common::artifacts::{MetricRow, SummaryRow};
use rwclip_common::dataset::ImageRecord;
use rwclip_common::metrics::{binary_metrics, mean_std, BinaryMetrics};

use crate::error::{Result, RwclipError};

/// The category name of the mean-over-categories rows.
pub const MEAN_CATEGORY: &str = "mean";

/// Score kinds, named as in the paper's tables.
pub const SCORE_CLIP: &str = "clip";
pub const SCORE_OURS: &str = "ours";
pub const SCORE_COMBINED: &str = "clip+ours";

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
        let m = binary_metrics(&l, &s).map_err(|e| RwclipError::Metrics(e).in_category(category))?;
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

/// [`per_category`] as metric rows of one trial, plus the "mean" row.
pub fn trial_metrics(
    config: &str,
    seed: u64,
    score: &str,
    records: &[ImageRecord],
    scores: &[f64],
) -> Result<Vec<MetricRow>> {
    let labels: Vec<u8> = records.iter().map(|r| r.label).collect();
    let (cats, mean) = per_category(records.iter().map(|r| r.category.as_str()), &labels, scores)?;
    let mut rows: Vec<MetricRow> = cats.into_iter().map(|(c, m)| row(config, seed, &c, score, m)).collect();
    rows.push(row(config, seed, MEAN_CATEGORY, score, mean));
    Ok(rows)
}

fn row(config: &str, seed: u64, category: &str, score: &str, m: BinaryMetrics) -> MetricRow {
    MetricRow {
        config: config.to_string(),
        seed,
        category: category.to_string(),
        score: score.to_string(),
        auroc: m.auroc,
        aupr: m.aupr,
        average_precision: m.average_precision,
        f1_max: m.f1_max,
    }
}

/// Mean ± population std over seeds for every (config, category, score).
/// Rows are keyed by seed, so a duplicated trial row can never count twice.
pub fn summarise(rows: &[MetricRow]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<(&str, &str, &str), BTreeMap<u64, &MetricRow>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.config.as_str(), r.category.as_str(), r.score.as_str()))
            .or_default()
            .insert(r.seed, r);
    }
    groups
        .into_iter()
        .map(|((config, category, score), by_seed)| {
            let stat = |f: fn(&MetricRow) -> f64| mean_std(&by_seed.values().map(|r| f(r)).collect::<Vec<_>>());
            let (auroc_mean, auroc_std) = stat(|r| r.auroc);
            let (aupr_mean, aupr_std) = stat(|r| r.aupr);
            let (ap_mean, ap_std) = stat(|r| r.average_precision);
            let (f1_mean, f1_std) = stat(|r| r.f1_max);
            SummaryRow {
                config: config.to_string(),
                category: category.to_string(),
                score: score.to_string(),
                auroc_mean,
                auroc_std,
                aupr_mean,
                aupr_std,
                average_precision_mean: ap_mean,
                average_precision_std: ap_std,
                f1_max_mean: f1_mean,
                f1_max_std: f1_std,
                n_seeds: by_seed.len() as u64,
            }
        })
        .collect()
}
