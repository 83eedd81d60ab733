//! The job file: one TOML document that declares a whole rwclip run.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) so a typo such as
//! `pair = 1000` is an error naming the key instead of a silently ignored
//! setting, and [`JobSpec::validate`] checks every value before any work
//! starts. The spec is pure data with no libtorch, so the coordinator can
//! validate jobs too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clip_config::ClipConfig;
use crate::dataset::synth::SynthSpec;
use crate::fnn_config::FnnConfig;
use crate::prompts::PromptGenerator;

/// Everything a run needs, as written in the job file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Human name, used in reports.
    pub name: String,
    /// Where every artifact goes: a local directory (relative to the job
    /// file's directory) or an `s3://bucket/prefix` URI.
    pub output: String,
    pub model: ModelSpec,
    pub dataset: DatasetSpec,
    #[serde(default)]
    pub prompts: PromptsSpec,
    #[serde(default)]
    pub training: TrainingSpec,
    #[serde(default)]
    pub scoring: ScoringSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// An open_clip architecture name, see [`crate::clip_config::PRESET_NAMES`].
    pub preset: String,
    /// A safetensors file with open_clip state-dict keys (see
    /// `tools/convert_openclip.py`). Absent: random init, said loudly.
    #[serde(default)]
    pub weights: Option<String>,
    /// `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available).
    #[serde(default = "default_device")]
    pub device: String,
    /// Prompts per text-tower forward pass.
    #[serde(default = "default_text_batch")]
    pub text_batch_size: usize,
    /// Images per image-tower forward pass.
    #[serde(default = "default_image_batch")]
    pub image_batch_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// `<cat>/test/<defect>/*.png` with `ground_truth` masks (MVTec-AD).
    Mvtec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub kind: DatasetKind,
    /// Dataset root directory (relative to the job file's directory).
    pub root: String,
    /// Categories to evaluate; absent or empty means every category found.
    #[serde(default)]
    pub categories: Vec<String>,
    /// When present and `root` does not exist yet, a synthetic dataset in the
    /// same layout is written there first (tests and the demo).
    #[serde(default)]
    pub synth: Option<SynthOptions>,
}

/// Overrides for `rwclip dataset synth`'s defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthOptions {
    pub categories: Option<Vec<String>>,
    pub train_good: Option<usize>,
    pub test_good: Option<usize>,
    pub test_defective: Option<usize>,
    pub image_size: Option<u32>,
    pub seed: Option<u64>,
}

impl SynthOptions {
    /// The synthesiser's defaults with these overrides applied.
    pub fn to_spec(&self) -> SynthSpec {
        let mut s = SynthSpec::default();
        if let Some(v) = &self.categories {
            s.categories = v.clone();
        }
        if let Some(v) = self.train_good {
            s.train_good = v;
        }
        if let Some(v) = self.test_good {
            s.test_good = v;
        }
        if let Some(v) = self.test_defective {
            s.test_defective = v;
        }
        if let Some(v) = self.image_size {
            s.image_size = v;
        }
        if let Some(v) = self.seed {
            s.seed = v;
        }
        s
    }
}

/// Np: one prompt-pair count, or a grid of them (Fig. 4 sweeps Np).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PairCounts {
    One(u64),
    Grid(Vec<u64>),
}

impl PairCounts {
    pub fn values(&self) -> Vec<u64> {
        match self {
            PairCounts::One(n) => vec![*n],
            PairCounts::Grid(v) => v.clone(),
        }
    }
}

/// The state words inserted at `[n]` / `[a]` of a prompt (Table 4 sweeps them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WordPair {
    pub normal: String,
    pub anomaly: String,
}

/// `[prompts]`. The words are either one pair (`normal_word` / `anomaly_word`)
/// or a grid (`word_pairs = [["a", "a damaged"], ...]`), never both; with
/// neither, the paper's "a" / "a damaged".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsSpec {
    /// Np: prompt pairs generated per seed (an integer or a list).
    pub pairs: PairCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_word: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_word: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_pairs: Option<Vec<[String; 2]>>,
    #[serde(default = "default_min_len")]
    pub min_len: usize,
    #[serde(default = "default_max_len")]
    pub max_len: usize,
}

