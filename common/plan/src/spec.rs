//! What each shard computes: the executor's input, carried opaquely by the
//! coordinator as `PlannedShard::spec_json`.
//!
//! A shard's id is the hash of this JSON, so every field that can change a
//! shard's output bits belongs here, and nothing else does (the device, for
//! one, is the executing worker's choice).

use serde::{Deserialize, Serialize};

use rwclip_datasets::ImageRecord;
use rwclip_job::fnn_config::FnnConfig;
use rwclip_job::{DatasetKind, Precision, Setup, WordPair};

use rwclip_core::{ShardId, ShardKind};

/// A CLIP model: architecture preset, weights identity and the precision
/// its towers compute in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    pub preset: String,
    /// Absolute weights path or URI; `None` is random init.
    pub weights: Option<String>,
    /// Omitted from the JSON at fp32, so fp32 shard ids are the same as
    /// before precisions existed.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl ModelRef {
    pub fn new(preset: impl Into<String>, weights: Option<String>) -> ModelRef {
        ModelRef { preset: preset.into(), weights, precision: Precision::Fp32 }
    }

    /// The key workers cache loaded models under (`PlannedShard::model_key`).
    pub fn key(&self) -> String {
        let base = format!("{}@{}", self.preset, self.weights.as_deref().unwrap_or("random-init"));
        match self.precision {
            Precision::Fp32 => base,
            p => format!("{base}#{}", p.label()),
        }
    }
}

/// A dataset's column group in the results: its name and layout (Sewer-ML
/// is reported in Table 5, the others side by side in Table 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetColumn {
    pub name: String,
    pub kind: DatasetKind,
}

/// CLIP text embeddings of prompt pairs `first_pair .. first_pair + pairs`
/// of one seed and word pair. Prompts are encoded in windows of
/// `sort_window` prompts at absolute multiples of it (clipped to the
/// shard), ordered by token count within a window and cut into batches of
/// `batch_size`; a prompt's embedding does not depend on how a job was cut
/// into shards (see `text_block_pairs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextShardSpec {
    pub model: ModelRef,
    pub seed: u64,
    pub words: WordPair,
    pub min_len: usize,
    pub max_len: usize,
    pub first_pair: u64,
    pub pairs: u64,
    pub batch_size: usize,
    /// 0 in specs planned before windows: batches in prompt order at
    /// absolute multiples of `batch_size`.
    #[serde(default)]
    pub sort_window: usize,
}

/// CLIP image embeddings of `images` (entries `first_image ..` of the
/// dataset's test list), preprocessed at `image_size` with open_clip's eval
/// transform (resize shorter side, centre crop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageShardSpec {
    pub model: ModelRef,
    pub image_size: u32,
    /// The store the image paths are keys of: a canonical local directory
    /// or a URL (an image path that is itself a URL or absolute path is read
    /// as such).
    pub dataset_root: String,
    pub first_image: u64,
    pub images: Vec<ImageRecord>,
    pub batch_size: usize,
    /// Multi-crop's four corner views instead of the eval view (one part per
    /// corner). Omitted from the JSON when false, so eval-view shard ids are
    /// the same as before multi-crop existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub corners: bool,
}

/// The window embeddings and patch tokens of `images` (entries
/// `first_image ..` of a dataset's test list or reference pool), what their
/// anomaly maps are made of, with each image's ground-truth mask in the
/// model's view. Encoded in batches at absolute multiples of `batch_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowShardSpec {
    pub model: ModelRef,
    pub image_size: u32,
    /// As [`ImageShardSpec::dataset_root`].
    pub dataset_root: String,
    pub first_image: u64,
    pub images: Vec<ImageRecord>,
    pub batch_size: usize,
    /// Window sides in patches.
    pub scales: Vec<i64>,
    /// Also store the patch tokens (WinCLIP's few-shot memory needs them).
    pub patch_tokens: bool,
}

/// One FNN trial: config × seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialSpec {
    pub model: ModelRef,
    /// The grid point's name in metric rows ("" when the job has one point).
    pub config: String,
    pub seed: u64,
    /// Np: the trial trains on pairs `0 .. pairs` of its text shards.
    pub pairs: u64,
    pub words: WordPair,
    /// In pair order; together they cover at least `0 .. pairs`.
    pub text_shards: Vec<ShardId>,
    /// Every dataset the trial's FNN is evaluated on, in job order.
    pub datasets: Vec<TrialDataset>,
    pub fnn: FnnConfig,
    pub temperature: f64,
    pub object_word: String,
    /// Set on a job's first trial: it also maps prompts and sentences for
    /// Fig. 3 and Fig. 5. Omitted otherwise, so other trials' ids do not move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_maps: Option<LayerMapsSpec>,
    /// Anomaly-map methods scored per dataset with window shards; empty
    /// (and omitted) without maps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maps: Vec<rwclip_job::map_method::MapMethod>,
}

