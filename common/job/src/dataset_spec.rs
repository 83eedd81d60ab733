//! One `[[datasets]]` entry: where a dataset is, which layout it has, what
//! of it to evaluate and the name its results are reported under.

use serde::{Deserialize, Serialize};

use crate::setup::Setup;
use crate::synth::SynthOptions;
use crate::DatasetKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The column header in results (default: the kind's usual name,
    /// `MVTec-AD`, `VisA`, `Sewer-ML`, or the manifest's file stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: DatasetKind,
    /// Dataset root: a local directory (relative to the job file's
    /// directory) or `s3://bucket/prefix`. Not used by `manifest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Categories to evaluate; absent or empty means every category found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The split to evaluate (default: `test`; `val` for Sewer-ML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Sewer-ML: the folder below the root holding the images (default: the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<String>,
    /// Manifest: the CSV or Parquet file listing the images (local path or `s3://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Setups for this dataset instead of `scoring.setups` (Sewer-ML has no
    /// few-shot references, for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setups: Option<Vec<Setup>>,
    /// When present and `root` does not exist yet (a local directory) or
    /// holds nothing (an `s3://` prefix), `rwclip submit` / `run` first write
    /// a synthetic dataset of this layout there (tests, the demo, smoke runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synth: Option<SynthOptions>,
}

impl DatasetSpec {
    /// The name results are reported under.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (self.kind, &self.file) {
            (DatasetKind::Manifest, Some(file)) => {
                let base = file.rsplit('/').next().unwrap_or(file);
                base.split('.').next().unwrap_or(base).to_string()
            }
            (kind, _) => kind.display_name().to_string(),
        }
    }
}
