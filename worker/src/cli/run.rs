//! `rwclip run JOB.toml`

use std::path::PathBuf;

use clap::Args;
use rwclip_common::job::Job;

use crate::error::Result;
use crate::pipeline::run_job;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file.
    pub job: PathBuf,
}

pub fn run(args: RunArgs) -> Result<()> {
    let job = Job::load(&args.job)?;
    let outcome = run_job(&job)?;
    println!("{}", outcome.table);
    println!("artifacts: {}", outcome.output);
    println!("results: {}", outcome.results);
    Ok(())
}
