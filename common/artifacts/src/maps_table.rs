//! Reads anomaly maps and their ground-truth masks from a Parquet file, for
//! `rwclip metrics --maps`: columns `category` (utf8), `height`, `width`
//! (any integer type), `map` (list<float32>, row-major) and `mask`
//! (list<uint8>, 0/1). One category is read at a time, so memory holds one
//! category's maps whatever the file's size.

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use rwclip_metrics::pixel::MaskedMap;
use crate::scores_table::arrow_cast_i64;

/// One row: a map and its mask.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRow {
    pub height: usize,
    pub width: usize,
    pub map: Vec<f32>,
    pub mask: Vec<u8>,
}

impl MapRow {
    pub fn masked_map(&self) -> MaskedMap<'_> {
        MaskedMap { height: self.height, width: self.width, map: &self.map, mask: &self.mask }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MapsTableError {
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: String, message: String },
    #[error("{file}: no column `{column}` (columns: {available})")]
    MissingColumn { file: String, column: &'static str, available: String },
    #[error("{file}: column `{column}` has type {found}, expected {expected}")]
    WrongType { file: String, column: &'static str, found: DataType, expected: &'static str },
    #[error("{file}: row {row}, column `{column}`: {problem}")]
    BadValue { file: String, column: &'static str, row: usize, problem: String },
}

const COLUMNS: [&str; 5] = ["category", "height", "width", "map", "mask"];

/// The distinct categories of the file, sorted.
pub fn read_map_categories(bytes: &Bytes, file: &str) -> Result<Vec<String>, MapsTableError> {
    let mut categories = BTreeSet::new();
    for_each_batch(bytes, file, &["category"], |batch, _| {
        categories.extend(utf8_column(batch, file, "category")?.into_iter().map(|(_, c)| c));
        Ok(())
    })?;
    Ok(categories.into_iter().collect())
}

/// Every row of `category` with both a map and a mask, in file order.
pub fn read_category_maps(bytes: &Bytes, file: &str, category: &str) -> Result<Vec<MapRow>, MapsTableError> {
    let mut rows = Vec::new();
    for_each_batch(bytes, file, &COLUMNS, |batch, row0| {
        let categories = utf8_column(batch, file, "category")?;
        let heights = int_column(batch, file, "height")?;
        let widths = int_column(batch, file, "width")?;
        let maps = column(batch, file, "map")?;
        let masks = column(batch, file, "mask")?;
        let maps = list_of(&maps, file, "map", &DataType::Float32, "list<float32>")?;
        let masks = list_of(&masks, file, "mask", &DataType::UInt8, "list<uint8>")?;
        for (i, name) in categories {
            if name != category {
                continue;
            }
            let row = row0 + i;
            let bad = |column, problem: String| MapsTableError::BadValue { file: file.to_string(), column, row, problem };
            let dimension = |v: Option<i64>, column| match v {
                Some(d) if d > 0 => Ok(d as usize),
                other => Err(bad(column, format!("must be a positive integer, found {other:?}"))),
            };
            let (height, width) = (dimension(heights[i], "height")?, dimension(widths[i], "width")?);
            // An image that could not be mapped, or one without ground
            // truth (Sewer-ML has none), has nothing to measure.
            if maps.is_null(i) || masks.is_null(i) {
                continue;
            }
            let map: Vec<f32> = maps.value(i).as_primitive::<Float32Type>().values().to_vec();
            let mask: Vec<u8> = masks.value(i).as_primitive::<UInt8Type>().values().to_vec();
            for (column, len) in [("map", map.len()), ("mask", mask.len())] {
                if len != height * width {
                    return Err(bad(column, format!("{len} values for a {height}×{width} image ({} expected)", height * width)));
                }
            }
            if let Some((pixel, v)) = map.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(bad("map", format!("value {v} at pixel {pixel} is not finite")));
            }
            if let Some((pixel, v)) = mask.iter().enumerate().find(|(_, &v)| v > 1) {
                return Err(bad("mask", format!("value {v} at pixel {pixel} is neither 0 nor 1")));
            }
            rows.push(MapRow { height, width, map, mask });
        }
        Ok(())
    })?;
    Ok(rows)
}

fn for_each_batch(
    bytes: &Bytes,
    file: &str,
    columns: &[&'static str],
    mut each: impl FnMut(&RecordBatch, usize) -> Result<(), MapsTableError>,
) -> Result<(), MapsTableError> {
    let parquet_err = |e: &dyn std::fmt::Display| MapsTableError::Parquet { file: file.to_string(), message: e.to_string() };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(|e| parquet_err(&e))?;
    let schema = builder.schema().clone();
    let mut indices = Vec::new();
    for &name in columns {
        let (index, _) = schema.column_with_name(name).ok_or_else(|| MapsTableError::MissingColumn {
            file: file.to_string(),
            column: name,
            available: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
        })?;
        indices.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    // Small batches: a map row is a whole image.
    let reader = builder.with_projection(mask).with_batch_size(64).build().map_err(|e| parquet_err(&e))?;
    let mut row0 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(&e))?;
        each(&batch, row0)?;
        row0 += batch.num_rows();
    }
    Ok(())
}

fn column(batch: &RecordBatch, file: &str, name: &'static str) -> Result<ArrayRef, MapsTableError> {
    batch.column_by_name(name).cloned().ok_or_else(|| MapsTableError::MissingColumn {
        file: file.to_string(),
        column: name,
        available: batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
    })
}

fn utf8_column(batch: &RecordBatch, file: &str, name: &'static str) -> Result<Vec<(usize, String)>, MapsTableError> {
    let a = column(batch, file, name)?;
    let values: Vec<Option<&str>> = match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().collect(),
        DataType::Utf8View => a.as_string_view().iter().collect(),
        other => return Err(MapsTableError::WrongType { file: file.to_string(), column: name, found: other.clone(), expected: "utf8" }),
    };
    Ok(values.into_iter().enumerate().map(|(i, v)| (i, v.unwrap_or("").to_string())).collect())
}

