//! The aggregate shard over the async [`Store`]: read every trial's metric
//! rows through its committed manifest, write the summary parts under the
//! attempt prefix, commit the manifest (first commit wins), and publish the
//! results to the job's output location.

use bytes::Bytes;

use crate::artifacts::{MetricRow, ParquetRow, Store, StoreError, SummaryRow};
use crate::plan::{attempt_prefix, manifest_key, AggregateSpec, AttemptId, Manifest, ShardId, ShardKind, ShardSpec, MANIFEST_VERSION};

use super::error::AggregateError;
use super::summary::{csv, summarise, unique_trial_rows};
use super::tables::markdown;

/// The part of a trial shard holding its per-seed metric rows.
pub const TRIAL_METRICS_PART: &str = "metrics.parquet";
/// The aggregate's parts, in the order its manifest lists them.
pub const METRICS_PART: &str = "metrics.parquet";
pub const RESULTS_PARQUET: &str = "results.parquet";
pub const RESULTS_CSV: &str = "results.csv";
pub const RESULTS_MD: &str = "results.md";
/// The job file as submitted, next to the results in the output location.
pub const JOB_TOML: &str = "job.toml";

/// The committed manifest of `shard`, `None` when it has not committed.
pub async fn committed_manifest(store: &Store, shard: &ShardId) -> Result<Option<Manifest>, AggregateError> {
    let key = manifest_key(shard);
    let bytes = match store.get(&key).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| AggregateError::Manifest {
        shard: shard.clone(),
        key: store.full_uri(&key),
        message: e.to_string(),
    })
}

/// The key of the part of `manifest` named `name`.
fn part_key(store: &Store, manifest: &Manifest, name: &str) -> Result<String, AggregateError> {
    manifest
        .parts
        .iter()
        .find(|p| p.rsplit('/').next() == Some(name))
        .cloned()
        .ok_or_else(|| AggregateError::MissingPart {
            shard: manifest.shard.clone(),
            key: store.full_uri(&manifest_key(&manifest.shard)),
            part: name.to_string(),
        })
}

async fn read_rows<R: ParquetRow>(store: &Store, key: &str) -> Result<Vec<R>, AggregateError> {
    let bytes = store.get(key).await?;
    R::from_parquet(&bytes).map_err(|source| AggregateError::CorruptPart { uri: store.full_uri(key), source })
}

fn encode<R: ParquetRow>(what: &str, rows: &[R]) -> Result<Bytes, AggregateError> {
    R::to_parquet(rows).map_err(|source| AggregateError::Encode { what: what.to_string(), source })
}

/// Per-seed metric rows of every trial of `spec`, duplicates dropped.
pub async fn read_trial_metrics(store: &Store, aggregate: &ShardId, spec: &AggregateSpec) -> Result<Vec<MetricRow>, AggregateError> {
    let mut rows = Vec::new();
    for trial in &spec.trials {
        let manifest = committed_manifest(store, trial).await?.ok_or_else(|| AggregateError::MissingTrial {
            aggregate: aggregate.clone(),
            trial: trial.clone(),
            key: store.full_uri(&manifest_key(trial)),
        })?;
        let key = part_key(store, &manifest, TRIAL_METRICS_PART)?;
        rows.extend(read_rows::<MetricRow>(store, &key).await?);
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
        (METRICS_PART, encode("the per-seed metric rows", &metrics)?),
        (RESULTS_PARQUET, encode("the summary rows", &summary)?),
        (RESULTS_CSV, Bytes::from(csv(&summary))),
        (RESULTS_MD, Bytes::from(markdown(&spec.title, &summary))),
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
    let id = ShardSpec::Aggregate(spec.clone()).id();
    if let Some(done) = committed_manifest(store, &id).await? {
        return Ok(done);
    }
    let parts = write_aggregate_parts(store, &id, spec, &attempt_prefix(&id, attempt)).await?;
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        shard: id.clone(),
        kind: ShardKind::Aggregate,
        attempt: attempt.clone(),
        worker: worker.to_string(),
        parts,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("manifests are plain data and always serialise");
    if store.put_if_absent(&manifest_key(&id), Bytes::from(json)).await? {
        return Ok(manifest);
    }
    committed_manifest(store, &id).await?.ok_or_else(|| AggregateError::Manifest {
        shard: id.clone(),
        key: store.full_uri(&manifest_key(&id)),
        message: "the conditional put lost but no manifest is readable".to_string(),
    })
}

/// Where a job's results went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedResults {
    /// The output location holding results.parquet/csv/md and job.toml.
    pub uri: String,
    /// results.md's text.
    pub markdown: String,
}

/// Copies the committed aggregate's results.parquet/csv/md to `output` and
/// writes the submitted job file next to them as job.toml.
pub async fn publish_results(store: &Store, aggregate: &ShardId, output: &Store, job_toml: &str) -> Result<PublishedResults, AggregateError> {
    let manifest = committed_manifest(store, aggregate).await?.ok_or_else(|| AggregateError::Manifest {
        shard: aggregate.clone(),
        key: store.full_uri(&manifest_key(aggregate)),
        message: "the aggregate has not committed".to_string(),
    })?;
    let mut markdown = String::new();
    for name in [RESULTS_PARQUET, RESULTS_CSV, RESULTS_MD] {
        let bytes = store.get(&part_key(store, &manifest, name)?).await?;
        if name == RESULTS_MD {
            markdown = String::from_utf8_lossy(&bytes).into_owned();
        }
        output.put(name, bytes).await?;
    }
    output.put(JOB_TOML, Bytes::from(job_toml.to_string())).await?;
    Ok(PublishedResults { uri: output.uri().to_string(), markdown })
}

/// The summary rows of a committed aggregate (results.parquet).
pub async fn read_summary(store: &Store, aggregate: &ShardId) -> Result<Vec<SummaryRow>, AggregateError> {
    let manifest = committed_manifest(store, aggregate).await?.ok_or_else(|| AggregateError::Manifest {
        shard: aggregate.clone(),
        key: store.full_uri(&manifest_key(aggregate)),
        message: "the aggregate has not committed".to_string(),
    })?;
    read_rows(store, &part_key(store, &manifest, RESULTS_PARQUET)?).await
}
