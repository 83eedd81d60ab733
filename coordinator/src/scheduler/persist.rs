//! Job records in the store, so a restarted coordinator rebuilds its jobs:
//! `jobs/<id>/job.toml`, `jobs/<id>/plan.json`, and `jobs/<id>/outcome.json`
//! once the job is finished.

use std::collections::HashSet;

use bytes::Bytes;
use rwclip_common::artifacts::Store;
use rwclip_common::plan::{manifest_key, JobId, PlannedShard, ShardId};

use super::job::JobOutcome;
use crate::error::CoordinatorError;

fn key(job: &JobId, file: &str) -> String {
    format!("jobs/{job}/{file}")
}

pub async fn persist_job(store: &Store, job: &JobId, job_toml: &str, plan: &[PlannedShard]) -> Result<(), CoordinatorError> {
    let plan_json = serde_json::to_vec(plan).map_err(|e| CoordinatorError::CorruptJobRecord {
        key: key(job, "plan.json"),
        reason: e.to_string(),
    })?;
    store.put(&key(job, "job.toml"), Bytes::from(job_toml.to_string())).await?;
    // plan.json last: its presence marks a complete record.
    store.put(&key(job, "plan.json"), Bytes::from(plan_json)).await?;
    Ok(())
}

pub async fn persist_outcome(store: &Store, job: &JobId, outcome: &JobOutcome) -> Result<(), CoordinatorError> {
    let text = match outcome {
        JobOutcome::Succeeded => serde_json::json!({"state": "succeeded"}),
        JobOutcome::Failed(reason) => serde_json::json!({"state": "failed", "reason": reason}),
        JobOutcome::Cancelled => serde_json::json!({"state": "cancelled"}),
    };
    store.put(&key(job, "outcome.json"), Bytes::from(text.to_string())).await?;
    Ok(())
}

/// Shards of `plan` whose manifests are committed in the store.
pub async fn committed_shards(store: &Store, plan: &[PlannedShard]) -> Result<HashSet<ShardId>, CoordinatorError> {
    let mut committed = HashSet::new();
    for shard in plan {
        if store.exists(&manifest_key(&shard.id)).await? {
            committed.insert(shard.id.clone());
        }
    }
    Ok(committed)
}

/// Every job with a plan and no outcome, with its committed shards.
pub async fn load_unfinished_jobs(
    store: &Store,
) -> Result<Vec<(JobId, Vec<PlannedShard>, HashSet<ShardId>)>, CoordinatorError> {
    let keys = store.list("jobs").await?;
    let finished: HashSet<&str> = keys
        .iter()
        .filter_map(|k| k.strip_suffix("/outcome.json"))
        .collect();
    let mut jobs = Vec::new();
    for plan_key in keys.iter().filter(|k| k.ends_with("/plan.json")) {
        let Some(dir) = plan_key.strip_suffix("/plan.json") else { continue };
        if finished.contains(dir) {
            continue;
        }
        let Some(id) = dir.strip_prefix("jobs/") else { continue };
        let bytes = store.get(plan_key).await?;
        let plan: Vec<PlannedShard> =
            serde_json::from_slice(&bytes).map_err(|e| CoordinatorError::CorruptJobRecord {
                key: store.full_uri(plan_key),
                reason: e.to_string(),
            })?;
        let committed = committed_shards(store, &plan).await?;
        jobs.push((JobId(id.to_string()), plan, committed));
    }
    Ok(jobs)
}
