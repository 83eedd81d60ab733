//! The one error type of the `rwclip` binary and its exit codes.
//!
//! Library modules keep their own error enums (each names the file, key or
//! tensor at fault); this enum only classifies them, so the exit code of a
//! failure is decided in one place.

use rwclip_common::artifacts::{ArtifactError, StoreError};
use rwclip_common::dataset::DatasetError;
use rwclip_common::job::JobError;
use rwclip_common::metrics::MetricsError;
use rwclip_inputs::preprocess::ImageLoadError;
use rwclip_common::prompts::PromptError;
use rwclip_inputs::tokenizer::TokenizerError;

use rwclip_common::plan::PlanError;

use rwclip_common::failure::FailureClass;

use crate::clip::WeightsError;
use crate::fnn::FnnError;

#[derive(Debug, thiserror::Error)]
pub enum RwclipError {
    /// Bad command-line arguments beyond what clap checks.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Image(#[from] ImageLoadError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Fnn(#[from] FnnError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    ScoresTable(#[from] rwclip_common::scores_table::ScoresTableError),
    #[error(transparent)]
    Plan(#[from] rwclip_common::plan::PlanError),
    /// Talking to the coordinator failed.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// `rwclip coordinator` failed to start or serve.
    #[error(transparent)]
    Coordinator(#[from] rwclip_coordinator::CoordinatorError),
    /// A submitted or locally run job did not succeed.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// Another error, in the context of one dataset category.
    #[error("category {category:?}: {source}")]
    InCategory {
        category: String,
        source: Box<RwclipError>,
    },
}

/// Exit codes, documented in the README.
pub mod exit_code {
    /// Unexpected internal failure (libtorch error, bug).
    pub const INTERNAL: i32 = 1;
    /// The command line or the job file is wrong.
    pub const USAGE: i32 = 2;
    /// Input data is wrong: images, datasets, weights, checkpoints, Parquet.
    pub const BAD_INPUT: i32 = 3;
    /// The artifact store could not be read or written.
    pub const STORE: i32 = 4;
}

impl RwclipError {
    pub fn exit_code(&self) -> i32 {
        use RwclipError::*;
        match self {
            Usage(_) | Job(_) | Prompt(_) => exit_code::USAGE,
            Dataset(_) | Image(_) | Weights(_) | Metrics(_) | Fnn(_) | Artifact(_) | Io { .. } => {
                exit_code::BAD_INPUT
            }
            ScoresTable(_) => exit_code::BAD_INPUT,
            InCategory { source, .. } => source.exit_code(),
            Plan(e) => match e {
                PlanError::Preset { .. } | PlanError::Options { .. } => exit_code::USAGE,
                PlanError::Dataset { .. } | PlanError::NoImages { .. } => exit_code::BAD_INPUT,
            },
            Store(_) => exit_code::STORE,
            Tokenizer(_) | Torch(_) => exit_code::INTERNAL,
            Remote(e) => remote_exit_code(e),
            // The same codes as the `rwclip-coordinator` binary.
            Coordinator(e) => e.exit_code(),
            Client(e) => e.exit_code(),
        }
    }

    /// What a shard that failed with this error tells the coordinator:
    /// store trouble may pass; wrong input data or parameters fail the same
    /// way everywhere; libtorch and tokenizer failures are internal.
    pub fn failure_class(&self) -> FailureClass {
        use RwclipError::*;
        match self {
            Store(e) if e.is_transient() => FailureClass::Retryable,
            InCategory { source, .. } => source.failure_class(),
            Usage(_) | Job(_) | Prompt(_) | Dataset(_) | Image(_) | Weights(_) | Metrics(_) | Fnn(_) | Store(_) | Artifact(_)
            | Io { .. } | ScoresTable(_) | Plan(_) => FailureClass::BadInput,
            Tokenizer(_) | Torch(_) | Remote(_) | Coordinator(_) | Client(_) => FailureClass::Internal,
        }
    }

    pub fn in_category(self, category: &str) -> Self {
        RwclipError::InCategory {
            category: category.to_string(),
            source: Box::new(self),
        }
    }

    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        RwclipError::Io {
            path: path.to_string(),
            source,
        }
    }
}

pub type Result<T, E = RwclipError> = std::result::Result<T, E>;

/// A job the coordinator refused (bad job file, bad token) is the user's to
/// fix; an unreachable coordinator is not.
fn remote_exit_code(e: &crate::remote::RemoteError) -> i32 {
    if e.is_usage() {
        exit_code::USAGE
    } else {
        exit_code::INTERNAL
    }
}
