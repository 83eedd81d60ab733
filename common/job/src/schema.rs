//! The job file's schema: every table and key, with their defaults. Pure
//! data (serde); `validate` checks the values, `location` reads the
//! path-like ones.

use serde::{Deserialize, Serialize};

pub use crate::dataset_spec::DatasetSpec;
pub use crate::synth::SynthOptions;
pub use super::setup::Setup;
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
    /// The single `[dataset]` table: a one-element [`JobSpec::datasets`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// `[[datasets]]`: each evaluated and reported under its own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetSpec>,
    #[serde(default)]
    pub prompts: PromptsSpec,
    #[serde(default)]
    pub training: TrainingSpec,
    #[serde(default)]
    pub scoring: ScoringSpec,
    #[serde(default, skip_serializing_if = "PlotsSpec::is_default")]
    pub plots: PlotsSpec,
}

/// `[plots]`: what the figures show beyond the results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlotsSpec {
    /// A local text file, one natural sentence per line, placed on Fig. 3's
    /// and Fig. 5's maps next to the generated prompts. Read when the job is
    /// loaded; a submitted job carries the lines themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentences: Option<String>,
    /// The sentences' lines as submitted (`sentences` read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sentence_lines: Vec<String>,
}

impl PlotsSpec {
    pub fn is_default(&self) -> bool {
        *self == PlotsSpec::default()
    }
}

/// At most this many sentences, each at most `MAX_SENTENCE_CHARS` long:
/// every one is a point on every map.
pub const MAX_SENTENCES: usize = 200;
pub const MAX_SENTENCE_CHARS: usize = 300;

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
    /// `fp32` (default), `bf16` or `fp16`: what CLIP's towers compute in.
    #[serde(default)]
    pub precision: crate::Precision,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// Setups to evaluate: `"unknown"`, `"known"` (zero-shot) and
    /// `"<k>-shot"` (few-shot with k normal reference images).
    pub setups: Vec<Setup>,
    /// The object word of the unknown-object setup.
    pub object_word: String,
    /// Test-time multi-crop (§4.2): `false`, `true`, or `[false, true]` to
    /// sweep both (the paper's Table 2 is without, its other tables with).
    pub multi_crop: BoolGrid,
    /// Anomaly maps and pixel metrics of these methods ("winclip", "ours",
    /// "clip", "clip+ours"); `winclip` also joins the image-level tables.
    /// Empty (the default): image level only, at image-level cost. Left out
    /// of the serialised spec when empty, so job ids stay what they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<crate::map_method::MapMethod>,
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
            setups: vec![Setup::Zero(ObjectSetup::Unknown), Setup::Zero(ObjectSetup::Known)],
            object_word: "object".to_string(),
            multi_crop: BoolGrid::default(),
            maps: Vec::new(),
        }
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
