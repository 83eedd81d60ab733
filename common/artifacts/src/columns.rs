//! Typed access to artifact columns: building Arrow arrays from row fields and
//! reading them back with errors that name the artifact and column.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, RecordBatch, StringArray,
    UInt64Array, UInt8Array,
};

use super::error::ArtifactError;
use super::schema::{embedding_item_field, ArtifactKind, ColumnType};

/// The column mapping of one row struct. Lives in a private module so that
/// only this crate's row structs can be artifacts (`ParquetRow` is sealed).
pub trait ColumnCodec: Sized {
    const KIND: ArtifactKind;

    /// The Arrow columns of `rows`, in [`ArtifactKind::columns`] order, and the
    /// embedding width (0 for kinds without an embedding column).
    fn to_columns(rows: &[Self]) -> Result<(Vec<ArrayRef>, usize), ArtifactError>;

    /// The rows of one record batch whose column names and types were checked.
    fn from_columns(columns: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError>;
}

pub fn u64_column<R>(rows: &[R], get: impl Fn(&R) -> u64) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(rows.iter().map(get)))
}

pub fn u8_column<R>(rows: &[R], get: impl Fn(&R) -> u8) -> ArrayRef {
    Arc::new(UInt8Array::from_iter_values(rows.iter().map(get)))
}

pub fn optional_u8_column<R>(rows: &[R], get: impl Fn(&R) -> Option<u8>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<UInt8Array>())
}

pub fn optional_u64_column<R>(rows: &[R], get: impl Fn(&R) -> Option<u64>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<UInt64Array>())
}

pub fn optional_f64_column<R>(rows: &[R], get: impl Fn(&R) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<Float64Array>())
}

pub fn optional_utf8_column<R>(rows: &[R], get: impl Fn(&R) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<StringArray>())
}

pub fn optional_binary_column<R>(rows: &[R], get: impl Fn(&R) -> Option<&[u8]>) -> ArrayRef {
    Arc::new(rows.iter().map(get).collect::<arrow_array::BinaryArray>())
}

pub fn f64_column<R>(rows: &[R], get: impl Fn(&R) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows.iter().map(get)))
}

pub fn utf8_column<R>(rows: &[R], get: impl Fn(&R) -> &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(get)))
}

/// A `FixedSizeList<Float32, D>` column and its `D`; every row must have the
/// width of row 0 (an empty artifact gets `D = 0`).
pub fn embedding_column<R>(
    kind: ArtifactKind,
    rows: &[R],
    get: impl Fn(&R) -> &[f32],
) -> Result<(ArrayRef, usize), ArtifactError> {
    let artifact = kind.name();
    let dim = rows.first().map_or(0, |r| get(r).len());
    let list_size =
        i32::try_from(dim).map_err(|_| ArtifactError::EmbeddingTooWide { artifact, dim })?;
    let mut flat = Vec::with_capacity(dim * rows.len());
    for (row, r) in rows.iter().enumerate() {
        let embedding = get(r);
        if embedding.len() != dim {
            return Err(ArtifactError::InconsistentEmbeddingDim {
                artifact,
                row,
                expected: dim,
                found: embedding.len(),
            });
        }
        flat.extend_from_slice(embedding);
    }
    let values = Arc::new(Float32Array::from(flat));
    let list =
        FixedSizeListArray::try_new(Arc::new(embedding_item_field()), list_size, values, None)
            .map_err(|source| ArtifactError::Arrow { artifact, source })?;
    Ok((Arc::new(list), dim))
}

/// A decoded record batch of a known artifact kind.
pub struct BatchColumns<'a> {
    kind: ArtifactKind,
    batch: &'a RecordBatch,
}

