//! `rwclip score`: a detector applied to an archive, the same job as a job
//! file with `kind = "score"`, in local mode or on a coordinator.

use std::path::Path;

use clap::Args;
use rwclip_job::PathChecks;
use rwclip_job::score_job::{ScoreJobSpec, ScoreModelSpec};
use rwclip_job::score_job::ScoreJob;

use super::run::run_local;
use super::submit::{submit, ConnectArgs};
use crate::client::Submission;
use crate::error::{usage, Result};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The detector file (`rwclip train`, or `rwclip detector export`).
    #[arg(long)]
    pub detector: String,
    /// A CSV manifest with a `uri` column, or a directory / s3:// prefix of images.
    #[arg(long)]
    pub input: String,
    /// Where scores/, top_k.csv and summary.json go (a directory or s3://).
    #[arg(long)]
    pub out: String,
    /// The CLIP weights the detector was trained with; absent = random init.
    #[arg(long)]
    pub weights: Option<String>,
    /// Rows of top_k.csv.
    #[arg(long, default_value_t = 100)]
    pub top_k: usize,
    /// Images on contact_sheet.png: the first of top_k.csv as thumbnails
    /// (0 = no sheet).
    #[arg(long, default_value_t = rwclip_job::score_job::DEFAULT_CONTACT_SHEET)]
    pub contact_sheet: usize,
    /// Images per shard.
    #[arg(long, default_value_t = 1024)]
    pub rows_per_shard: u64,
    /// Per image also an anomaly map on the patch grid (map_max and one byte
    /// per patch), by the detector's score kind on window embeddings.
    #[arg(long)]
    pub maps: bool,
    /// Frames scored of each input video: fps=F (the first frame at or after
    /// each 1/F s, decoded forward), every_nth=N, or keyframes.
    #[arg(long, default_value = "fps=1")]
    pub sampling: rwclip_job::sampling::Sampling,
    /// Ticks per shard of a long video: fps sampling's ticks, or seconds of
    /// stream time for every_nth and keyframes.
    #[arg(long, default_value_t = rwclip_job::score_job::DEFAULT_FRAMES_PER_SHARD)]
    pub frames_per_shard: u64,
    /// Images (and video frames) per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// fp32, bf16 or fp16: what CLIP's image tower computes in.
    #[arg(long, default_value = "fp32")]
    pub precision: rwclip_job::Precision,
    /// Local worker processes (local mode; the default).
    #[arg(long, conflicts_with = "url")]
    pub workers: Option<u32>,
    /// Submit to this coordinator instead of running locally.
    #[arg(long = "coordinator")]
    pub url: Option<String>,
    /// With --coordinator: the token file (otherwise $RWCLIP_TOKEN).
    #[arg(long, requires = "url")]
    pub token_file: Option<std::path::PathBuf>,
    /// With --coordinator: follow the job and print its summary.
    #[arg(long, requires = "url")]
    pub wait: bool,
}

pub fn run(a: ScoreArgs) -> Result<()> {
    let spec = ScoreJobSpec {
        kind: "score".to_string(),
        name: "score".to_string(),
        output: a.out,
        detector: a.detector,
        input: a.input,
        top_k: a.top_k,
        contact_sheet: a.contact_sheet,
        rows_per_shard: a.rows_per_shard,
        maps: a.maps,
        sampling: a.sampling,
        frames_per_shard: a.frames_per_shard,
        model: ScoreModelSpec { weights: a.weights, device: a.device, image_batch_size: a.batch_size, precision: a.precision },
    };
    let text = toml::to_string(&spec).map_err(|e| usage(format!("cannot build the scoring job: {e}")))?;
    let job = ScoreJob::parse_with(&text, Path::new("rwclip-score.toml"), PathChecks::Check)?;
    let submission = Submission::Score(job);
    match a.url {
        Some(url) => submit(&submission, &ConnectArgs { url, token_file: a.token_file, tls_ca: None, tls_cert: None, tls_key: None }, a.wait),
        None => run_local(&submission, a.workers.unwrap_or(2).max(1)),
    }
}
