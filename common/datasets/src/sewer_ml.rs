//! Sewer-ML's annotation files, `SewerML_Train.csv` and `SewerML_Val.csv`:
//! one row per image (`Filename`), the water level, one 0/1 column per
//! defect code, `ND` (no defect) and `Defect`, the any-defect flag that is
//! the label here. `SewerML_Test.csv` has only `Filename` (its labels are
//! held back) and cannot be evaluated. One category: `sewer`.

use super::csv::CsvTable;
use super::{DatasetError, ImageRecord};

/// The only category of Sewer-ML.
pub const CATEGORY: &str = "sewer";
/// Every column the annotation files have.
pub const COLUMNS: [&str; 22] = [
    "Filename", "WaterLevel", "VA", "RB", "OB", "PF", "DE", "FS", "IS", "RO", "IN", "AF", "BE", "FO", "GR", "PH", "PB", "OS", "OP",
    "OK", "ND", "Defect",
];

/// The annotation file of a split: `train` or `val` (the paper's test set).
pub fn split_csv(split: &str) -> Option<&'static str> {
    match split {
        "train" => Some("SewerML_Train.csv"),
        "val" => Some("SewerML_Val.csv"),
        _ => None,
    }
}

/// One annotated image: its file name (found anywhere under the images
/// folder) as `path`, and the line of the CSV that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SewerRow {
    pub line: usize,
    pub record: ImageRecord,
}

/// Parses an annotation file (`file` names it in errors).
pub fn read_annotations(file: &str, bytes: &[u8]) -> Result<Vec<SewerRow>, DatasetError> {
    let table = CsvTable::parse(file, bytes)?;
    table.only_columns(&COLUMNS)?;
    let filename = table.column("Filename")?;
    let defect = table.column("Defect")?;
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let name = row.fields[filename].trim();
        if name.is_empty() || name.contains('/') || name.contains('\\') {
            return Err(table.field_error(row, "Filename", format!("is {name:?}; expected a file name")));
        }
        let label = match row.fields[defect].trim() {
            "0" => 0,
            "1" => 1,
            other => return Err(table.field_error(row, "Defect", format!("is {other:?}; expected 0 or 1"))),
        };
        rows.push(SewerRow {
            line: row.line,
            record: ImageRecord {
                path: name.to_string(),
                category: CATEGORY.to_string(),
                label,
                defect: if label == 0 { "good" } else { "defect" }.to_string(),
                mask: None,
            },
        });
    }
    Ok(rows)
}
