//! The aggregate shard: mean ± std over a job's trials and the result
//! tables. The computation lives in `rwclip_common::aggregate` (the
//! coordinator runs it without libtorch); this drives it on the worker's
//! blocking store for the in-process plan runner.

use rwclip_common::aggregate::{write_aggregate_parts, AggregateError};
use rwclip_common::plan::{AggregateSpec, ScoreSummarySpec, ShardId};
use rwclip_common::shard_store::ShardStoreError;

use super::error::ShardError;
use crate::blocking_store::BlockingStore;

pub fn aggregate(id: &ShardId, s: &AggregateSpec, store: &BlockingStore, prefix: &str) -> Result<Vec<String>, ShardError> {
    store
        .block_on(write_aggregate_parts(store.store(), id, s, prefix))
        .map_err(|e| shard_error(id, e))
}

/// A scoring job's summary, likewise computed by `rwclip_common::scoring`.
pub fn score_summary(id: &ShardId, s: &ScoreSummarySpec, store: &BlockingStore, prefix: &str) -> Result<Vec<String>, ShardError> {
    store
        .block_on(rwclip_common::scoring::summary::write_summary_parts(store.store(), id, s, prefix))
        .map_err(|e| shard_error(id, e))
}

/// Store trouble stays retryable; bad committed inputs are permanent.
pub(super) fn shard_error(id: &ShardId, e: AggregateError) -> ShardError {
    let store = ShardError::store(id);
    match e {
        AggregateError::Store(s) => store(ShardStoreError::Store(s)),
        AggregateError::Shard(s) => store(s),
        AggregateError::MissingTrial { trial, .. } => store(ShardStoreError::MissingDependency { reader: id.clone(), dep: trial }),
        other => ShardError::BadInput { shard: id.clone(), problem: other.to_string() },
    }
}