fn default_min_len() -> usize {
    PromptGenerator::default().min_len
}
fn default_max_len() -> usize {
    PromptGenerator::default().max_len
}

impl Default for PromptsSpec {
    fn default() -> Self {
        let base = PromptGenerator::default();
        PromptsSpec {
            pairs: PairCounts::One(10_000),
            normal_word: Some(base.normal_word),
            anomaly_word: Some(base.anomaly_word),
            word_pairs: None,
            min_len: base.min_len,
            max_len: base.max_len,
        }
    }
}

impl PromptsSpec {
    /// The Np grid, in file order.
    pub fn pair_counts(&self) -> Vec<u64> {
        self.pairs.values()
    }

    /// The word-pair grid, in file order (validated jobs: never empty).
    pub fn word_pairs(&self) -> Vec<WordPair> {
        if let Some(grid) = &self.word_pairs {
            return grid
                .iter()
                .map(|[n, a]| WordPair { normal: n.clone(), anomaly: a.clone() })
                .collect();
        }
        let base = PromptGenerator::default();
        vec![WordPair {
            normal: self.normal_word.clone().unwrap_or(base.normal_word),
            anomaly: self.anomaly_word.clone().unwrap_or(base.anomaly_word),
        }]
    }

    /// The generator for one trial seed and word pair: each seed draws its
    /// own prompts.
    pub fn generator(&self, seed: u64, words: &WordPair) -> PromptGenerator {
        PromptGenerator {
            seed,
            normal_word: words.normal.clone(),
            anomaly_word: words.anomaly.clone(),
            min_len: self.min_len,
            max_len: self.max_len,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// One trial per seed; it seeds prompt generation, FNN init, shuffling
    /// and dropout. The paper reports mean ± std over 10 seeds.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// `[training.fnn]`: the FNN's hyper-parameters (paper defaults).
    #[serde(default)]
    pub fnn: FnnConfig,
}

impl Default for TrainingSpec {
    fn default() -> Self {
        TrainingSpec {
            seeds: default_seeds(),
            fnn: FnnConfig::default(),
        }
    }
}

fn default_seeds() -> Vec<u64> {
    (0..10).collect()
}

/// Which guide-prompt object word s_pr uses (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectSetup {
    /// "a photo of [n] object": no category information at all.
    Unknown,
    /// "a photo of [n] <category>": the category name is known.
    Known,
}

impl ObjectSetup {
    pub fn label(self) -> &'static str {
        match self {
            ObjectSetup::Unknown => "object-unknown",
            ObjectSetup::Known => "object-known",
        }
    }
}

/// Every key is optional; a missing one takes its value from [`Default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringSpec {
    /// Softmax temperature of s_pr (CLIP's 0.01).
    pub temperature: f64,
    /// Zero-shot setups to evaluate.
    pub setups: Vec<ObjectSetup>,
    /// The object word of the unknown-object setup.
    pub object_word: String,
    /// Test-time multi-crop (§4.2): `false`, `true`, or `[false, true]` to
    /// sweep both (the paper's Table 2 is without, its other tables with).
    pub multi_crop: BoolGrid,
}

/// A setting that is either fixed or swept over both values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BoolGrid {
    One(bool),
    Grid(Vec<bool>),
}

impl Default for BoolGrid {
    fn default() -> Self {
        BoolGrid::One(false)
    }
}

impl BoolGrid {
    pub fn values(&self) -> Vec<bool> {
        match self {
            BoolGrid::One(b) => vec![*b],
            BoolGrid::Grid(v) => v.clone(),
        }
    }
}

impl Default for ScoringSpec {
    fn default() -> Self {
        ScoringSpec {
            temperature: 0.01,
            setups: vec![ObjectSetup::Unknown, ObjectSetup::Known],
            object_word: "object".to_string(),
            multi_crop: BoolGrid::default(),
        }
    }
}

