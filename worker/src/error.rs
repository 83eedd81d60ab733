//! The `rwclip` binary's error: the engine's, plus talking to a
//! coordinator, running one, and jobs that did not succeed. The exit code of
//! each is decided in `crate::cli::exit` alone.

use rwclip_artifacts::{ArtifactError, StoreError};
use rwclip_datasets::DatasetError;
use rwclip_job::JobError;
use rwclip_metrics::MetricsError;
use rwclip_plan::PlanError;
use rwclip_job::prompts::PromptError;
use rwclip_artifacts::scores_table::ScoresTableError;
pub use rwclip_engine::error::EngineError;
use rwclip_engine::clip::WeightsError;
use rwclip_engine::fnn::FnnError;
use rwclip_inputs::preprocess::ImageLoadError;
use rwclip_inputs::tokenizer::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum RwclipError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Talking to the coordinator failed.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// `rwclip coordinator` failed to start or serve.
    #[error(transparent)]
    Coordinator(#[from] rwclip_coordinator::CoordinatorError),
    /// A submitted or locally run job did not succeed.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
}

pub type Result<T, E = RwclipError> = std::result::Result<T, E>;

/// The layers' errors reach the binary's error through the engine's, so
/// `?` works on them in CLI code as it does in the engine.
macro_rules! through_the_engine {
    ($($leaf:ty),* $(,)?) => {
        $(impl From<$leaf> for RwclipError {
            fn from(e: $leaf) -> Self {
                RwclipError::Engine(e.into())
            }
        })*
    };
}

through_the_engine!(
    JobError,
    PromptError,
    DatasetError,
    ImageLoadError,
    WeightsError,
    TokenizerError,
    MetricsError,
    FnnError,
    StoreError,
    ArtifactError,
    tch::TchError,
    ScoresTableError,
    rwclip_artifacts::maps_table::MapsTableError,
    PlanError,
);

/// A bad argument beyond what clap checks (exit code 2).
pub fn usage(message: impl Into<String>) -> RwclipError {
    RwclipError::Engine(EngineError::Usage(message.into()))
}
