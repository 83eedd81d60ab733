//! The dataset layouts a job file can name; `rwclip-datasets` lists each.

/// The layouts a dataset can have (a job file's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mvtec,
    Visa,
    SewerMl,
    /// A CSV or Parquet file listing images by `uri` (`rwclip_datasets::manifest`).
    Manifest,
}

impl DatasetKind {
    pub fn parse(name: &str) -> Option<DatasetKind> {
        match name {
            "mvtec" => Some(DatasetKind::Mvtec),
            "visa" => Some(DatasetKind::Visa),
            "sewer-ml" => Some(DatasetKind::SewerMl),
            "manifest" => Some(DatasetKind::Manifest),
            _ => None,
        }
    }

    /// The column header a dataset of this kind gets when it has no `name`.
    pub fn display_name(self) -> &'static str {
        match self {
            DatasetKind::Mvtec => "MVTec-AD",
            DatasetKind::Visa => "VisA",
            DatasetKind::SewerMl => "Sewer-ML",
            DatasetKind::Manifest => "Manifest",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mvtec => "mvtec",
            DatasetKind::Visa => "visa",
            DatasetKind::SewerMl => "sewer-ml",
            DatasetKind::Manifest => "manifest",
        }
    }

    /// The split evaluated when none is given: the paper evaluates
    /// Sewer-ML's validation split.
    pub fn default_split(self) -> &'static str {
        match self {
            DatasetKind::Mvtec | DatasetKind::Visa | DatasetKind::Manifest => "test",
            DatasetKind::SewerMl => "val",
        }
    }
}
