//! Why an archive's input could not be cut into shards; each names the file or prefix.

use rwclip_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{uri}: {source}")]
    Store { uri: String, source: StoreError },
    #[error("{file}: the header has no `uri` column (columns: {columns})")]
    NoUriColumn { file: String, columns: String },
    #[error("{file}: empty (no header line)")]
    Empty { file: String },
    #[error("{file}, line {line}: a quoted field is never closed")]
    OpenQuote { file: String, line: u64 },
    #[error("{file}: {problem}")]
    Parquet { file: String, problem: String },
    #[error("{file}, line {line}: {problem}")]
    Manifest { file: String, line: u64, problem: String },
    #[error("{input} holds more than {max} files whose names say neither image nor video (each is read to learn if it is a video): move them out, or list the footage in a manifest")]
    TooManyUnknown { input: String, max: u64 },
    #[error("{input} has no images or videos")]
    NoImages { input: String },
    #[error("{input} would plan more than {max} shards of {rows_per_shard} rows; raise `rows_per_shard`")]
    TooManyShards { input: String, max: u64, rows_per_shard: u64 },
}

pub(crate) fn store_error(store: &Store, key: &str) -> impl FnOnce(StoreError) -> InputError {
    let uri = store.full_uri(key);
    move |source| InputError::Store { uri, source }
}
