//! MVTec-AD layout: `<cat>/train/good/*`, `<cat>/test/<defect>/*`, masks at
//! `<cat>/ground_truth/<defect>/<stem>_mask.png`. Images may be PNG, JPEG or
//! BMP (MVTec itself is PNG; the synthetic sets mix in JPEG).

use std::path::Path;

use super::{image_files, sorted_entries, DatasetError, ImageRecord};

const GOOD: &str = "good";

/// Category directories under `root` (those holding `test/` or `train/`), sorted.
pub fn categories(root: &Path) -> Result<Vec<String>, DatasetError> {
    if !root.is_dir() {
        return Err(DatasetError::MissingRoot { root: root.to_path_buf() });
    }
    let found: Vec<String> = sorted_entries(root)?
        .into_iter()
        .filter(|(name, is_dir)| {
            *is_dir && (root.join(name).join("test").is_dir() || root.join(name).join("train").is_dir())
        })
        .map(|(name, _)| name)
        .collect();
    if found.is_empty() {
        return Err(DatasetError::NoCategories { root: root.to_path_buf() });
    }
    Ok(found)
}

/// Every test image of the requested categories (all when `None`), sorted by
/// category, defect type and file name. Anomalies carry their mask path when
/// the mask file exists.
pub fn read_test(root: &Path, categories: Option<&[String]>) -> Result<Vec<ImageRecord>, DatasetError> {
    let mut selected = checked_categories(root, categories)?;
    selected.sort();
    selected.dedup();
    let mut records = Vec::new();
    for category in &selected {
        let test_dir = root.join(category).join("test");
        let start = records.len();
        if test_dir.is_dir() {
            for (defect, is_dir) in sorted_entries(&test_dir)? {
                if is_dir {
                    read_defect_dir(root, category, &defect, &mut records)?;
                }
            }
        }
        if records.len() == start {
            return Err(DatasetError::EmptyCategory { category: category.clone(), dir: test_dir });
        }
    }
    Ok(records)
}

/// The normal training images of one category, sorted by file name.
pub fn read_train_good(root: &Path, category: &str) -> Result<Vec<ImageRecord>, DatasetError> {
    let requested = [category.to_string()];
    checked_categories(root, Some(&requested))?;
    let dir = root.join(category).join("train").join(GOOD);
    let records: Vec<ImageRecord> = image_files(&dir)?
        .into_iter()
        .map(|file| ImageRecord {
            path: format!("{category}/train/{GOOD}/{file}"),
            category: category.to_string(),
            label: 0,
            defect: GOOD.to_string(),
            mask: None,
        })
        .collect();
    if records.is_empty() {
        return Err(DatasetError::EmptyCategory { category: category.to_string(), dir });
    }
    Ok(records)
}

/// The requested categories, each checked to exist; all present when `None`.
fn checked_categories(root: &Path, requested: Option<&[String]>) -> Result<Vec<String>, DatasetError> {
    let present = categories(root)?;
    let Some(requested) = requested else {
        return Ok(present);
    };
    for category in requested {
        if !present.contains(category) {
            return Err(DatasetError::UnknownCategory {
                category: category.clone(),
                root: root.to_path_buf(),
                present,
            });
        }
    }
    Ok(requested.to_vec())
}

fn read_defect_dir(
    root: &Path,
    category: &str,
    defect: &str,
    records: &mut Vec<ImageRecord>,
) -> Result<(), DatasetError> {
    let dir = root.join(category).join("test").join(defect);
    let anomalous = defect != GOOD;
    for file in image_files(&dir)? {
        let mask = anomalous
            .then(|| {
                let stem = file.rsplit_once('.').map_or(file.as_str(), |(stem, _)| stem);
                format!("{category}/ground_truth/{defect}/{stem}_mask.png")
            })
            .filter(|mask| root.join(mask).is_file());
        records.push(ImageRecord {
            path: format!("{category}/test/{defect}/{file}"),
            category: category.to_string(),
            label: u8::from(anomalous),
            defect: defect.to_string(),
            mask,
        });
    }
    Ok(())
}