fn int_column(batch: &RecordBatch, file: &str, name: &'static str) -> Result<Vec<Option<i64>>, MapsTableError> {
    let a = column(batch, file, name)?;
    if !a.data_type().is_integer() {
        return Err(MapsTableError::WrongType { file: file.to_string(), column: name, found: a.data_type().clone(), expected: "an integer type" });
    }
    Ok(arrow_cast_i64(&a))
}

fn list_of<'a>(
    a: &'a ArrayRef,
    file: &str,
    name: &'static str,
    item: &DataType,
    expected: &'static str,
) -> Result<&'a arrow_array::ListArray, MapsTableError> {
    match a.data_type() {
        DataType::List(field) if field.data_type() == item => Ok(a.as_list::<i32>()),
        other => Err(MapsTableError::WrongType { file: file.to_string(), column: name, found: other.clone(), expected }),
    }
}

/// One image's output of `rwclip maps`: its score and its map at the model's
/// input resolution, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct MapOutputRow {
    pub uri: String,
    pub score: Option<f64>,
    pub height: u32,
    pub width: u32,
    /// `height × width` values, row-major; `None` with `error`.
    pub map: Option<Vec<f32>>,
    pub error: Option<String>,
    /// A labelled dataset's category and ground-truth mask (0/1, `height ×
    /// width`, empty for a normal image; `None` where the dataset has no
    /// masks): with them the file is `rwclip metrics --maps`' input.
    pub truth: Option<GroundTruth>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub category: String,
    pub mask: Option<Vec<u8>>,
}

/// The rows as one Parquet file: `uri`, `score` (float64), `height`,
/// `width` (int32), `map` (list<float32>) and `error`, nullable where an
/// image could not be mapped; with ground truth, `category` and `mask`.
pub fn encode_map_rows(rows: &[MapOutputRow]) -> Result<Bytes, parquet::errors::ParquetError> {
    let labelled = rows.iter().any(|r| r.truth.is_some());
    let mut writer = MapRowsWriter::new(Vec::new(), labelled)?;
    writer.write(rows)?;
    Ok(Bytes::from(writer.finish()?))
}

