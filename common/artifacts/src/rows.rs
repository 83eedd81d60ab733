//! The in-memory rows of each artifact and their column mapping. Column
//! names, types and meanings are documented in `schema.rs`; the order of the
//! columns built here must follow it (checked when the batch is assembled).

use arrow_array::ArrayRef;

use super::columns::{
    embedding_column, f64_column, optional_binary_column, optional_f64_column, optional_u64_column, optional_u8_column, optional_utf8_column, u64_column,
    u8_column, utf8_column, BatchColumns, ColumnCodec,
};
use super::error::ArtifactError;
use super::schema::ArtifactKind;

/// One training prompt (two rows per pair: label 0 normal, 1 anomalous).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRow {
    pub pair_id: u64,
    pub seed: u64,
    pub label: u8,
    pub text: String,
}

/// A prompt and its CLIP text embedding (unnormalised tower output).
#[derive(Debug, Clone, PartialEq)]
pub struct TextEmbeddingRow {
    pub pair_id: u64,
    /// The prompts' generation seed; `None` for free-form prompts.
    pub seed: Option<u64>,
    /// `None` for free-form prompts that are neither normal nor anomalous.
    pub label: Option<u8>,
    pub text: String,
    pub embedding: Vec<f32>,
}

/// A test image and its CLIP image embedding (unnormalised tower output).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEmbeddingRow {
    pub path: String,
    pub category: String,
    /// `None` for unlabelled images (a plain folder, an archive to score).
    pub label: Option<u8>,
    pub defect: String,
    pub embedding: Vec<f32>,
}

/// The anomaly scores of one test image under one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub dataset: String,
    pub path: String,
    pub category: String,
    pub label: u8,
    pub seed: u64,
    pub s_pr: f64,
    pub s_fnn: f64,
    pub s_combined: f64,
}

/// Metrics of one score kind on one category (or "mean") under one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub dataset: String,
    pub config: String,
    pub seed: u64,
    pub category: String,
    pub score: String,
    pub auroc: f64,
    pub aupr: f64,
    pub average_precision: f64,
    pub f1_max: f64,
    /// Pixel-level metrics of the score kind's anomaly maps; `None` without
    /// maps, or without pixel ground truth (Sewer-ML).
    pub pixel: PixelMetricValues,
}

/// Pixel AUROC, AUPRO@0.3 and PRO-200 of one category (or the mean over
/// the categories that define them); each `None` where undefined.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PixelMetricValues {
    pub pixel_auroc: Option<f64>,
    pub aupro: Option<f64>,
    pub pro_200: Option<f64>,
}

/// Mean and population std over seeds of one category's metrics for one score kind.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub dataset: String,
    pub config: String,
    pub category: String,
    pub score: String,
    pub auroc_mean: f64,
    pub auroc_std: f64,
    pub aupr_mean: f64,
    pub aupr_std: f64,
    pub average_precision_mean: f64,
    pub average_precision_std: f64,
    pub f1_max_mean: f64,
    pub f1_max_std: f64,
    pub n_seeds: u64,
    /// Mean and std over the seeds that define each pixel metric.
    pub pixel: PixelMetricStats,
}

type Columns = Result<(Vec<ArrayRef>, usize), ArtifactError>;

impl ColumnCodec for PromptRow {
    const KIND: ArtifactKind = ArtifactKind::Prompts;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                u64_column(rows, |r| r.pair_id),
                u64_column(rows, |r| r.seed),
                u8_column(rows, |r| r.label),
                utf8_column(rows, |r| &r.text),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (pair_id, seed, label, text) = (
            c.u64("pair_id")?,
            c.u64("seed")?,
            c.label("label")?,
            c.utf8("text")?,
        );
        Ok((0..c.num_rows())
            .map(|i| PromptRow {
                pair_id: pair_id.value(i),
                seed: seed.value(i),
                label: label.value(i),
                text: text.value(i).to_string(),
            })
            .collect())
    }
}

impl ColumnCodec for TextEmbeddingRow {
    const KIND: ArtifactKind = ArtifactKind::TextEmbeddings;

