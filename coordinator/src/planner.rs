//! The real job planner: a submitted job file (absolute paths, see
//! `Job::to_submitted_toml`) validated and expanded into its shard DAG.

use std::sync::Arc;

use rwclip_common::job::{Job, PathChecks};
use rwclip_common::plan::plan;

use crate::scheduler::{PlannedJob, Planner};

/// Validates the job (including that its dataset and weights exist here)
/// and plans it; the error names the key or file at fault.
pub fn job_planner() -> Planner {
    Arc::new(|text: &str| {
        let job = Job::parse_submitted(text, PathChecks::Check).map_err(|e| e.to_string())?;
        let plan = plan(&job).map_err(|e| e.to_string())?;
        Ok(PlannedJob {
            id: plan.job,
            name: job.spec.name.clone(),
            output_uri: job.output_uri(),
            shards: plan.shards,
        })
    })
}