/// The maps table written as maps are made: each [`MapRowsWriter::write`]
/// is one row group, encoded and handed to `out` at once, so memory holds
/// one batch of full-resolution maps, never the table.
pub struct MapRowsWriter<W: std::io::Write + Send> {
    writer: parquet::arrow::ArrowWriter<W>,
    schema: std::sync::Arc<arrow_schema::Schema>,
    labelled: bool,
}

impl<W: std::io::Write + Send> MapRowsWriter<W> {
    /// `labelled`: the rows carry ground truth (`category`, `mask`).
    pub fn new(out: W, labelled: bool) -> Result<Self, parquet::errors::ParquetError> {
        let schema = std::sync::Arc::new(map_rows_schema(labelled));
        let writer = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None)?;
        Ok(MapRowsWriter { writer, schema, labelled })
    }

    /// Writes `rows` as one row group.
    pub fn write(&mut self, rows: &[MapOutputRow]) -> Result<(), parquet::errors::ParquetError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = map_rows_batch(rows, self.schema.clone(), self.labelled)?;
        self.writer.write(&batch)?;
        self.writer.flush()
    }

    /// Ends the file and gives back what it was written to.
    pub fn finish(self) -> Result<W, parquet::errors::ParquetError> {
        self.writer.into_inner()
    }
}

fn list_field(item: DataType) -> DataType {
    DataType::List(std::sync::Arc::new(arrow_schema::Field::new("item", item, false)))
}

fn map_rows_schema(labelled: bool) -> arrow_schema::Schema {
    use arrow_schema::Field;
    let mut fields = vec![
        Field::new("uri", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
        Field::new("height", DataType::Int32, false),
        Field::new("width", DataType::Int32, false),
        Field::new("map", list_field(DataType::Float32), true),
        Field::new("error", DataType::Utf8, true),
    ];
    if labelled {
        fields.push(Field::new("category", DataType::Utf8, true));
        fields.push(Field::new("mask", list_field(DataType::UInt8), true));
    }
    arrow_schema::Schema::new(fields)
}

fn map_rows_batch(rows: &[MapOutputRow], schema: std::sync::Arc<arrow_schema::Schema>, labelled: bool) -> Result<RecordBatch, parquet::errors::ParquetError> {
    use std::sync::Arc;

    use arrow_array::builder::{Float32Builder, ListBuilder, UInt8Builder};
    use arrow_array::{Float64Array, Int32Array, StringArray};
    use arrow_schema::Field;

    let mut maps = ListBuilder::new(Float32Builder::new()).with_field(Field::new("item", DataType::Float32, false));
    let mut masks = ListBuilder::new(UInt8Builder::new()).with_field(Field::new("item", DataType::UInt8, false));
    for r in rows {
        match r.truth.as_ref().and_then(|t| t.mask.as_ref()) {
            Some(m) => {
                masks.values().append_slice(m);
                masks.append(true);
            }
            None => masks.append(false),
        }
        match &r.map {
            Some(m) => {
                maps.values().append_slice(m);
                maps.append(true);
            }
            None => maps.append(false),
        }
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.uri.as_str()))),
        Arc::new(rows.iter().map(|r| r.score).collect::<Float64Array>()),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.height as i32))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.width as i32))),
        Arc::new(maps.finish()),
        Arc::new(rows.iter().map(|r| r.error.as_deref()).collect::<StringArray>()),
    ];
    if labelled {
        columns.push(Arc::new(rows.iter().map(|r| r.truth.as_ref().map(|t| t.category.as_str())).collect::<StringArray>()));
        columns.push(Arc::new(masks.finish()));
    }
    RecordBatch::try_new(schema, columns).map_err(|e| parquet::errors::ParquetError::General(e.to_string()))
}