    fn to_columns(rows: &[Self]) -> Columns {
        let (embedding, dim) = embedding_column(Self::KIND, rows, |r| &r.embedding)?;
        Ok((
            vec![
                u64_column(rows, |r| r.pair_id),
                optional_u64_column(rows, |r| r.seed),
                optional_u8_column(rows, |r| r.label),
                utf8_column(rows, |r| &r.text),
                embedding,
            ],
            dim,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (pair_id, label, text) = (c.u64("pair_id")?, c.optional_label("label")?, c.utf8("text")?);
        let seed = c.optional_u64_if_present("seed")?;
        let embeddings = c.embeddings("embedding")?;
        Ok(embeddings
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| TextEmbeddingRow {
                pair_id: pair_id.value(i),
                seed: seed[i],
                label: label[i],
                text: text.value(i).to_string(),
                embedding,
            })
            .collect())
    }
}

impl ColumnCodec for ImageEmbeddingRow {
    const KIND: ArtifactKind = ArtifactKind::ImageEmbeddings;

    fn to_columns(rows: &[Self]) -> Columns {
        let (embedding, dim) = embedding_column(Self::KIND, rows, |r| &r.embedding)?;
        Ok((
            vec![
                utf8_column(rows, |r| &r.path),
                utf8_column(rows, |r| &r.category),
                optional_u8_column(rows, |r| r.label),
                utf8_column(rows, |r| &r.defect),
                embedding,
            ],
            dim,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (path, category, label, defect) = (
            c.utf8("path")?,
            c.utf8("category")?,
            c.optional_label("label")?,
            c.utf8("defect")?,
        );
        let embeddings = c.embeddings("embedding")?;
        Ok(embeddings
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| ImageEmbeddingRow {
                path: path.value(i).to_string(),
                category: category.value(i).to_string(),
                label: label[i],
                defect: defect.value(i).to_string(),
                embedding,
            })
            .collect())
    }
}

impl ColumnCodec for ScoreRow {
    const KIND: ArtifactKind = ArtifactKind::Scores;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                utf8_column(rows, |r| &r.dataset),
                utf8_column(rows, |r| &r.path),
                utf8_column(rows, |r| &r.category),
                u8_column(rows, |r| r.label),
                u64_column(rows, |r| r.seed),
                f64_column(rows, |r| r.s_pr),
                f64_column(rows, |r| r.s_fnn),
                f64_column(rows, |r| r.s_combined),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (path, category, label, seed) = (
            c.utf8("path")?,
            c.utf8("category")?,
            c.label("label")?,
            c.u64("seed")?,
        );
        let (s_pr, s_fnn, s_combined) = (c.f64("s_pr")?, c.f64("s_fnn")?, c.f64("s_combined")?);
        let dataset = c.utf8_or("dataset", "")?;
        Ok((0..c.num_rows())
            .map(|i| ScoreRow {
                dataset: dataset[i].clone(),
                path: path.value(i).to_string(),
                category: category.value(i).to_string(),
                label: label.value(i),
                seed: seed.value(i),
                s_pr: s_pr.value(i),
                s_fnn: s_fnn.value(i),
                s_combined: s_combined.value(i),
            })
            .collect())
    }
}

impl ColumnCodec for MetricRow {
    const KIND: ArtifactKind = ArtifactKind::Metrics;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                utf8_column(rows, |r| &r.dataset),
                utf8_column(rows, |r| &r.config),
                u64_column(rows, |r| r.seed),
                utf8_column(rows, |r| &r.category),
                utf8_column(rows, |r| &r.score),
                f64_column(rows, |r| r.auroc),
                f64_column(rows, |r| r.aupr),
                f64_column(rows, |r| r.average_precision),
                f64_column(rows, |r| r.f1_max),
                optional_f64_column(rows, |r| r.pixel.pixel_auroc),
                optional_f64_column(rows, |r| r.pixel.aupro),
                optional_f64_column(rows, |r| r.pixel.pro_200),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (config, seed, category, score) = (
            c.utf8("config")?,
            c.u64("seed")?,
            c.utf8("category")?,
            c.utf8("score")?,
        );
        let (auroc, aupr) = (c.f64("auroc")?, c.f64("aupr")?);
        let (average_precision, f1_max) = (c.f64("average_precision")?, c.f64("f1_max")?);
        let dataset = c.utf8_or("dataset", "")?;
        let (pixel_auroc, aupro, pro_200) = (c.optional_f64_if_present("pixel_auroc")?, c.optional_f64_if_present("aupro")?, c.optional_f64_if_present("pro_200")?);
        Ok((0..c.num_rows())
            .map(|i| MetricRow {
                dataset: dataset[i].clone(),
                config: config.value(i).to_string(),
                seed: seed.value(i),
                category: category.value(i).to_string(),
                score: score.value(i).to_string(),
                auroc: auroc.value(i),
                aupr: aupr.value(i),
                average_precision: average_precision.value(i),
                f1_max: f1_max.value(i),
                pixel: PixelMetricValues { pixel_auroc: pixel_auroc[i], aupro: aupro[i], pro_200: pro_200[i] },
            })
            .collect())
    }
}

