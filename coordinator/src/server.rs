//! Starting and stopping a coordinator: the binary and in-process tests
//! (including `rwclip run`'s local mode) use the same entry point.

use std::net::SocketAddr;

use rwclip_artifacts::Store;
use rwclip_proto::v1::coordinator_server::CoordinatorServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::server::TcpIncoming;

use crate::auth::BearerAuth;
use crate::config::CoordinatorConfig;
use crate::error::CoordinatorError;
use crate::http::{spawn_http, HttpState};
use crate::metrics::RpcMetrics;
use crate::scheduler::{load_jobs, spawn_scheduler, Planner, Scheduler, Timing};
use crate::service::CoordinatorService;

/// A running coordinator.
pub struct CoordinatorHandle {
    /// The bound address (the real port when the config asked for port 0).
    pub addr: SocketAddr,
    /// Where the HTTP side listens, when it was asked for.
    pub http_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    http_stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    ticker: JoinHandle<()>,
}

impl CoordinatorHandle {
    /// Stops serving; the scheduler's state is dropped (the store keeps what
    /// a restart needs).
    pub async fn shutdown(self) -> Result<(), CoordinatorError> {
        let _ = self.stop.send(());
        if let Some(http) = self.http_stop {
            let _ = http.send(());
        }
        self.ticker.abort();
        match self.server.await {
            Ok(result) => result.map_err(CoordinatorError::Server),
            Err(_) => Ok(()),
        }
    }

    /// Serves until the server fails (the binary's main loop).
    pub async fn wait(mut self) -> Result<(), CoordinatorError> {
        let result = (&mut self.server).await;
        self.ticker.abort();
        match result {
            Ok(result) => result.map_err(CoordinatorError::Server),
            Err(_) => Ok(()),
        }
    }
}

/// Opens the store, rebuilds unfinished jobs from it, and serves gRPC.
pub async fn start_coordinator(config: CoordinatorConfig, planner: Planner) -> Result<CoordinatorHandle, CoordinatorError> {
    config.validate()?;
    let scheme = config.store_uri.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(CoordinatorError::NoConditionalPut { uri: config.store_uri.clone() });
    }
    let store = Store::open(&config.store_uri)?;

    let now = Instant::now();
    let boot = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0));
    let timing = Timing {
        heartbeat_interval: config.heartbeat_interval,
        lease_timeout: config.lease_timeout,
        worker_grace: config.worker_grace,
        max_attempts: config.max_attempts,
    };
    let mut scheduler = Scheduler::new(timing, boot, now);
    for stored in load_jobs(&store).await? {
        let key = store.full_uri(&format!("jobs/{}/plan.json", stored.job.id));
        let restored = match stored.finished {
            Some((outcome, results)) => scheduler.restore_finished(stored.job, &stored.committed, outcome, results, now),
            None => scheduler.add_planned(stored.job, &stored.committed, now),
        };
        restored.map_err(|e| CoordinatorError::CorruptJobRecord { key, reason: e.to_string() })?;
    }
    let (handle, _loop_task) = spawn_scheduler(scheduler, store);

    let ticker = {
        let handle = handle.clone();
        let period = config.tick;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            loop {
                interval.tick().await;
                handle.tick().await;
            }
        })
    };

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| CoordinatorError::Bind { bind: config.bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| CoordinatorError::Bind { bind: config.bind, source })?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CoordinatorServer<CoordinatorService>>().await;
    let rpc = std::sync::Arc::new(RpcMetrics::default());
    let (http_addr, http_stop) = match config.http_bind {
        None => (None, None),
        Some(bind) => {
            let listener = tokio::net::TcpListener::bind(bind).await.map_err(|source| CoordinatorError::Bind { bind, source })?;
            let addr = listener.local_addr().map_err(|source| CoordinatorError::Bind { bind, source })?;
            let state = HttpState { scheduler: handle.clone(), rpc: rpc.clone(), token: config.token.as_deref().map(|t| t.trim().into()) };
            let (stop, stopped) = oneshot::channel::<()>();
            spawn_http(listener, state, async {
                let _ = stopped.await;
            });
            (Some(addr), Some(stop))
        }
    };
    let auth = BearerAuth::new(config.token.as_deref());
    let service = CoordinatorServer::with_interceptor(CoordinatorService::new(handle, config.store_uri.clone(), planner, rpc), move |r| auth.check(r));

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        let tls = rwclip_proto::tls::server_tls(&tls.cert, &tls.key, tls.client_ca.as_deref())?;
        builder = builder.tls_config(tls)?;
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        builder
            // Health stays unauthenticated so orchestrator probes work.
            .add_service(health_service)
            .add_service(service)
            // Nagle's algorithm would hold small replies until the client's
            // delayed ACK (tens of ms per RPC for a lone sequential worker).
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async {
                let _ = stopped.await;
            }),
    );
    Ok(CoordinatorHandle { addr, http_addr, stop, http_stop, server, ticker })
}
