//! rwclip's bottom layer, free of any one role: shard and job ids, the
//! content hash they are made of, how a failed shard is classified, where a
//! path-like value points, what a file name says it holds, and times as
//! people read them.
//!
//! Small on purpose: a type enters only when two crates above need it and
//! neither is below the other. Nothing here does I/O, links an async
//! runtime or knows the job file, Parquet or the store.

pub mod failure;
pub mod hash;
pub mod ids;
pub mod location;
pub mod media;
pub mod time;

pub use failure::{FailureClass, ShardFailure};
pub use ids::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
pub use location::{resolve_path, split_file_uri, Location};
