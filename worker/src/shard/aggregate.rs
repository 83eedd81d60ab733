//! The aggregate shard: mean ± std over a job's trials and the result tables.

use std::fmt::Write;

use bytes::Bytes;
use rwclip_common::artifacts::{MetricRow, SummaryRow};
use rwclip_common::plan::{AggregateSpec, ShardId};

use super::commit::read_dep_part;
use super::error::ShardError;
use super::trial::METRICS_PART;
use crate::blocking_store::BlockingStore;
use crate::pipeline::report;
use crate::pipeline::summary::summarise;

pub fn aggregate(
    id: &ShardId,
    s: &AggregateSpec,
    store: &BlockingStore,
    prefix: &str,
) -> Result<Vec<String>, ShardError> {
    let mut metrics: Vec<MetricRow> = Vec::new();
    for t in &s.trials {
        metrics.extend(read_dep_part::<MetricRow>(store, id, t, METRICS_PART)?);
    }
    // Keyed by (config, category, score) then seed: a trial listed twice
    // cannot count twice.
    let summary = summarise(&metrics);
    let put = |name: &str, bytes: Bytes| -> Result<String, ShardError> {
        let key = format!("{prefix}{name}");
        store.put(&key, bytes).map_err(|e| ShardError::run(id)(e.into()))?;
        Ok(key)
    };
    let mut parts = Vec::new();
    for (name, rows) in [("metrics.parquet", None), ("results.parquet", Some(&summary))] {
        let key = format!("{prefix}{name}");
        match rows {
            None => store.write_rows(&key, &metrics),
            Some(r) => store.write_rows(&key, r),
        }
        .map_err(ShardError::run(id))?;
        parts.push(key);
    }
    parts.push(put("results.csv", Bytes::from(csv(&summary)))?);
    let md = format!("{}\n{}", report::markdown(&s.title, &summary), sweep_markdown(&summary));
    parts.push(put("results.md", Bytes::from(md))?);
    Ok(parts)
}

/// Summary rows as CSV, the columns of `results.parquet`.
pub fn csv(rows: &[SummaryRow]) -> String {
    let mut out = String::from(
        "config,category,score,auroc_mean,auroc_std,aupr_mean,aupr_std,average_precision_mean,average_precision_std,f1_max_mean,f1_max_std,n_seeds\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "\"{}\",\"{}\",\"{}\",{},{},{},{},{},{},{},{},{}",
            r.config.replace('"', "\"\""),
            r.category.replace('"', "\"\""),
            r.score,
            r.auroc_mean,
            r.auroc_std,
            r.aupr_mean,
            r.aupr_std,
            r.average_precision_mean,
            r.average_precision_std,
            r.f1_max_mean,
            r.f1_max_std,
            r.n_seeds
        );
    }
    out
}

/// Every config's mean-over-categories AUROC as CLIP / CLIP + ours (the
/// cell format of Table 4), for sweeps the Table 1 layout cannot show.
fn sweep_markdown(rows: &[SummaryRow]) -> String {
    use crate::pipeline::summary::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED};
    let mut md = String::from("\n## AUROC per config (CLIP / CLIP + ours)\n\n| Config | AUROC |\n|---|---|\n");
    let mut configs: Vec<&str> = rows.iter().map(|r| r.config.as_str()).collect();
    configs.dedup();
    for c in configs {
        let get = |score: &str| rows.iter().find(|r| r.config == c && r.category == MEAN_CATEGORY && r.score == score);
        if let (Some(clip), Some(ours)) = (get(SCORE_CLIP), get(SCORE_COMBINED)) {
            let _ = writeln!(
                md,
                "| {c} | {:.1} / {:.1}±{:.1} |",
                clip.auroc_mean * 100.0,
                ours.auroc_mean * 100.0,
                ours.auroc_std * 100.0
            );
        }
    }
    md
}
