//! `rwclip jobs`, `rwclip status JOB`, `rwclip watch JOB`, `rwclip cancel
//! JOB`, `rwclip results JOB`, `rwclip workers`: submitted jobs and the
//! workers running them, asked about through the same coordinator
//! connection as `rwclip submit` (token, TLS).

use bytes::Bytes;
use clap::{Args, ValueEnum};
use rwclip_artifacts::Store;
use rwclip_store::shard_store::part;
use rwclip_proto::v1::{CancelJobRequest, GetJobRequest, GetResultsRequest, JobState, JobStatus, ListJobsRequest, ListWorkersRequest, WorkerStatus};

use super::submit::ConnectArgs;
use crate::client::{ensure_succeeded, failure_report, read_summary_rows, runtime, stage_name, watch_until_finished, StageProgress};
use crate::error::Result;
use crate::remote::{connect, RemoteError};

#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job id `rwclip submit` printed.
    pub job: String,
    #[command(flatten)]
    pub coordinator: ConnectArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultsFormat {
    /// results.md (a scoring job: its summary).
    Md,
    /// results.csv (a scoring job: top_k.csv).
    Csv,
    /// The summary rows as a JSON array (a scoring job: summary.json).
    Json,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(flatten)]
    pub job: JobArgs,
    #[arg(long, value_enum, default_value = "md")]
    pub format: ResultsFormat,
}

fn state_name(state: i32) -> &'static str {
    match JobState::try_from(state) {
        Ok(JobState::Running) => "running",
        Ok(JobState::Succeeded) => "succeeded",
        Ok(JobState::Failed) => "failed",
        Ok(JobState::Cancelled) => "cancelled",
        _ => "unknown",
    }
}

/// The job's state, its stages and its failures, as `rwclip status` prints them.
pub fn status_text(s: &JobStatus) -> String {
    let mut out = format!(
        "job {} ({}): {}, {}/{} shards committed, {} running, {} failed\n",
        s.job_id,
        s.name,
        state_name(s.state),
        s.shards_committed,
        s.shards_total,
        s.shards_running,
        s.shards_failed
    );
    for stage in &s.stages {
        let items = if stage.items_done > 0 { format!(", {} items done", stage.items_done) } else { String::new() };
        out.push_str(&format!("  {:<10} {:>6}/{:<6} committed, {} running, {} failed{items}\n", stage_name(stage.kind), stage.committed, stage.total, stage.running, stage.failed));
    }
    if !s.store.is_empty() {
        out.push_str(&format!("  store: {}\n", s.store));
    }
    if !s.output_uri.is_empty() {
        out.push_str(&format!("  output: {}\n", s.output_uri));
    }
    if s.state == JobState::Failed as i32 || s.state == JobState::Cancelled as i32 || !s.failures.is_empty() {
        out.push_str(&format!("  {}\n", failure_report(s)));
    }
    out
}

/// One line per job the coordinator knows: id, state, progress, name.
pub fn jobs(a: ConnectArgs) -> Result<()> {
    let options = a.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let jobs = client.list_jobs(ListJobsRequest {}).await.map_err(RemoteError::rpc("ListJobs"))?.into_inner().jobs;
        println!("{:<40} {:<10} {:>15}  name", "job", "state", "committed");
        for j in jobs {
            println!("{:<40} {:<10} {:>15}  {}", j.job_id, state_name(j.state), format!("{}/{}", j.shards_committed, j.shards_total), j.name);
        }
        Ok(())
    })
}

/// The registered workers as `rwclip workers` prints them: name, device,
/// capacity, shards held and seconds since the last heartbeat.
pub fn workers_text(workers: &[WorkerStatus]) -> String {
    let mut out = format!("{:<24} {:<10} {:>8} {:>6} {:>14}  shards\n", "worker", "device", "capacity", "held", "heartbeat (s)");
    for w in workers {
        let shards = if w.shards.is_empty() { "-".to_string() } else { w.shards.join(", ") };
        out.push_str(&format!(
            "{:<24} {:<10} {:>8} {:>6} {:>14.1}  {}\n",
            w.name,
            w.device,
            w.capacity,
            w.shards.len(),
            w.last_heartbeat_ms_ago as f64 / 1000.0,
            shards
        ));
    }
    out
}

/// One line per registered worker.
pub fn workers(a: ConnectArgs) -> Result<()> {
    let options = a.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let workers = client.list_workers(ListWorkersRequest {}).await.map_err(RemoteError::rpc("ListWorkers"))?.into_inner().workers;
        print!("{}", workers_text(&workers));
        Ok(())
    })
}

/// Cancels a running job (its shards are leased no more) and prints its status.
pub fn cancel(a: JobArgs) -> Result<()> {
    let options = a.coordinator.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let s = client.cancel_job(CancelJobRequest { job_id: a.job.clone() }).await.map_err(RemoteError::rpc("CancelJob"))?.into_inner();
        print!("{}", status_text(&s));
        Ok(())
    })
}

pub fn status(a: JobArgs) -> Result<()> {
    let options = a.coordinator.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let s = client.get_job(GetJobRequest { job_id: a.job.clone() }).await.map_err(RemoteError::rpc("GetJob"))?.into_inner();
        print!("{}", status_text(&s));
        Ok(())
    })
}

/// Live per-stage progress until the job ends; exits as `submit --wait` does.
pub fn watch(a: JobArgs) -> Result<()> {
    let options = a.coordinator.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let progress = StageProgress::new();
        let s = watch_until_finished(&mut client, &a.job, &mut |s| progress.update(s)).await?;
        progress.finish();
        print!("{}", status_text(&s));
        ensure_succeeded(&s)?;
        Ok(())
    })
}

pub fn results(a: ResultsArgs) -> Result<()> {
    let options = a.job.coordinator.connect_options()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let r = client.get_results(GetResultsRequest { job_id: a.job.job.clone() }).await.map_err(RemoteError::rpc("GetResults"))?.into_inner();
        if a.format == ResultsFormat::Md {
            println!("{}", r.results_markdown.trim_end());
            return Ok(());
        }
        let output = Store::open(&r.results_uri)?;
        // A sweep publishes results.*, a scoring job top_k.csv and summary.json.
        let sweep = output.exists(part::RESULTS_PARQUET).await?;
        let text: Bytes = match (a.format, sweep) {
            (ResultsFormat::Csv, true) => output.get(part::RESULTS_CSV).await?,
            (ResultsFormat::Csv, false) => output.get(part::TOP_K_CSV).await?,
            (ResultsFormat::Json, false) => output.get(part::SUMMARY_JSON).await?,
            (ResultsFormat::Json, true) => {
                let rows: Vec<serde_json::Value> = read_summary_rows(&r.results_uri)
                    .await?
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "dataset": r.dataset, "config": r.config, "category": r.category, "score": r.score,
                            "auroc_mean": r.auroc_mean, "auroc_std": r.auroc_std, "aupr_mean": r.aupr_mean, "aupr_std": r.aupr_std,
                            "average_precision_mean": r.average_precision_mean, "average_precision_std": r.average_precision_std,
                            "f1_max_mean": r.f1_max_mean, "f1_max_std": r.f1_max_std, "n_seeds": r.n_seeds,
                        })
                    })
                    .collect();
                Bytes::from(serde_json::to_string_pretty(&rows).expect("json"))
            }
            (ResultsFormat::Md, _) => unreachable!("handled above"),
        };
        print!("{}", String::from_utf8_lossy(&text));
        Ok(())
    })
}
