//! Running a whole plan in this process, in topological order.

use std::time::Instant;

use rwclip_common::plan::{AttemptId, JobPlan, ShardId, ShardSpec};
use rwclip_common::shard_store::Manifest;

use super::context::ExecContext;
use super::error::ShardError;
use super::{committed, execute};
use crate::blocking_store::BlockingStore;

/// What a local run did.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRun {
    /// Shards executed by this run, in order.
    pub executed: Vec<ShardId>,
    /// Shards found already committed (by an earlier run or another job).
    pub reused: Vec<ShardId>,
    /// The aggregate shard's manifest.
    pub aggregate: Manifest,
}

/// One finished shard of a local run, for progress reports.
#[derive(Debug, Clone, Copy)]
pub struct ShardDone<'a> {
    /// 1-based position in the plan.
    pub index: usize,
    pub total: usize,
    pub shard: &'a ShardId,
    /// False when an earlier commit was reused.
    pub executed: bool,
    pub seconds: f64,
}

/// Executes every shard of `plan` whose manifest is not committed yet.
/// The attempt id is fixed ("local"), so an interrupted run's uncommitted
/// parts are simply overwritten by the next one.
pub fn run_plan_locally(plan: &JobPlan, store: &BlockingStore, ctx: &mut ExecContext) -> Result<PlanRun, ShardError> {
    run_plan_locally_with(plan, store, ctx, &|_| {})
}

/// [`run_plan_locally`], calling `on_shard` after each shard.
pub fn run_plan_locally_with(
    plan: &JobPlan,
    store: &BlockingStore,
    ctx: &mut ExecContext,
    on_shard: &dyn Fn(ShardDone),
) -> Result<PlanRun, ShardError> {
    let attempt = AttemptId("local".to_string());
    let mut executed = Vec::new();
    let mut reused = Vec::new();
    let mut aggregate = None;
    for (i, shard) in plan.shards.iter().enumerate() {
        let t0 = Instant::now();
        let (manifest, ran) = match committed(store, &shard.id)? {
            Some(m) => {
                reused.push(shard.id.clone());
                (m, false)
            }
            None => {
                let spec = ShardSpec::from_json(&shard.spec_json)?;
                let m = execute(&spec, ctx, store, &attempt, "local", &|_, _| {})?;
                executed.push(shard.id.clone());
                (m, true)
            }
        };
        on_shard(ShardDone {
            index: i + 1,
            total: plan.shards.len(),
            shard: &shard.id,
            executed: ran,
            seconds: t0.elapsed().as_secs_f64(),
        });
        if shard.id == plan.aggregate {
            aggregate = Some(manifest);
        }
    }
    let aggregate = aggregate.ok_or_else(|| ShardError::BadInput {
        shard: plan.aggregate.clone(),
        problem: "the plan does not contain its aggregate shard".to_string(),
    })?;
    Ok(PlanRun { executed, reused, aggregate })
}
