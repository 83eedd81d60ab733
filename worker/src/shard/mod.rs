//! Shard executors (issue 3): one function per [`ShardSpec`] kind, each
//! reading its inputs only through its deps' committed manifests, writing
//! parts under its attempt prefix and committing with a conditional put.

mod aggregate;
mod commit;
mod context;
mod embeddings;
mod error;
mod local;
mod trial;

pub use commit::committed;
pub use context::ExecContext;
pub use error::ShardError;
pub use local::{run_plan_locally, run_plan_locally_with, LocalRun, ShardDone};

use rwclip_common::plan::{attempt_prefix, AttemptId, Manifest, ShardSpec};

use crate::blocking_store::BlockingStore;

/// Executes one shard and commits it; when another attempt committed first,
/// returns that attempt's manifest (this attempt's parts are then garbage).
pub fn execute(
    spec: &ShardSpec,
    ctx: &mut ExecContext,
    store: &BlockingStore,
    attempt: &AttemptId,
    worker: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<Manifest, ShardError> {
    let id = spec.id();
    let prefix = attempt_prefix(&id, attempt);
    let parts = match spec {
        ShardSpec::TextEmbedding(s) => embeddings::text(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::ImageEmbedding(s) => embeddings::image(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::Trial(s) => trial::trial(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::Aggregate(s) => aggregate::aggregate(&id, s, store, &prefix)?,
    };
    commit::commit(store, &id, spec.kind(), attempt, worker, parts)
}
