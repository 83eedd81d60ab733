//! `rwclip run JOB.toml [--workers N]`: local mode, the cluster path on
//! loopback (see `crate::client::LocalCluster`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use crate::client::{runtime, LocalCluster, LocalRun, StageProgress, Submission};
use crate::error::Result;
use rwclip_report::aggregate::table1_per_grid_point;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file.
    pub job: PathBuf,
    /// Worker processes to start; each runs one shard at a time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: u32,
}

pub fn run(args: RunArgs) -> Result<()> {
    run_local(&Submission::load(&args.job)?, args.workers)
}

/// Runs a loaded job in local mode and prints its results.
pub fn run_local(submission: &Submission, workers: u32) -> Result<()> {
    let started = Instant::now();
    let job_toml = submission.prepare()?;
    if let Submission::Sweep(job) = submission {
        if job.spec.model.weights.is_none() {
            warn_random_init(&job.spec.model.preset);
        }
    }
    let output = submission.output_uri();
    let run: LocalRun = runtime()?.block_on(async {
        let mut cluster = LocalCluster::start(&output, workers as usize, submission.device()).await?;
        let progress = StageProgress::new();
        let run = cluster.run(job_toml, matches!(submission, Submission::Sweep(_)), &progress).await;
        cluster.shutdown().await;
        run
    })?;
    eprintln!("rwclip: done in {:.1}s", started.elapsed().as_secs_f64());

    if let Submission::Score(_) = submission {
        println!("{}", run.results.results_markdown.trim_end());
        println!("scores: {}/scores/*.parquet", run.results.results_uri.trim_end_matches('/'));
        return Ok(());
    }
    println!("{}\n", title(&run));
    println!("{}", table1_per_grid_point(&run.summary));
    // The coordinator's form of the output is absolute (the job was submitted so).
    let artifacts = if run.status.output_uri.is_empty() { &output } else { &run.status.output_uri };
    println!("artifacts: {artifacts}");
    println!("results: {}", run.results.results_uri);
    Ok(())
}

/// results.md's heading (job name, model, grid, seeds), else the job name.
fn title(run: &LocalRun) -> String {
    run.results
        .results_markdown
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .map(str::to_string)
        .unwrap_or_else(|| run.status.name.clone())
}

fn warn_random_init(preset: &str) {
    eprintln!(
        "rwclip: WARNING: no weights configured: {preset} is RANDOMLY INITIALISED.\n\
         rwclip:          The pipeline runs for real, but every metric is at chance level.\n\
         rwclip:          Set [model] weights to a converted open_clip checkpoint (docs/command-line.md: pretrained weights)."
    );
}
