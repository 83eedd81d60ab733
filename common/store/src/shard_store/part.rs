//! Part names, one per kind of artifact (layouts in `docs/artifacts.md`).
//! Readers find a dependency's part by name in its manifest.

/// Text shards: the prompts (pair id, seed, label, text).
pub const PROMPTS: &str = "prompts.parquet";
/// Text shards: one embedding per prompt.
pub const TEXT_EMBEDDINGS: &str = "text_embeddings.parquet";
/// Image shards: the eval view's embeddings.
pub const IMAGE_EMBEDDINGS: &str = "image_embeddings.parquet";
/// A window shard's window embeddings, patch tokens and masks.
pub const WINDOW_EMBEDDINGS: &str = "window_embeddings.parquet";
/// Trials: the trained FNN.
pub const CHECKPOINT: &str = "fnn.safetensors";
/// Trials and aggregates: per-seed metric rows (a trial's own; an
/// aggregate's copy of all its trials', duplicates dropped).
pub const METRICS: &str = "metrics.parquet";
/// Aggregates, copied to the job's output when it succeeds.
pub const RESULTS_PARQUET: &str = "results.parquet";
pub const RESULTS_CSV: &str = "results.csv";
pub const RESULTS_MD: &str = "results.md";
/// Aggregates: the tables and figures in one self-contained page. Figures
/// are parts too: `<figure>.svg` and `<figure>.png` (see `plots`).
pub const RESULTS_HTML: &str = "results.html";
/// The figure trial (a job's first): Fig. 3's and Fig. 5's t-SNE maps
/// (`rwclip_figures::LayerMaps` as JSON).
pub const LAYER_MAPS: &str = "layer_maps.json";
/// The figure trial: its anomaly-map sheets and pixel ROC points (`rwclip_figures::MapFigures`).
pub const MAP_FIGURES: &str = "map_figures.json";
/// Score shards: one row per input image, in input order.
pub const IMAGE_SCORES: &str = "image_scores.parquet";
/// A scoring job over videos: one row per video (frames, errors, top moments).
pub const VIDEOS: &str = "videos.parquet";
/// Scoring summaries, copied to the job's output with `scores/`.
pub const TOP_K_CSV: &str = "top_k.csv";
pub const SUMMARY_JSON: &str = "summary.json";
/// Contact sheets (and the summary that publishes them): the figure stem of
/// `contact_sheet.png` and `contact_sheet.svg`.
pub const CONTACT_SHEET: &str = "contact_sheet";
/// The job file as submitted, next to the results in the job's output.
pub const JOB_TOML: &str = "job.toml";

/// Image shards of multi-crop jobs: one corner view's embeddings.
pub fn corner_embeddings(corner_label: &str) -> String {
    format!("image_embeddings-corner-{corner_label}.parquet")
}

/// Trials: the per-image scores of one setup.
pub fn scores(setup_label: &str) -> String {
    format!("scores-{setup_label}.parquet")
}
