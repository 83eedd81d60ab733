//! Parquet encoding and decoding in memory (no async Parquet: artifacts are
//! small, and whole-object get/put is what the object store does best).

use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::columns::{BatchColumns, ColumnCodec};
use super::error::ArtifactError;
use super::schema::{ARTIFACT_KEY, FORMAT_VERSION_KEY};

pub fn encode<R: ColumnCodec>(rows: &[R]) -> Result<Bytes, ArtifactError> {
    let artifact = R::KIND.name();
    let (columns, embedding_dim) = R::to_columns(rows)?;
    let schema = Arc::new(R::KIND.schema(embedding_dim));
    // try_new checks every column against the schema.rs definition (names by
    // position, types, nullability), so a row mapping out of step with the
    // documented schema fails here rather than producing a mislabeled file.
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|source| ArtifactError::Arrow { artifact, source })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let encode_err = |source| ArtifactError::Encode { artifact, source };
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(props)).map_err(encode_err)?;
    writer.write(&batch).map_err(encode_err)?;
    let buffer = writer.into_inner().map_err(encode_err)?;
    Ok(Bytes::from(buffer))
}

pub fn decode<R: ColumnCodec>(bytes: &Bytes) -> Result<Vec<R>, ArtifactError> {
    let artifact = R::KIND.name();
    let decode_err = |source| ArtifactError::Decode { artifact, source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(decode_err)?;

    let metadata = builder.schema().metadata.clone();
    let found_kind = metadata.get(ARTIFACT_KEY);
    if found_kind.map(String::as_str) != Some(artifact) {
        return Err(ArtifactError::WrongKind {
            expected: artifact,
            found: found_kind.cloned(),
        });
    }
    let found_version = metadata.get(FORMAT_VERSION_KEY);
    if !found_version.is_some_and(|v| R::KIND.readable_versions().contains(&v.as_str())) {
        return Err(ArtifactError::UnsupportedVersion {
            artifact,
            found: found_version.cloned(),
            supported: R::KIND.format_version(),
        });
    }

    let reader = builder.build().map_err(decode_err)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| ArtifactError::Arrow { artifact, source })?;
        rows.extend(R::from_columns(&BatchColumns::new(R::KIND, &batch))?);
    }
    Ok(rows)
}
