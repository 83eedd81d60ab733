//! Shard executors: one function per [`ShardSpec`] kind, each reading its
//! inputs only through its deps' committed manifests and writing parts under
//! its attempt prefix; [`execute`] then commits them through
//! [`rwclip_store::shard_store`], the same protocol the coordinator's
//! aggregates use.

mod contact_sheet;
mod context;
mod embeddings;
mod error;
mod batch_scorer;
mod score;
mod score_video;
mod trial;
mod trial_maps;
mod windows;

pub use context::{weights_digest_of, ExecContext};
pub use error::ShardError;

use rwclip_plan::{AttemptId, ShardId, ShardSpec};
use rwclip_store::shard_store::{self, attempt_prefix, Manifest};

use crate::blocking_store::BlockingStore;

/// The committed manifest of `shard`, `None` when it has not committed.
pub fn committed(store: &BlockingStore, shard: &ShardId) -> Result<Option<Manifest>, ShardError> {
    store.block_on(shard_store::committed(store.store(), shard)).map_err(ShardError::store(shard))
}

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
    crate::pipeline::use_default_threads();
    let parts = match spec {
        ShardSpec::TextEmbedding(s) => embeddings::text(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::ImageEmbedding(s) => embeddings::image(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::WindowEmbedding(s) => windows::windows(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::Trial(s) => trial::trial(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::Score(s) => score::score(&id, s, ctx, store, &prefix, progress)?,
        ShardSpec::ContactSheet(s) => contact_sheet::contact_sheet(&id, s, store, &prefix, progress)?,
        // Aggregates need no model: the coordinator runs them (and local
        // mode's in-process runner, with `rwclip-report`), never a worker.
        ShardSpec::Aggregate(_) | ShardSpec::ScoreSummary(_) => {
            return Err(ShardError::BadInput { shard: id, problem: "an aggregate is run by the coordinator, not by a worker's engine".to_string() })
        }
    };
    let spec_json = serde_json::to_value(spec).expect("shard specs are plain data and always serialise");
    store
        .block_on(shard_store::commit(store.store(), &id, spec.kind(), spec_json, attempt, worker, parts))
        .map_err(ShardError::store(&id))
}

/// Rows of part `name` of `dep`, which `reader` depends on.
fn read_dependency_part<R: rwclip_artifacts::ParquetRow>(
    store: &BlockingStore,
    reader: &ShardId,
    dep: &ShardId,
    name: &str,
) -> Result<Vec<R>, ShardError> {
    store
        .block_on(rwclip_artifacts::read_dependency_part(store.store(), reader, dep, name))
        .map_err(ShardError::store(reader))
}