impl ColumnCodec for SummaryRow {
    const KIND: ArtifactKind = ArtifactKind::Summary;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                utf8_column(rows, |r| &r.dataset),
                utf8_column(rows, |r| &r.config),
                utf8_column(rows, |r| &r.category),
                utf8_column(rows, |r| &r.score),
                f64_column(rows, |r| r.auroc_mean),
                f64_column(rows, |r| r.auroc_std),
                f64_column(rows, |r| r.aupr_mean),
                f64_column(rows, |r| r.aupr_std),
                f64_column(rows, |r| r.average_precision_mean),
                f64_column(rows, |r| r.average_precision_std),
                f64_column(rows, |r| r.f1_max_mean),
                f64_column(rows, |r| r.f1_max_std),
                u64_column(rows, |r| r.n_seeds),
                optional_f64_column(rows, |r| r.pixel.pixel_auroc.map(|m| m.0)),
                optional_f64_column(rows, |r| r.pixel.pixel_auroc.map(|m| m.1)),
                optional_f64_column(rows, |r| r.pixel.aupro.map(|m| m.0)),
                optional_f64_column(rows, |r| r.pixel.aupro.map(|m| m.1)),
                optional_f64_column(rows, |r| r.pixel.pro_200.map(|m| m.0)),
                optional_f64_column(rows, |r| r.pixel.pro_200.map(|m| m.1)),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (config, category, score) = (c.utf8("config")?, c.utf8("category")?, c.utf8("score")?);
        let (auroc_mean, auroc_std) = (c.f64("auroc_mean")?, c.f64("auroc_std")?);
        let (aupr_mean, aupr_std) = (c.f64("aupr_mean")?, c.f64("aupr_std")?);
        let (ap_mean, ap_std) = (
            c.f64("average_precision_mean")?,
            c.f64("average_precision_std")?,
        );
        let (f1_mean, f1_std) = (c.f64("f1_max_mean")?, c.f64("f1_max_std")?);
        let n_seeds = c.u64("n_seeds")?;
        let dataset = c.utf8_or("dataset", "")?;
        let stat = |mean: &'static str, std: &'static str| -> Result<Vec<Option<(f64, f64)>>, ArtifactError> {
            Ok(c.optional_f64_if_present(mean)?.into_iter().zip(c.optional_f64_if_present(std)?).map(|(m, s)| m.zip(s)).collect())
        };
        let (pixel_auroc, aupro, pro_200) = (stat("pixel_auroc_mean", "pixel_auroc_std")?, stat("aupro_mean", "aupro_std")?, stat("pro_200_mean", "pro_200_std")?);
        Ok((0..c.num_rows())
            .map(|i| SummaryRow {
                dataset: dataset[i].clone(),
                config: config.value(i).to_string(),
                category: category.value(i).to_string(),
                score: score.value(i).to_string(),
                auroc_mean: auroc_mean.value(i),
                auroc_std: auroc_std.value(i),
                aupr_mean: aupr_mean.value(i),
                aupr_std: aupr_std.value(i),
                average_precision_mean: ap_mean.value(i),
                average_precision_std: ap_std.value(i),
                f1_max_mean: f1_mean.value(i),
                f1_max_std: f1_std.value(i),
                n_seeds: n_seeds.value(i),
                pixel: PixelMetricStats { pixel_auroc: pixel_auroc[i], aupro: aupro[i], pro_200: pro_200[i] },
            })
            .collect())
    }
}

/// Mean ± std over seeds of each pixel metric; `None` where no seed defines it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PixelMetricStats {
    pub pixel_auroc: Option<(f64, f64)>,
    pub aupro: Option<(f64, f64)>,
    pub pro_200: Option<(f64, f64)>,
}

