//! A dataset listed through the artifact store, so a local directory and an
//! `s3://` prefix are the same code and the coordinator never needs the data
//! mounted: what a job evaluates (test images) and the few-shot reference
//! pool (normal training images), for every layout rwclip reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use rwclip_store::{Store, StoreError};

use super::{is_image_file, manifest, sewer_ml, visa, DatasetError, ImageRecord};

pub use rwclip_job::DatasetKind;

/// What a job would evaluate, with paths relative to the dataset root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetListing {
    pub kind: DatasetKind,
    pub split: String,
    /// Sorted by category, then as the layout orders them.
    pub images: Vec<ImageRecord>,
    /// Normal training images, the few-shot references.
    pub references: Vec<ImageRecord>,
}

impl DatasetListing {
    /// Images per category and label, as `rwclip dataset inspect` prints them.
    pub fn counts(&self) -> BTreeMap<String, (usize, usize)> {
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &self.images {
            let entry = counts.entry(r.category.clone()).or_default();
            if r.label == 0 {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        counts
    }

    /// `{"kind", "split", "images", "categories": {NAME: {"normal", "anomaly"}}, "references"}`.
    pub fn to_json(&self) -> serde_json::Value {
        let categories: serde_json::Map<String, serde_json::Value> = self
            .counts()
            .into_iter()
            .map(|(name, (normal, anomaly))| (name, serde_json::json!({"normal": normal, "anomaly": anomaly})))
            .collect();
        serde_json::json!({
            "kind": self.kind.name(),
            "split": self.split,
            "images": self.images.len(),
            "categories": categories,
            "references": self.references.len(),
        })
    }
}

/// What to list besides the layout; every field has a default.
#[derive(Debug, Clone, Default)]
pub struct ListOptions<'a> {
    /// The split to evaluate (default: [`DatasetKind::default_split`]).
    pub split: Option<&'a str>,
    /// Categories to select; all when `None` or empty.
    pub categories: Option<&'a [String]>,
    /// Sewer-ML: the image folder below the root (default: the root).
    pub images: Option<&'a str>,
    /// Manifests: the manifest's key below the root (required).
    pub file: Option<&'a str>,
}

impl<'a> ListOptions<'a> {
    /// What a job's `[[datasets]]` entry lists; `file` is the manifest's
    /// key below its folder.
    pub fn for_spec(spec: &'a rwclip_job::DatasetSpec, file: Option<&'a str>) -> ListOptions<'a> {
        ListOptions { split: spec.split.as_deref(), categories: Some(&spec.categories), images: spec.images.as_deref(), file }
    }
}

/// Lists the dataset of `kind` at `store`'s root.
pub async fn list(store: &Store, kind: DatasetKind, options: &ListOptions<'_>) -> Result<DatasetListing, DatasetError> {
    let split = options.split.unwrap_or(kind.default_split()).to_string();
    let categories = options.categories.filter(|c| !c.is_empty());
    let (images, references) = match kind {
        DatasetKind::Mvtec => list_mvtec(store, &split, categories).await?,
        DatasetKind::Visa => list_visa(store, &split, categories).await?,
        DatasetKind::SewerMl => (list_sewer(store, &split, options.images.unwrap_or("")).await?, Vec::new()),
        DatasetKind::Manifest => {
            let file = options.file.ok_or_else(|| DatasetError::InvalidSpec { reason: "a manifest dataset needs its file".to_string() })?;
            (list_manifest(store, file, &split, categories).await?, Vec::new())
        }
    };
    Ok(DatasetListing { kind, split, images, references })
}

