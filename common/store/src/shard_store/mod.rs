//! How a shard's outputs live in the store, for every reader and writer:
//! the worker's executors and the coordinator's aggregates use exactly this.
//!
//! - [`keys`]: where a shard's manifest and an attempt's parts are.
//! - [`part`]: the name of every part a shard kind writes.
//! - [`manifest`]: the commit record (what was computed, from what, by whom).
//! - [`read`]: committed manifests, one or all at once (by listing), and a
//!   dependency's parts through its manifest.
//! - [`commit`]: verify the parts, then the conditional put; first commit wins.
//!
//! Readers trust only parts listed in a committed manifest, so a crashed or
//! losing attempt's leftovers are never read.

pub mod commit;
pub mod error;
pub mod keys;
pub mod manifest;
pub mod part;
pub mod read;

pub use commit::commit;
pub use error::ShardStoreError;
pub use keys::{attempt_prefix, manifest_key, shard_of_manifest_key, SHARDS_PREFIX};
pub use manifest::{Manifest, MANIFEST_VERSION};
pub use read::{committed, committed_shards, part_key};
