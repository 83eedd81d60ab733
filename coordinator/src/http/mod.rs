//! The coordinator's HTTP side, next to gRPC: `/` the dashboard, `/api/...`
//! the JSON it is drawn from, `/metrics` in Prometheus text format and
//! `/healthz`. Every answer comes from the scheduler through its event loop
//! (like a gRPC query) or from the handlers' own latency counters; nothing
//! here touches the store.
//!
//! With a token configured, everything but `/healthz` and the login page
//! needs it: `authorization: Bearer <token>`, or the cookie `/login` sets.

mod api;
mod auth;
mod dashboard;
mod prometheus;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::metrics::RpcMetrics;
use crate::scheduler::SchedulerHandle;

#[derive(Clone)]
pub struct HttpState {
    pub scheduler: SchedulerHandle,
    pub rpc: Arc<RpcMetrics>,
    pub token: Option<Arc<str>>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/", get(dashboard::page))
        .route("/metrics", get(prometheus::metrics))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/jobs/{id}/figures/{name}", get(api::figure))
        .route("/api/workers", get(api::workers))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `stop` resolves.
pub fn spawn_http(listener: tokio::net::TcpListener, state: HttpState, stop: impl std::future::Future<Output = ()> + Send + 'static) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move { axum::serve(listener, router(state)).with_graceful_shutdown(stop).await })
}

/// The address `rwclip run` and the binary print for people to open.
pub fn dashboard_url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
