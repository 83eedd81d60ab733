//! The coordinator's command line, shared by `rwclip-coordinator` and
//! `rwclip coordinator`: the flags, and serving until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rwclip_artifacts::StoreSettings;

use crate::config::{CoordinatorConfig, TlsFiles};
use crate::error::CoordinatorError;
use crate::planner::job_planner;
use crate::server::start_coordinator;

#[derive(Debug, Clone, clap::Args)]
pub struct CoordinatorArgs {
    /// Address to serve gRPC on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: SocketAddr,
    /// Artifact store (shards and job records): a local directory or s3://bucket/prefix.
    #[arg(long)]
    pub store: String,
    /// File holding the bearer token every RPC must carry (otherwise RWCLIP_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Seconds between worker heartbeats.
    #[arg(long, default_value_t = 5.0)]
    pub heartbeat_interval: f64,
    /// Seconds of silence after which a worker loses its leases.
    #[arg(long, default_value_t = 30.0)]
    pub lease_timeout: f64,
    /// Seconds without any worker before jobs with pending shards fail.
    #[arg(long, default_value_t = 300.0)]
    pub worker_grace: f64,
    /// PEM certificate chain: serve over TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate: require client certificates signed by it (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Also serve HTTP here: the dashboard at /, its JSON at /api/..., Prometheus
    /// metrics at /metrics, /healthz (the token guards all but /healthz).
    #[arg(long)]
    pub http_bind: Option<SocketAddr>,
    #[command(flatten)]
    pub store_calls: StoreFlags,
}

/// How this process's store calls time out and retry; each flag overrides
/// its environment variable, which overrides the default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreFlags {
    /// Seconds one store request may take, first byte to last, before it is
    /// retried (RWCLIP_STORE_TIMEOUT_S; default 30).
    #[arg(long, value_name = "SECONDS")]
    pub store_timeout: Option<f64>,
    /// Seconds a store call keeps retrying (throttling, 5xx, resets,
    /// timeouts, an outage) before its error counts (RWCLIP_STORE_RETRY_FOR_S;
    /// default 600, which rides out a store answering 503 for minutes).
    #[arg(long, value_name = "SECONDS")]
    pub store_retry_for: Option<f64>,
    /// Longest wait between two tries; waits double from
    /// RWCLIP_STORE_BACKOFF_INIT_MS (default 100 ms) and are drawn at random
    /// below that (RWCLIP_STORE_BACKOFF_MAX_S; default 15).
    #[arg(long, value_name = "SECONDS")]
    pub store_backoff_max: Option<f64>,
}

impl StoreFlags {
    /// The settings these flags and the environment give, made this
    /// process's before any store is opened.
    pub fn install(&self) -> Result<StoreSettings, String> {
        let mut s = StoreSettings::from_env()?;
        let set = |flag: &str, value: Option<f64>, into: &mut Duration| -> Result<(), String> {
            if let Some(v) = value {
                *into = Duration::try_from_secs_f64(v).map_err(|e| format!("--{flag} {v}: {e}"))?;
            }
            Ok(())
        };
        set("store-timeout", self.store_timeout, &mut s.timeout)?;
        set("store-retry-for", self.store_retry_for, &mut s.retry_for)?;
        set("store-backoff-max", self.store_backoff_max, &mut s.backoff_max)?;
        s.install();
        Ok(s)
    }
}

fn seconds(flag: &str, value: f64) -> Result<Duration, CoordinatorError> {
    Duration::try_from_secs_f64(value).map_err(|e| CoordinatorError::InvalidConfig(format!("--{flag} {value}: {e}")))
}

impl CoordinatorArgs {
    /// The settings these flags describe; reads the token file (or
    /// RWCLIP_TOKEN). Validation happens when the coordinator starts.
    pub fn config(&self) -> Result<CoordinatorConfig, CoordinatorError> {
        self.store_calls.install().map_err(CoordinatorError::InvalidConfig)?;
        let token = match &self.token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| CoordinatorError::TokenFile { path: path.display().to_string(), source })?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var("RWCLIP_TOKEN").ok().filter(|t| !t.trim().is_empty()),
        };
        let mut config = CoordinatorConfig::new(self.bind, self.store.clone());
        config.token = token;
        config.heartbeat_interval = seconds("heartbeat-interval", self.heartbeat_interval)?;
        config.lease_timeout = seconds("lease-timeout", self.lease_timeout)?;
        config.worker_grace = seconds("worker-grace", self.worker_grace)?;
        config.http_bind = self.http_bind;
        config.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone(), client_ca: self.tls_client_ca.clone() }),
            (None, None) => None,
            _ => return Err(CoordinatorError::InvalidConfig("--tls-cert and --tls-key go together".to_string())),
        };
        Ok(config)
    }
}

/// Serves with the real job planner until SIGTERM or SIGINT, then stops
/// gracefully (in-flight RPCs finish; the store holds what a restart needs).
pub async fn serve(args: CoordinatorArgs) -> Result<(), CoordinatorError> {
    let config = args.config()?;
    let handle = start_coordinator(config, job_planner()).await?;
    // A plain line, not a log event: scripts (deploy/slurm/rwclip.sbatch)
    // and supervisors wait for it and read the address from it.
    eprintln!("rwclip-coordinator listening on {}", handle.addr);
    if let Some(http) = handle.http_addr {
        eprintln!("rwclip-coordinator dashboard at {}", crate::http::dashboard_url(http));
    }
    shutdown_signal().await?;
    tracing::info!("shutting down");
    handle.shutdown().await
}

async fn shutdown_signal() -> Result<(), CoordinatorError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|source| CoordinatorError::Signal { signal: "SIGTERM", source })?;
        let mut int = signal(SignalKind::interrupt()).map_err(|source| CoordinatorError::Signal { signal: "SIGINT", source })?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(|source| CoordinatorError::Signal { signal: "Ctrl-C", source })
    }
}

/// Process exit code of the coordinator binaries (`rwclip-coordinator` and
/// `rwclip coordinator`): 2 for configuration, 3 for the store, 4 for the
/// network.
pub fn exit_code(e: &CoordinatorError) -> i32 {
    match e {
        CoordinatorError::InvalidConfig(_) | CoordinatorError::TokenRequired { .. } | CoordinatorError::TokenFile { .. } | CoordinatorError::Tls(_) => 2,
        CoordinatorError::NoConditionalPut { .. } | CoordinatorError::Store(_) | CoordinatorError::CorruptJobRecord { .. } => 3,
        CoordinatorError::Bind { .. } | CoordinatorError::Server(_) | CoordinatorError::Signal { .. } => 4,
    }
}
