//! A manifest dataset: a CSV or Parquet file listing images by `uri`
//! (absolute — `s3://…` or `/…` — or relative to the manifest's folder), with
//! optional `label` (0/1 or normal/anomaly), `category` and `split`. Parquet
//! manifests are read as a table of strings and integers, so any writer's
//! file works (pandas, DuckDB, pyarrow).

use arrow_array::{Array, ArrayRef, Int16Array, Int32Array, Int64Array, Int8Array, LargeStringArray, StringArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::csv::CsvTable;
use super::{DatasetError, ImageRecord};

/// The columns a manifest may have.
pub const COLUMNS: [&str; 4] = ["uri", "label", "category", "split"];

/// One listed image and where it was named (a CSV line or a Parquet row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// 1-based CSV line, or 1-based Parquet row.
    pub line: usize,
    pub uri: String,
    pub label: Option<u8>,
    pub category: Option<String>,
    pub split: Option<String>,
}

fn parse_label(value: &str) -> Option<u8> {
    match value.trim() {
        "0" | "normal" => Some(0),
        "1" | "anomaly" => Some(1),
        _ => None,
    }
}

/// Parses a manifest; `.parquet` by name, CSV otherwise.
pub fn read_manifest(file: &str, bytes: &[u8]) -> Result<Vec<ManifestRow>, DatasetError> {
    if file.to_ascii_lowercase().ends_with(".parquet") {
        read_parquet_manifest(file, bytes)
    } else {
        read_csv_manifest(file, bytes)
    }
}

fn read_csv_manifest(file: &str, bytes: &[u8]) -> Result<Vec<ManifestRow>, DatasetError> {
    let table = CsvTable::parse(file, bytes)?;
    table.only_columns(&COLUMNS)?;
    let uri = table.column("uri")?;
    let optional = |name: &str| table.header.iter().position(|h| h == name);
    let (label, category, split) = (optional("label"), optional("category"), optional("split"));
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let value = row.fields[uri].trim().to_string();
        if value.is_empty() {
            return Err(table.field_error(row, "uri", "is empty"));
        }
        let label = match label.map(|i| row.fields[i].trim()) {
            None | Some("") => None,
            Some(text) => Some(parse_label(text).ok_or_else(|| table.field_error(row, "label", format!("is {text:?}; expected 0, 1, normal or anomaly")))?),
        };
        let text = |i: Option<usize>| i.map(|i| row.fields[i].trim().to_string()).filter(|v| !v.is_empty());
        rows.push(ManifestRow { line: row.line, uri: value, label, category: text(category), split: text(split) });
    }
    Ok(rows)
}

fn read_parquet_manifest(file: &str, bytes: &[u8]) -> Result<Vec<ManifestRow>, DatasetError> {
    let bad = |line: usize, problem: String| DatasetError::Csv { file: file.to_string(), line, problem };
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))
        .and_then(|b| b.build())
        .map_err(|e| bad(0, format!("is not a readable Parquet file: {e}")))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(rows.len() + 1, format!("cannot be decoded: {e}")))?;
        if let Some(unknown) = batch.schema().fields().iter().map(|f| f.name()).find(|n| !COLUMNS.contains(&n.as_str())) {
            return Err(DatasetError::CsvField { file: file.to_string(), line: 0, column: unknown.clone(), problem: format!("is not a known column (known: {})", COLUMNS.join(", ")) });
        }
        let column = |name: &str| batch.column_by_name(name).cloned();
        let uri = column("uri").ok_or_else(|| DatasetError::CsvMissingColumn {
            file: file.to_string(),
            column: "uri".to_string(),
            present: batch.schema().fields().iter().map(|f| f.name().clone()).collect(),
        })?;
        for i in 0..batch.num_rows() {
            let line = rows.len() + 1;
            let field_error = |column: &str, problem: String| DatasetError::CsvField { file: file.to_string(), line, column: column.to_string(), problem };
            let uri = cell(&uri, i).filter(|u| !u.is_empty()).ok_or_else(|| field_error("uri", "is empty or null".to_string()))?;
            let label = match column("label").and_then(|c| cell(&c, i)) {
                None => None,
                Some(text) => Some(parse_label(&text).ok_or_else(|| field_error("label", format!("is {text:?}; expected 0, 1, normal or anomaly")))?),
            };
            let category = column("category").and_then(|c| cell(&c, i)).filter(|v| !v.is_empty());
            let split = column("split").and_then(|c| cell(&c, i)).filter(|v| !v.is_empty());
            rows.push(ManifestRow { line, uri, label, category, split });
        }
    }
    Ok(rows)
}

/// A string or integer cell as text; `None` for a null or another type.
pub fn cell(array: &ArrayRef, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    let any = array.as_any();
    macro_rules! int {
        ($($t:ty),*) => {$(if let Some(a) = any.downcast_ref::<$t>() { return Some(a.value(i).to_string()); })*};
    }
    int!(Int8Array, Int16Array, Int32Array, Int64Array, UInt8Array, UInt16Array, UInt32Array, UInt64Array);
    if let Some(a) = any.downcast_ref::<arrow_array::Float64Array>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = any.downcast_ref::<arrow_array::Float32Array>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Some(a.value(i).to_string());
    }
    any.downcast_ref::<LargeStringArray>().map(|a| a.value(i).to_string())
}

/// The manifest's rows of `split` (all rows when it has no split column)
/// as records: every one must be labelled (a sweep evaluates labelled
/// images); the category defaults to `default_category`.
pub fn records(file: &str, rows: Vec<ManifestRow>, split: &str, default_category: &str) -> Result<Vec<ImageRecord>, DatasetError> {
    let has_split = rows.iter().any(|r| r.split.is_some());
    let mut records = Vec::new();
    for row in rows {
        if has_split && row.split.as_deref() != Some(split) {
            continue;
        }
        let label = row.label.ok_or_else(|| DatasetError::CsvField {
            file: file.to_string(),
            line: row.line,
            column: "label".to_string(),
            problem: "is missing; evaluating a dataset needs labelled images".to_string(),
        })?;
        records.push(ImageRecord {
            path: row.uri,
            category: row.category.unwrap_or_else(|| default_category.to_string()),
            label,
            defect: if label == 0 { "good" } else { "anomaly" }.to_string(),
            mask: None,
        });
    }
    Ok(records)
}
