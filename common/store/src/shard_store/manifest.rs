//! The commit record of a shard.

use serde::{Deserialize, Serialize};

use rwclip_core::{AttemptId, ShardId, ShardKind};

/// Format version of [`Manifest`] documents. Version 1 had no `spec`;
/// such manifests still read (with a null spec).
pub const MANIFEST_VERSION: u32 = 2;

/// Written with a conditional put at [`super::manifest_key`]: the first
/// commit wins and later ones are discarded. Readers trust only parts listed
/// in a committed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub shard: ShardId,
    pub kind: ShardKind,
    pub attempt: AttemptId,
    /// The worker that produced the parts (for reports).
    pub worker: String,
    /// Output objects, keys relative to the store root, all under
    /// [`super::attempt_prefix`] of this attempt.
    pub parts: Vec<String>,
    /// What the parts were computed from: the shard's spec as leased (its
    /// hash is the shard id), so an artifact traces back without the plan.
    #[serde(default)]
    pub spec: serde_json::Value,
}

impl Manifest {
    /// The name of each part (its last key segment), in manifest order.
    pub fn part_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(|p| p.rsplit('/').next().unwrap_or(p))
    }
}
