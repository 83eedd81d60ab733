//! Scheduling: one event loop owns all state; gRPC handlers only send
//! [`SchedulerEvent`]s and await the replies.

mod event_loop;
mod events;
mod job;
mod persist;
mod state;

pub use event_loop::{spawn_scheduler, SchedulerHandle};
pub use events::{SchedulerEvent, SubmitOutcome};
pub use job::{JobOutcome, ShardPhase};
pub use persist::{load_unfinished_jobs, persist_job, persist_outcome};
pub use state::{
    JobView, LeaseGrant, Registration, ReportAck, Scheduler, ShardFailureReport, Timing, WorkerId,
};

/// Turns a job file's text into its id and shard DAG (the real planner lives
/// in rwclip-common; tests inject hand-built plans).
pub type Planner =
    std::sync::Arc<dyn Fn(&str) -> Result<(rwclip_common::plan::JobId, Vec<rwclip_common::plan::PlannedShard>), String> + Send + Sync>;

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
