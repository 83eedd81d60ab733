//! Every artifact rwclip stores, in one place. This file is the source of truth
//! for the Parquet schemas; docs/artifacts.md describes the same tables for
//! people (a test keeps the two in sync).
//!
//! Each Parquet file carries, as schema metadata, the artifact kind
//! (`rwclip.artifact`), the format version (`rwclip.format_version`) and a
//! sentence about the artifact (`rwclip.description`); each column carries a
//! `description` field metadata entry, so a pyarrow reader knows what a column
//! means without this code. Only the `Optional…` columns are nullable.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Metadata, Schema};

/// Schema metadata key naming the artifact kind, e.g. `"prompts"`.
pub const ARTIFACT_KEY: &str = "rwclip.artifact";
/// Schema metadata key holding [`FORMAT_VERSION`].
pub const FORMAT_VERSION_KEY: &str = "rwclip.format_version";
/// Schema metadata key holding the artifact's one-sentence description.
pub const ARTIFACT_DESCRIPTION_KEY: &str = "rwclip.description";
/// Field metadata key holding a column's description.
pub const DESCRIPTION_KEY: &str = "description";
/// The format version of artifacts that never changed. A kind's version
/// ([`ArtifactKind::format_version`]) is bumped whenever one of its columns
/// is added, removed, renamed or changes meaning.
pub const FORMAT_VERSION: &str = "1";

/// What kind of values a column holds. `Embedding` is a
/// `FixedSizeList<Float32, D>` whose `D` comes from the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    U8,
    /// A 0/1 label that may be null: embeddings of free-form inputs
    /// (`rwclip embed text|images` on unlabelled data) have no ground truth.
    OptionalLabel,
    U64,
    /// A u64 that may be null (the seed of free-form text embeddings).
    OptionalU64,
    F64,
    /// An f64 that may be null (the scores of an image that could not be read).
    OptionalF64,
    Utf8,
    /// Text that may be null (an error message, null when there was none).
    OptionalUtf8,
    /// Bytes that may be null (a quantised anomaly map).
    OptionalBinary,
    Embedding,
}

/// One column of an artifact: name, type and what it means.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub column_type: ColumnType,
    pub description: &'static str,
}

const fn col(name: &'static str, column_type: ColumnType, description: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        column_type,
        description,
    }
}

use ColumnType::{Embedding, OptionalBinary, OptionalF64, OptionalLabel, OptionalU64, OptionalUtf8, Utf8, F64, U64, U8};

const LABEL_PROMPT: &str = "0 = normal prompt, 1 = anomalous prompt";
const LABEL_IMAGE: &str = "ground truth: 0 = normal image, 1 = anomalous image";
const LABEL_PROMPT_OPTIONAL: &str =
    "0 = normal prompt, 1 = anomalous prompt; null for free-form prompts (rwclip embed text)";
const LABEL_IMAGE_OPTIONAL: &str =
    "ground truth: 0 = normal image, 1 = anomalous image; null for unlabelled images";
const TEXT: &str = "the prompt text fed to the CLIP tokenizer";
const PAIR_ID: &str =
    "index of the normal/anomalous prompt pair; with the seed it determines both prompts";
const PATH: &str = "image path relative to the dataset root";
const CATEGORY: &str = "dataset category (object class) of the image";
const CONFIG: &str = "name of the run configuration (job) that produced the numbers";
const SCORE_KIND: &str =
    "which score was evaluated: clip (s_pr), ours (s_fnn), clip+ours (s_pr + s_fnn) or winclip (WinCLIP, when it is a map method)";
const METRIC_CATEGORY: &str = "dataset category, or \"mean\" for the mean over categories";

const PROMPTS: &[ColumnSpec] = &[
    col("pair_id", U64, PAIR_ID),
    col("seed", U64, "prompt generation seed (PromptGenerator.seed)"),
    col("label", U8, LABEL_PROMPT),
    col("text", Utf8, TEXT),
];

const TEXT_EMBEDDINGS: &[ColumnSpec] = &[
    col("pair_id", U64, PAIR_ID),
    col("seed", OptionalU64, "prompt generation seed (PromptGenerator.seed); null for free-form prompts (rwclip embed text)"),
    col("label", OptionalLabel, LABEL_PROMPT_OPTIONAL),
    col("text", Utf8, TEXT),
    col(
        "embedding",
        Embedding,
        "CLIP text tower output for the prompt, NOT L2-normalised",
    ),
];

