//! `rwclip submit JOB.toml --coordinator URL [--wait]`

use std::path::PathBuf;

use clap::Args;
use crate::remote::client_tls_for;
use rwclip_proto::v1::GetResultsRequest;

use crate::client::{ensure_succeeded, runtime, submit_job, watch_until_finished, StageProgress, Submission};
use crate::error::Result;
use crate::remote::{connect, read_token, ConnectOptions, RemoteError};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job file; validated (and its synthetic dataset written) before submitting.
    pub job: PathBuf,
    #[command(flatten)]
    pub coordinator: ConnectArgs,
    /// Show progress until the job ends, then print its results (results.md).
    #[arg(long)]
    pub wait: bool,
}

/// Where the coordinator is and how to authenticate to it.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(long = "coordinator")]
    pub url: String,
    /// File holding the bearer token (otherwise $RWCLIP_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) the coordinator's certificate is signed by;
    /// without it an https:// coordinator is checked against the system roots.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for a coordinator that requires mutual TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ConnectArgs {
    pub fn connect_options(&self) -> Result<ConnectOptions> {
        let tls = client_tls_for(&self.url, self.tls_ca.as_deref(), self.tls_cert.as_deref(), self.tls_key.as_deref())?;
        Ok(ConnectOptions { url: self.url.clone(), token: read_token(self.token_file.as_deref())?, tls })
    }
}

pub fn run(args: SubmitArgs) -> Result<()> {
    submit(&Submission::load(&args.job)?, &args.coordinator, args.wait)
}

/// Submits a loaded job; with `wait`, follows it and prints its results.
pub fn submit(submission: &Submission, coordinator: &ConnectArgs, wait: bool) -> Result<()> {
    let options = coordinator.connect_options()?;
    let job_toml = submission.prepare()?;
    runtime()?.block_on(async {
        let mut client = connect(&options).await?;
        let submitted = submit_job(&mut client, job_toml).await?;
        println!("{}", submitted.job_id);
        if !wait {
            return Ok(());
        }
        eprintln!(
            "rwclip: job {}: {} shards, {} already committed",
            submitted.job_id, submitted.shards_total, submitted.shards_already_committed
        );
        let progress = StageProgress::new();
        let status = watch_until_finished(&mut client, &submitted.job_id, &mut |s| progress.update(s)).await?;
        progress.finish();
        ensure_succeeded(&status)?;
        let results = client
            .get_results(GetResultsRequest { job_id: submitted.job_id.clone() })
            .await
            .map_err(RemoteError::rpc("GetResults"))?
            .into_inner();
        println!("{}", results.results_markdown.trim_end());
        if !results.results_uri.is_empty() {
            eprintln!("rwclip: results: {}", results.results_uri);
        }
        Ok(())
    })
}