/// One image's window embeddings and patch tokens (the inputs of its
/// anomaly maps) and its ground-truth mask, compactly: f16 little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEmbeddingRow {
    pub path: String,
    pub category: String,
    pub label: Option<u8>,
    /// 0/1 per pixel of the model's view (S × S, row-major); `None`
    /// without pixel ground truth (an unlabelled image, Sewer-ML).
    pub mask: Option<Vec<u8>>,
    /// [Σ windows over the scales, embed_dim] f16: every window of the
    /// first scale, then the next, unnormalised.
    pub windows: Vec<u8>,
    /// [grid², width] f16 `ln_post` patch tokens (WinCLIP's few-shot
    /// memory); `None` when the job's maps do not need them.
    pub patch_tokens: Option<Vec<u8>>,
}

/// A detector's scores of one archive image; the scores are `None` and
/// `error` says why when the image could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageScoreRow {
    pub uri: String,
    pub score: Option<f64>,
    pub s_fnn: Option<f64>,
    pub s_pr: Option<f64>,
    pub error: Option<String>,
    /// With maps on: the anomaly map on the patch grid.
    pub map: Option<QuantisedMap>,
    /// For a row of a video: which frame, and when.
    pub at: Option<FrameAt>,
}

impl ImageScoreRow {
    /// A row that could not be scored, and why.
    pub fn failed(uri: &str, error: String, at: Option<FrameAt>) -> ImageScoreRow {
        ImageScoreRow { uri: uri.to_string(), score: None, s_fnn: None, s_pr: None, error: Some(error), map: None, at }
    }
}

/// A scoring job's results for one input video (`videos.parquet`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoMoment {
    pub at_s: f64,
    pub frame: Option<u64>,
    pub score: f64,
    /// Metres along the pipe, when the manifest gives the video's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VideoRow {
    pub uri: String,
    pub frames_scored: u64,
    pub errors: u64,
    /// The first error row's text (an unreadable video, or how it ended).
    pub error: Option<String>,
    pub max_score: Option<f64>,
    pub max_at_s: Option<f64>,
    pub moments: Vec<VideoMoment>,
}

/// Where in its video a scored frame is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameAt {
    /// Index in the stream (decode order); `None` on a video's error row.
    pub frame: Option<u64>,
    /// Seconds after the stream's start.
    pub pts_s: f64,
    /// The sampling tick the frame stands for (fps sampling).
    pub target_s: Option<f64>,
    /// Metres along the pipe, when the manifest gives the video's span.
    pub distance_m: Option<f64>,
}

/// An anomaly map on the patch grid in a byte per patch: value ≈ byte / 255 × `max`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantisedMap {
    pub max: f64,
    pub bytes: Vec<u8>,
}

impl QuantisedMap {
    /// Non-negative `values` (every map method's are) scaled to their maximum.
    pub fn quantise(values: &[f32]) -> QuantisedMap {
        let max = values.iter().copied().fold(0.0f32, f32::max);
        let bytes = values.iter().map(|&v| if max > 0.0 { (v.max(0.0) / max * 255.0).round() as u8 } else { 0 }).collect();
        QuantisedMap { max: f64::from(max), bytes }
    }

    pub fn values(&self) -> Vec<f32> {
        self.bytes.iter().map(|&b| (f64::from(b) / 255.0 * self.max) as f32).collect()
    }
}

