//! The engine's working error: it gathers the layers' own error enums (each
//! names the file, key or tensor at fault) and says which failure class a
//! shard that failed with it reports. Exit codes are the `rwclip` binary's
//! business, decided there alone.

use rwclip_artifacts::{ArtifactError, StoreError};
use rwclip_datasets::DatasetError;
use rwclip_job::JobError;
use rwclip_metrics::MetricsError;
use rwclip_inputs::preprocess::ImageLoadError;
use rwclip_job::prompts::PromptError;
use rwclip_inputs::tokenizer::TokenizerError;
use rwclip_core::failure::FailureClass;

use crate::clip::WeightsError;
use crate::fnn::FnnError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad arguments beyond what a parser checks (an unknown preset, a zero batch size).
    #[error("{0}")]
    Usage(String),
    /// A resource that may come back (the store past its retries, no
    /// process to spare for a decoder): the shard is tried again.
    #[error("{0}")]
    Unavailable(String),
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
    ScoresTable(#[from] rwclip_artifacts::scores_table::ScoresTableError),
    #[error(transparent)]
    MapsTable(#[from] rwclip_artifacts::maps_table::MapsTableError),
    #[error(transparent)]
    PixelMetrics(#[from] rwclip_metrics::pixel::PixelMetricsError),
    #[error(transparent)]
    Plan(#[from] rwclip_plan::PlanError),
    /// Another error, in the context of one dataset category.
    #[error("category {category:?}: {source}")]
    InCategory {
        category: String,
        source: Box<EngineError>,
    },
}

impl EngineError {
    /// What a shard that failed with this error tells the coordinator:
    /// store trouble may pass; wrong input data or parameters fail the same
    /// way everywhere; libtorch and tokenizer failures are internal.
    pub fn failure_class(&self) -> FailureClass {
        use EngineError::*;
        match self {
            Store(e) if e.is_transient() => FailureClass::Retryable,
            Unavailable(_) => FailureClass::Retryable,
            InCategory { source, .. } => source.failure_class(),
            Usage(_) | Job(_) | Prompt(_) | Dataset(_) | Image(_) | Weights(_) | Metrics(_) | Fnn(_) | Store(_) | Artifact(_)
            | Io { .. } | ScoresTable(_) | MapsTable(_) | PixelMetrics(_) | Plan(_) => FailureClass::BadInput,
            Tokenizer(_) | Torch(_) => FailureClass::Internal,
        }
    }

    pub fn in_category(self, category: &str) -> Self {
        EngineError::InCategory {
            category: category.to_string(),
            source: Box::new(self),
        }
    }

    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.to_string(),
            source,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl From<crate::image_reader::ImageReadError> for EngineError {
    /// A read that failed for the store's sake keeps its store class; a
    /// missing image is the input's fault.
    fn from(e: crate::image_reader::ImageReadError) -> EngineError {
        match e {
            crate::image_reader::ImageReadError::Store { source, .. } => EngineError::Store(source),
            missing => EngineError::Usage(missing.to_string()),
        }
    }
}