const IMAGE_EMBEDDINGS: &[ColumnSpec] = &[
    col("path", Utf8, PATH),
    col("category", Utf8, CATEGORY),
    col("label", OptionalLabel, LABEL_IMAGE_OPTIONAL),
    col(
        "defect",
        Utf8,
        "defect type directory (\"good\" for normal images)",
    ),
    col(
        "embedding",
        Embedding,
        "CLIP image tower output for the image, NOT L2-normalised",
    ),
];

const DATASET: &str = "name of the dataset the image belongs to (the job's [[datasets]] name)";

const SCORES: &[ColumnSpec] = &[
    col("dataset", Utf8, DATASET),
    col("path", Utf8, PATH),
    col("category", Utf8, CATEGORY),
    col("label", U8, LABEL_IMAGE),
    col(
        "seed",
        U64,
        "seed of the prompts and FNN training run that produced s_fnn",
    ),
    col(
        "s_pr",
        F64,
        "prompt-guided CLIP score (paper s_pr): anomaly-prompt probability",
    ),
    col(
        "s_fnn",
        F64,
        "FNN anomaly score of the image embedding (paper s_FNN)",
    ),
    col(
        "s_combined",
        F64,
        "s_pr + s_fnn (the paper's \"CLIP + ours\"); few-shot setups add s_img",
    ),
];

const METRICS: &[ColumnSpec] = &[
    col("dataset", Utf8, DATASET),
    col("config", Utf8, CONFIG),
    col("seed", U64, "seed of the run the metrics were computed on"),
    col("category", Utf8, METRIC_CATEGORY),
    col("score", Utf8, SCORE_KIND),
    col("auroc", F64, "image-level AUROC (sklearn roc_auc_score)"),
    col(
        "aupr",
        F64,
        "image-level AUPR: trapezoid auc(recall, precision) over sklearn precision_recall_curve",
    ),
    col("average_precision", F64, "sklearn average_precision_score"),
    col(
        "f1_max",
        F64,
        "maximum F1 over the points of the precision-recall curve",
    ),
    col("pixel_auroc", OptionalF64, "pixel AUROC of the score kind's anomaly maps over all pixels of the category's test images (sklearn roc_auc_score); null without maps or pixel ground truth"),
    col("aupro", OptionalF64, "AUPRO@0.3 of the maps (MVTec AD: 8-connected regions, exact curve to FPR 0.3, divided by 0.3); null without maps or pixel ground truth"),
    col("pro_200", OptionalF64, "PRO over 200 evenly spaced thresholds integrated to FPR 0.3 (cflow-ad's variant, as published zero-shot numbers use); null without maps or pixel ground truth"),
];

const SUMMARY: &[ColumnSpec] = &[
    col("dataset", Utf8, DATASET),
    col("config", Utf8, CONFIG),
    col("category", Utf8, METRIC_CATEGORY),
    col("score", Utf8, SCORE_KIND),
    col("auroc_mean", F64, "mean AUROC over seeds"),
    col(
        "auroc_std",
        F64,
        "population standard deviation (ddof=0) of AUROC over seeds",
    ),
    col("aupr_mean", F64, "mean AUPR over seeds"),
    col(
        "aupr_std",
        F64,
        "population standard deviation (ddof=0) of AUPR over seeds",
    ),
    col(
        "average_precision_mean",
        F64,
        "mean average precision over seeds",
    ),
    col(
        "average_precision_std",
        F64,
        "population standard deviation (ddof=0) of average precision over seeds",
    ),
    col("f1_max_mean", F64, "mean F1-max over seeds"),
    col(
        "f1_max_std",
        F64,
        "population standard deviation (ddof=0) of F1-max over seeds",
    ),
    col(
        "n_seeds",
        U64,
        "number of seeds the mean and std are taken over",
    ),
    col("pixel_auroc_mean", OptionalF64, "mean pixel AUROC over the seeds that define it; null without maps or pixel ground truth"),
    col("pixel_auroc_std", OptionalF64, "population standard deviation (ddof=0) of pixel AUROC over those seeds"),
    col("aupro_mean", OptionalF64, "mean AUPRO@0.3 over the seeds that define it; null without maps or pixel ground truth"),
    col("aupro_std", OptionalF64, "population standard deviation (ddof=0) of AUPRO@0.3 over those seeds"),
    col("pro_200_mean", OptionalF64, "mean PRO-200 over the seeds that define it; null without maps or pixel ground truth"),
    col("pro_200_std", OptionalF64, "population standard deviation (ddof=0) of PRO-200 over those seeds"),
];

