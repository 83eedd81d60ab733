//! Following a job until it ends, through the coordinator's WatchJob stream.

use rwclip_proto::v1::{GetJobRequest, JobState, JobStatus, WatchJobRequest};

use super::error::ClientError;
use crate::error::Result;
use crate::remote::{CoordinatorClient, RemoteError};

/// Calls `on_status` with every snapshot of job `job_id` and returns the
/// final one (succeeded, failed or cancelled). The stream ends when the job
/// does; if it ends earlier, one GetJob decides whether the job finished in
/// between or the coordinator went away.
pub async fn watch_until_finished(
    client: &mut CoordinatorClient,
    job_id: &str,
    on_status: &mut dyn FnMut(&JobStatus),
) -> Result<JobStatus> {
    let mut stream = client
        .watch_job(WatchJobRequest { job_id: job_id.to_string() })
        .await
        .map_err(RemoteError::rpc("WatchJob"))?
        .into_inner();
    while let Some(status) = stream.message().await.map_err(RemoteError::rpc("WatchJob"))? {
        on_status(&status);
        if is_finished(&status) {
            return Ok(status);
        }
    }
    let status = client
        .get_job(GetJobRequest { job_id: job_id.to_string() })
        .await
        .map_err(RemoteError::rpc("GetJob"))?
        .into_inner();
    on_status(&status);
    if is_finished(&status) {
        Ok(status)
    } else {
        Err(ClientError::WatchEnded { job: job_id.to_string() }.into())
    }
}

fn is_finished(status: &JobStatus) -> bool {
    !matches!(JobState::try_from(status.state), Ok(JobState::Running) | Ok(JobState::Unspecified))
}
