//! Image datasets as lists of [`ImageRecord`]s, read through the store so a
//! local directory and an `s3://` prefix are the same code: readers for the
//! on-disk layouts ([`mvtec`]) and for the tables VisA ([`visa`]) and
//! Sewer-ML ([`sewer_ml`]) ship (strict [`csv`]), manifests of image URIs
//! ([`manifest`]), every layout listed by [`source`], a job's datasets
//! listed at once and the few-shot reference draw ([`listed`]).
//!
//! Does not belong here: decoding images (`rwclip-inputs`), the job file's
//! dataset keys (`rwclip-job`, which names the layouts in `DatasetKind`),
//! cutting listings into shards (`rwclip-plan`).

pub mod csv;
pub mod listed;
pub mod manifest;
pub mod mvtec;
pub mod sewer_ml;
pub mod source;
pub mod visa;

pub use listed::{draw_references, list_datasets, list_datasets_blocking, ListError, ListedDataset};

use std::path::{Path, PathBuf};

/// One image of a data set, as the pipeline and the score tables see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// Relative to the data set root, `/`-separated on every platform.
    pub path: String,
    pub category: String,
    /// 0 normal, 1 anomaly.
    pub label: u8,
    /// Defect type directory; `"good"` for normal images.
    pub defect: String,
    /// Ground-truth mask, relative to the root like `path`; `None` for normal images.
    pub mask: Option<String>,
}

/// Why a data set could not be read or written; each variant names the path
/// or category at fault.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("dataset root {} does not exist or is not a directory", .root.display())]
    MissingRoot { root: PathBuf },
    #[error("no category directories (with a test/ or train/ folder) under {}", .root.display())]
    NoCategories { root: PathBuf },
    #[error("category '{category}' not found under {}; categories present: {}", .root.display(), .present.join(", "))]
    UnknownCategory { category: String, root: PathBuf, present: Vec<String> },
    #[error("category '{category}' has no images in {}", .dir.display())]
    EmptyCategory { category: String, dir: PathBuf },
    #[error("file name {} is not valid UTF-8", .path.display())]
    NonUtf8Name { path: PathBuf },
    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode image {}: {source}", .path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("invalid synthetic data set spec: {reason}")]
    InvalidSpec { reason: String },
    #[error("{file}, line {line}: {problem}")]
    Csv { file: String, line: usize, problem: String },
    #[error("{file}, line {line}, column {column}: {problem}")]
    CsvField { file: String, line: usize, column: String, problem: String },
    #[error("{file} has no column {column:?} (columns: {})", .present.join(", "))]
    CsvMissingColumn { file: String, column: String, present: Vec<String> },
    #[error("{uri} not found")]
    MissingFile { uri: String },
    #[error("listing dataset {root}: {message}")]
    Store { root: String, message: String },
    #[error("{kind} has no split {split:?} (known: {known})")]
    UnknownSplit { kind: &'static str, split: String, known: &'static str },
    #[error("image file name {name} is found twice: {first} and {second}")]
    DuplicateImage { name: String, first: String, second: String },
}

impl DatasetError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
        move |source| DatasetError::Io { path: path.to_path_buf(), source }
    }
}

pub use rwclip_core::media::{is_image_file, is_scored_file, is_video_file};

/// Entries of `dir` as (UTF-8 name, is_dir), sorted by name so every listing
/// is deterministic whatever order the file system returns.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, bool)>, DatasetError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DatasetError::io(dir))? {
        let entry = entry.map_err(DatasetError::io(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| DatasetError::NonUtf8Name { path: path.clone() })?;
        let is_dir = path.is_dir();
        entries.push((name, is_dir));
    }
    entries.sort();
    Ok(entries)
}

/// Sorted image file names directly inside `dir` (none if `dir` is absent).
fn image_files(dir: &Path) -> Result<Vec<String>, DatasetError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|(name, is_dir)| !is_dir && is_image_file(name))
        .map(|(name, _)| name)
        .collect())
}