impl<'a> BatchColumns<'a> {
    pub fn new(kind: ArtifactKind, batch: &'a RecordBatch) -> BatchColumns<'a> {
        BatchColumns { kind, batch }
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn u64(&self, column: &'static str) -> Result<&'a UInt64Array, ArtifactError> {
        self.typed(column, ColumnType::U64)
    }

    pub fn f64(&self, column: &'static str) -> Result<&'a Float64Array, ArtifactError> {
        self.typed(column, ColumnType::F64)
    }

    pub fn utf8(&self, column: &'static str) -> Result<&'a StringArray, ArtifactError> {
        self.typed(column, ColumnType::Utf8)
    }

    /// A 0/1 label column; any other value is an error naming the row.
    pub fn label(&self, column: &'static str) -> Result<&'a UInt8Array, ArtifactError> {
        let labels: &UInt8Array = self.typed(column, ColumnType::U8)?;
        if let Some((row, value)) = labels.values().iter().enumerate().find(|(_, &v)| v > 1) {
            return Err(ArtifactError::InvalidLabel {
                artifact: self.kind.name(),
                column,
                row,
                value: *value,
            });
        }
        Ok(labels)
    }

    /// A 0/1 label column that may hold nulls (unlabelled rows).
    pub fn optional_label(&self, column: &'static str) -> Result<Vec<Option<u8>>, ArtifactError> {
        let labels: &UInt8Array = self.typed_nullable(column, ColumnType::OptionalLabel, true)?;
        let values: Vec<Option<u8>> = labels.iter().collect();
        if let Some((row, Some(value))) = values.iter().enumerate().find(|(_, v)| v.is_some_and(|v| v > 1)) {
            return Err(ArtifactError::InvalidLabel {
                artifact: self.kind.name(),
                column,
                row,
                value: *value,
            });
        }
        Ok(values)
    }

    /// A nullable u64 column; one that older versions of the artifact did
    /// not have reads as all nulls.
    pub fn optional_u64_if_present(&self, column: &'static str) -> Result<Vec<Option<u64>>, ArtifactError> {
        if self.batch.column_by_name(column).is_none() {
            return Ok(vec![None; self.num_rows()]);
        }
        let values: &UInt64Array = self.typed_nullable(column, ColumnType::OptionalU64, true)?;
        Ok(values.iter().collect())
    }

    /// A text column that older versions of the artifact did not have: its
    /// values, or `default` for every row.
    pub fn utf8_or(&self, column: &'static str, default: &str) -> Result<Vec<String>, ArtifactError> {
        if self.batch.column_by_name(column).is_none() {
            return Ok(vec![default.to_string(); self.num_rows()]);
        }
        Ok(self.utf8(column)?.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    }

    /// A nullable f64 column.
    pub fn optional_f64(&self, column: &'static str) -> Result<Vec<Option<f64>>, ArtifactError> {
        let values: &Float64Array = self.typed_nullable(column, ColumnType::OptionalF64, true)?;
        Ok(values.iter().collect())
    }

    /// A nullable f64 column that older versions of the artifact did not
    /// have: all nulls there.
    pub fn optional_f64_if_present(&self, column: &'static str) -> Result<Vec<Option<f64>>, ArtifactError> {
        if self.batch.column_by_name(column).is_none() {
            return Ok(vec![None; self.num_rows()]);
        }
        self.optional_f64(column)
    }

    /// A nullable binary column that older versions of the artifact did not
    /// have: all nulls there.
    pub fn optional_binary_if_present(&self, column: &'static str) -> Result<Vec<Option<Vec<u8>>>, ArtifactError> {
        if self.batch.column_by_name(column).is_none() {
            return Ok(vec![None; self.num_rows()]);
        }
        self.optional_binary(column)
    }

    /// A nullable binary column.
    pub fn optional_binary(&self, column: &'static str) -> Result<Vec<Option<Vec<u8>>>, ArtifactError> {
        let values: &arrow_array::BinaryArray = self.typed_nullable(column, ColumnType::OptionalBinary, true)?;
        Ok(values.iter().map(|v| v.map(<[u8]>::to_vec)).collect())
    }

    /// A nullable text column.
    pub fn optional_utf8(&self, column: &'static str) -> Result<Vec<Option<String>>, ArtifactError> {
        let values: &StringArray = self.typed_nullable(column, ColumnType::OptionalUtf8, true)?;
        Ok(values.iter().map(|v| v.map(str::to_string)).collect())
    }

    /// The embedding column as one `Vec<f32>` per row.
    pub fn embeddings(&self, column: &'static str) -> Result<Vec<Vec<f32>>, ArtifactError> {
        let artifact = self.kind.name();
        let list: &FixedSizeListArray = self.typed(column, ColumnType::Embedding)?;
        let values = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| ArtifactError::ColumnType {
                artifact,
                column,
                expected: "FixedSizeList<Float32, D>".to_string(),
                found: list.data_type().to_string(),
            })?;
        if let Some(row) = first_null(values) {
            // `row` indexes the flattened values; report the embedding row.
            let width = (list.value_length() as usize).max(1);
            return Err(ArtifactError::Null {
                artifact,
                column,
                row: row / width,
            });
        }
        let width = list.value_length() as usize;
        Ok((0..list.len())
            .map(|row| {
                let start = list.value_offset_at(row);
                values.values()[start..start + width].to_vec()
            })
            .collect())
    }

    /// Finds the column, checks its Arrow type and that it has no nulls.
    fn typed<A: Array + 'static>(
        &self,
        column: &'static str,
        expected: ColumnType,
    ) -> Result<&'a A, ArtifactError> {
        self.typed_nullable(column, expected, false)
    }

    /// [`Self::typed`], optionally letting nulls through.
    fn typed_nullable<A: Array + 'static>(
        &self,
        column: &'static str,
        expected: ColumnType,
        allow_nulls: bool,
    ) -> Result<&'a A, ArtifactError> {
        let artifact = self.kind.name();
        let array = self
            .batch
            .column_by_name(column)
            .ok_or(ArtifactError::MissingColumn { artifact, column })?;
        let type_matches = match (expected, array.data_type()) {
            // Any width is accepted here: the width is data, consistent by construction.
            (ColumnType::Embedding, arrow_schema::DataType::FixedSizeList(item, _)) => {
                item.data_type() == &arrow_schema::DataType::Float32
            }
            (other, found) => &other.data_type(0) == found,
        };
        let typed = array
            .as_any()
            .downcast_ref::<A>()
            .filter(|_| type_matches)
            .ok_or_else(|| ArtifactError::ColumnType {
                artifact,
                column,
                expected: expected_name(expected),
                found: array.data_type().to_string(),
            })?;
        if !allow_nulls {
            if let Some(row) = first_null(array.as_ref()) {
                return Err(ArtifactError::Null {
                    artifact,
                    column,
                    row,
                });
            }
        }
        Ok(typed)
    }
}

fn expected_name(column_type: ColumnType) -> String {
    match column_type {
        ColumnType::Embedding => "FixedSizeList<Float32, D>".to_string(),
        other => other.data_type(0).to_string(),
    }
}

fn first_null(array: &dyn Array) -> Option<usize> {
    array
        .logical_nulls()
        .and_then(|nulls| (0..array.len()).find(|&i| nulls.is_null(i)))
}