/// The manifest's labelled rows of `split`; relative URIs are keys below
/// the manifest's folder (`store`), and each of those must exist.
async fn list_manifest(store: &Store, file: &str, split: &str, requested: Option<&[String]>) -> Result<Vec<ImageRecord>, DatasetError> {
    let uri = store.full_uri(file);
    let rows = manifest::read_manifest(&uri, &file_bytes(store, file).await?)?;
    let stem = file.rsplit('/').next().unwrap_or(file).split('.').next().unwrap_or("manifest").to_string();
    let lines: HashMap<String, usize> = rows.iter().map(|r| (r.uri.clone(), r.line)).collect();
    let mut records = manifest::records(&uri, rows, split, &stem)?;
    if let Some(requested) = requested {
        let present: BTreeSet<String> = records.iter().map(|r| r.category.clone()).collect();
        let selected = select(store, present, Some(requested))?;
        records.retain(|r| selected.contains(&r.category));
    }
    let relative: Vec<&ImageRecord> = records.iter().filter(|r| !r.path.contains("://") && !r.path.starts_with('/')).collect();
    if !relative.is_empty() {
        let stored: BTreeSet<String> = keys(store, "").await?.into_iter().collect();
        if let Some(missing) = relative.iter().find(|r| !stored.contains(&r.path)) {
            return Err(DatasetError::CsvField {
                file: uri,
                line: lines.get(&missing.path).copied().unwrap_or(0),
                column: "uri".to_string(),
                problem: format!("names {} which is not in the store", store.full_uri(&missing.path)),
            });
        }
    }
    records.sort_by(|a, b| a.category.cmp(&b.category));
    Ok(records)
}

fn store_error(store: &Store, e: StoreError) -> DatasetError {
    DatasetError::Store { root: store.uri().to_string(), message: e.to_string() }
}

async fn keys(store: &Store, prefix: &str) -> Result<Vec<String>, DatasetError> {
    store.list(prefix).await.map_err(|e| store_error(store, e))
}

async fn file_bytes(store: &Store, key: &str) -> Result<Vec<u8>, DatasetError> {
    match store.get(key).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(StoreError::NotFound { .. }) => Err(DatasetError::MissingFile { uri: store.full_uri(key) }),
        Err(e) => Err(store_error(store, e)),
    }
}

/// Checks the requested categories exist among `present`.
fn select(store: &Store, present: BTreeSet<String>, requested: Option<&[String]>) -> Result<BTreeSet<String>, DatasetError> {
    if present.is_empty() {
        return Err(DatasetError::NoCategories { root: PathBuf::from(store.uri()) });
    }
    let Some(requested) = requested else { return Ok(present) };
    for category in requested {
        if !present.contains(category) {
            return Err(DatasetError::UnknownCategory {
                category: category.clone(),
                root: PathBuf::from(store.uri()),
                present: present.into_iter().collect(),
            });
        }
    }
    Ok(requested.iter().cloned().collect())
}

/// `<cat>/test/<defect>/<file>`, `<cat>/train/good/<file>` and masks at
/// `<cat>/ground_truth/<defect>/<stem>_mask.png`, ordered as the directory
/// reader orders them (by category, defect type, file name).
async fn list_mvtec(store: &Store, split: &str, requested: Option<&[String]>) -> Result<(Vec<ImageRecord>, Vec<ImageRecord>), DatasetError> {
    if split != "test" {
        return Err(DatasetError::UnknownSplit { kind: "mvtec", split: split.to_string(), known: "test" });
    }
    let all = keys(store, "").await?;
    let key_set: BTreeSet<&str> = all.iter().map(String::as_str).collect();
    let parts = |k: &str| k.split('/').map(str::to_string).collect::<Vec<_>>();
    let present: BTreeSet<String> = all
        .iter()
        .map(|k| parts(k))
        .filter(|p| p.len() >= 3 && (p[1] == "test" || p[1] == "train"))
        .map(|p| p[0].clone())
        .collect();
    let selected = select(store, present, requested)?;
    let mut test: Vec<(String, String, String)> = Vec::new();
    let mut train: Vec<(String, String)> = Vec::new();
    for p in all.iter().map(|k| parts(k)) {
        if p.len() != 4 || !selected.contains(&p[0]) || !is_image_file(&p[3]) {
            continue;
        }
        match p[1].as_str() {
            "test" => test.push((p[0].clone(), p[2].clone(), p[3].clone())),
            "train" if p[2] == "good" => train.push((p[0].clone(), p[3].clone())),
            _ => {}
        }
    }
    test.sort();
    train.sort();
    for category in &selected {
        if !test.iter().any(|(c, _, _)| c == category) {
            return Err(DatasetError::EmptyCategory { category: category.clone(), dir: PathBuf::from(store.full_uri(&format!("{category}/test"))) });
        }
    }
    let images = test
        .into_iter()
        .map(|(category, defect, file)| {
            let anomalous = defect != "good";
            let stem = file.rsplit_once('.').map_or(file.as_str(), |(stem, _)| stem);
            let mask = format!("{category}/ground_truth/{defect}/{stem}_mask.png");
            let mask = (anomalous && key_set.contains(mask.as_str())).then_some(mask);
            ImageRecord { path: format!("{category}/test/{defect}/{file}"), category, label: u8::from(anomalous), defect, mask }
        })
        .collect();
    let references = train
        .into_iter()
        .map(|(category, file)| ImageRecord { path: format!("{category}/train/good/{file}"), category, label: 0, defect: "good".to_string(), mask: None })
        .collect();
    Ok((images, references))
}