const WINDOW_EMBEDDINGS: &[ColumnSpec] = &[
    col("path", Utf8, PATH),
    col("category", Utf8, CATEGORY),
    col("label", OptionalLabel, LABEL_IMAGE_OPTIONAL),
    col("mask", OptionalBinary, "ground truth in the model's view: one byte per pixel (0 normal, 1 anomalous), S × S row-major; null for a normal image (all 0) or without pixel ground truth (Sewer-ML)"),
    col("windows", OptionalBinary, "every window embedding (k×k patches encoded as their own sequence, NOT L2-normalised), scale by scale, windows row by row of their top-left patch: [Σ windows, D] float16 little-endian; never null"),
    col("patch_tokens", OptionalBinary, "the image's ln_post patch tokens (not projected): [grid², width] float16 little-endian; null when no map method needs them"),
];

const IMAGE_SCORES: &[ColumnSpec] = &[
    col("uri", Utf8, "the image as the input names it (a manifest's uri, or the full URI below a scored folder or prefix)"),
    col("score", OptionalF64, "the detector's score (its `score` kind: fnn, pr or pr+fnn); null when the image could not be scored"),
    col("s_fnn", OptionalF64, "FNN anomaly score of the image embedding (paper s_FNN); null when the image could not be scored"),
    col("s_pr", OptionalF64, "prompt-guided CLIP score (paper s_pr); null when the image could not be scored"),
    col("error", OptionalUtf8, "why the image could not be scored (missing, unreadable, not an image); null when it was"),
    col("map_max", OptionalF64, "with maps on: the largest value of the image's anomaly map (the detector's score kind on windows); null otherwise"),
    col("map", OptionalBinary, "with maps on: the anomaly map on the patch grid, row-major, one byte per patch: value = byte / 255 × map_max; null otherwise"),
    col("frame", OptionalU64, "for a frame of a video (uri names the video): the frame's index in the stream, in decode order from 0; null for stills and for a video's error row"),
    col("pts_s", OptionalF64, "for a frame of a video: its timestamp, seconds after the stream's start; on a video's error row, how far decoding got; null for stills"),
    col("target_s", OptionalF64, "for a frame sampled at `fps`: the tick k / fps it stands for (it is the first frame at or after it); null otherwise"),
    col("distance_m", OptionalF64, "for a frame of a video whose manifest row gives `length_m` or `start_m`/`end_m`: metres along the pipe, start_m + (end_m - start_m) * pts_s / duration (constant camera speed); null otherwise"),
];

const VIDEOS: &[ColumnSpec] = &[
    col("uri", Utf8, "the video as the input names it"),
    col("frames_scored", U64, "sampled frames of the video that were scored"),
    col("errors", U64, "error rows of the video (0, or 1: why it could not be read, or read to its end)"),
    col("error", OptionalUtf8, "that error row's text; null when the video was read to its end"),
    col("max_score", OptionalF64, "the highest score of any of its frames; null when none was scored"),
    col("max_at_s", OptionalF64, "when that frame is, seconds after the stream's start; null when none was scored"),
    col("moments", Utf8, "the top moments as a JSON list of {at_s, frame, score, distance_m (when the manifest gives the video's span)}: peaks of the score over time, highest first, at least 10 s apart, at most 5"),
];

/// The artifact kinds; `name()` is what the Parquet metadata records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    Prompts,
    TextEmbeddings,
    ImageEmbeddings,
    Scores,
    Metrics,
    Summary,
    ImageScores,
    WindowEmbeddings,
    Videos,
}

