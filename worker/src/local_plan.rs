//! Running a whole plan in this process, in topological order, without a
//! coordinator: the engine executes the model's shards, and the aggregates
//! (which a coordinator would run) are computed here with `rwclip-report`.
//! Tests and benchmarks use it to run a plan end to end in one process.

use std::time::Instant;

use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::shard::{committed, execute, ExecContext, ShardError};
use rwclip_plan::{AttemptId, JobPlan, ShardId, ShardSpec};
use rwclip_report::aggregate::{write_aggregate_parts, AggregateError};
use rwclip_report::score_summary::write_summary_parts;
use rwclip_store::shard_store::{self, attempt_prefix, Manifest, ShardStoreError};

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
                let m = execute_any(&spec, ctx, store, &attempt, "local")?;
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

/// Executes any shard of a plan and commits it: the model's shards on the
/// engine, as a worker does, and aggregates with `rwclip-report`, as the
/// coordinator does.
pub fn execute_any(spec: &ShardSpec, ctx: &mut ExecContext, store: &BlockingStore, attempt: &AttemptId, worker: &str) -> Result<Manifest, ShardError> {
    match spec {
        ShardSpec::Aggregate(_) | ShardSpec::ScoreSummary(_) => run_aggregate(spec, store, attempt, worker),
        _ => execute(spec, ctx, store, attempt, worker, &|_, _| {}),
    }
}

/// Computes an aggregate or a scoring job's summary and commits it.
fn run_aggregate(spec: &ShardSpec, store: &BlockingStore, attempt: &AttemptId, worker: &str) -> Result<Manifest, ShardError> {
    let id = spec.id();
    let prefix = attempt_prefix(&id, attempt);
    let parts = match spec {
        ShardSpec::Aggregate(s) => store.block_on(write_aggregate_parts(store.store(), &id, s, &prefix)),
        ShardSpec::ScoreSummary(s) => store.block_on(write_summary_parts(store.store(), &id, s, &prefix)),
        _ => unreachable!("only aggregates are run here"),
    }
    .map_err(|e| aggregate_error(&id, e))?;
    let spec_json = serde_json::to_value(spec).expect("shard specs are plain data and always serialise");
    store
        .block_on(shard_store::commit(store.store(), &id, spec.kind(), spec_json, attempt, worker, parts))
        .map_err(ShardError::store(&id))
}

/// Store trouble stays retryable; bad committed inputs are permanent.
fn aggregate_error(id: &ShardId, e: AggregateError) -> ShardError {
    let store = ShardError::store(id);
    match e {
        AggregateError::Store(s) => store(ShardStoreError::Store(s)),
        AggregateError::Shard(s) => store(s),
        AggregateError::MissingTrial { trial, .. } => store(ShardStoreError::MissingDependency { reader: id.clone(), dep: trial }),
        other => ShardError::BadInput { shard: id.clone(), problem: other.to_string() },
    }
}
