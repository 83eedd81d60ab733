//! Artifact keys of a run, relative to the job's output URI. One place, so
//! the layout in docs/artifacts.md has a single source in code.

pub const JOB: &str = "job.toml";
pub const IMAGE_EMBEDDINGS: &str = "images/image_embeddings.parquet";
pub const GUIDE_EMBEDDINGS: &str = "guides/text_embeddings.parquet";
pub const METRICS: &str = "metrics.parquet";
pub const SUMMARY: &str = "summary.parquet";
pub const SUMMARY_MD: &str = "summary.md";

pub fn prompts(seed: u64) -> String {
    format!("seed-{seed}/prompts.parquet")
}
pub fn text_embeddings(seed: u64) -> String {
    format!("seed-{seed}/text_embeddings.parquet")
}
pub fn checkpoint(seed: u64) -> String {
    format!("seed-{seed}/fnn.safetensors")
}
pub fn scores(seed: u64, setup: &str) -> String {
    format!("seed-{seed}/scores-{setup}.parquet")
}
