//! `rwclip-coordinator --bind ADDR --store URI [--token-file F] ...`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rwclip_coordinator::{start_coordinator, CoordinatorConfig, CoordinatorError};

#[derive(Parser)]
#[command(about = "rwclip coordinator: leases job shards to rwclip workers over gRPC")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:50051")]
    bind: SocketAddr,
    /// Artifact store: a local directory or s3://bucket/prefix.
    #[arg(long)]
    store: String,
    /// File holding the bearer token (otherwise RWCLIP_TOKEN).
    #[arg(long)]
    token_file: Option<String>,
    /// Seconds between worker heartbeats.
    #[arg(long, default_value_t = 5.0)]
    heartbeat_interval: f64,
    /// Seconds of silence after which a worker loses its leases.
    #[arg(long, default_value_t = 30.0)]
    lease_timeout: f64,
    /// Seconds without any worker before jobs with pending shards fail.
    #[arg(long, default_value_t = 300.0)]
    worker_grace: f64,
}

fn seconds(name: &str, value: f64) -> Result<Duration, CoordinatorError> {
    Duration::try_from_secs_f64(value)
        .map_err(|e| CoordinatorError::InvalidConfig(format!("--{name} {value}: {e}")))
}

fn config(args: Args) -> Result<CoordinatorConfig, CoordinatorError> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| CoordinatorError::TokenFile { path: path.clone(), source })?
                .trim()
                .to_string(),
        ),
        None => std::env::var("RWCLIP_TOKEN").ok(),
    };
    let mut config = CoordinatorConfig::new(args.bind, args.store);
    config.token = token;
    config.heartbeat_interval = seconds("heartbeat-interval", args.heartbeat_interval)?;
    config.lease_timeout = seconds("lease-timeout", args.lease_timeout)?;
    config.worker_grace = seconds("worker-grace", args.worker_grace)?;
    Ok(config)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = async {
        let config = config(args)?;
        // The job planner lands with the shard planner (issue 3); until
        // then submissions are refused with a clear message.
        let planner: rwclip_coordinator::Planner =
            Arc::new(|_toml: &str| Err("this coordinator build has no job planner yet".to_string()));
        let handle = start_coordinator(config, planner).await?;
        eprintln!("rwclip-coordinator listening on {}", handle.addr);
        handle.wait().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("rwclip-coordinator: {e}");
        std::process::exit(e.exit_code());
    }
}
