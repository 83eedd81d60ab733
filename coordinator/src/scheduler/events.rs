//! Everything that can happen to the scheduler, each with its reply channel:
//! requests from the gRPC handlers, and the results of store work that the
//! loop started beside itself.

use std::collections::HashSet;

use rwclip_report::aggregate::PublishedResults;
use rwclip_store::retry::StoreHealth;
use rwclip_core::failure::ShardFailure;
use rwclip_plan::{AttemptId, JobId, ShardId, ShardKind};
use rwclip_store::shard_store::Manifest;
use tokio::sync::{mpsc, oneshot};

use super::counters::Counters;
use super::state::{LeaseGrant, ReportAck};
use super::view::{JobView, WorkerView};
use super::workers::{WorkerRegistration, WorkerId};
use super::{PlannedJob, SchedulerError};

pub type Reply<T> = oneshot::Sender<Result<T, SchedulerError>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub view: JobView,
    /// Shards found committed in the store at submission.
    pub already_committed: usize,
}

/// Committed shards of a job, with their kinds and manifest keys.
pub type CommittedShards = Vec<(ShardId, ShardKind, String)>;

/// Everything `/metrics` reports from the scheduler, taken at one instant.
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    pub jobs: Vec<JobView>,
    pub workers: Vec<WorkerView>,
    pub counters: Counters,
}

#[derive(Debug)]
pub enum SchedulerEvent {
    /// Planned outside the loop (planning lists the dataset).
    JobSubmitted { job_toml: String, planned: PlannedJob, reply: Reply<SubmitOutcome> },
    GetJob { job: JobId, reply: Reply<JobView> },
    ListJobs { reply: Reply<Vec<JobView>> },
    /// Sends a snapshot now and after every change until the job finishes.
    WatchJob { job: JobId, updates: mpsc::Sender<JobView>, reply: Reply<()> },
    Cancel { job: JobId, reply: Reply<JobView> },
    GetResults { job: JobId, reply: Reply<(JobView, CommittedShards)> },
    WorkerRegistered { registration: WorkerRegistration, reply: Reply<WorkerId> },
    Heartbeat { worker: WorkerId, running: Vec<AttemptId>, loaded_models: Vec<String>, store: StoreHealth, reply: Reply<Vec<AttemptId>> },
    LeaseRequested { worker: WorkerId, max: usize, reply: Reply<Vec<LeaseGrant>> },
    ListWorkers { reply: Reply<Vec<WorkerView>> },
    Metrics { reply: Reply<MetricsSnapshot> },
    Progress { worker: WorkerId, attempt: AttemptId, done: u64, total: u64, reply: Reply<ReportAck> },
    ShardCompleted { worker: WorkerId, attempt: AttemptId, manifest: Manifest, reply: Reply<ReportAck> },
    ShardFailed { worker: WorkerId, attempt: AttemptId, failure: ShardFailure, reply: Reply<ReportAck> },
    /// Periodic: expire silent workers, enforce the no-worker grace period.
    Tick,

    // --- store work started by the loop, reporting back ---
    /// A submission's record is in the store and its committed shards are
    /// known (or the store failed); the waiting submitters get their answer.
    SubmissionRecorded { planned: PlannedJob, job_toml: String, committed: Result<HashSet<ShardId>, String> },
    /// The stored manifest of a shard reported complete, read back.
    CompletionChecked { worker: WorkerId, attempt: AttemptId, stored: Result<Option<Manifest>, String>, reply: Reply<ReportAck> },
    /// A check after a lost-dependency report: these committed shards'
    /// manifests are gone from the store, so they run again.
    DependenciesLost { job: JobId, reporter: ShardId, lost: Vec<ShardId> },
    /// A shard the coordinator ran itself (an aggregate) committed or failed.
    LocalShardFinished { attempt: AttemptId, result: Result<Manifest, ShardFailure> },
    /// A finished job's results were copied to its output location (or not).
    ResultsPublished { job: JobId, result: Result<PublishedResults, String> },
}
