//! Everything that can happen to the scheduler, each with its reply channel.

use rwclip_common::plan::{AttemptId, JobId, Manifest, ShardId};
use tokio::sync::{mpsc, oneshot};

use rwclip_common::aggregate::PublishedResults;

use super::state::{JobView, LeaseGrant, Registration, ReportAck, WorkerId};
use super::{PlannedJob, SchedulerError};
use crate::failure::Failure;

type Reply<T> = oneshot::Sender<Result<T, SchedulerError>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub view: JobView,
    /// Shards found committed in the store at submission.
    pub already_committed: usize,
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
    GetResults { job: JobId, reply: Reply<(JobView, Vec<(rwclip_common::plan::ShardId, rwclip_common::plan::ShardKind, String)>)> },
    WorkerRegistered { registration: Registration, reply: Reply<WorkerId> },
    Heartbeat { worker: WorkerId, running: Vec<AttemptId>, loaded_models: Vec<String>, reply: Reply<Vec<AttemptId>> },
    LeaseRequested { worker: WorkerId, reply: Reply<Option<LeaseGrant>> },
    Progress { worker: WorkerId, attempt: AttemptId, done: u64, total: u64, reply: Reply<ReportAck> },
    ShardCompleted { worker: WorkerId, attempt: AttemptId, manifest: Manifest, reply: Reply<ReportAck> },
    /// `missing` lists dependencies the worker found uncommitted.
    ShardFailed { worker: WorkerId, attempt: AttemptId, failure: Failure, missing: Vec<ShardId>, reply: Reply<ReportAck> },
    /// A check after a missing-dependency report: these committed shards'
    /// manifests are gone from the store, so they run again.
    DependenciesLost { job: JobId, reporter: ShardId, lost: Vec<ShardId> },
    /// Periodic: expire silent workers, enforce the no-worker grace period.
    Tick,
    /// A shard the coordinator ran itself (an aggregate) committed or failed.
    LocalShardFinished { attempt: AttemptId, result: Result<Manifest, (Failure, Vec<ShardId>)> },
    /// A finished job's results were copied to its output location (or not).
    ResultsPublished { job: JobId, result: Result<PublishedResults, String> },
}
