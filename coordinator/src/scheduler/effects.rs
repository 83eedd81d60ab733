//! The store work the scheduler's transitions call for, run beside the
//! event loop: each function is spawned by the loop and reports back as a
//! [`SchedulerEvent`], so no heartbeat or lease ever waits on the store.
//!
//! Job records (a submission, then the outcome) are written in order by one
//! task, so a resubmitted job's fresh record can never be overtaken by its
//! previous run's outcome; everything else runs concurrently.

use std::collections::HashSet;
use std::time::Duration;

use rwclip_report::aggregate::{self, run_aggregate, AggregateError, PublishedResults};
use rwclip_report::score_summary::run_score_summary;
use rwclip_artifacts::Store;
use rwclip_core::failure::ShardFailure;
use rwclip_plan::{AttemptId, JobId, ShardId, ShardSpec};
use rwclip_store::shard_store::{self, attempt_prefix, manifest_key, Manifest};
use tokio::sync::mpsc;

use super::events::{Reply, SchedulerEvent};
use super::job::JobOutcome;
use super::persist::{self, persist_job, persist_outcome};
use super::state::{LocalWork, PublishWork, ReportAck};
use super::workers::WorkerId;
use super::PlannedJob;

/// How often publishing results is tried before the job fails.
const PUBLISH_TRIES: u32 = 3;
/// The name aggregate manifests give as their producer.
const COORDINATOR_NAME: &str = "coordinator";

/// Sends an event back to the loop; a loop that has stopped needs none.
async fn report(events: &mpsc::WeakSender<SchedulerEvent>, event: SchedulerEvent) {
    if let Some(tx) = events.upgrade() {
        let _ = tx.send(event).await;
    }
}

/// A write of a job record, in the order the loop asked for them.
pub enum RecordWrite {
    /// A new (or resubmitted) job: find its committed shards, write its
    /// record, report [`SchedulerEvent::SubmissionRecorded`].
    Submission { planned: PlannedJob, job_toml: String, resubmitted: bool },
    /// A finished job's outcome (a failed write only means a restart
    /// resumes the job, whose committed shards are skipped).
    Outcome { job: JobId, outcome: JobOutcome, results: Option<PublishedResults> },
}

/// Starts the task that writes job records in order.
pub fn spawn_record_writer(store: Store, events: mpsc::WeakSender<SchedulerEvent>) -> mpsc::UnboundedSender<RecordWrite> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(write) = rx.recv().await {
            match write {
                RecordWrite::Submission { planned, job_toml, resubmitted } => {
                    let committed = record_submission(&store, &planned, &job_toml, resubmitted).await;
                    report(&events, SchedulerEvent::SubmissionRecorded { planned, job_toml, committed }).await;
                }
                RecordWrite::Outcome { job, outcome, results } => {
                    let _ = persist_outcome(&store, &job, &outcome, results.as_ref()).await;
                }
            }
        }
    });
    tx
}

/// The plan's shards already committed in the store (one listing, not a
/// request per shard), after writing the job's record.
async fn record_submission(store: &Store, planned: &PlannedJob, job_toml: &str, resubmitted: bool) -> Result<HashSet<ShardId>, String> {
    if resubmitted {
        store.delete(&persist::key(&planned.id, "outcome.json")).await.map_err(|e| e.to_string())?;
    }
    let mut committed = shard_store::committed_shards(store).await.map_err(|e| e.to_string())?;
    let planned_ids: HashSet<&ShardId> = planned.shards.iter().map(|s| &s.id).collect();
    committed.retain(|id| planned_ids.contains(id));
    persist_job(store, planned, job_toml).await.map_err(|e| e.to_string())?;
    Ok(committed)
}

/// Reads back the manifest a worker says it committed, and reports it with
/// the worker's reply still to send.
pub async fn check_completion(store: Store, events: mpsc::WeakSender<SchedulerEvent>, worker: WorkerId, attempt: AttemptId, shard: ShardId, reply: Reply<ReportAck>) {
    let stored = shard_store::committed(&store, &shard).await.map_err(|e| e.to_string());
    report(&events, SchedulerEvent::CompletionChecked { worker, attempt, stored, reply }).await;
}

