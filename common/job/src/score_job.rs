//! A scoring job file (`kind = "score"`): a detector applied to an archive
//! of images, for the nightly runs of utilities with millions of frames.

use std::path::{Path, PathBuf};

use crate::Precision;
use crate::sampling::Sampling;
use serde::{Deserialize, Serialize};

use crate::{parse_device_name, JobError, Location, PathChecks};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreJobSpec {
    /// Always `"score"`.
    pub kind: String,
    pub name: String,
    /// Where `scores/`, `top_k.csv` and `summary.json` go (local or `s3://`).
    pub output: String,
    /// The detector file (`rwclip train`, or a sweep trial's checkpoint).
    pub detector: String,
    /// A CSV manifest with a `uri` column, or a directory / `s3://` prefix
    /// of images.
    pub input: String,
    /// Rows of `top_k.csv`.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Images on `contact_sheet.png`: the first of `top_k.csv` as
    /// thumbnails (0 = no sheet).
    #[serde(default = "default_contact_sheet")]
    pub contact_sheet: usize,
    /// Images per shard (rounded up to whole batches).
    #[serde(default = "default_rows_per_shard")]
    pub rows_per_shard: u64,
    /// Per image also an anomaly map on the patch grid (`map_max`, `map`):
    /// the detector's score kind on window embeddings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maps: bool,
    /// Frames of each input video scored: `fps=1` (default), `fps=F`,
    /// `every_nth=N` or `keyframes`.
    #[serde(default, skip_serializing_if = "Sampling::is_default")]
    pub sampling: Sampling,
    /// Ticks per shard of a long video (fps sampling's ticks, or seconds of
    /// stream time for every_nth and keyframes): one three-hour inspection
    /// spreads over many workers.
    #[serde(default = "default_frames_per_shard", skip_serializing_if = "is_default_frames_per_shard")]
    pub frames_per_shard: u64,
    #[serde(default)]
    pub model: ScoreModelSpec,
}

/// `[model]` of a scoring job: the preset comes from the detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreModelSpec {
    /// The CLIP weights the detector was trained with (checked by digest);
    /// absent = random init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default = "default_image_batch")]
    pub image_batch_size: usize,
    /// `fp32` (default), `bf16` or `fp16`: what CLIP's image tower computes in.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl Default for ScoreModelSpec {
    fn default() -> Self {
        ScoreModelSpec { weights: None, device: default_device(), image_batch_size: default_image_batch(), precision: Precision::Fp32 }
    }
}

fn default_top_k() -> usize {
    100
}
/// Thumbnails on a scoring job's contact sheet unless it says otherwise.
pub const DEFAULT_CONTACT_SHEET: usize = 48;

fn default_contact_sheet() -> usize {
    DEFAULT_CONTACT_SHEET
}
fn default_rows_per_shard() -> u64 {
    1024
}
/// Sampled frames per video shard unless the job says otherwise.
pub const DEFAULT_FRAMES_PER_SHARD: u64 = 1024;

fn default_frames_per_shard() -> u64 {
    DEFAULT_FRAMES_PER_SHARD
}
fn is_default_frames_per_shard(n: &u64) -> bool {
    *n == DEFAULT_FRAMES_PER_SHARD
}
fn default_device() -> String {
    "auto".to_string()
}
fn default_image_batch() -> usize {
    16
}

/// The most shards one scoring job may plan: a bound on what the
/// coordinator holds per job, whatever the archive's size.
pub const MAX_SCORE_SHARDS: u64 = 200_000;

/// The most thumbnails on a contact sheet: one sheet stays a picture a
/// person looks at (and a bounded image a worker draws).
pub const MAX_CONTACT_SHEET: usize = 200;

/// A validated scoring job and the directory its relative paths resolve from.
#[derive(Debug, Clone)]
pub struct ScoreJob {
    pub spec: ScoreJobSpec,
    pub path: PathBuf,
    pub base_dir: PathBuf,
}

