//! What clients see of a job: progress per stage, failures, results.

use rwclip_common::aggregate::PublishedResults;
use rwclip_common::failure::FailureClass;
use rwclip_common::plan::{JobId, ShardId, ShardKind};

use super::job::{ScheduledJob, JobOutcome, ResultsState, ShardPhase};

/// One shard kind's progress within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageView {
    pub kind: ShardKind,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailureReport {
    pub shard: ShardId,
    pub kind: ShardKind,
    pub attempts: u32,
    pub last_reason: String,
    /// The class of the failure that ended the shard.
    pub class: Option<FailureClass>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub id: JobId,
    pub name: String,
    pub output_uri: String,
    /// As clients see it: succeeded only once the results are published.
    pub outcome: Option<JobOutcome>,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failures: Vec<ShardFailureReport>,
    /// Per shard kind present in the plan, in pipeline order.
    pub stages: Vec<StageView>,
    /// Set once the job succeeded.
    pub results: Option<PublishedResults>,
}

impl JobView {
    pub fn of(job: &ScheduledJob) -> JobView {
        let failures = job
            .state
            .iter()
            .zip(&job.shards)
            .filter(|(s, _)| s.phase == ShardPhase::Failed)
            .map(|(s, shard)| ShardFailureReport {
                shard: shard.id.clone(),
                kind: shard.kind,
                attempts: s.attempts,
                last_reason: s.last_reason.clone().unwrap_or_default(),
                class: s.last_class,
            })
            .collect();
        let mut stages: Vec<StageView> = Vec::new();
        for (shard, s) in job.shards.iter().zip(&job.state) {
            let stage = match stages.iter_mut().position(|st| st.kind == shard.kind) {
                Some(k) => &mut stages[k],
                None => {
                    stages.push(StageView { kind: shard.kind, total: 0, committed: 0, running: 0, failed: 0 });
                    stages.last_mut().expect("just pushed")
                }
            };
            stage.total += 1;
            match s.phase {
                ShardPhase::Committed => stage.committed += 1,
                ShardPhase::Running { .. } => stage.running += 1,
                ShardPhase::Failed => stage.failed += 1,
                ShardPhase::Waiting { .. } | ShardPhase::Ready => {}
            }
        }
        // ShardKind's order is the pipeline's: embeddings, trials, aggregate.
        stages.sort_by_key(|st| st.kind);
        JobView {
            id: job.id.clone(),
            name: job.name.clone(),
            output_uri: job.output_uri.clone(),
            outcome: job.visible_outcome(),
            total: job.shards.len(),
            committed: job.count(|p| *p == ShardPhase::Committed),
            running: job.count(|p| matches!(p, ShardPhase::Running { .. })),
            failures,
            stages,
            results: match &job.results {
                ResultsState::Published(r) => Some(r.clone()),
                _ => None,
            },
        }
    }
}