/// Why a job file was rejected. Every variant names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read job file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("job file {path} is not a valid job: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("job file {path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

/// Whether validation checks that the files a job names exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathChecks {
    Check,
    Skip,
}

/// A validated job plus the directory its relative paths are resolved from.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: JobSpec,
    pub path: PathBuf,
    pub base_dir: PathBuf,
}

impl Job {
    /// Reads, parses and validates a job file.
    pub fn load(path: &Path) -> Result<Job, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Job::parse(&text, path)
    }

    /// Parses and validates job text; `path` is used for messages and for
    /// resolving relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Job, JobError> {
        Job::parse_with(text, path, PathChecks::Check)
    }

    /// [`Job::parse`], optionally without checking that the weights file and
    /// dataset root exist (planning a job for another machine, documentation
    /// examples such as `examples/paper.toml`).
    pub fn parse_with(text: &str, path: &Path, checks: PathChecks) -> Result<Job, JobError> {
        let spec: JobSpec = toml::from_str(text).map_err(|e| JobError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let job = Job {
            spec,
            path: path.to_path_buf(),
            base_dir,
        };
        job.validate_with(checks)?;
        Ok(job)
    }

    /// A path from the job file, resolved against the job file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize_lexically(&self.base_dir.join(p))
        }
    }

    /// The output location as a store URI: S3 URIs pass through, local
    /// paths are resolved against the job file's directory.
    pub fn output_uri(&self) -> String {
        let out = &self.spec.output;
        if out.contains("://") {
            out.clone()
        } else {
            self.resolve(out).to_string_lossy().into_owned()
        }
    }

    pub fn dataset_root(&self) -> PathBuf {
        self.resolve(&self.spec.dataset.root)
    }

    /// The weights as a local path (relative paths resolved against the job
    /// file's directory); `None` for random init or an `s3://` URI.
    pub fn weights_path(&self) -> Option<PathBuf> {
        self.spec.model.weights.as_deref().filter(|w| !w.contains("://")).map(|w| self.resolve(w))
    }

    /// The weights as workers load them: an `s3://` URI as written (fetched
    /// through the store), a local path resolved; `None` for random init.
    pub fn weights_uri(&self) -> Option<String> {
        let w = self.spec.model.weights.as_deref()?;
        if w.contains("://") {
            Some(w.to_string())
        } else {
            Some(self.resolve(w).to_string_lossy().into_owned())
        }
    }

    /// The job as sent to a coordinator: the same spec with every path made
    /// absolute (resolved against the job file's directory and the current
    /// directory), so it means the same on every machine that shares those
    /// paths. Parse it back with [`Job::parse_submitted`].
    pub fn to_submitted_toml(&self) -> Result<String, JobError> {
        let cwd = std::env::current_dir().map_err(|source| JobError::Read {
            path: self.path.clone(),
            source,
        })?;
        let absolute = |p: PathBuf| -> String {
            let p = if p.is_absolute() { p } else { normalize_lexically(&cwd.join(p)) };
            p.to_string_lossy().into_owned()
        };
        let mut spec = self.spec.clone();
        spec.output = if spec.output.contains("://") { spec.output } else { absolute(self.resolve(&self.spec.output)) };
        spec.dataset.root = absolute(self.dataset_root());
        spec.model.weights = match self.weights_path() {
            Some(local) => Some(absolute(local)),
            None => spec.model.weights,
        };
        toml::to_string(&spec).map_err(|e| JobError::Parse {
            path: self.path.clone(),
            message: format!("cannot serialise the resolved job: {e}"),
        })
    }

    /// Parses a job received from a client (see [`Job::to_submitted_toml`]):
    /// a relative path is an error naming its key, because there is no job
    /// file directory to resolve it against.
    pub fn parse_submitted(text: &str, checks: PathChecks) -> Result<Job, JobError> {
        let job = Job::parse_with(text, Path::new("/submitted-job.toml"), checks)?;
        let relative = |p: &str| !p.contains("://") && !Path::new(p).is_absolute();
        let s = &job.spec;
        let bad = [
            ("output", Some(s.output.as_str())),
            ("dataset.root", Some(s.dataset.root.as_str())),
            ("model.weights", s.model.weights.as_deref()),
        ]
        .into_iter()
        .find(|(_, p)| p.is_some_and(relative));
        if let Some((key, Some(p))) = bad {
            return Err(job.invalid(
                key,
                format!("is the relative path {p:?}; submitted jobs need absolute paths (`rwclip submit` resolves them)"),
            ));
        }
        Ok(job)
    }

    fn invalid(&self, key: &'static str, problem: impl Into<String>) -> JobError {
        JobError::Invalid {
            path: self.path.clone(),
            key,
            problem: problem.into(),
        }
    }

    /// The sweep grids of `[prompts]`: non-empty, no zero Np, no duplicates,
    /// one way of giving the words.
    fn validate_prompts(&self) -> Result<(), JobError> {
        let p = &self.spec.prompts;
        let counts = p.pair_counts();
        if counts.is_empty() {
            return Err(self.invalid("prompts.pairs", "must list at least one prompt-pair count"));
        }
        if counts.contains(&0) {
            return Err(self.invalid("prompts.pairs", "must be at least 1"));
        }
        if let Some(d) = first_duplicate(&counts) {
            return Err(self.invalid("prompts.pairs", format!("lists {d} twice")));
        }
        if p.word_pairs.is_some() && (p.normal_word.is_some() || p.anomaly_word.is_some()) {
            return Err(self.invalid(
                "prompts.word_pairs",
                "cannot be combined with normal_word / anomaly_word (put every pair in word_pairs)",
            ));
        }
        let words = p.word_pairs();
        if words.is_empty() {
            return Err(self.invalid("prompts.word_pairs", "must list at least one [normal, anomaly] pair"));
        }
        if let Some(d) = first_duplicate(&words) {
            return Err(self.invalid(
                "prompts.word_pairs",
                format!("lists [{:?}, {:?}] twice", d.normal, d.anomaly),
            ));
        }
        let key = if p.word_pairs.is_some() { "prompts.word_pairs" } else { "prompts" };
        for w in &words {
            p.generator(0, w).validate().map_err(|e| self.invalid(key, e.to_string()))?;
        }
        Ok(())
    }

    /// Checks every value that can be checked without doing the work.
    pub fn validate(&self) -> Result<(), JobError> {
        self.validate_with(PathChecks::Check)
    }

    pub fn validate_with(&self, checks: PathChecks) -> Result<(), JobError> {
        let s = &self.spec;
        let check_paths = checks == PathChecks::Check;
        if s.name.trim().is_empty() {
            return Err(self.invalid("name", "must not be empty"));
        }
        if s.output.trim().is_empty() {
            return Err(self.invalid("output", "must not be empty"));
        }
        if let Some((scheme, _)) = s.output.split_once("://") {
            if scheme != "s3" && scheme != "file" {
                return Err(self.invalid(
                    "output",
                    format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/prefix)"),
                ));
            }
        }

        ClipConfig::preset(&s.model.preset).map_err(|e| self.invalid("model.preset", e.to_string()))?;
        if let Some((scheme, _)) = s.model.weights.as_deref().and_then(|w| w.split_once("://")) {
            if scheme != "s3" {
                return Err(self.invalid(
                    "model.weights",
                    format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/key)"),
                ));
            }
        }
        if let Some(w) = self.weights_path().filter(|_| check_paths) {
            if !w.is_file() {
                return Err(self.invalid(
                    "model.weights",
                    format!("points to {} which is not a readable file", w.display()),
                ));
            }
        }
        parse_device_name(&s.model.device).map_err(|p| self.invalid("model.device", p))?;
        if s.model.text_batch_size == 0 {
            return Err(self.invalid("model.text_batch_size", "must be at least 1"));
        }
        if s.model.image_batch_size == 0 {
            return Err(self.invalid("model.image_batch_size", "must be at least 1"));
        }

        let root = self.dataset_root();
        if check_paths && s.dataset.synth.is_none() && !root.is_dir() {
            return Err(self.invalid(
                "dataset.root",
                format!("{} is not a directory (add [dataset.synth] to synthesise one)", root.display()),
            ));
        }
        let mut seen = BTreeSet::new();
        for c in &s.dataset.categories {
            if c.trim().is_empty() || c.contains('/') {
                return Err(self.invalid("dataset.categories", format!("has an invalid category name {c:?}")));
            }
            if !seen.insert(c) {
                return Err(self.invalid("dataset.categories", format!("lists {c:?} twice")));
            }
        }

        self.validate_prompts()?;

        let t = &s.training;
        if t.seeds.is_empty() {
            return Err(self.invalid("training.seeds", "must list at least one seed"));
        }
        let unique: BTreeSet<_> = t.seeds.iter().collect();
        if unique.len() != t.seeds.len() {
            return Err(self.invalid("training.seeds", "lists a seed twice"));
        }
        t.fnn.validate().map_err(|e| self.invalid("training.fnn", e.to_string()))?;

        let sc = &s.scoring;
        if !(sc.temperature > 0.0 && sc.temperature.is_finite()) {
            return Err(self.invalid("scoring.temperature", "must be a positive number"));
        }
        if sc.setups.is_empty() {
            return Err(self.invalid("scoring.setups", "must list at least one of \"unknown\", \"known\""));
        }
        if let Some(d) = first_duplicate(&sc.setups) {
            return Err(self.invalid("scoring.setups", format!("lists {} twice", d.label())));
        }
        let crops = sc.multi_crop.values();
        if crops.is_empty() {
            return Err(self.invalid("scoring.multi_crop", "must be true, false or a non-empty list of them"));
        }
        if let Some(d) = first_duplicate(&crops) {
            return Err(self.invalid("scoring.multi_crop", format!("lists {d} twice")));
        }
        if sc.object_word.trim().is_empty() {
            return Err(self.invalid("scoring.object_word", "must not be empty"));
        }
        Ok(())
    }
}

