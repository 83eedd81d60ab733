//! `rwclip metrics --scores F.parquet`: image-level AUROC, AUPR and F1-max,
//! per category and their mean, from any Parquet file with `label` and a
//! score column. `rwclip metrics --maps F.parquet`: pixel AUROC, AUPRO@0.3
//! and PRO-200 per category and their mean, from anomaly maps and masks.

use clap::Args;
use std::collections::BTreeMap;

use rwclip_artifacts::maps_table::{read_category_maps, read_map_categories, MapRow};
use rwclip_metrics::pixel::{mean_pixel_metrics, pixel_metrics, MaskedMap, PixelMetrics};
use rwclip_metrics::{binary_metrics, BinaryMetrics};
use rwclip_artifacts::scores_table::read_labelled_scores;

use rwclip_engine::blocking_store::BlockingStore;
use crate::error::{EngineError, Result};
use rwclip_engine::pipeline::per_category;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["scores", "maps"]))]
pub struct MetricsArgs {
    /// Parquet with `label` (0 normal / 1 anomaly), a score column and an
    /// optional `category` column (local path or s3://).
    #[arg(long)]
    pub scores: Option<String>,
    /// Parquet with `category` (string), `height`, `width` (integers), `map`
    /// (list<float32>, row-major) and `mask` (list<uint8>, 0/1): pixel AUROC,
    /// AUPRO@0.3 and PRO-200 per category (local path or s3://).
    #[arg(long)]
    pub maps: Option<String>,
    /// The score column (rwclip's scores files have s_pr, s_fnn, s_combined).
    #[arg(long, default_value = "score")]
    pub score_column: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    file: String,
    score_column: String,
    images: usize,
    /// Per category, sorted by name; absent without a `category` column.
    categories: Vec<CategoryMetrics>,
    /// Unweighted mean over categories, or all images when uncategorised.
    mean: BinaryMetrics,
}

#[derive(serde::Serialize)]
struct CategoryMetrics {
    category: String,
    #[serde(flatten)]
    metrics: BinaryMetrics,
}

pub fn run(a: MetricsArgs) -> Result<()> {
    match (&a.scores, &a.maps) {
        (Some(scores), _) => image_metrics(scores, &a.score_column, a.json),
        (None, Some(maps)) => map_metrics(maps, a.json),
        (None, None) => unreachable!("clap requires --scores or --maps"),
    }
}

/// `--maps --json`: `{"categories": {name: metrics}, "mean": metrics}`,
/// fractions, `null` where a category cannot define a metric.
#[derive(serde::Serialize)]
struct MapsReport {
    categories: BTreeMap<String, PixelMetrics>,
    mean: PixelMetrics,
}

fn map_metrics(file: &str, json: bool) -> Result<()> {
    let (store, key) = BlockingStore::open_file(file)?;
    let bytes = store.get(&key)?;
    let mut categories = BTreeMap::new();
    for category in read_map_categories(&bytes, file)? {
        let rows: Vec<MapRow> = read_category_maps(&bytes, file, &category)?;
        let images: Vec<MaskedMap<'_>> = rows.iter().map(MapRow::masked_map).collect();
        // No row with both a map and a mask (Sewer-ML has no masks): n/a.
        if images.is_empty() {
            categories.insert(category, PixelMetrics::default());
            continue;
        }
        let metrics = pixel_metrics(&images)
            .map_err(|e| EngineError::InCategory { category: format!("{category} in {file}"), source: Box::new(e.into()) })?;
        categories.insert(category, metrics);
    }
    let report = MapsReport { mean: mean_pixel_metrics(categories.values()), categories };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
        return Ok(());
    }
    let percent = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{:.2}", v * 100.0));
    println!("{:<24} {:>11} {:>8} {:>8}", "category", "pixel AUROC", "AUPRO", "PRO-200");
    for (name, m) in report.categories.iter().chain([(&"mean".to_string(), &report.mean)]) {
        println!("{:<24} {:>11} {:>8} {:>8}", name, percent(m.pixel_auroc), percent(m.aupro), percent(m.pro_200));
    }
    println!("n/a: the category has no mask, no anomalous (or no normal) pixel, or a constant map (PRO-200)");
    Ok(())
}

fn image_metrics(scores_file: &str, score_column: &str, json: bool) -> Result<()> {
    let (store, key) = BlockingStore::open_file(scores_file)?;
    let bytes = store.get(&key)?;
    let t = read_labelled_scores(bytes, scores_file, score_column)?;
    let (categories, mean) = match &t.categories {
        Some(c) => per_category(c.iter().map(String::as_str), &t.labels, &t.scores)?,
        None => (Vec::new(), binary_metrics(&t.labels, &t.scores)?),
    };
    let report = Report {
        file: scores_file.to_string(),
        score_column: score_column.to_string(),
        images: t.labels.len(),
        categories: categories
            .into_iter()
            .map(|(category, metrics)| CategoryMetrics { category, metrics })
            .collect(),
        mean,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
    } else {
        println!("{:<24} {:>8} {:>8} {:>8} {:>8}", "category", "AUROC", "AUPR", "AP", "F1-max");
        let line = |name: &str, m: &BinaryMetrics| {
            println!(
                "{:<24} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                name,
                m.auroc * 100.0,
                m.aupr * 100.0,
                m.average_precision * 100.0,
                m.f1_max * 100.0
            )
        };
        for c in &report.categories {
            line(&c.category, &c.metrics);
        }
        line("mean", &report.mean);
    }
    Ok(())
}
