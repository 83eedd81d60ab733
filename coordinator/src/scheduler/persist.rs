//! Job records in the store, so a restarted coordinator rebuilds its jobs:
//! `jobs/<id>/job.toml` (the submitted text), `jobs/<id>/job.json` (name
//! and output location), `jobs/<id>/plan.json`, and `jobs/<id>/outcome.json`
//! once the job is finished.

use std::collections::HashSet;

use bytes::Bytes;
use rwclip_report::aggregate::PublishedResults;
use rwclip_artifacts::{Store, StoreError};
use rwclip_plan::{JobId, PlannedShard, ShardId};
use rwclip_store::shard_store;
use serde::{Deserialize, Serialize};

use super::job::JobOutcome;
use super::PlannedJob;
use crate::error::CoordinatorError;

pub fn key(job: &JobId, file: &str) -> String {
    format!("jobs/{job}/{file}")
}

#[derive(Serialize, Deserialize)]
struct JobInfo {
    name: String,
    output_uri: String,
}

/// outcome.json.
#[derive(Serialize, Deserialize)]
struct OutcomeRecord {
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    results_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    results_markdown: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    results_plots: Vec<String>,
}

fn corrupt(store: &Store, key: &str, reason: impl ToString) -> CoordinatorError {
    CoordinatorError::CorruptJobRecord { key: store.full_uri(key), reason: reason.to_string() }
}

pub async fn persist_job(store: &Store, job: &PlannedJob, job_toml: &str) -> Result<(), CoordinatorError> {
    let plan_json = serde_json::to_vec(&job.shards).map_err(|e| corrupt(store, &key(&job.id, "plan.json"), e))?;
    let info = JobInfo { name: job.name.clone(), output_uri: job.output_uri.clone() };
    let info_json = serde_json::to_vec(&info).map_err(|e| corrupt(store, &key(&job.id, "job.json"), e))?;
    store.put(&key(&job.id, "job.toml"), Bytes::from(job_toml.to_string())).await?;
    store.put(&key(&job.id, "job.json"), Bytes::from(info_json)).await?;
    // plan.json last: its presence marks a complete record.
    store.put(&key(&job.id, "plan.json"), Bytes::from(plan_json)).await?;
    Ok(())
}

pub async fn persist_outcome(store: &Store, job: &JobId, outcome: &JobOutcome, results: Option<&PublishedResults>) -> Result<(), CoordinatorError> {
    let (state, reason) = match outcome {
        JobOutcome::Succeeded => ("succeeded", None),
        JobOutcome::Failed(reason) => ("failed", Some(reason.clone())),
        JobOutcome::Cancelled => ("cancelled", None),
    };
    let record = OutcomeRecord {
        state: state.to_string(),
        reason,
        results_uri: results.map(|r| r.uri.clone()),
        results_markdown: results.map(|r| r.markdown.clone()),
        results_plots: results.map(|r| r.plots.clone()).unwrap_or_default(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| corrupt(store, &key(job, "outcome.json"), e))?;
    store.put(&key(job, "outcome.json"), Bytes::from(json)).await?;
    Ok(())
}

/// The submitted job file's text.
pub async fn job_toml(store: &Store, job: &JobId) -> Result<String, StoreError> {
    let bytes = store.get(&key(job, "job.toml")).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A job record as found in the store.
pub struct StoredJob {
    pub job: PlannedJob,
    pub committed: HashSet<ShardId>,
    /// `Some` for a finished job, with its published results if any.
    pub finished: Option<(JobOutcome, Option<PublishedResults>)>,
}

/// Every job with a complete record, finished or not.
pub async fn load_jobs(store: &Store) -> Result<Vec<StoredJob>, CoordinatorError> {
    let keys = store.list("jobs").await?;
    if !keys.iter().any(|k| k.ends_with("/plan.json")) {
        return Ok(Vec::new());
    }
    // One listing of every committed shard serves all jobs.
    let all_committed = shard_store::committed_shards(store).await?;
    let mut jobs = Vec::new();
    for plan_key in keys.iter().filter(|k| k.ends_with("/plan.json")) {
        let Some(id) = plan_key.strip_suffix("/plan.json").and_then(|d| d.strip_prefix("jobs/")) else { continue };
        let id = JobId(id.to_string());
        let bytes = store.get(plan_key).await?;
        let shards: Vec<PlannedShard> = serde_json::from_slice(&bytes).map_err(|e| corrupt(store, plan_key, e))?;
        // Records written before job.json existed have no name or output.
        let info_key = key(&id, "job.json");
        let info = match store.get(&info_key).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| corrupt(store, &info_key, e))?,
            Err(StoreError::NotFound { .. }) => JobInfo { name: String::new(), output_uri: String::new() },
            Err(e) => return Err(e.into()),
        };
        let outcome_key = key(&id, "outcome.json");
        let finished = match store.get(&outcome_key).await {
            Ok(b) => Some(outcome(store, &outcome_key, &b)?),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let committed: HashSet<ShardId> = shards.iter().filter(|s| all_committed.contains(&s.id)).map(|s| s.id.clone()).collect();
        jobs.push(StoredJob {
            job: PlannedJob { id, name: info.name, output_uri: info.output_uri, shards },
            committed,
            finished,
        });
    }
    Ok(jobs)
}

fn outcome(store: &Store, key: &str, bytes: &[u8]) -> Result<(JobOutcome, Option<PublishedResults>), CoordinatorError> {
    let r: OutcomeRecord = serde_json::from_slice(bytes).map_err(|e| corrupt(store, key, e))?;
    let outcome = match r.state.as_str() {
        "succeeded" => JobOutcome::Succeeded,
        "failed" => JobOutcome::Failed(r.reason.unwrap_or_default()),
        "cancelled" => JobOutcome::Cancelled,
        other => return Err(corrupt(store, key, format!("unknown state {other:?}"))),
    };
    let results = match (r.results_uri, r.results_markdown) {
        (Some(uri), markdown) => Some(PublishedResults { uri, markdown: markdown.unwrap_or_default(), plots: r.results_plots }),
        (None, _) => None,
    };
    Ok((outcome, results))
}
