//! Why a shard failed, and whether trying again can help.

use rwclip_common::artifacts::StoreError;
use rwclip_common::plan::ShardId;

use crate::error::RwclipError;

#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("shard spec is not a valid ShardSpec: {0}")]
    Spec(#[from] serde_json::Error),
    #[error("shard {shard}: dependency {dep} has no committed manifest")]
    MissingDep { shard: ShardId, dep: ShardId },
    #[error("shard {shard}: committed manifest {key} is unreadable: {message}")]
    Manifest { shard: ShardId, key: String, message: String },
    #[error("shard {shard}: {problem}")]
    BadInput { shard: ShardId, problem: String },
    #[error("shard {shard}: {source}")]
    Run { shard: ShardId, source: RwclipError },
}

impl ShardError {
    pub(crate) fn run(shard: &ShardId) -> impl FnOnce(RwclipError) -> ShardError + '_ {
        move |source| ShardError::Run {
            shard: shard.clone(),
            source,
        }
    }

    /// The one place that decides retry policy. Store I/O and a dependency
    /// not committed yet can succeed later; a corrupt image, bad weights, a
    /// bad spec or a training failure gives the same error on every worker.
    pub fn is_retryable(&self) -> bool {
        match self {
            ShardError::MissingDep { .. } => true,
            ShardError::Run { source, .. } => match source {
                RwclipError::Store(e) => store_error_is_transient(e),
                RwclipError::InCategory { source, .. } => matches!(**source, RwclipError::Store(_)),
                _ => false,
            },
            ShardError::Spec(_) | ShardError::Manifest { .. } | ShardError::BadInput { .. } => false,
        }
    }
}

/// A malformed URI or key stays malformed; everything else the store says
/// (network, throttling, a part not visible yet) may pass.
fn store_error_is_transient(e: &StoreError) -> bool {
    !matches!(
        e,
        StoreError::UnsupportedUri { .. }
            | StoreError::InvalidUri { .. }
            | StoreError::InvalidKey { .. }
            | StoreError::OptionsForLocalStore { .. }
    )
}
