//! The end of a scoring job: `top_k.csv` and `summary.json` over every
//! shard's rows (read one shard at a time), and publishing: each shard's
//! rows become one file of `scores/`, readable together by pyarrow and
//! DuckDB (`read_parquet('…/scores/*.parquet')`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt::Write;

use bytes::Bytes;

use crate::aggregate::{AggregateError, PublishedResults};
use crate::artifacts::{ImageScoreRow, Store};
use crate::plan::{AttemptId, ScoreSummarySpec, ShardId, ShardKind, ShardSpec};
use crate::shard_store::{self, attempt_prefix, manifest_key, part, Manifest};

/// A candidate for `top_k.csv`: higher scores first, then input order.
#[derive(Debug, Clone, PartialEq)]
struct Ranked {
    score: f64,
    row: u64,
    r: ImageScoreRow,
}

impl Eq for Ranked {}
impl Ord for Ranked {
    /// The heap keeps the k best; its top is the worst of them.
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.row.cmp(&other.row))
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The committed manifest of every score shard, in input order.
async fn score_manifests(store: &Store, summary: &ShardId, spec: &ScoreSummarySpec) -> Result<Vec<Manifest>, AggregateError> {
    let mut out = Vec::with_capacity(spec.shards.len());
    for shard in &spec.shards {
        let m = shard_store::committed(store, shard).await?.ok_or_else(|| AggregateError::MissingTrial {
            aggregate: summary.clone(),
            trial: shard.clone(),
            key: store.full_uri(&manifest_key(shard)),
        })?;
        out.push(m);
    }
    Ok(out)
}

/// The kind of a row's error, for the counts in `summary.json`.
fn error_kind(error: &str) -> &'static str {
    if error.contains("not found") {
        "missing"
    } else if error.contains("is empty") {
        "empty"
    } else if error.contains("cannot decode") {
        "undecodable"
    } else if error.contains("no uri") {
        "no uri"
    } else {
        "unreadable"
    }
}