/// Deletes the parts of attempts that did not commit. Best effort: what is
/// left is unreferenced and never read.
pub async fn collect_garbage(store: Store, shard: ShardId, attempts: Vec<AttemptId>) {
    for attempt in attempts {
        let prefix = attempt_prefix(&shard, &attempt);
        let Ok(keys) = store.list(prefix.trim_end_matches('/')).await else { continue };
        for key in keys {
            let _ = store.delete(&key).await;
        }
    }
}

/// Checks whether the dependencies a shard found missing really have no
/// manifest; those are recomputed (their outputs were lost).
pub async fn check_lost_dependencies(store: Store, events: mpsc::WeakSender<SchedulerEvent>, job: JobId, reporter: ShardId, missing: Vec<ShardId>) {
    let mut lost = Vec::new();
    for dep in missing {
        // A store error proves nothing: only a clean "absent" counts.
        if let Ok(false) = store.exists(&manifest_key(&dep)).await {
            lost.push(dep);
        }
    }
    if !lost.is_empty() {
        report(&events, SchedulerEvent::DependenciesLost { job, reporter, lost }).await;
    }
}

/// Runs an aggregate shard and reports its commit or failure.
pub async fn run_local(store: Store, events: mpsc::WeakSender<SchedulerEvent>, work: LocalWork) {
    // A retry after store trouble waits a little for it to pass.
    if work.attempts > 0 {
        tokio::time::sleep(Duration::from_secs(u64::from(work.attempts.min(5)))).await;
    }
    let result = aggregate_shard(&store, &work).await;
    report(&events, SchedulerEvent::LocalShardFinished { attempt: work.attempt, result }).await;
}

/// The aggregate of `work`, committed; failures classified for the scheduler.
async fn aggregate_shard(store: &Store, work: &LocalWork) -> Result<Manifest, ShardFailure> {
    let spec = ShardSpec::from_json(&work.spec_json).map_err(|e| ShardFailure::internal(format!("shard {}: spec_json is not a shard spec: {e}", work.shard)))?;
    let id = spec.id();
    if id != work.shard {
        return Err(ShardFailure::internal(format!("shard {}: its spec hashes to {id}", work.shard)));
    }
    match spec {
        ShardSpec::Aggregate(spec) => run_aggregate(store, &spec, &work.attempt, COORDINATOR_NAME).await.map_err(aggregate_failure),
        ShardSpec::ScoreSummary(spec) => run_score_summary(store, &spec, &work.attempt, COORDINATOR_NAME).await.map_err(aggregate_failure),
        other => Err(ShardFailure::internal(format!("shard {}: its spec is a {:?} shard, not one the coordinator runs", work.shard, other.kind()))),
    }
}

/// How an aggregate's error is classified (the coordinator's counterpart of
/// the worker's shard errors).
fn aggregate_failure(e: AggregateError) -> ShardFailure {
    match e {
        // A trial manifest gone from the store: checked, and recomputed if lost.
        AggregateError::MissingTrial { ref trial, .. } => {
            let trial = trial.clone();
            ShardFailure::lost_dependencies(e.to_string(), vec![trial])
        }
        e if e.is_retryable() => ShardFailure::retryable(e.to_string()),
        e => ShardFailure::bad_input(e.to_string()),
    }
}

/// Copies a finished job's results to its output location, a few tries.
pub async fn publish_results(store: Store, events: mpsc::WeakSender<SchedulerEvent>, work: PublishWork, job_toml: Option<String>) {
    let mut result = publish(&store, &work, job_toml.as_deref()).await;
    for tries in 1..PUBLISH_TRIES {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(u64::from(tries))).await;
        result = publish(&store, &work, job_toml.as_deref()).await;
    }
    report(&events, SchedulerEvent::ResultsPublished { job: work.job, result }).await;
}

async fn publish(store: &Store, work: &PublishWork, job_toml: Option<&str>) -> Result<PublishedResults, String> {
    let job_toml = match job_toml {
        Some(text) => text.to_string(),
        None => persist::job_toml(store, &work.job).await.map_err(|e| e.to_string())?,
    };
    let output = Store::open(&work.output_uri).map_err(|e| e.to_string())?;
    aggregate::publish_results(store, &work.aggregate, &output, &job_toml, work.wall_s).await.map_err(|e| e.to_string())
}
