//! Coordinator settings and their validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::CoordinatorError;

/// Counted attempts a shard gets before it fails (worker loss is not counted).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Where the gRPC server listens; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Artifact store URI (local path or s3://); must support conditional put.
    pub store_uri: String,
    /// Bearer token every RPC must carry; `None` is allowed on loopback only.
    pub token: Option<String>,
    pub heartbeat_interval: Duration,
    /// A worker silent this long loses its leases.
    pub lease_timeout: Duration,
    /// With pending shards and no worker registered for this long, jobs fail.
    pub worker_grace: Duration,
    pub max_attempts: u32,
    /// How often the scheduler checks timeouts.
    pub tick: Duration,
    /// Serve gRPC over TLS (mutual TLS when a client CA is given).
    pub tls: Option<TlsFiles>,
    /// Where the HTTP side (dashboard, `/api`, `/metrics`, `/healthz`)
    /// listens; `None` serves none.
    pub http_bind: Option<SocketAddr>,
}

/// PEM files of the server's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
}

impl CoordinatorConfig {
    /// Defaults from the issue: heartbeats every 5 s, leases lost after 30 s.
    pub fn new(bind: SocketAddr, store_uri: impl Into<String>) -> CoordinatorConfig {
        CoordinatorConfig {
            bind,
            store_uri: store_uri.into(),
            token: None,
            heartbeat_interval: Duration::from_secs(5),
            lease_timeout: Duration::from_secs(30),
            worker_grace: Duration::from_secs(300),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            tick: Duration::from_millis(500),
            tls: None,
            http_bind: None,
        }
    }

    /// Rejects settings under which healthy workers would lose their leases,
    /// or which would expose an unauthenticated coordinator off-host.
    pub fn validate(&self) -> Result<(), CoordinatorError> {
        // Two heartbeats may be lost (one slow, one dropped) before a healthy
        // worker is declared dead.
        if self.lease_timeout <= self.heartbeat_interval * 2 {
            return Err(CoordinatorError::InvalidConfig(format!(
                "lease timeout ({:?}) must exceed twice the heartbeat interval ({:?})",
                self.lease_timeout, self.heartbeat_interval
            )));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(CoordinatorError::InvalidConfig(
                "heartbeat interval must be positive".to_string(),
            ));
        }
        if self.max_attempts == 0 {
            return Err(CoordinatorError::InvalidConfig(
                "max attempts must be at least 1".to_string(),
            ));
        }
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(CoordinatorError::InvalidConfig(
                "the token is empty".to_string(),
            ));
        }
        if self.token.is_none() && !self.bind.ip().is_loopback() {
            return Err(CoordinatorError::TokenRequired { bind: self.bind });
        }
        if let Some(http) = self.http_bind.filter(|a| self.token.is_none() && !a.ip().is_loopback()) {
            return Err(CoordinatorError::TokenRequired { bind: http });
        }
        Ok(())
    }
}
