//! Why a submitted or locally run job did not produce results.

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The job ended failed; `report` lists every failed shard.
    #[error("job {job} failed: {report}")]
    JobFailed { job: String, report: String, bad_input: bool },
    #[error("job {job} was cancelled: {reason}")]
    JobCancelled { job: String, reason: String },
    /// The coordinator closed the progress stream before the job ended.
    #[error("the coordinator stopped reporting job {job} before it finished (coordinator restarted or gone?)")]
    WatchEnded { job: String },
    #[error("job {job} succeeded but the coordinator gave no results location")]
    NoResults { job: String },
    #[error("--workers must be at least 1 (got {0})")]
    NoWorkers(usize),
    #[error("cannot start worker process {exe}: {source}")]
    SpawnWorker { exe: String, source: std::io::Error },
    /// Every local worker process exited while the job still had work.
    #[error("every worker process exited while job {job} was still running:\n{details}")]
    WorkersDied { job: String, details: String },
    #[error("interrupted (Ctrl-C or SIGTERM): worker processes stopped; `rwclip run` again resumes from the committed shards")]
    Interrupted,
    #[error("in-process coordinator: {0}")]
    Coordinator(#[from] rwclip_coordinator::CoordinatorError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}
