//! `rwclip metrics --scores F.parquet`: image-level AUROC, AUPR and F1-max,
//! per category and their mean, from any Parquet file with `label` and a
//! score column.

use clap::Args;
use rwclip_common::metrics::{binary_metrics, BinaryMetrics};
use rwclip_common::scores_table::read_labelled_scores;

use rwclip_engine::blocking_store::BlockingStore;
use crate::error::Result;
use rwclip_engine::pipeline::per_category;

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Parquet with `label` (0 normal / 1 anomaly), a score column and an
    /// optional `category` column (local path or s3://).
    #[arg(long)]
    pub scores: String,
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
    let (store, key) = BlockingStore::open_file(&a.scores)?;
    let bytes = store.get(&key)?;
    let t = read_labelled_scores(bytes, &a.scores, &a.score_column)?;
    let (categories, mean) = match &t.categories {
        Some(c) => per_category(c.iter().map(String::as_str), &t.labels, &t.scores)?,
        None => (Vec::new(), binary_metrics(&t.labels, &t.scores)?),
    };
    let report = Report {
        file: a.scores.clone(),
        score_column: a.score_column.clone(),
        images: t.labels.len(),
        categories: categories
            .into_iter()
            .map(|(category, metrics)| CategoryMetrics { category, metrics })
            .collect(),
        mean,
    };
    if a.json {
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
