//! A job as a DAG of shards (issue 3): the unit the coordinator schedules and
//! a worker executes.
//!
//! - [`types`]: ids, the scheduler's view of a shard, commit manifests and
//!   their keys in the store. The coordinator needs nothing else: a shard's
//!   executor input travels as opaque JSON (`spec_json`).
//!
//! Content addressing: a shard's id is a hash of everything its output
//! depends on, so a resubmitted job (or tonight's regeneration) finds
//! committed manifests and recomputes nothing.

pub mod types;

pub use types::{
    attempt_prefix, manifest_key, AttemptId, JobId, Manifest, PlannedShard, ShardId, ShardKind,
    MANIFEST_VERSION,
};
