//! The real job planner: a submitted job file (absolute paths, see
//! `Job::to_submitted_toml`) validated and expanded into its shard DAG: a
//! sweep, or a scoring job (`kind = "score"`).

use std::sync::Arc;

use rwclip_job::{Job, PathChecks};
use rwclip_plan::plan;
use rwclip_job::score_job::{declared_kind, ScoreJob};
use rwclip_scoring::plan_score;

use crate::scheduler::{PlannedJob, Planner};

/// Validates the job (including that its dataset and weights exist here)
/// and plans it; the error names the key or file at fault.
pub fn job_planner() -> Planner {
    Arc::new(|text: &str| {
        if declared_kind(text).as_deref() == Some("score") {
            let job = ScoreJob::parse_submitted(text, PathChecks::Check).map_err(|e| e.to_string())?;
            let plan = plan_score(&job).map_err(|e| e.to_string())?;
            return Ok(PlannedJob { id: plan.job, name: job.spec.name.clone(), output_uri: job.output_uri(), shards: plan.shards });
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_jobs_are_refused_with_a_message_naming_the_key() {
        let planner = job_planner();
        let err = planner("bogus_key = 1\n").expect_err("unknown key");
        assert!(err.contains("bogus_key"), "{err}");
        let missing_dataset = "name = \"j\"\noutput = \"/tmp/rwclip-out\"\n[model]\npreset = \"ViT-B-16-plus-240\"\n[dataset]\nkind = \"mvtec\"\nroot = \"/nonexistent-rwclip-dataset\"\n";
        let err = planner(missing_dataset).expect_err("missing dataset");
        assert!(err.contains("`dataset.root` /nonexistent-rwclip-dataset is not a directory"), "{err}");
    }
}