/// Quantile `q` of sorted values (linear interpolation, numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Writes `top_k.csv` and `summary.json` under `prefix`; returns their keys.
pub async fn write_summary_parts(store: &Store, id: &ShardId, spec: &ScoreSummarySpec, prefix: &str) -> Result<Vec<String>, AggregateError> {
    let manifests = score_manifests(store, id, spec).await?;
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
    // Scores are kept as f32 for the quantiles: 4 bytes per scored image.
    let mut scores: Vec<f32> = Vec::new();
    let (mut rows, mut failed) = (0u64, 0u64);
    let mut errors: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for m in &manifests {
        for r in shard_store::read_part::<ImageScoreRow>(store, m, part::IMAGE_SCORES).await? {
            let row = rows;
            rows += 1;
            match r.score {
                Some(score) => {
                    scores.push(score as f32);
                    heap.push(Ranked { score, row, r });
                    if heap.len() > spec.top_k {
                        heap.pop();
                    }
                }
                None => {
                    failed += 1;
                    *errors.entry(error_kind(r.error.as_deref().unwrap_or("")).to_string()).or_default() += 1;
                }
            }
        }
    }
    if rows != spec.rows {
        return Err(AggregateError::RowCount { aggregate: id.clone(), expected: spec.rows, found: rows });
    }
    let mut top = heap.into_vec();
    top.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    let mut csv = String::from("rank,uri,score,s_fnn,s_pr\n");
    for (rank, t) in top.iter().enumerate() {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let f = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(csv, "{},{},{},{},{}", rank + 1, quote(&t.r.uri), t.score, f(t.r.s_fnn), f(t.r.s_pr));
    }
    scores.sort_by(f32::total_cmp);
    let sorted: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
    let quantiles = if sorted.is_empty() {
        serde_json::Value::Null
    } else {
        let names = [("min", 0.0), ("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)];
        serde_json::Value::Object(names.iter().map(|(n, q)| (n.to_string(), serde_json::json!(quantile(&sorted, *q)))).collect())
    };
    let summary = serde_json::json!({
        "title": spec.title,
        "rows": rows,
        "scored": rows - failed,
        "failed": failed,
        "errors": errors,
        "score_quantiles": quantiles,
        "top_k": top.len(),
        "shards": spec.shards.len(),
    });
    let pretty = serde_json::to_string_pretty(&summary).expect("json");
    let mut files = vec![(part::TOP_K_CSV.to_string(), Bytes::from(csv)), (part::SUMMARY_JSON.to_string(), Bytes::from(pretty.clone()))];
    // Sampled evenly from the sorted scores: a bounded histogram input
    // however long the archive.
    let step = sorted.len().div_ceil(100_000).max(1);
    let sample: Vec<f64> = sorted.iter().step_by(step).copied().collect();
    if !sample.is_empty() {
        let figure = crate::plots::distribution_figure(&sample).map_err(|message| AggregateError::Plot { aggregate: id.clone(), figure: "the score distribution".to_string(), message })?;
        let markdown = format!("# {}

{} images scored, {} failed.
", spec.title, rows - failed, failed);
        files.push((part::RESULTS_HTML.to_string(), Bytes::from(crate::plots::results_html(&spec.title, &markdown, std::slice::from_ref(&figure)))));
        files.push((format!("{}.svg", figure.name), Bytes::from(figure.svg)));
        files.push((format!("{}.png", figure.name), Bytes::from(figure.png)));
    }
    let mut keys = Vec::new();
    for (name, bytes) in files {
        let key = format!("{prefix}{name}");
        store.put(&key, bytes).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// Runs the summary as attempt `attempt` and commits it (first commit wins).
pub async fn run_score_summary(store: &Store, spec: &ScoreSummarySpec, attempt: &AttemptId, worker: &str) -> Result<Manifest, AggregateError> {
    let shard_spec = ShardSpec::ScoreSummary(spec.clone());
    let id = shard_spec.id();
    if let Some(done) = shard_store::committed(store, &id).await? {
        return Ok(done);
    }
    let parts = write_summary_parts(store, &id, spec, &attempt_prefix(&id, attempt)).await?;
    let spec_json = serde_json::to_value(&shard_spec).expect("shard specs are plain data and always serialise");
    Ok(shard_store::commit(store, &id, ShardKind::Aggregate, spec_json, attempt, worker, parts).await?)
}

/// Publishes a finished scoring job to `output`: `scores/part-NNNNNN.parquet`
/// (one per shard, input order), `top_k.csv`, `summary.json` with the wall
/// time and rate added, and `job.toml`.
pub async fn publish_scores(store: &Store, summary: &Manifest, spec: &ScoreSummarySpec, output: &Store, job_toml: &str, wall_s: f64) -> Result<PublishedResults, AggregateError> {
    let manifests = score_manifests(store, &summary.shard, spec).await?;
    for (i, m) in manifests.iter().enumerate() {
        let bytes = store.get(&shard_store::part_key(store, m, part::IMAGE_SCORES)?).await?;
        output.put(&format!("scores/part-{i:06}.parquet"), bytes).await?;
    }
    let top_k = store.get(&shard_store::part_key(store, summary, part::TOP_K_CSV)?).await?;
    output.put(part::TOP_K_CSV, top_k).await?;
    let text = store.get(&shard_store::part_key(store, summary, part::SUMMARY_JSON)?).await?;
    let mut json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| AggregateError::Corrupt { what: "summary.json".to_string(), message: e.to_string() })?;
    json["wall_s"] = serde_json::json!(wall_s);
    json["images_per_s"] = serde_json::json!(if wall_s > 0.0 { json["rows"].as_f64().unwrap_or(0.0) / wall_s } else { 0.0 });
    let pretty = serde_json::to_string_pretty(&json).expect("json");
    output.put(part::SUMMARY_JSON, Bytes::from(pretty.clone())).await?;
    let plots = crate::aggregate::publish_figures(store, summary, output).await?;
    output.put(part::JOB_TOML, Bytes::from(job_toml.to_string())).await?;
    Ok(PublishedResults { uri: output.uri().to_string(), markdown: format!("# {}\n\n```json\n{pretty}\n```\n", spec.title), plots })
}
