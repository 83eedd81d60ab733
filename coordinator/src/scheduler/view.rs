//! What clients see of a job: progress per stage, failures, results.

use rwclip_report::aggregate::PublishedResults;
use rwclip_store::retry::StoreHealth;
use rwclip_core::failure::FailureClass;
use rwclip_plan::{JobId, ShardId, ShardKind};

use super::workers::{Worker, WorkerId};
use super::job::{ScheduledJob, JobOutcome, ResultsState};

/// What clients see of a registered worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerView {
    pub id: WorkerId,
    pub name: String,
    pub device: String,
    pub capacity: usize,
    /// Shards of the attempts it holds.
    pub shards: Vec<ShardId>,
    pub since_heartbeat: std::time::Duration,
    pub loaded_models: Vec<String>,
    /// Its store calls as its last heartbeat told.
    pub store: StoreHealth,
}

impl WorkerView {
    pub fn of(id: &WorkerId, w: &Worker, shards: Vec<ShardId>, now: tokio::time::Instant) -> WorkerView {
        let mut loaded_models: Vec<String> = w.loaded_models.iter().cloned().collect();
        loaded_models.sort();
        WorkerView {
            id: id.clone(),
            name: w.name.clone(),
            device: w.device.clone(),
            capacity: w.capacity,
            shards,
            since_heartbeat: now.duration_since(w.last_seen),
            loaded_models,
            store: w.store.clone(),
        }
    }
}

/// One shard kind's progress within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageView {
    pub kind: ShardKind,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failed: usize,
    /// Items its running and committed shards reported done (images and
    /// frames of a scoring job).
    pub items_done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailureReport {
    pub shard: ShardId,
    pub kind: ShardKind,
    pub attempts: u32,
    pub last_reason: String,
    /// The class of the failure that ended the shard.
    pub class: Option<FailureClass>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub id: JobId,
    pub name: String,
    pub output_uri: String,
    /// As clients see it: succeeded only once the results are published.
    pub outcome: Option<JobOutcome>,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failures: Vec<ShardFailureReport>,
    /// Per shard kind present in the plan, in pipeline order.
    pub stages: Vec<StageView>,
    /// Set once the job succeeded.
    pub results: Option<PublishedResults>,
    /// While it runs and store calls are being retried: what and how long.
    pub store: Option<String>,
}

impl JobView {
    /// `store`: what is failing at the store now, shown while the job runs.
    pub fn of(job: &ScheduledJob, store: Option<String>) -> JobView {
        let failures = job
            .failed_shards()
            .map(|i| {
                let (s, shard) = (&job.state[i], &job.shards[i]);
                ShardFailureReport {
                    shard: shard.id.clone(),
                    kind: shard.kind,
                    attempts: s.attempts,
                    last_reason: s.last_reason.clone().unwrap_or_default(),
                    class: s.last_class,
                }
            })
            .collect();
        // ShardKind's order is the pipeline's: embeddings, trials, aggregate.
        let stages: Vec<StageView> = job
            .tallies()
            .iter()
            .map(|(&kind, t)| StageView { kind, total: t.total, committed: t.committed, running: t.running, failed: t.failed, items_done: t.items_done })
            .collect();
        let tally = job.tally();
        JobView {
            id: job.id.clone(),
            name: job.name.clone(),
            output_uri: job.output_uri.clone(),
            outcome: job.visible_outcome(),
            total: job.shards.len(),
            committed: tally.committed,
            running: tally.running,
            failures,
            stages,
            results: match &job.results {
                ResultsState::Published(r) => Some(r.clone()),
                _ => None,
            },
            store: store.filter(|_| job.visible_outcome().is_none()),
        }
    }
}

/// What is failing at the store right now, if anything: this process's
/// calls and those the workers last reported, retrying.
pub fn store_trouble<'a>(workers: impl Iterator<Item = &'a Worker>) -> Option<String> {
    let own = rwclip_store::retry::health();
    let mut failing: Vec<(String, u64, std::time::Duration)> = Vec::new();
    if own.failing_calls > 0 {
        failing.push(("coordinator".to_string(), own.failing_calls, own.failing_for.unwrap_or_default()));
    }
    for w in workers.filter(|w| w.store.failing_calls > 0) {
        failing.push((format!("worker {}", w.name), w.store.failing_calls, w.store.failing_for.unwrap_or_default()));
    }
    let longest = failing.iter().map(|f| f.2).max()?;
    let calls: u64 = failing.iter().map(|f| f.1).sum();
    let who: Vec<String> = failing.iter().map(|(name, n, _)| format!("{name}: {n}")).collect();
    Some(format!("the store is failing: {calls} call(s) retrying, the oldest for {} s ({}); the job waits and goes on when the store answers", longest.as_secs(), who.join(", ")))
}
