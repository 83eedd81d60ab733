//! `rwclip worker`: pull shards from a coordinator and run them here.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use rwclip_engine::device::select_device;
use crate::error::{usage, EngineError, Result};
use crate::remote::worker::{default_worker_name, run_worker, WorkerOptions};
use crate::remote::{client_tls_for, read_token, ConnectOptions, TOKEN_ENV};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The coordinator: http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(long)]
    pub coordinator: String,
    /// cpu, cuda, cuda:N or auto (CUDA when present).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Shards run at once (one executor thread and model cache each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub capacity: u32,
    /// Name shown in the coordinator's reports (default HOSTNAME-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Artifact store URI, overriding the one the coordinator gives.
    #[arg(long)]
    pub store: Option<String>,
    /// File holding the bearer token (otherwise $RWCLIP_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// CLIP models each executor thread keeps loaded.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub model_cache: u32,
    /// Seconds running shards may take after SIGTERM before they are handed back.
    #[arg(long, default_value_t = 120.0)]
    pub drain_timeout: f64,
    /// CA certificate (PEM) that signed the coordinator's certificate.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a coordinator running mutual TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client private key (PEM) for a coordinator running mutual TLS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Exit after this many seconds with no lease and no running shard.
    #[arg(long)]
    pub exit_when_idle: Option<f64>,
    #[command(flatten)]
    pub store_calls: rwclip_coordinator::cli::StoreFlags,
}

fn seconds(flag: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|e| usage(format!("--{flag} {value}: {e}")))
}

fn options(args: WorkerArgs) -> Result<WorkerOptions> {
    args.store_calls.install().map_err(usage)?;
    let token = read_token(args.token_file.as_deref())?;
    let token_source = match (&args.token_file, &token) {
        (Some(path), _) => format!("--token-file {}", path.display()),
        (None, Some(_)) => format!("${TOKEN_ENV}"),
        (None, None) => format!("nowhere (no --token-file and no ${TOKEN_ENV})"),
    };
    let tls = client_tls_for(&args.coordinator, args.tls_ca.as_deref(), args.tls_cert.as_deref(), args.tls_key.as_deref())?;
    Ok(WorkerOptions {
        connect: ConnectOptions { url: args.coordinator, token, tls },
        token_source,
        name: args.name.unwrap_or_else(default_worker_name),
        device: select_device(&args.device)?,
        capacity: args.capacity as usize,
        store: args.store,
        model_cache: args.model_cache as usize,
        drain_timeout: seconds("drain-timeout", args.drain_timeout)?,
        exit_when_idle: args.exit_when_idle.map(|s| seconds("exit-when-idle", s)).transpose()?,
    })
}

pub fn run(args: WorkerArgs) -> Result<()> {
    let options = options(args)?;
    // Two threads are plenty for a handful of RPCs; the compute runs on the
    // executor threads, outside this runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| EngineError::Io { path: "tokio runtime".to_string(), source })?;
    let result = runtime.block_on(run_worker(options));
    exit_without_destructors(result)
}

/// Ends the process the way `main` would (same message, same exit code) but
/// without running C++ static destructors: an executor thread may still be
/// inside libtorch (a shard handed back at the drain deadline, or a fatal
/// error mid-shard), and tearing libtorch down under it segfaults.
fn exit_without_destructors(result: Result<()>) -> ! {
    let code = match &result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rwclip: error: {e}");
            super::exit::exit_code(e)
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit only ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}
