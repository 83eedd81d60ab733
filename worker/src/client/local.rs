//! `rwclip run`'s local mode: the same path as a cluster, on loopback. A
//! coordinator runs in this process (store = the job's output), N
//! `rwclip worker` child processes pull its shards, and this process submits
//! the job and watches it like `rwclip submit --wait` would.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rwclip_artifacts::SummaryRow;
use rwclip_coordinator::{job_planner, start_coordinator, CoordinatorConfig, CoordinatorHandle};
use rwclip_proto::v1::{GetResultsRequest, GetResultsResponse, JobStatus, SubmitJobResponse};

use super::error::ClientError;
use super::progress::StageProgress;
use super::report::{ensure_succeeded, read_summary_rows};
use super::submit::submit_job;
use super::watch::watch_until_finished;
use super::worker_process::WorkerProcess;
use crate::error::Result;
use crate::remote::{connect, ConnectOptions, RemoteError};

/// Workers exit after this long without work. The parent kills them when the
/// job ends; this only bounds how long they outlive a parent that was
/// SIGKILLed (when its kill-on-drop cannot run).
pub const LOCAL_IDLE_EXIT_SECS: u64 = 60;

/// How often the worker processes are checked for exits.
const CHILD_POLL: Duration = Duration::from_millis(500);

/// After the last worker exited, how long the job may take to be reported
/// finished (its last shard may have committed just before) before the run
/// fails.
const FINISH_GRACE: Duration = Duration::from_secs(2);

/// A coordinator in this process and its worker processes.
pub struct LocalCluster {
    coordinator: Option<CoordinatorHandle>,
    url: String,
    workers: Vec<WorkerProcess>,
    /// Per worker: whether its exit has been reported already.
    exit_reported: Vec<bool>,
}

/// A finished local run.
pub struct LocalRun {
    pub submitted: SubmitJobResponse,
    pub status: JobStatus,
    pub results: GetResultsResponse,
    pub summary: Vec<SummaryRow>,
}

impl LocalCluster {
    /// Starts the coordinator on 127.0.0.1 (a free port, no token: loopback
    /// only) over `store_uri`, and `workers` worker processes on `device`.
    pub async fn start(store_uri: &str, workers: usize, device: &str) -> Result<LocalCluster> {
        if workers == 0 {
            return Err(ClientError::NoWorkers(workers).into());
        }
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut config = CoordinatorConfig::new(bind, store_uri);
        // The dashboard too, on loopback like the rest of a local run.
        config.http_bind = Some(bind);
        let coordinator = start_coordinator(config, job_planner()).await.map_err(ClientError::from)?;
        let url = format!("http://{}", coordinator.addr);
        let exe = std::env::current_exe()
            .map_err(|source| ClientError::SpawnWorker { exe: "the current executable".to_string(), source })?;
        let args = ["--device".to_string(), device.to_string(), "--exit-when-idle".to_string(), LOCAL_IDLE_EXIT_SECS.to_string()];
        let mut cluster = LocalCluster { coordinator: Some(coordinator), url, workers: Vec::new(), exit_reported: Vec::new() };
        for i in 1..=workers {
            // On error `cluster` is dropped, which kills the workers started so far.
            cluster.workers.push(WorkerProcess::spawn(&exe, &format!("local-worker-{i}"), &cluster.url, &args)?);
            cluster.exit_reported.push(false);
        }
        Ok(cluster)
    }

    /// Submits `job_toml`, shows progress until the job ends, and returns its
    /// results. Fails when the job fails, when every worker process has
    /// exited with work left, or on Ctrl-C.
    /// `sweep`: read the summary rows of the results (scoring jobs have none).
    pub async fn run(&mut self, job_toml: String, sweep: bool, progress: &StageProgress) -> Result<LocalRun> {
        let mut client = connect(&ConnectOptions { url: self.url.clone(), token: None, tls: None }).await?;
        let submitted = submit_job(&mut client, job_toml).await?;
        let job = submitted.job_id.clone();
        progress.println(&format!(
            "rwclip: job {job}: {} shards, {} already committed; {} worker processes",
            submitted.shards_total,
            submitted.shards_already_committed,
            self.workers.len()
        ));
        if let Some(http) = self.coordinator.as_ref().and_then(|c| c.http_addr) {
            progress.println(&format!("rwclip: dashboard at {}", rwclip_coordinator::http::dashboard_url(http)));
        }

        let status = {
            let mut on_status = |s: &JobStatus| progress.update(s);
            let watch = watch_until_finished(&mut client, &job, &mut on_status);
            tokio::pin!(watch);
            let mut poll = tokio::time::interval(CHILD_POLL);
            // Created once, so a signal between two loop turns is not lost.
            let interrupted = interrupted();
            tokio::pin!(interrupted);
            loop {
                tokio::select! {
                    status = &mut watch => break status?,
                    _ = poll.tick() => {
                        if !self.all_workers_exited() {
                            for line in self.new_worker_exits() {
                                progress.println(&line);
                            }
                        } else {
                            match tokio::time::timeout(FINISH_GRACE, &mut watch).await {
                                Ok(status) => break status?,
                                Err(_) => return Err(ClientError::WorkersDied { job: job.clone(), details: self.exit_report() }.into()),
                            }
                        }
                    }
                    _ = &mut interrupted => return Err(ClientError::Interrupted.into()),
                }
            }
        };
        progress.finish();
        ensure_succeeded(&status)?;

        let results = client
            .get_results(GetResultsRequest { job_id: job.clone() })
            .await
            .map_err(RemoteError::rpc("GetResults"))?
            .into_inner();
        if results.results_uri.is_empty() {
            return Err(ClientError::NoResults { job }.into());
        }
        // Scoring jobs publish scores/, top_k.csv and summary.json instead.
        let summary = if sweep { read_summary_rows(&results.results_uri).await? } else { Vec::new() };
        Ok(LocalRun { submitted, status, results, summary })
    }

    /// Stops the workers (the job is over, or the run failed) and the
    /// coordinator.
    pub async fn shutdown(mut self) {
        for w in &mut self.workers {
            w.kill().await;
        }
        if let Some(c) = self.coordinator.take() {
            let _ = c.shutdown().await;
        }
    }

    /// Reports of worker processes that exited with an error since the last
    /// call (an idle exit, status 0, is not news).
    fn new_worker_exits(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for (w, reported) in self.workers.iter_mut().zip(&mut self.exit_reported) {
            if let Some(status) = w.exit_status() {
                if !*reported && !status.success() {
                    lines.push(format!("rwclip: WARNING: a worker process failed:\n{}", w.describe_exit()));
                }
                *reported = true;
            }
        }
        lines
    }

    fn all_workers_exited(&mut self) -> bool {
        self.workers.iter_mut().all(|w| w.exit_status().is_some())
    }

    fn exit_report(&self) -> String {
        self.workers.iter().map(WorkerProcess::describe_exit).collect::<Vec<_>>().join("\n")
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, so either stops the workers
/// through [`LocalCluster::shutdown`] instead of orphaning them.
async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler the default action (exit) stays.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