/// The first value that occurs twice, for "lists X twice" messages.
fn first_duplicate<T: Ord>(values: &[T]) -> Option<&T> {
    let mut seen = BTreeSet::new();
    values.iter().find(|v| !seen.insert(*v))
}

/// Folds `.` and `name/..` out of a path without touching the filesystem, so
/// messages show `runs/demo` rather than `jobs/../runs/demo`.
fn normalize_lexically(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// A parsed device name; the worker maps it onto a libtorch device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    Cpu,
    Cuda(usize),
    /// CUDA device 0 when available, else CPU.
    Auto,
}

pub fn parse_device_name(s: &str) -> Result<DeviceName, String> {
    match s {
        "cpu" => Ok(DeviceName::Cpu),
        "auto" => Ok(DeviceName::Auto),
        "cuda" => Ok(DeviceName::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(DeviceName::Cuda)
            .ok_or_else(|| format!("is {s:?}; expected cpu, auto, cuda or cuda:N")),
    }
}

fn default_device() -> String {
    "auto".to_string()
}
fn default_text_batch() -> usize {
    256
}
fn default_image_batch() -> usize {
    16
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
output = "out"
[model]
preset = "rwclip-tiny"
[dataset]
kind = "mvtec"
root = "data"
[dataset.synth]
"#;

    fn parse(text: &str) -> Result<Job, JobError> {
        Job::parse(text, Path::new("/nonexistent/job.toml"))
    }

    #[test]
    fn minimal_job_gets_paper_defaults() {
        let job = parse(MINIMAL).unwrap();
        assert_eq!(job.spec.prompts.pair_counts(), vec![10_000]);
        assert_eq!(
            job.spec.prompts.word_pairs(),
            vec![WordPair { normal: "a".into(), anomaly: "a damaged".into() }]
        );
        assert_eq!(job.spec.training.seeds, (0..10).collect::<Vec<u64>>());
        assert_eq!(job.spec.training.fnn, FnnConfig::default());
        assert_eq!(job.spec.scoring.temperature, 0.01);
        assert_eq!(job.dataset_root(), PathBuf::from("/nonexistent/data"));
        assert_eq!(job.output_uri(), "/nonexistent/out");
    }

    #[test]
    fn every_scoring_key_the_readme_gives_a_default_is_optional() {
        let job = parse(&format!("{MINIMAL}\n[scoring]\nsetups = [\"known\"]\n")).unwrap();
        assert_eq!(job.spec.scoring.temperature, 0.01);
        assert_eq!(job.spec.scoring.object_word, "object");
        assert_eq!(job.spec.scoring.multi_crop, BoolGrid::One(false));
        assert_eq!(job.spec.scoring.setups, vec![ObjectSetup::Known]);
        let job = parse(&format!("{MINIMAL}\n[scoring]\n")).unwrap();
        assert_eq!(job.spec.scoring, ScoringSpec::default());
    }

    #[test]
    fn submitted_job_has_absolute_paths_and_parses_back() {
        let job = Job::parse(MINIMAL, Path::new("jobs/job.toml")).unwrap();
        let text = job.to_submitted_toml().unwrap();
        let back = Job::parse_submitted(&text, PathChecks::Skip).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(back.dataset_root(), cwd.join("jobs/data"));
        assert_eq!(back.output_uri(), cwd.join("jobs/out").to_string_lossy());
        assert_eq!(back.spec.prompts, job.spec.prompts);
    }

    #[test]
    fn submitted_job_with_a_relative_path_names_the_key() {
        let err = Job::parse_submitted(MINIMAL, PathChecks::Skip).unwrap_err().to_string();
        assert!(err.contains("`output`") && err.contains("absolute"), "{err}");
        let text = MINIMAL.replace("output = \"out\"", "output = \"s3://b/out\"");
        let err = Job::parse_submitted(&text, PathChecks::Skip).unwrap_err().to_string();
        assert!(err.contains("`dataset.root`"), "{err}");
    }

    #[test]
    fn s3_weights_pass_through_and_other_schemes_are_refused() {
        let with = |w: &str| MINIMAL.replace("[model]", &format!("[model]\nweights = \"{w}\""));
        let job = parse(&with("s3://models/vit.safetensors")).unwrap();
        assert_eq!(job.weights_uri().as_deref(), Some("s3://models/vit.safetensors"));
        assert_eq!(job.weights_path(), None);
        let back = Job::parse_submitted(&job.to_submitted_toml().unwrap(), PathChecks::Skip).unwrap();
        assert_eq!(back.spec.model.weights.as_deref(), Some("s3://models/vit.safetensors"));
        let err = parse(&with("gs://models/vit.safetensors")).unwrap_err().to_string();
        assert!(err.contains("`model.weights`") && err.contains("gs://"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse(&MINIMAL.replace("[model]", "[model]\nweight = \"x\"")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("job.toml") && msg.contains("weight"), "{msg}");
    }

    #[test]
    fn malformed_toml_names_the_file_and_line() {
        let err = parse("name = \"t\"\noutput = \n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("job.toml") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("[model]\npreset = \"rwclip-tiny\"", "[model]\npreset = \"ViT-Q-99\"", "model.preset"),
            ("[model]\npreset = \"rwclip-tiny\"", "[model]\npreset = \"rwclip-tiny\"\ndevice = \"tpu\"", "model.device"),
            ("[dataset.synth]", "[dataset.synth]\n[prompts]\npairs = 0\nnormal_word = \"a\"\nanomaly_word = \"a damaged\"\nmin_len = 5\nmax_len = 10", "prompts.pairs"),
            ("[dataset.synth]", "[dataset.synth]\n[scoring]\ntemperature = 0.0\nsetups = [\"unknown\"]\nobject_word = \"object\"", "scoring.temperature"),
            ("output = \"out\"", "output = \"gs://b/x\"", "output"),
            ("[dataset.synth]", "[dataset.synth]\n[training.fnn]\ndropout = 1.5", "training.fnn"),
        ];
        for (from, to, key) in cases {
            let err = parse(&MINIMAL.replace(from, to)).unwrap_err();
            match &err {
                JobError::Invalid { key: k, .. } => assert_eq!(*k, key, "{err}"),
                other => panic!("expected Invalid({key}), got {other}"),
            }
        }
    }

    #[test]
    fn sweep_grids_parse_and_duplicates_name_their_key() {
        let sweep = MINIMAL.replace(
            "[dataset.synth]",
            "[dataset.synth]\n[prompts]\npairs = [1000, 5000]\nword_pairs = [[\"a\", \"a damaged\"], [\"a normal\", \"a broken\"]]",
        );
        let job = parse(&sweep).unwrap();
        assert_eq!(job.spec.prompts.pair_counts(), vec![1000, 5000]);
        assert_eq!(job.spec.prompts.word_pairs()[1].anomaly, "a broken");
        let cases = [
            ("[1000, 5000]", "[1000, 1000]", "prompts.pairs"),
            ("[1000, 5000]", "[]", "prompts.pairs"),
            ("[\"a normal\", \"a broken\"]", "[\"a\", \"a damaged\"]", "prompts.word_pairs"),
            ("word_pairs = [[\"a\", \"a damaged\"], [\"a normal\", \"a broken\"]]", "word_pairs = []", "prompts.word_pairs"),
            ("word_pairs =", "normal_word = \"a\"\nword_pairs =", "prompts.word_pairs"),
        ];
        for (from, to, key) in cases {
            let err = parse(&sweep.replace(from, to)).unwrap_err();
            match &err {
                JobError::Invalid { key: k, .. } => assert_eq!(*k, key, "{err}"),
                other => panic!("expected Invalid({key}), got {other}"),
            }
        }
        let dup_setup = MINIMAL.replace(
            "[dataset.synth]",
            "[dataset.synth]\n[scoring]\ntemperature = 0.01\nsetups = [\"known\", \"known\"]\nobject_word = \"object\"",
        );
        assert!(parse(&dup_setup).unwrap_err().to_string().contains("scoring.setups"));
    }

    #[test]
    fn path_checks_can_be_skipped() {
        let text = MINIMAL.replace("[dataset.synth]\n", "").replace("[model]", "[model]\nweights = \"w.safetensors\"");
        assert!(parse(&text).is_err());
        Job::parse_with(&text, Path::new("/nonexistent/job.toml"), PathChecks::Skip).unwrap();
    }

    #[test]
    fn missing_dataset_without_synth_is_an_error() {
        let err = parse(&MINIMAL.replace("[dataset.synth]\n", "")).unwrap_err();
        assert!(err.to_string().contains("dataset.root"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_job_file() {
        let job = Job::parse(MINIMAL, Path::new("jobs/job.toml")).unwrap();
        assert_eq!(job.resolve("../runs/x"), PathBuf::from("runs/x"));
        assert_eq!(job.resolve("./d/../e"), PathBuf::from("jobs/e"));
        assert_eq!(job.resolve("/abs/p"), PathBuf::from("/abs/p"));
        let job = Job::parse(MINIMAL, Path::new("job.toml")).unwrap();
        assert_eq!(job.resolve("../up"), PathBuf::from("../up"));
    }

    #[test]
    fn device_names() {
        assert_eq!(parse_device_name("cuda:3"), Ok(DeviceName::Cuda(3)));
        assert_eq!(parse_device_name("cpu"), Ok(DeviceName::Cpu));
        assert!(parse_device_name("cuda:x").is_err());
    }
}
