//! Reads `label` / `score` / optional `category` columns from any Parquet
//! file, for `rwclip metrics`: users bring score files from other tools, so
//! any integer label type and any float score type are accepted.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One row per scored image.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledScores {
    pub labels: Vec<u8>,
    pub scores: Vec<f64>,
    /// `None` when the file has no `category` column.
    pub categories: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoresTableError {
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: String, message: String },
    #[error("{file}: no column `{column}` (columns: {available})")]
    MissingColumn {
        file: String,
        column: String,
        available: String,
    },
    #[error("{file}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        file: String,
        column: String,
        found: DataType,
        expected: &'static str,
    },
    #[error("{file}: column `{column}` row {row}: {problem}")]
    BadValue {
        file: String,
        column: String,
        row: usize,
        problem: String,
    },
}

/// Reads the columns `label` (0/1, any integer type), `score_column` (any
/// float type) and, when present, `category` (utf8).
pub fn read_labelled_scores(bytes: Bytes, file: &str, score_column: &str) -> Result<LabelledScores, ScoresTableError> {
    let parquet_err = |e: &dyn std::fmt::Display| ScoresTableError::Parquet {
        file: file.to_string(),
        message: e.to_string(),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| parquet_err(&e))?
        .build()
        .map_err(|e| parquet_err(&e))?;
    let mut out = LabelledScores {
        labels: Vec::new(),
        scores: Vec::new(),
        categories: None,
    };
    let mut row0 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(&e))?;
        let label = column(&batch, file, "label")?;
        let score = column(&batch, file, score_column)?;
        append_labels(&label, file, row0, &mut out.labels)?;
        append_scores(&score, file, score_column, row0, &mut out.scores)?;
        if batch.schema().column_with_name("category").is_some() {
            let c = column(&batch, file, "category")?;
            let c = arrow_cast_utf8(&c, file)?;
            out.categories.get_or_insert_with(Vec::new).extend(c);
        }
        row0 += batch.num_rows();
    }
    Ok(out)
}

fn column(batch: &RecordBatch, file: &str, name: &str) -> Result<ArrayRef, ScoresTableError> {
    batch.column_by_name(name).cloned().ok_or_else(|| ScoresTableError::MissingColumn {
        file: file.to_string(),
        column: name.to_string(),
        available: batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn append_labels(a: &ArrayRef, file: &str, row0: usize, out: &mut Vec<u8>) -> Result<(), ScoresTableError> {
    if !a.data_type().is_integer() {
        return Err(ScoresTableError::WrongType {
            file: file.to_string(),
            column: "label".into(),
            found: a.data_type().clone(),
            expected: "an integer type",
        });
    }
    let as_i64 = arrow_cast_i64(a);
    for (i, v) in as_i64.into_iter().enumerate() {
        match v {
            Some(0) => out.push(0),
            Some(1) => out.push(1),
            other => {
                return Err(ScoresTableError::BadValue {
                    file: file.to_string(),
                    column: "label".into(),
                    row: row0 + i,
                    problem: format!("label must be 0 (normal) or 1 (anomaly), found {other:?}"),
                })
            }
        }
    }
    Ok(())
}

fn append_scores(a: &ArrayRef, file: &str, name: &str, row0: usize, out: &mut Vec<f64>) -> Result<(), ScoresTableError> {
    let values: Vec<Option<f64>> = match a.data_type() {
        DataType::Float64 => a.as_primitive::<Float64Type>().iter().collect(),
        DataType::Float32 => a.as_primitive::<Float32Type>().iter().map(|v| v.map(f64::from)).collect(),
        other => {
            return Err(ScoresTableError::WrongType {
                file: file.to_string(),
                column: name.to_string(),
                found: other.clone(),
                expected: "float32 or float64",
            })
        }
    };
    for (i, v) in values.into_iter().enumerate() {
        match v {
            Some(x) if x.is_finite() => out.push(x),
            other => {
                return Err(ScoresTableError::BadValue {
                    file: file.to_string(),
                    column: name.to_string(),
                    row: row0 + i,
                    problem: format!("score must be a finite number, found {other:?}"),
                })
            }
        }
    }
    Ok(())
}

pub(crate) fn arrow_cast_i64(a: &ArrayRef) -> Vec<Option<i64>> {
    use arrow_array::types::*;
    macro_rules! collect {
        ($t:ty) => {
            a.as_primitive::<$t>().iter().map(|v| v.and_then(|x| i64::try_from(x).ok())).collect()
        };
    }
    match a.data_type() {
        DataType::Int8 => collect!(Int8Type),
        DataType::Int16 => collect!(Int16Type),
        DataType::Int32 => collect!(Int32Type),
        DataType::Int64 => collect!(Int64Type),
        DataType::UInt8 => collect!(UInt8Type),
        DataType::UInt16 => collect!(UInt16Type),
        DataType::UInt32 => collect!(UInt32Type),
        DataType::UInt64 => collect!(UInt64Type),
        _ => vec![None; a.len()],
    }
}

fn arrow_cast_utf8(a: &ArrayRef, file: &str) -> Result<Vec<String>, ScoresTableError> {
    match a.data_type() {
        DataType::Utf8 => Ok(a.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_string()).collect()),
        DataType::LargeUtf8 => Ok(a.as_string::<i64>().iter().map(|v| v.unwrap_or("").to_string()).collect()),
        DataType::Utf8View => Ok(a.as_string_view().iter().map(|v| v.unwrap_or("").to_string()).collect()),
        other => Err(ScoresTableError::WrongType {
            file: file.to_string(),
            column: "category".into(),
            found: other.clone(),
            expected: "utf8",
        }),
    }
}
