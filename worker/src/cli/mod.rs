//! The `rwclip` command line: argument definitions and dispatch. Each
//! subcommand lives in its own file; all return [`RwclipError`], which
//! [`exit::exit_code`] — the only place that does — maps to an exit code.

mod coordinator;
pub mod exit;
mod dataset;
mod detector;
mod embed;
mod job_commands;
mod maps;
mod metrics;
mod prompts;
mod run;
mod score;
mod submit;
mod worker;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::Result;

#[derive(Debug, Parser)]
#[command(name = "rwclip", version, about = "CLIP as a data source for zero-shot anomaly detection, at cluster scale")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate random-word prompt pairs (TSV on stdout, or Parquet with --out).
    Prompts(prompts::PromptsArgs),
    /// Encode prompts or images with a CLIP tower into Parquet.
    #[command(subcommand)]
    Embed(embed::EmbedCommand),
    /// Image-level AUROC / AUPR / F1-max from a scores Parquet file, or
    /// pixel AUROC / AUPRO / PRO-200 from a maps Parquet file.
    Metrics(metrics::MetricsArgs),
    /// Anomaly maps: per image a score and a map (WinCLIP, ours, clip,
    /// clip+ours) into Parquet, with overlays as PNG.
    Maps(maps::MapsArgs),
    /// Datasets: synthesise one in the MVTec-AD, VisA or Sewer-ML layout, or
    /// inspect what a job would evaluate in one.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Run a whole job on this machine: an in-process coordinator and N
    /// local worker processes (the cluster path, on loopback).
    Run(run::RunArgs),
    /// Submit a job file to a coordinator; prints the job id.
    Submit(submit::SubmitArgs),
    /// The jobs a coordinator knows, one line each.
    Jobs(submit::ConnectArgs),
    /// Cancel a running job.
    Cancel(job_commands::JobArgs),
    /// The workers a coordinator has registered: device, capacity, shards held, last heartbeat.
    Workers(submit::ConnectArgs),
    /// A submitted job's state, per-stage progress and failures.
    Status(job_commands::JobArgs),
    /// Follow a job's per-stage progress until it ends (exit codes as `submit --wait`).
    Watch(job_commands::JobArgs),
    /// A finished job's results: results.md, results.csv or the summary rows as JSON.
    Results(job_commands::ResultsArgs),
    /// Pull shards from a coordinator and run them on this machine.
    Worker(worker::WorkerArgs),
    /// Serve a coordinator (the same as the `rwclip-coordinator` binary).
    Coordinator(coordinator::CoordinatorArgs),
    /// Score an archive of images (a manifest, folder or s3:// prefix) with a detector.
    Score(score::ScoreArgs),
    /// Train one detector (an FNN plus what scoring needs) without a sweep.
    Train(detector::TrainArgs),
    /// Detectors: export a sweep trial's checkpoint, show a detector's metadata.
    #[command(subcommand)]
    Detector(detector::DetectorCommand),
}

/// Model selection shared by the `embed` subcommands.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// open_clip architecture preset (e.g. ViT-B-16-plus-240, rwclip-tiny).
    #[arg(long)]
    pub model: String,
    /// Safetensors weights with open_clip state-dict keys; absent = random init.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prompts(a) => prompts::run(a),
        Command::Embed(c) => embed::run(c),
        Command::Metrics(a) => metrics::run(a),
        Command::Maps(a) => maps::run(a),
        Command::Dataset(c) => dataset::run(c),
        Command::Run(a) => run::run(a),
        Command::Submit(a) => submit::run(a),
        Command::Jobs(a) => job_commands::jobs(a),
        Command::Cancel(a) => job_commands::cancel(a),
        Command::Workers(a) => job_commands::workers(a),
        Command::Status(a) => job_commands::status(a),
        Command::Watch(a) => job_commands::watch(a),
        Command::Results(a) => job_commands::results(a),
        Command::Worker(a) => worker::run(a),
        Command::Coordinator(a) => coordinator::run(a),
        Command::Score(a) => score::run(a),
        Command::Train(a) => detector::train(a),
        Command::Detector(c) => detector::run(c),
    }
}
