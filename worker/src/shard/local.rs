//! Running a whole plan in this process, in topological order.

use rwclip_common::plan::{AttemptId, JobPlan, Manifest, ShardId, ShardSpec};

use super::commit::committed;
use super::context::ExecContext;
use super::error::ShardError;
use super::execute;
use crate::blocking_store::BlockingStore;

/// What a local run did.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRun {
    /// Shards executed by this run, in order.
    pub executed: Vec<ShardId>,
    /// Shards found already committed (by an earlier run or another job).
    pub reused: Vec<ShardId>,
    /// The aggregate shard's manifest.
    pub aggregate: Manifest,
}

/// Executes every shard of `plan` whose manifest is not committed yet.
/// The attempt id is fixed ("local"), so an interrupted run's uncommitted
/// parts are simply overwritten by the next one.
pub fn run_plan_locally(plan: &JobPlan, store: &BlockingStore, ctx: &mut ExecContext) -> Result<LocalRun, ShardError> {
    let attempt = AttemptId("local".to_string());
    let mut executed = Vec::new();
    let mut reused = Vec::new();
    let mut aggregate = None;
    for shard in &plan.shards {
        let manifest = match committed(store, &shard.id)? {
            Some(m) => {
                reused.push(shard.id.clone());
                m
            }
            None => {
                let spec = ShardSpec::from_json(&shard.spec_json)?;
                let m = execute(&spec, ctx, store, &attempt, "local", &|_, _| {})?;
                executed.push(shard.id.clone());
                m
            }
        };
        if shard.id == plan.aggregate {
            aggregate = Some(manifest);
        }
    }
    let aggregate = aggregate.ok_or_else(|| ShardError::BadInput {
        shard: plan.aggregate.clone(),
        problem: "the plan does not contain its aggregate shard".to_string(),
    })?;
    Ok(LocalRun { executed, reused, aggregate })
}