/// What the figure trial maps with t-SNE: its first `pairs` prompt pairs
/// and the user's sentences, through CLIP and each FNN layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMapsSpec {
    pub pairs: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentences: Vec<String>,
}

/// Prompt pairs on the t-SNE maps (each a normal and an anomaly point):
/// exact t-SNE is quadratic, and a few hundred points show the structure.
pub const LAYER_MAP_PAIRS: u64 = 200;

/// One dataset of a trial: its image shards and what it is scored under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialDataset {
    /// The name metric rows carry.
    pub name: String,
    pub setups: Vec<Setup>,
    /// In dataset order.
    pub image_shards: Vec<ShardId>,
    /// Multi-crop: the corner-view shards, in dataset order (empty = the eval
    /// view only). Image scores are then the mean over the five views.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corner_shards: Vec<ShardId>,
    /// Few-shot: eval-view embeddings of every reference image drawn for
    /// this trial (and others; shared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_shards: Vec<ShardId>,
    /// Few-shot: the references of each (k, category), drawn at plan time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceDraw>,
    /// With maps: where the windows of the test and reference images are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<DatasetMaps>,
}

/// One dataset's inputs to its anomaly maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMaps {
    /// Where the images are (the figure trial draws overlays of some).
    pub root: String,
    /// The test images' window shards, in dataset order.
    pub window_shards: Vec<ShardId>,
    /// Few-shot WinCLIP: the drawn references' window shards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_window_shards: Vec<ShardId>,
}

/// The k normal reference images of one category under one trial seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceDraw {
    pub shots: u32,
    pub category: String,
    /// Image paths, as in the reference shards' rows.
    pub paths: Vec<String>,
}

/// Mean ± std over a job's trials and the result tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateSpec {
    pub title: String,
    pub trials: Vec<ShardId>,
    /// The job's datasets in order, for the tables' column groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<DatasetColumn>,
    /// The trials made anomaly maps: the tables gain pixel columns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maps: bool,
}

/// A detector's scores of one row range of an archive (see
/// [`rwclip_scoring`]): every row gets a score or its error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreShardSpec {
    pub model: ModelRef,
    /// The detector file, and the digest of its bytes (a replaced detector
    /// file is a different shard).
    pub detector: String,
    pub detector_digest: String,
    pub input: crate::score_input::InputShard,
    pub batch_size: usize,
    /// Rows carry anomaly maps; absent when off, so shards planned without
    /// maps keep their ids.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maps: bool,
    /// Frames kept of each video among the rows; absent at the default, so
    /// image-only shards keep their ids.
    #[serde(default, skip_serializing_if = "rwclip_job::sampling::Sampling::is_default")]
    pub sampling: rwclip_job::sampling::Sampling,
}

/// `top_k.csv` and `summary.json` over every score shard of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummarySpec {
    pub title: String,
    /// In input order.
    pub shards: Vec<ShardId>,
    pub top_k: usize,
    pub rows: u64,
    /// The contact sheet shard, whose figure the summary publishes and puts
    /// in `results.html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_sheet: Option<ShardId>,
}

/// Thumbnails of a scoring job's best-scored images on one sheet, ranked
/// exactly as `top_k.csv` (ties in input order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSheetSpec {
    pub title: String,
    /// The score shards, in input order.
    pub shards: Vec<ShardId>,
    /// Where the input's relative image URIs resolve (its folder or prefix).
    pub root: String,
    /// Images on the sheet: the first of `top_k.csv`.
    pub images: usize,
    /// How the job sampled videos: a frame on the sheet is decoded again
    /// as its row was.
    #[serde(default, skip_serializing_if = "rwclip_job::sampling::Sampling::is_default")]
    pub sampling: rwclip_job::sampling::Sampling,
}

/// The executor input of one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShardSpec {
    TextEmbedding(TextShardSpec),
    ImageEmbedding(ImageShardSpec),
    WindowEmbedding(WindowShardSpec),
    Trial(TrialSpec),
    Aggregate(AggregateSpec),
    Score(ScoreShardSpec),
    ScoreSummary(ScoreSummarySpec),
    ContactSheet(ContactSheetSpec),
}

