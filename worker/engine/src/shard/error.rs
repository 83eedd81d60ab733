//! Why a shard failed, and — in one place — what class of failure that is.

use rwclip_core::failure::{FailureClass, ShardFailure};
use rwclip_plan::ShardId;
use rwclip_store::shard_store::ShardStoreError;

use crate::error::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard spec is not a valid ShardSpec: {0}")]
    Spec(#[from] serde_json::Error),
    /// Reading a dependency's committed parts or committing this shard.
    #[error("shard {shard}: {source}")]
    Store { shard: ShardId, source: ShardStoreError },
    #[error("shard {shard}: {problem}")]
    BadInput { shard: ShardId, problem: String },
    #[error("shard {shard}: {source}")]
    Run { shard: ShardId, source: EngineError },
}

impl ShardError {
    pub(crate) fn run(shard: &ShardId) -> impl Fn(EngineError) -> ShardError + '_ {
        move |source| ShardError::Run { shard: shard.clone(), source }
    }

    pub fn store(shard: &ShardId) -> impl FnOnce(ShardStoreError) -> ShardError + '_ {
        move |source| ShardError::Store { shard: shard.clone(), source }
    }

    /// The failure class: store I/O can succeed later; a dependency without
    /// a manifest is checked by the coordinator; a corrupt image, bad
    /// weights, bad parameters or a committed input that does not read fail
    /// the same way on every worker; libtorch failures and bad specs are
    /// internal.
    pub fn class(&self) -> FailureClass {
        match self {
            ShardError::Store { source: ShardStoreError::MissingDependency { .. }, .. } => FailureClass::LostDependency,
            ShardError::Store { source, .. } if source.is_transient() => FailureClass::Retryable,
            ShardError::Store { .. } | ShardError::BadInput { .. } => FailureClass::BadInput,
            ShardError::Spec(_) => FailureClass::Internal,
            ShardError::Run { source, .. } => source.failure_class(),
        }
    }
}

impl From<&ShardError> for ShardFailure {
    fn from(e: &ShardError) -> ShardFailure {
        let missing_dependencies = match e {
            ShardError::Store { source: ShardStoreError::MissingDependency { dep, .. }, .. } => vec![dep.clone()],
            _ => Vec::new(),
        };
        ShardFailure { class: e.class(), reason: e.to_string(), missing_dependencies }
    }
}
