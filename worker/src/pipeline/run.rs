//! The job driver behind `rwclip run`: plan, execute every shard here, report.

use std::time::Instant;

use bytes::Bytes;
use rwclip_common::artifacts::SummaryRow;
use rwclip_common::dataset::synth;
use rwclip_common::job::Job;
use rwclip_common::plan::{plan, JobPlan, ShardSpec};

use super::report;
use crate::blocking_store::BlockingStore;
use crate::device::select_device;
use crate::error::{Result, RwclipError};
use crate::shard::{run_plan_locally_with, ExecContext, ShardDone};

/// The job file as run, next to the shards (for people reading the store).
const JOB_KEY: &str = "job.toml";
const RESULTS_PART: &str = "results.parquet";

pub struct RunOutcome {
    pub summary: Vec<SummaryRow>,
    /// Table 1 layout (one per grid point), ready to print.
    pub table: String,
    /// Where the artifacts went.
    pub output: String,
    /// Where the aggregate's results (parquet, csv, md) went.
    pub results: String,
    /// Shards this run executed and shards reused from earlier commits.
    pub executed: usize,
    pub reused: usize,
}

/// Runs a validated job end to end: every shard not committed yet is
/// executed, so a repeated run recomputes nothing.
pub fn run_job(job: &Job) -> Result<RunOutcome> {
    let started = Instant::now();
    // The planner lists the test images, so the dataset must exist first.
    ensure_dataset(job)?;
    let plan = plan(job)?;
    let store = BlockingStore::open(&job.output_uri())?;
    store.put(
        JOB_KEY,
        Bytes::from(toml::to_string(&job.spec).expect("a parsed job serialises back to TOML")),
    )?;
    if job.weights_path().is_none() {
        warn_random_init(&job.spec.model.preset);
    }
    stage(&format!("plan: {} shards for job {}", plan.shards.len(), plan.job));

    let mut ctx = ExecContext::new(select_device(&job.spec.model.device)?, 1);
    let run = run_plan_locally_with(&plan, &store, &mut ctx, &report_shard)?;

    let results = run
        .aggregate
        .parts
        .iter()
        .find(|p| p.ends_with(RESULTS_PART))
        .ok_or_else(|| RwclipError::Usage(format!("aggregate shard {} committed no {RESULTS_PART}", run.aggregate.shard)))?;
    let summary: Vec<SummaryRow> = store.read_rows(results)?;
    let results_dir = results.trim_end_matches(RESULTS_PART);
    stage(&format!(
        "done in {:.1}s: {} shards executed, {} reused",
        started.elapsed().as_secs_f64(),
        run.executed.len(),
        run.reused.len()
    ));
    Ok(RunOutcome {
        table: format!("{}\n\n{}", title(&plan), report::table1_per_grid_point(&summary)),
        summary,
        output: store.describe(""),
        results: store.describe(results_dir),
        executed: run.executed.len(),
        reused: run.reused.len(),
    })
}

fn ensure_dataset(job: &Job) -> Result<()> {
    let root = job.dataset_root();
    if let Some(opts) = &job.spec.dataset.synth {
        if !root.exists() {
            synth::write(&root, &opts.to_spec())?;
            stage(&format!("dataset: synthesised MVTec-layout data at {}", root.display()));
        }
    }
    Ok(())
}

/// The aggregate's title (job name, model, grid, seeds).
fn title(plan: &JobPlan) -> String {
    plan.shards
        .iter()
        .find(|s| s.id == plan.aggregate)
        .and_then(|s| match ShardSpec::from_json(&s.spec_json) {
            Ok(ShardSpec::Aggregate(a)) => Some(a.title),
            _ => None,
        })
        .unwrap_or_default()
}

fn report_shard(d: ShardDone) {
    let what = if d.executed {
        format!("done in {:.1}s", d.seconds)
    } else {
        "already committed".to_string()
    };
    stage(&format!("shard {}/{} {}: {what}", d.index, d.total, d.shard));
}

fn stage(msg: &str) {
    eprintln!("rwclip: {msg}");
}

fn warn_random_init(preset: &str) {
    eprintln!(
        "rwclip: WARNING: no weights configured: {preset} is RANDOMLY INITIALISED.\n\
         rwclip:          The pipeline runs for real, but every metric is at chance level.\n\
         rwclip:          Set [model] weights to a converted open_clip checkpoint (README: pretrained weights)."
    );
}
