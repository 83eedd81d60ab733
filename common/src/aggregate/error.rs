//! Why an aggregate could not be computed or published.

use crate::artifacts::{ArtifactError, StoreError};
use crate::plan::ShardId;

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A trial the aggregate reads has no committed manifest.
    #[error("aggregate {aggregate}: trial {trial} has not committed (no {key})")]
    MissingTrial { aggregate: ShardId, trial: ShardId, key: String },
    #[error("shard {shard}: manifest {key} is unreadable: {message}")]
    Manifest { shard: ShardId, key: String, message: String },
    #[error("shard {shard}: its manifest {key} lists no part named {part}")]
    MissingPart { shard: ShardId, key: String, part: String },
    /// A part exists but does not decode: deterministic, retrying cannot help.
    #[error("part {uri} is corrupt: {source}")]
    CorruptPart { uri: String, source: ArtifactError },
    #[error("aggregate {aggregate}: the trials hold no metric rows")]
    NoMetrics { aggregate: ShardId },
    #[error("cannot encode {what}: {source}")]
    Encode { what: String, source: ArtifactError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AggregateError {
    /// Store trouble (network, S3 restart) may pass; everything else is a
    /// property of the committed inputs and fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AggregateError::Store(StoreError::Backend { .. }))
    }
}
