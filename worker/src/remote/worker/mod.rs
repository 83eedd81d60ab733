//! `rwclip worker`: registers with a coordinator, leases shards, runs them
//! on executor threads and reports back, until told to stop.

mod event_loop;
mod link;
mod reports;
mod session;
mod signals;
mod slots;

use std::time::Duration;

use super::ConnectOptions;

pub use event_loop::run_worker;

/// Everything `rwclip worker` was configured with.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub connect: ConnectOptions,
    /// Where the token came from, for messages (`--token-file F`, `$RWCLIP_TOKEN`, `no token`).
    pub token_source: String,
    pub name: String,
    pub device: tch::Device,
    /// Shards run at once (one executor thread each), at least 1.
    pub capacity: usize,
    /// Overrides the store URI the coordinator gives at registration.
    pub store: Option<String>,
    /// Models each executor thread keeps loaded.
    pub model_cache: usize,
    /// After SIGTERM, how long running shards may take before they are handed back.
    pub drain_timeout: Duration,
    /// Exit after this long with nothing leased or running.
    pub exit_when_idle: Option<Duration>,
}

/// `cpu` or `cuda:N`, as registered with the coordinator.
pub fn device_label(device: tch::Device) -> String {
    match device {
        tch::Device::Cpu => "cpu".to_string(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `<hostname>-<pid>`: unique per process on a host, readable in reports.
pub fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_string());
    format!("{host}-{}", std::process::id())
}