impl ArtifactKind {
    pub const ALL: [ArtifactKind; 9] = [
        ArtifactKind::Prompts,
        ArtifactKind::TextEmbeddings,
        ArtifactKind::ImageEmbeddings,
        ArtifactKind::Scores,
        ArtifactKind::Metrics,
        ArtifactKind::Summary,
        ArtifactKind::ImageScores,
        ArtifactKind::WindowEmbeddings,
        ArtifactKind::Videos,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Prompts => "prompts",
            ArtifactKind::TextEmbeddings => "text_embeddings",
            ArtifactKind::ImageEmbeddings => "image_embeddings",
            ArtifactKind::Scores => "scores",
            ArtifactKind::Metrics => "metrics",
            ArtifactKind::Summary => "summary",
            ArtifactKind::ImageScores => "image_scores",
            ArtifactKind::WindowEmbeddings => "window_embeddings",
            ArtifactKind::Videos => "videos",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ArtifactKind::Prompts => "random-word training prompts, one row per prompt, two rows (normal, anomalous) per pair",
            ArtifactKind::TextEmbeddings => "CLIP text embeddings of the training prompts",
            ArtifactKind::ImageEmbeddings => "CLIP image embeddings of the test images",
            ArtifactKind::Scores => "per-image anomaly scores of one seed",
            ArtifactKind::Metrics => "image-level metrics per category, seed and score kind",
            ArtifactKind::Summary => "metrics aggregated over seeds: mean and std per category and score kind",
            ArtifactKind::ImageScores => "a detector's scores of archive images, one row per input image, in input order",
            ArtifactKind::WindowEmbeddings => "per test image, the window embeddings and patch tokens its anomaly maps are made of, and its ground-truth mask",
            ArtifactKind::Videos => "a scoring job's results per input video, in input order: frames scored, errors, the highest score and when, the top moments",
        }
    }

    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            ArtifactKind::Prompts => PROMPTS,
            ArtifactKind::TextEmbeddings => TEXT_EMBEDDINGS,
            ArtifactKind::ImageEmbeddings => IMAGE_EMBEDDINGS,
            ArtifactKind::Scores => SCORES,
            ArtifactKind::Metrics => METRICS,
            ArtifactKind::Summary => SUMMARY,
            ArtifactKind::ImageScores => IMAGE_SCORES,
            ArtifactKind::WindowEmbeddings => WINDOW_EMBEDDINGS,
            ArtifactKind::Videos => VIDEOS,
        }
    }

    /// The version this code writes. Version 2 of `text_embeddings` added
    /// `seed`; version-1 files still read (with a null seed). Version 2 of
    /// `scores`, `metrics` and `summary` added `dataset`; version-1 files
    /// read with an empty dataset name. Version 2 of `image_scores` added
    /// `map_max` and `map`; version-1 files read with null maps. Version 3
    /// of `metrics` and `summary` added the pixel metrics; older files read
    /// with nulls there. Version 3 of `image_scores` added `frame`, `pts_s`
    /// and `target_s` (rows of videos); older files read as stills. Version
    /// 4 added `distance_m`; older files read with it null.
    pub fn format_version(self) -> &'static str {
        match self {
            ArtifactKind::ImageScores => "4",
            ArtifactKind::Metrics | ArtifactKind::Summary => "3",
            ArtifactKind::TextEmbeddings | ArtifactKind::Scores => "2",
            _ => FORMAT_VERSION,
        }
    }

    /// Versions this code reads.
    pub fn readable_versions(self) -> &'static [&'static str] {
        match self {
            ArtifactKind::ImageScores => &["4", "3", "2", "1"],
            ArtifactKind::Metrics | ArtifactKind::Summary => &["3", "2", "1"],
            ArtifactKind::TextEmbeddings | ArtifactKind::Scores => &["2", "1"],
            _ => &[FORMAT_VERSION],
        }
    }

    /// The Arrow schema of this artifact; `embedding_dim` is the `D` of the
    /// embedding column (ignored by kinds without one).
    pub fn schema(self, embedding_dim: usize) -> Schema {
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| {
                let nullable = c.column_type.is_nullable();
                Field::new(c.name, c.column_type.data_type(embedding_dim), nullable)
                    .with_metadata(Metadata::from([(DESCRIPTION_KEY, c.description)]))
            })
            .collect();
        Schema::new_with_metadata(
            fields,
            Metadata::from([
                (ARTIFACT_KEY, self.name()),
                (FORMAT_VERSION_KEY, self.format_version()),
                (ARTIFACT_DESCRIPTION_KEY, self.description()),
            ]),
        )
    }
}

impl ColumnType {
    pub fn is_nullable(self) -> bool {
        matches!(self, ColumnType::OptionalLabel | ColumnType::OptionalU64 | ColumnType::OptionalF64 | ColumnType::OptionalUtf8 | ColumnType::OptionalBinary)
    }

    pub fn data_type(self, embedding_dim: usize) -> DataType {
        match self {
            ColumnType::U8 | ColumnType::OptionalLabel => DataType::UInt8,
            ColumnType::U64 | ColumnType::OptionalU64 => DataType::UInt64,
            ColumnType::F64 | ColumnType::OptionalF64 => DataType::Float64,
            ColumnType::Utf8 | ColumnType::OptionalUtf8 => DataType::Utf8,
            ColumnType::OptionalBinary => DataType::Binary,
            // i32 is Arrow's list size type; CLIP widths are far below its range.
            ColumnType::Embedding => {
                DataType::FixedSizeList(Arc::new(embedding_item_field()), embedding_dim as i32)
            }
        }
    }
}

/// The child field of embedding lists (pyarrow's default name "item").
pub fn embedding_item_field() -> Field {
    Field::new("item", DataType::Float32, false)
}
