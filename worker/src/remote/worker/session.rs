//! A worker's registration with the coordinator, and how RPC failures are
//! classified: retry later, register again, or give up.

use std::time::Duration;

use rwclip_proto::v1 as pb;
use rwclip_proto::PROTOCOL_VERSION;

use crate::remote::{CoordinatorClient, RemoteError};

/// What the coordinator said when this worker registered.
#[derive(Debug, Clone)]
pub struct Session {
    pub worker_id: String,
    pub heartbeat_interval: Duration,
    pub store_uri: String,
    /// Bumped on every registration: attempts leased under an older one
    /// are no longer ours to report.
    pub generation: u64,
}

/// Who this worker is, as told to the coordinator.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    pub capacity: u32,
}

/// What to do about a failed RPC.
#[derive(Debug)]
pub enum Disposition {
    /// Coordinator or network down: reconnect with backoff, keep the registration.
    Reconnect(RemoteError),
    /// The coordinator does not know this worker (restarted, or our lease
    /// expired): register again.
    Reregister(RemoteError),
    /// Bad token or incompatible worker: nothing a retry can fix.
    Fatal(RemoteError),
    /// This one request was rejected; drop it and carry on.
    Drop(RemoteError),
}

/// Classifies a failed RPC; `token_source` names where the token came from
/// so an authentication failure says which one to fix.
pub fn disposition(e: RemoteError, url: &str, token_source: &str) -> Disposition {
    if e.is_transient() {
        return Disposition::Reconnect(e);
    }
    let RemoteError::Rpc { status, .. } = &e else { return Disposition::Fatal(e) };
    match status.code() {
        // The coordinator maps an unknown worker id to NotFound.
        tonic::Code::NotFound => Disposition::Reregister(e),
        tonic::Code::Unauthenticated => Disposition::Fatal(RemoteError::Unauthenticated {
            url: url.to_string(),
            token_source: token_source.to_string(),
            message: status.message().to_string(),
        }),
        // Protocol version refused.
        tonic::Code::FailedPrecondition => Disposition::Fatal(RemoteError::RegistrationRefused {
            url: url.to_string(),
            message: status.message().to_string(),
        }),
        _ => Disposition::Drop(e),
    }
}

pub async fn register(
    client: &mut CoordinatorClient,
    identity: &Identity,
    loaded_models: Vec<String>,
    generation: u64,
) -> Result<Session, RemoteError> {
    let response = client
        .register_worker(pb::RegisterWorkerRequest {
            protocol_version: PROTOCOL_VERSION,
            worker_name: identity.name.clone(),
            device: identity.device.clone(),
            capacity: identity.capacity,
            loaded_models,
        })
        .await
        .map_err(RemoteError::rpc("RegisterWorker"))?
        .into_inner();
    Ok(Session {
        worker_id: response.worker_id,
        // A zero interval from a confused coordinator would spin.
        heartbeat_interval: Duration::from_millis(response.heartbeat_interval_ms.max(100)),
        store_uri: response.store_uri,
        generation,
    })
}
