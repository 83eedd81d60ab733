//! The client side of a coordinator, shared by `rwclip submit` and
//! `rwclip run`: preparing and submitting a job, watching it with progress
//! per stage, reading its results, and the local cluster (an in-process
//! coordinator plus `rwclip worker` child processes) behind `rwclip run`.

mod error;
mod local;
mod progress;
mod report;
mod stage;
mod submit;
mod watch;
mod worker_process;

pub use error::ClientError;
pub use local::{LocalCluster, LocalRun, LOCAL_IDLE_EXIT_SECS};
pub use progress::StageProgress;
pub use report::{ensure_succeeded, failure_report, read_summary_rows};
pub use stage::stage_name;
pub use submit::{prepare_submission, submit_job, Submission};
pub use watch::watch_until_finished;
pub use worker_process::WorkerProcess;

/// The async runtime the client commands run on (the CLI is synchronous).
pub fn runtime() -> Result<tokio::runtime::Runtime, ClientError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ClientError::Runtime)
}
