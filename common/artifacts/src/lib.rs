//! Artifacts: Parquet files in an object store (local directory or S3).
//!
//! Holds every Parquet schema rwclip writes, the row structs and their
//! column codecs, the score and map tables the `metrics` and `maps` commands
//! read, and the typed reading of a committed shard's parts. Does not
//! belong here: how bytes reach the store (`rwclip-store`), what is
//! computed from the rows (`rwclip-metrics`, `rwclip-report`).
//!
//! [`schema`] documents every artifact and is the source of truth for its
//! columns; the row structs here are their in-memory form. Parquet is encoded
//! and decoded in memory (the files are small next to the model), and
//! [`Store`] moves the bytes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rwclip_artifacts::ArtifactError> {
//! use rwclip_artifacts::{read_parquet, write_parquet, PromptRow, Store};
//! let store = Store::open("runs/demo")?;
//! let rows = vec![PromptRow { pair_id: 0, seed: 0, label: 0, text: "x a y photo z of w a v".into() }];
//! write_parquet(&store, "prompts/seed-0.parquet", &rows).await?;
//! let back: Vec<PromptRow> = read_parquet(&store, "prompts/seed-0.parquet").await?;
//! # assert_eq!(back, rows); Ok(()) }
//! ```

mod columns;
mod error;
pub mod labels;
pub mod maps_table;
mod parquet_io;
mod parts;
mod rows;
pub mod schema;
pub mod scores_table;

use bytes::Bytes;

pub use error::ArtifactError;
pub use rows::{FrameAt, ImageEmbeddingRow, ImageScoreRow, MetricRow, PixelMetricStats, PixelMetricValues, PromptRow, QuantisedMap, ScoreRow, SummaryRow, TextEmbeddingRow, VideoMoment, VideoRow, WindowEmbeddingRow};
pub use schema::ArtifactKind;
pub use parts::{read_dependency_part, read_part};
/// The store artifacts are read from and written to, named here too so a
/// caller of [`write_parquet`] needs one import.
pub use rwclip_store::{Store, StoreError, StoreSettings};

/// A row type stored as one artifact kind. Implemented for the row structs
/// of this module only (the column mapping lives next to each struct).
pub trait ParquetRow: columns::ColumnCodec {
    /// The artifact kind these rows are stored as.
    fn kind() -> ArtifactKind {
        <Self as columns::ColumnCodec>::KIND
    }

    /// Encodes the rows as one Parquet file (snappy-compressed) in memory.
    fn to_parquet(rows: &[Self]) -> Result<Bytes, ArtifactError> {
        parquet_io::encode(rows)
    }

    /// Decodes a Parquet file of this artifact kind; errors name the column at fault.
    fn from_parquet(bytes: &Bytes) -> Result<Vec<Self>, ArtifactError> {
        parquet_io::decode(bytes)
    }
}

impl<T: columns::ColumnCodec> ParquetRow for T {}

/// Free-function form of [`ParquetRow::to_parquet`].
pub fn to_parquet<R: ParquetRow>(rows: &[R]) -> Result<Bytes, ArtifactError> {
    R::to_parquet(rows)
}

/// Free-function form of [`ParquetRow::from_parquet`].
pub fn from_parquet<R: ParquetRow>(bytes: &Bytes) -> Result<Vec<R>, ArtifactError> {
    R::from_parquet(bytes)
}

/// Encodes `rows` and stores them at `key` (overwriting).
pub async fn write_parquet<R: ParquetRow>(
    store: &Store,
    key: &str,
    rows: &[R],
) -> Result<(), ArtifactError> {
    let bytes = R::to_parquet(rows).map_err(|e| e.at(store.full_uri(key)))?;
    store.put(key, bytes).await?;
    Ok(())
}

/// Reads and decodes the artifact at `key`; decoding errors name its URI.
pub async fn read_parquet<R: ParquetRow>(
    store: &Store,
    key: &str,
) -> Result<Vec<R>, ArtifactError> {
    let bytes = store.get(key).await?;
    R::from_parquet(&bytes).map_err(|e| e.at(store.full_uri(key)))
}
