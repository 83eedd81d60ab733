//! Scheduling: one event loop owns all state; gRPC handlers only send
//! [`SchedulerEvent`]s and await the replies.
//!
//! - [`state`]: the pure state machine ([`Scheduler`]) over the job table
//!   ([`job`]), the worker registry ([`workers`]), the lease book
//!   ([`leases`]) and the ready queue.
//! - [`event_loop`]: the task owning it; it never awaits I/O.
//! - [`effects`]: the store work it starts beside itself.
//! - [`persist`]: job records in the store, for restarts.
//! - [`view`]: what clients see of a job.

mod counters;
mod effects;
mod event_loop;
mod events;
mod job;
mod leases;
mod persist;
mod state;
mod view;
mod workers;

pub use event_loop::{spawn_scheduler, SchedulerHandle};
pub use events::{CommittedShards, MetricsSnapshot, SchedulerEvent, SubmitOutcome};
pub use job::{JobOutcome, ResultsState, ShardPhase};
pub use persist::{load_jobs, persist_job, persist_outcome, StoredJob};
pub use counters::Counters;
pub use state::{LeaseGrant, LocalWork, PublishWork, ReportAck, Scheduler, Timing};
pub use view::{JobView, ShardFailureReport, StageView, WorkerView};
pub use workers::{WorkerRegistration, WorkerId};

use rwclip_plan::{JobId, PlannedShard};

/// What the planner makes of a submitted job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedJob {
    pub id: JobId,
    /// The job file's `name`.
    pub name: String,
    /// Where the results go; "" for none (hand-built test plans).
    pub output_uri: String,
    /// In topological order.
    pub shards: Vec<PlannedShard>,
}

/// Turns a job file's text into its plan; the error message names the key
/// at fault (see `crate::job_planner`; tests inject hand-built plans).
pub type Planner = std::sync::Arc<dyn Fn(&str) -> Result<PlannedJob, String> + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SchedulerError {
    #[error("worker {worker} speaks protocol version {got}; this coordinator speaks {want}")]
    ProtocolMismatch { worker: String, got: u32, want: u32 },
    #[error("unknown worker {0} (expired or never registered): register again")]
    UnknownWorker(String),
    #[error("unknown job {0}")]
    UnknownJob(String),
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    #[error("invalid job file: {0}")]
    InvalidJob(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("store: {0}")]
    Store(String),
    #[error("the scheduler has stopped")]
    Stopped,
}
