//! Why an aggregate could not be computed or published.

use rwclip_artifacts::{ArtifactError, StoreError};
use rwclip_plan::ShardId;
use rwclip_store::shard_store::ShardStoreError;

#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A trial the aggregate reads has no committed manifest.
    #[error("aggregate {aggregate}: trial {trial} has not committed (no {key})")]
    MissingTrial { aggregate: ShardId, trial: ShardId, key: String },
    /// The aggregate itself has not committed (publishing, reading results).
    #[error("aggregate {aggregate} has not committed (no {key})")]
    NotCommitted { aggregate: ShardId, key: String },
    /// A committed trial's manifest or parts do not read, or the commit failed.
    #[error(transparent)]
    Shard(#[from] ShardStoreError),
    #[error("aggregate {aggregate}: the trials hold no metric rows")]
    NoMetrics { aggregate: ShardId },
    #[error("summary {aggregate}: the score shards hold {found} rows, the input has {expected}")]
    RowCount { aggregate: ShardId, expected: u64, found: u64 },
    #[error("{what} does not read: {message}")]
    Corrupt { what: String, message: String },
    #[error("aggregate {aggregate}: cannot draw {figure}: {message}")]
    Plot { aggregate: ShardId, figure: String, message: String },
    #[error("cannot encode {what}: {source}")]
    Encode { what: String, source: ArtifactError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AggregateError {
    /// Store trouble (network, S3 restart) may pass; everything else is a
    /// property of the committed inputs and fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            AggregateError::Store(e) | AggregateError::Shard(ShardStoreError::Store(e)) => matches!(e, StoreError::Backend { .. }),
            AggregateError::Shard(ShardStoreError::PartNotStored { .. }) => true,
            _ => false,
        }
    }
}

impl From<rwclip_scoring::top_k::DepsError> for AggregateError {
    fn from(e: rwclip_scoring::top_k::DepsError) -> AggregateError {
        match e {
            rwclip_scoring::top_k::DepsError::Missing { reader, shard, key } => AggregateError::MissingTrial { aggregate: reader, trial: shard, key },
            rwclip_scoring::top_k::DepsError::Shard(e) => AggregateError::Shard(e),
        }
    }
}
