//! What a finished job produced: a failure report naming every failed
//! shard, or the result rows behind the printed tables.

use std::fmt::Write;

use rwclip_artifacts::{read_parquet, Store, SummaryRow};
use rwclip_proto::v1 as pb;
use rwclip_proto::v1::{JobState, JobStatus};

use super::error::ClientError;
use super::stage::stage_name;
use crate::error::Result;

use rwclip_store::shard_store::part::RESULTS_PARQUET;

/// `Ok` for a succeeded job; otherwise the error carrying its report.
pub fn ensure_succeeded(status: &JobStatus) -> Result<(), ClientError> {
    let job = status.job_id.clone();
    match JobState::try_from(status.state) {
        Ok(JobState::Succeeded) => Ok(()),
        Ok(JobState::Cancelled) => Err(ClientError::JobCancelled { job, reason: status.reason.clone() }),
        _ => Err(ClientError::JobFailed {
            job,
            report: failure_report(status),
            // A shard that failed on its input makes the job's failure the user's to fix.
            bad_input: status.failures.iter().any(|f| f.failure_class == pb::FailureClass::BadInput as i32),
        }),
    }
}

/// The job's reason, then one line per failed shard: id, stage, counted
/// attempts and the last reason.
pub fn failure_report(status: &JobStatus) -> String {
    let mut out = if status.reason.is_empty() { "no reason given".to_string() } else { status.reason.clone() };
    for f in &status.failures {
        let _ = write!(
            out,
            "\n  shard {} ({}), {} attempt{}: {}",
            f.shard_id,
            stage_name(f.kind),
            f.attempts,
            if f.attempts == 1 { "" } else { "s" },
            f.last_reason
        );
    }
    out
}

/// The per-config summary rows in `results_uri`/results.parquet.
pub async fn read_summary_rows(results_uri: &str) -> Result<Vec<SummaryRow>> {
    let store = Store::open(results_uri)?;
    Ok(read_parquet::<SummaryRow>(&store, RESULTS_PARQUET).await?)
}
