//! A few columns of a Parquet file on a store, read a row group at a time
//! by ranged reads of just their column chunks: the planner learns which
//! rows of a manifest are videos without holding the manifest.

use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::{Buf, Bytes};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

use rwclip_store::{Store, StoreError};

/// The column chunks of one row group, at their offsets in the file.
struct FetchedChunks {
    file_len: u64,
    chunks: Vec<(u64, Bytes)>,
}

impl FetchedChunks {
    fn slice(&self, start: u64, length: Option<usize>) -> Result<Bytes, ParquetError> {
        for (at, bytes) in &self.chunks {
            let end = at + bytes.len() as u64;
            if (*at..end).contains(&start) {
                let from = (start - at) as usize;
                let to = length.map_or(bytes.len(), |l| from + l);
                if to <= bytes.len() {
                    return Ok(bytes.slice(from..to));
                }
            }
        }
        Err(ParquetError::General(format!("bytes {start}+{length:?} were not fetched")))
    }
}

impl Length for FetchedChunks {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for FetchedChunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, Some(length))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Parquet(String),
}

/// Calls `on_batch` with the leaf columns `columns` of every row, in row
/// order, one row group in memory at a time.
pub async fn scan_columns(store: &Store, file: &str, file_len: u64, metadata: Arc<ParquetMetaData>, columns: &[usize], mut on_batch: impl FnMut(&RecordBatch) -> Result<(), String>) -> Result<(), ScanError> {
    let bad = |e: ParquetError| ScanError::Parquet(e.to_string());
    let reader_metadata = ArrowReaderMetadata::try_new(metadata.clone(), ArrowReaderOptions::new()).map_err(bad)?;
    for group in 0..metadata.num_row_groups() {
        let mut chunks = Vec::with_capacity(columns.len());
        for &c in columns {
            let (start, len) = metadata.row_group(group).column(c).byte_range();
            chunks.push((start, store.get_range(file, start..start + len).await?));
        }
        let fetched = FetchedChunks { file_len, chunks };
        let mask = ProjectionMask::leaves(metadata.file_metadata().schema_descr(), columns.iter().copied());
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(fetched, reader_metadata.clone()).with_row_groups(vec![group]).with_projection(mask).build().map_err(bad)?;
        for batch in reader {
            on_batch(&batch.map_err(|e| ScanError::Parquet(e.to_string()))?).map_err(ScanError::Parquet)?;
        }
    }
    Ok(())
}
