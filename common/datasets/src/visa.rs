//! VisA's split file, `split_csv/1cls.csv`: header `object,split,label,image,mask`,
//! split `train`/`test`, label `normal`/`anomaly`, image and mask paths
//! relative to the dataset root (e.g. `candle/Data/Images/Normal/0836.JPG`),
//! mask empty for normal rows. Test rows are evaluated; train rows (all
//! normal) are the references of few-shot setups.

use super::csv::CsvTable;
use super::{DatasetError, ImageRecord};

/// Where the split file lives under a VisA root.
pub const SPLIT_CSV: &str = "split_csv/1cls.csv";
/// The split file's columns, in order.
pub const COLUMNS: [&str; 5] = ["object", "split", "label", "image", "mask"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisaSplit {
    Train,
    Test,
}

/// One row of the split file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisaRow {
    /// The CSV line that names the image.
    pub line: usize,
    pub split: VisaSplit,
    pub record: ImageRecord,
}

/// Parses the split file (`file` names it in errors).
pub fn read_split_csv(file: &str, bytes: &[u8]) -> Result<Vec<VisaRow>, DatasetError> {
    let table = CsvTable::parse(file, bytes)?;
    table.only_columns(&COLUMNS)?;
    let [object, split, label, image, mask] = COLUMNS.map(|c| table.column(c));
    let (object, split, label, image, mask) = (object?, split?, label?, image?, mask?);
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let field = |i: usize| row.fields[i].trim();
        let split_value = match field(split) {
            "train" => VisaSplit::Train,
            "test" => VisaSplit::Test,
            other => return Err(table.field_error(row, "split", format!("is {other:?}; expected train or test"))),
        };
        let label_value = match field(label) {
            "normal" => 0,
            "anomaly" => 1,
            other => return Err(table.field_error(row, "label", format!("is {other:?}; expected normal or anomaly"))),
        };
        let category = field(object).to_string();
        if category.is_empty() || category.contains('/') {
            return Err(table.field_error(row, "object", format!("is {category:?}; expected a category name")));
        }
        let path = field(image).to_string();
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|s| s == "..") {
            return Err(table.field_error(row, "image", format!("is {path:?}; expected a path relative to the dataset root")));
        }
        let mask_path = Some(field(mask).to_string()).filter(|m| !m.is_empty());
        rows.push(VisaRow {
            line: row.line,
            split: split_value,
            record: ImageRecord {
                path,
                category,
                label: label_value,
                defect: if label_value == 0 { "good" } else { "anomaly" }.to_string(),
                mask: mask_path,
            },
        });
    }
    Ok(rows)
}