impl ColumnCodec for ImageScoreRow {
    const KIND: ArtifactKind = ArtifactKind::ImageScores;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                utf8_column(rows, |r| &r.uri),
                optional_f64_column(rows, |r| r.score),
                optional_f64_column(rows, |r| r.s_fnn),
                optional_f64_column(rows, |r| r.s_pr),
                optional_utf8_column(rows, |r| r.error.as_deref()),
                optional_f64_column(rows, |r| r.map.as_ref().map(|m| m.max)),
                optional_binary_column(rows, |r| r.map.as_ref().map(|m| m.bytes.as_slice())),
                optional_u64_column(rows, |r| r.at.and_then(|a| a.frame)),
                optional_f64_column(rows, |r| r.at.map(|a| a.pts_s)),
                optional_f64_column(rows, |r| r.at.and_then(|a| a.target_s)),
                optional_f64_column(rows, |r| r.at.and_then(|a| a.distance_m)),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let uri = c.utf8("uri")?;
        let (frame, pts_s, target_s) = (c.optional_u64_if_present("frame")?, c.optional_f64_if_present("pts_s")?, c.optional_f64_if_present("target_s")?);
        let distance_m = c.optional_f64_if_present("distance_m")?;
        let (score, s_fnn, s_pr, error) = (c.optional_f64("score")?, c.optional_f64("s_fnn")?, c.optional_f64("s_pr")?, c.optional_utf8("error")?);
        let (map_max, map) = (c.optional_f64_if_present("map_max")?, c.optional_binary_if_present("map")?);
        Ok((0..c.num_rows())
            .map(|i| ImageScoreRow {
                uri: uri.value(i).to_string(),
                score: score[i],
                s_fnn: s_fnn[i],
                s_pr: s_pr[i],
                error: error[i].clone(),
                map: map_max[i].zip(map[i].clone()).map(|(max, bytes)| QuantisedMap { max, bytes }),
                at: pts_s[i].map(|pts_s| FrameAt { frame: frame[i], pts_s, target_s: target_s[i], distance_m: distance_m[i] }),
            })
            .collect())
    }
}

impl ColumnCodec for VideoRow {
    const KIND: ArtifactKind = ArtifactKind::Videos;

    fn to_columns(rows: &[Self]) -> Columns {
        let moments: Vec<String> = rows.iter().map(|r| serde_json::to_string(&r.moments).expect("plain data")).collect();
        Ok((
            vec![
                utf8_column(rows, |r| &r.uri),
                u64_column(rows, |r| r.frames_scored),
                u64_column(rows, |r| r.errors),
                optional_utf8_column(rows, |r| r.error.as_deref()),
                optional_f64_column(rows, |r| r.max_score),
                optional_f64_column(rows, |r| r.max_at_s),
                std::sync::Arc::new(arrow_array::StringArray::from(moments)) as ArrayRef,
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (uri, frames, errors, error) = (c.utf8("uri")?, c.u64("frames_scored")?, c.u64("errors")?, c.optional_utf8("error")?);
        let (max_score, max_at_s, moments) = (c.optional_f64("max_score")?, c.optional_f64("max_at_s")?, c.utf8("moments")?);
        (0..c.num_rows())
            .map(|i| {
                Ok(VideoRow {
                    uri: uri.value(i).to_string(),
                    frames_scored: frames.value(i),
                    errors: errors.value(i),
                    error: error[i].clone(),
                    max_score: max_score[i],
                    max_at_s: max_at_s[i],
                    moments: serde_json::from_str(moments.value(i)).map_err(|e| ArtifactError::BadCell { artifact: Self::KIND.name(), column: "moments", row: i, problem: format!("not a JSON list of moments: {e}") })?,
                })
            })
            .collect()
    }
}

impl ColumnCodec for WindowEmbeddingRow {
    const KIND: ArtifactKind = ArtifactKind::WindowEmbeddings;

    fn to_columns(rows: &[Self]) -> Columns {
        Ok((
            vec![
                utf8_column(rows, |r| &r.path),
                utf8_column(rows, |r| &r.category),
                optional_u8_column(rows, |r| r.label),
                optional_binary_column(rows, |r| r.mask.as_deref()),
                optional_binary_column(rows, |r| Some(r.windows.as_slice())),
                optional_binary_column(rows, |r| r.patch_tokens.as_deref()),
            ],
            0,
        ))
    }

    fn from_columns(c: &BatchColumns<'_>) -> Result<Vec<Self>, ArtifactError> {
        let (path, category, label) = (c.utf8("path")?, c.utf8("category")?, c.optional_label("label")?);
        let (mask, windows, patch_tokens) = (c.optional_binary("mask")?, c.optional_binary("windows")?, c.optional_binary("patch_tokens")?);
        (0..c.num_rows())
            .map(|i| {
                Ok(WindowEmbeddingRow {
                    path: path.value(i).to_string(),
                    category: category.value(i).to_string(),
                    label: label[i],
                    mask: mask[i].clone(),
                    windows: windows[i].clone().ok_or(ArtifactError::Null { artifact: Self::KIND.name(), column: "windows", row: i })?,
                    patch_tokens: patch_tokens[i].clone(),
                })
            })
            .collect()
    }
}
