//! What can go wrong reading or committing a shard's outputs.

use crate::StoreError;
use rwclip_core::ShardId;

#[derive(Debug, thiserror::Error)]
pub enum ShardStoreError {
    /// `reader` was leased as ready but `dep` has no committed manifest (its
    /// outputs were lost, or a planner bug).
    #[error("shard {reader}: dependency {dep} has no committed manifest")]
    MissingDependency { reader: ShardId, dep: ShardId },
    #[error("shard {shard}: committed manifest {uri} is unreadable: {message}")]
    UnreadableManifest { shard: ShardId, uri: String, message: String },
    #[error("shard {shard}: its manifest {uri} lists no part named {part}")]
    MissingPart { shard: ShardId, uri: String, part: String },
    /// A part exists but does not decode: deterministic, retrying cannot help.
    #[error("part {uri} is corrupt: {source}")]
    CorruptPart { uri: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// A part written by this attempt is not in the store (a store that lost
    /// data): the manifest is not committed and a retry writes it again.
    #[error("shard {shard}: part {uri} is not in the store; not committing")]
    PartNotStored { shard: ShardId, uri: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ShardStoreError {
    /// Store trouble and lost parts may pass; a committed input that does
    /// not read fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            ShardStoreError::MissingDependency { .. } | ShardStoreError::PartNotStored { .. } => true,
            ShardStoreError::Store(e) => e.is_transient(),
            ShardStoreError::UnreadableManifest { .. } | ShardStoreError::MissingPart { .. } | ShardStoreError::CorruptPart { .. } => false,
        }
    }
}
