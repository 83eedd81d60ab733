//! Errors of encoding, decoding and storing artifacts.

use rwclip_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("building the {artifact} Arrow batch: {source}")]
    Arrow {
        artifact: &'static str,
        source: arrow_schema::ArrowError,
    },
    #[error("writing {artifact} Parquet: {source}")]
    Encode {
        artifact: &'static str,
        source: parquet::errors::ParquetError,
    },
    #[error("reading {artifact} Parquet: {source}")]
    Decode {
        artifact: &'static str,
        source: parquet::errors::ParquetError,
    },
    #[error("expected a {expected} artifact but the file's schema metadata says {found:?}")]
    WrongKind {
        expected: &'static str,
        found: Option<String>,
    },
    #[error(
        "{artifact} artifact has format version {found:?}; this build reads version {supported}"
    )]
    UnsupportedVersion {
        artifact: &'static str,
        found: Option<String>,
        supported: &'static str,
    },
    #[error("{artifact} artifact has no column {column:?}")]
    MissingColumn {
        artifact: &'static str,
        column: &'static str,
    },
    #[error("{artifact} column {column:?} has type {found}, expected {expected}")]
    ColumnType {
        artifact: &'static str,
        column: &'static str,
        expected: String,
        found: String,
    },
    #[error(
        "{artifact} column {column:?} has a null at row {row}; artifact columns are never null"
    )]
    Null {
        artifact: &'static str,
        column: &'static str,
        row: usize,
    },
    #[error("{artifact} column {column:?} row {row}: label {value} is neither 0 (normal) nor 1 (anomalous)")]
    InvalidLabel {
        artifact: &'static str,
        column: &'static str,
        row: usize,
        value: u8,
    },
    #[error(
        "{artifact} embedding of row {row} has {found} values but row 0 has {expected}; \
         all embeddings in one artifact must have the same width"
    )]
    InconsistentEmbeddingDim {
        artifact: &'static str,
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("{artifact} column {column:?} row {row}: {problem}")]
    BadCell { artifact: &'static str, column: &'static str, row: usize, problem: String },
    #[error("{artifact} embedding width {dim} is larger than Arrow's list size limit")]
    EmbeddingTooWide { artifact: &'static str, dim: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{uri}: {source}")]
    At {
        uri: String,
        source: Box<ArtifactError>,
    },
}

impl ArtifactError {
    /// Adds the object's URI to an encoding/decoding error.
    pub(crate) fn at(self, uri: String) -> ArtifactError {
        ArtifactError::At {
            uri,
            source: Box::new(self),
        }
    }
}