impl ScoreJob {
    pub fn parse_with(text: &str, path: &Path, checks: PathChecks) -> Result<ScoreJob, JobError> {
        let spec: ScoreJobSpec = toml::from_str(text).map_err(|e| JobError::Parse { path: path.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
        let base_dir = path.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
        let job = ScoreJob { spec, path: path.to_path_buf(), base_dir };
        job.validate(checks)?;
        Ok(job)
    }

    fn invalid(&self, key: &str, problem: impl Into<String>) -> JobError {
        JobError::Invalid { path: self.path.clone(), key: key.to_string(), problem: problem.into() }
    }

    fn location(&self, text: &str) -> Location {
        Location::parse(text).resolved_against(&self.base_dir)
    }

    pub fn output(&self) -> Location {
        self.location(&self.spec.output)
    }
    pub fn detector(&self) -> Location {
        self.location(&self.spec.detector)
    }
    pub fn input(&self) -> Location {
        self.location(&self.spec.input)
    }
    pub fn weights(&self) -> Option<Location> {
        self.spec.model.weights.as_deref().map(|w| self.location(w))
    }

    pub fn precision(&self) -> Precision {
        self.spec.model.precision
    }

    fn validate(&self, checks: PathChecks) -> Result<(), JobError> {
        let s = &self.spec;
        if s.kind != "score" {
            return Err(self.invalid("kind", format!("is {:?}; a scoring job has kind = \"score\"", s.kind)));
        }
        if s.name.trim().is_empty() {
            return Err(self.invalid("name", "must not be empty"));
        }
        for (key, loc, must_be_file) in [("output", self.output(), false), ("detector", self.detector(), true), ("input", self.input(), false)] {
            if let Some(scheme) = loc.scheme() {
                if scheme != "s3" && scheme != "file" {
                    return Err(self.invalid(key, format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/…)")));
                }
            }
            if let (PathChecks::Check, Some(p), true) = (checks, loc.local(), key != "output") {
                let ok = if must_be_file { p.is_file() } else { p.exists() };
                if !ok {
                    return Err(self.invalid(key, format!("{} does not exist", p.display())));
                }
            }
        }
        if let (PathChecks::Check, Some(p)) = (checks, self.weights().as_ref().and_then(|w| w.local().map(Path::to_path_buf))) {
            if !p.is_file() {
                return Err(self.invalid("model.weights", format!("points to {} which is not a readable file", p.display())));
            }
        }
        if s.top_k == 0 {
            return Err(self.invalid("top_k", "must be at least 1"));
        }
        if s.contact_sheet > MAX_CONTACT_SHEET {
            return Err(self.invalid("contact_sheet", format!("is {}; at most {MAX_CONTACT_SHEET} images fit on the sheet (0 = no sheet)", s.contact_sheet)));
        }
        if s.rows_per_shard == 0 || s.rows_per_shard > 1_000_000 {
            return Err(self.invalid("rows_per_shard", format!("is {}; must be between 1 and 1000000", s.rows_per_shard)));
        }
        if s.frames_per_shard == 0 {
            return Err(self.invalid("frames_per_shard", "must be at least 1"));
        }
        if s.model.image_batch_size == 0 {
            return Err(self.invalid("model.image_batch_size", "must be at least 1"));
        }
        parse_device_name(&s.model.device).map_err(|p| self.invalid("model.device", p))?;
        Ok(())
    }

    /// The job as sent to a coordinator: every path absolute.
    pub fn to_submitted_toml(&self) -> Result<String, JobError> {
        let cwd = std::env::current_dir().map_err(|source| JobError::Read { path: self.path.clone(), source })?;
        let absolute = |l: Location| l.resolved_against(&cwd).to_uri();
        let mut spec = self.spec.clone();
        spec.output = absolute(self.output());
        spec.detector = absolute(self.detector());
        spec.input = absolute(self.input());
        spec.model.weights = self.weights().map(absolute);
        toml::to_string(&spec).map_err(|e| JobError::Parse { path: self.path.clone(), message: format!("cannot serialise the resolved job: {e}") })
    }

    /// Parses a job received from a client: relative paths are errors
    /// naming their key (there is no job file directory to resolve them).
    pub fn parse_submitted(text: &str, checks: PathChecks) -> Result<ScoreJob, JobError> {
        let job = ScoreJob::parse_with(text, Path::new("/submitted-job.toml"), checks)?;
        let s = &job.spec;
        for (key, value) in [("output", Some(&s.output)), ("detector", Some(&s.detector)), ("input", Some(&s.input)), ("model.weights", s.model.weights.as_ref())] {
            if let Some(v) = value.filter(|v| Location::parse(v).is_relative()) {
                return Err(job.invalid(key, format!("is the relative path {v:?}; submitted jobs need absolute paths (`rwclip submit` resolves them)")));
            }
        }
        Ok(job)
    }

    pub fn output_uri(&self) -> String {
        self.output().to_uri()
    }
}

/// The `kind` a job file declares: `"score"`, or `None` for a sweep.
pub fn declared_kind(text: &str) -> Option<String> {
    let value: toml::Value = toml::from_str(text).ok()?;
    value.get("kind")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "kind = \"score\"\nname = \"n\"\noutput = \"/o\"\ndetector = \"/d.safetensors\"\ninput = \"/i.csv\"\n";

    #[test]
    fn the_contact_sheet_defaults_to_48_and_is_bounded_naming_its_key() {
        let job = ScoreJob::parse_with(JOB, Path::new("j.toml"), PathChecks::Skip).unwrap();
        assert_eq!(job.spec.contact_sheet, DEFAULT_CONTACT_SHEET);
        let off = ScoreJob::parse_with(&format!("{JOB}contact_sheet = 0\n"), Path::new("j.toml"), PathChecks::Skip).unwrap();
        assert_eq!(off.spec.contact_sheet, 0, "0 = no sheet");
        let e = ScoreJob::parse_with(&format!("{JOB}contact_sheet = 5000\n"), Path::new("j.toml"), PathChecks::Skip).unwrap_err().to_string();
        assert!(e.contains("j.toml") && e.contains("contact_sheet") && e.contains("5000") && e.contains(&MAX_CONTACT_SHEET.to_string()), "{e}");
    }
}
