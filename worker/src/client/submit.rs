//! Turning a job file into a submission and sending it.

use rwclip_inputs::synth;
use rwclip_common::job::Job;
use rwclip_proto::v1::{SubmitJobRequest, SubmitJobResponse};

use crate::error::Result;
use crate::remote::{CoordinatorClient, RemoteError};

/// The text to submit for a validated job: each dataset is synthesised
/// first when the job asks for synthetic data and its root does not exist
/// yet (the coordinator's planner lists it), and every path is made
/// absolute so it means the same to the coordinator and the workers.
pub fn prepare_submission(job: &Job) -> Result<String> {
    for d in job.datasets() {
        let (Some(opts), Some(root)) = (&d.spec.synth, d.local_root()) else { continue };
        if root.exists() {
            continue;
        }
        if let Some(written) = synth::write_kind(d.spec.kind, root, &opts.to_spec()) {
            written?;
            eprintln!("rwclip: dataset {:?}: synthesised {}-layout data at {}", d.name(), d.spec.kind.name(), root.display());
        }
    }
    Ok(job.to_submitted_toml()?)
}

/// Submits job text; the coordinator validates and plans it (a bad job comes
/// back as InvalidArgument naming the key).
pub async fn submit_job(client: &mut CoordinatorClient, job_toml: String) -> Result<SubmitJobResponse> {
    Ok(client
        .submit_job(SubmitJobRequest { job_toml })
        .await
        .map_err(RemoteError::rpc("SubmitJob"))?
        .into_inner())
}
