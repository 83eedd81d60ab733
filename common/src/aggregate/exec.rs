//! The aggregate shard over the async [`Store`]: read every trial's metric
//! rows through its committed manifest, write the summary parts under the
//! attempt prefix, commit (first commit wins), and publish the results to
//! the job's output location.

use bytes::Bytes;

use crate::artifacts::{MetricRow, ParquetRow, Store, SummaryRow};
use crate::plan::{AggregateSpec, AttemptId, ShardId, ShardKind, ShardSpec};
use crate::shard_store::{self, attempt_prefix, manifest_key, part, Manifest};

use super::error::AggregateError;
use super::summary::{csv, summarise, unique_trial_rows};
use super::tables::markdown;

fn encode<R: ParquetRow>(what: &str, rows: &[R]) -> Result<Bytes, AggregateError> {
    R::to_parquet(rows).map_err(|source| AggregateError::Encode { what: what.to_string(), source })
}

/// Per-seed metric rows of every trial of `spec`, duplicates dropped.
pub async fn read_trial_metrics(store: &Store, aggregate: &ShardId, spec: &AggregateSpec) -> Result<Vec<MetricRow>, AggregateError> {
    let mut rows = Vec::new();
    for trial in &spec.trials {
        let manifest = shard_store::committed(store, trial).await?.ok_or_else(|| AggregateError::MissingTrial {
            aggregate: aggregate.clone(),
            trial: trial.clone(),
            key: store.full_uri(&manifest_key(trial)),
        })?;
        rows.extend(shard_store::read_part::<MetricRow>(store, &manifest, part::METRICS).await?);
    }
    if rows.is_empty() {
        return Err(AggregateError::NoMetrics { aggregate: aggregate.clone() });
    }
    Ok(unique_trial_rows(&rows))
}

/// Computes the aggregate and writes its parts under `prefix`; returns the
/// part keys (metrics.parquet, results.parquet, results.csv, results.md).
pub async fn write_aggregate_parts(store: &Store, id: &ShardId, spec: &AggregateSpec, prefix: &str) -> Result<Vec<String>, AggregateError> {
    let metrics = read_trial_metrics(store, id, spec).await?;
    let summary = summarise(&metrics);
    let files = [
        (part::METRICS, encode("the per-seed metric rows", &metrics)?),
        (part::RESULTS_PARQUET, encode("the summary rows", &summary)?),
        (part::RESULTS_CSV, Bytes::from(csv(&summary))),
        (part::RESULTS_MD, Bytes::from(markdown(&spec.title, &spec.datasets, &summary))),
    ];
    let mut parts = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let key = format!("{prefix}{name}");
        store.put(&key, bytes).await?;
        parts.push(key);
    }
    Ok(parts)
}

/// Runs the aggregate shard as attempt `attempt` and commits it; when
/// another attempt committed first (or had already), returns that commit.
pub async fn run_aggregate(store: &Store, spec: &AggregateSpec, attempt: &AttemptId, worker: &str) -> Result<Manifest, AggregateError> {
    let shard_spec = ShardSpec::Aggregate(spec.clone());
    let id = shard_spec.id();
    if let Some(done) = shard_store::committed(store, &id).await? {
        return Ok(done);
    }
    let parts = write_aggregate_parts(store, &id, spec, &attempt_prefix(&id, attempt)).await?;
    let spec_json = serde_json::to_value(&shard_spec).expect("shard specs are plain data and always serialise");
    Ok(shard_store::commit(store, &id, ShardKind::Aggregate, spec_json, attempt, worker, parts).await?)
}

/// Where a job's results went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedResults {
    /// The output location holding results.parquet/csv/md and job.toml.
    pub uri: String,
    /// results.md's text.
    pub markdown: String,
}

async fn committed_aggregate(store: &Store, aggregate: &ShardId) -> Result<Manifest, AggregateError> {
    shard_store::committed(store, aggregate).await?.ok_or_else(|| AggregateError::NotCommitted {
        aggregate: aggregate.clone(),
        key: store.full_uri(&manifest_key(aggregate)),
    })
}

/// Copies the committed aggregate's results.parquet/csv/md to `output` and
/// writes the submitted job file next to them as job.toml; a scoring job's
/// summary publishes `scores/`, `top_k.csv` and `summary.json` instead
/// (`wall_s`: the job's time so far, for its rate).
pub async fn publish_results(store: &Store, aggregate: &ShardId, output: &Store, job_toml: &str, wall_s: f64) -> Result<PublishedResults, AggregateError> {
    let manifest = committed_aggregate(store, aggregate).await?;
    if let Ok(ShardSpec::ScoreSummary(spec)) = serde_json::from_value::<ShardSpec>(manifest.spec.clone()) {
        return crate::scoring::summary::publish_scores(store, &manifest, &spec, output, job_toml, wall_s).await;
    }
    let mut markdown = String::new();
    for name in [part::RESULTS_PARQUET, part::RESULTS_CSV, part::RESULTS_MD] {
        let bytes = store.get(&shard_store::part_key(store, &manifest, name)?).await?;
        if name == part::RESULTS_MD {
            markdown = String::from_utf8_lossy(&bytes).into_owned();
        }
        output.put(name, bytes).await?;
    }
    output.put(part::JOB_TOML, Bytes::from(job_toml.to_string())).await?;
    Ok(PublishedResults { uri: output.uri().to_string(), markdown })
}

/// The summary rows of a committed aggregate (results.parquet).
pub async fn read_summary(store: &Store, aggregate: &ShardId) -> Result<Vec<SummaryRow>, AggregateError> {
    let manifest = committed_aggregate(store, aggregate).await?;
    Ok(shard_store::read_part(store, &manifest, part::RESULTS_PARQUET).await?)
}