/// `split_csv/1cls.csv`; every image it names must be in the store.
async fn list_visa(store: &Store, split: &str, requested: Option<&[String]>) -> Result<(Vec<ImageRecord>, Vec<ImageRecord>), DatasetError> {
    let wanted = match split {
        "test" => visa::VisaSplit::Test,
        "train" => visa::VisaSplit::Train,
        other => return Err(DatasetError::UnknownSplit { kind: "visa", split: other.to_string(), known: "test, train" }),
    };
    let csv_uri = store.full_uri(visa::SPLIT_CSV);
    let rows = visa::read_split_csv(&csv_uri, &file_bytes(store, visa::SPLIT_CSV).await?)?;
    let present: BTreeSet<String> = rows.iter().map(|r| r.record.category.clone()).collect();
    let selected = select(store, present, requested)?;
    let stored: BTreeSet<String> = keys(store, "").await?.into_iter().collect();
    let mut images = Vec::new();
    let mut references = Vec::new();
    for row in rows.into_iter().filter(|r| selected.contains(&r.record.category)) {
        let chosen = row.split == wanted;
        let reference = row.split == visa::VisaSplit::Train && row.record.label == 0;
        if !chosen && !reference {
            continue;
        }
        if !stored.contains(&row.record.path) {
            return Err(DatasetError::CsvField {
                file: csv_uri.clone(),
                line: row.line,
                column: "image".to_string(),
                problem: format!("names {} which is not in the store", store.full_uri(&row.record.path)),
            });
        }
        if chosen {
            images.push(row.record.clone());
        }
        if reference {
            references.push(row.record);
        }
    }
    // Stable by category: the CSV's order within a category is kept.
    images.sort_by(|a, b| a.category.cmp(&b.category));
    references.sort_by(|a, b| a.category.cmp(&b.category));
    Ok((images, references))
}

/// The annotation file of `split`; each file name is found anywhere under
/// `images` (the archives extract into several folders).
async fn list_sewer(store: &Store, split: &str, images: &str) -> Result<Vec<ImageRecord>, DatasetError> {
    let name = sewer_ml::split_csv(split).ok_or_else(|| DatasetError::UnknownSplit { kind: "sewer-ml", split: split.to_string(), known: "val, train" })?;
    let csv_uri = store.full_uri(name);
    let rows = sewer_ml::read_annotations(&csv_uri, &file_bytes(store, name).await?)?;
    let mut by_name: HashMap<String, String> = HashMap::new();
    for key in keys(store, images).await? {
        let file_name = key.rsplit('/').next().unwrap_or(&key).to_string();
        if !is_image_file(&file_name) {
            continue;
        }
        if let Some(first) = by_name.insert(file_name.clone(), key.clone()) {
            return Err(DatasetError::DuplicateImage { name: file_name, first: store.full_uri(&first), second: store.full_uri(&key) });
        }
    }
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(key) = by_name.get(&row.record.path) else {
            return Err(DatasetError::CsvField {
                file: csv_uri,
                line: row.line,
                column: "Filename".to_string(),
                problem: format!("names {} which is not under {}", row.record.path, store.full_uri(images)),
            });
        };
        records.push(ImageRecord { path: key.clone(), ..row.record });
    }
    Ok(records)
}