/// What a shard's work counts in, for throughput metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardItems {
    pub prompts: u64,
    pub images: u64,
}

impl ShardSpec {
    /// Prompts encoded and images encoded or scored by this shard (an image
    /// shard's views count once per image).
    pub fn items(&self) -> ShardItems {
        match self {
            ShardSpec::TextEmbedding(s) => ShardItems { prompts: 2 * s.pairs, images: 0 },
            ShardSpec::ImageEmbedding(s) => ShardItems { prompts: 0, images: s.images.len() as u64 },
            ShardSpec::WindowEmbedding(s) => ShardItems { prompts: 0, images: s.images.len() as u64 },
            ShardSpec::Score(s) => ShardItems { prompts: 0, images: s.input.rows },
            ShardSpec::Trial(_) | ShardSpec::Aggregate(_) | ShardSpec::ScoreSummary(_) | ShardSpec::ContactSheet(_) => ShardItems::default(),
        }
    }

    pub fn kind(&self) -> ShardKind {
        match self {
            ShardSpec::TextEmbedding(_) => ShardKind::TextEmbedding,
            // Window shards are image encoding too: the same stage, model and workers.
            ShardSpec::ImageEmbedding(_) | ShardSpec::WindowEmbedding(_) => ShardKind::ImageEmbedding,
            ShardSpec::Trial(_) => ShardKind::Trial,
            ShardSpec::Aggregate(_) | ShardSpec::ScoreSummary(_) => ShardKind::Aggregate,
            ShardSpec::Score(_) => ShardKind::Score,
            ShardSpec::ContactSheet(_) => ShardKind::ContactSheet,
        }
    }

    /// The model the shard loads, if any.
    pub fn model(&self) -> Option<&ModelRef> {
        match self {
            ShardSpec::TextEmbedding(s) => Some(&s.model),
            ShardSpec::ImageEmbedding(s) => Some(&s.model),
            ShardSpec::WindowEmbedding(s) => Some(&s.model),
            ShardSpec::Trial(s) => Some(&s.model),
            ShardSpec::Score(s) => Some(&s.model),
            ShardSpec::Aggregate(_) | ShardSpec::ScoreSummary(_) | ShardSpec::ContactSheet(_) => None,
        }
    }

    /// Shards whose committed outputs this one reads.
    pub fn deps(&self) -> Vec<ShardId> {
        match self {
            ShardSpec::TextEmbedding(_) | ShardSpec::ImageEmbedding(_) | ShardSpec::WindowEmbedding(_) | ShardSpec::Score(_) => Vec::new(),
            ShardSpec::ScoreSummary(s) => s.shards.iter().chain(&s.contact_sheet).cloned().collect(),
            ShardSpec::ContactSheet(s) => s.shards.clone(),
            ShardSpec::Trial(t) => {
                let windows = t.datasets.iter().flat_map(|d| d.maps.iter().flat_map(|m| m.window_shards.iter().chain(&m.reference_window_shards)));
                let images = t.datasets.iter().flat_map(|d| d.image_shards.iter().chain(&d.corner_shards).chain(&d.reference_shards)).chain(windows);
                let mut deps: Vec<ShardId> = t.text_shards.iter().cloned().collect();
                for id in images {
                    if !deps.contains(id) {
                        deps.push(id.clone());
                    }
                }
                deps
            }
            ShardSpec::Aggregate(a) => a.trials.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("shard specs are plain data and always serialise")
    }

    pub fn from_json(json: &str) -> Result<ShardSpec, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// `<kind>-<hash of the spec JSON>`: the spec names every input
    /// (including its deps' ids, themselves content hashes), so equal ids
    /// mean equal outputs.
    pub fn id(&self) -> ShardId {
        let prefix = match self.kind() {
            ShardKind::TextEmbedding => "text",
            ShardKind::ImageEmbedding if matches!(self, ShardSpec::WindowEmbedding(_)) => "window",
            ShardKind::ImageEmbedding => "image",
            ShardKind::Trial => "trial",
            ShardKind::Aggregate if matches!(self, ShardSpec::ScoreSummary(_)) => "score-summary",
            ShardKind::Aggregate => "aggregate",
            ShardKind::Score => "score",
            ShardKind::ContactSheet => "contact-sheet",
        };
        ShardId(format!("{prefix}-{}", rwclip_core::hash::content_hash(self.to_json().as_bytes())))
    }
}
