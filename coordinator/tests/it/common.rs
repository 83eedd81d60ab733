//! Shared by the gRPC test files: a coordinator on loopback over a temporary
//! local store, a hand-built planner, and fake workers that "execute" a shard
//! by committing its manifest (no libtorch). Every test is bounded by
//! `within` so none can hang.
#![allow(dead_code, unused_imports)]

pub use std::collections::BTreeSet;
pub use std::future::Future;
pub use std::sync::Arc;
pub use std::time::Duration;

pub use bytes::Bytes;
pub use rwclip_artifacts::Store;
pub use rwclip_core::failure::{FailureClass, ShardFailure};
pub use rwclip_plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
pub use rwclip_store::shard_store::{manifest_key, Manifest, MANIFEST_VERSION};
pub use rwclip_coordinator::{start_coordinator, CoordinatorConfig, CoordinatorError, CoordinatorHandle, PlannedJob, Planner};
pub use rwclip_proto::v1 as pb;
pub use rwclip_proto::v1::coordinator_client::CoordinatorClient;
pub use rwclip_proto::PROTOCOL_VERSION;
pub use tonic::metadata::{Ascii, MetadataValue};
pub use tonic::service::interceptor::InterceptedService;
pub use tonic::service::Interceptor;
pub use tonic::transport::Channel;
pub use tonic::{Code, Request, Status};

pub const HEARTBEAT: Duration = Duration::from_millis(200);
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(1);
pub const TEST_BUDGET: Duration = Duration::from_secs(20);

pub use rwclip_test_support::client::Bearer;

pub type Client = CoordinatorClient<InterceptedService<Channel, Bearer>>;

pub async fn within<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_BUDGET, test).await.expect("test exceeded its time budget");
}

pub fn shard(id: &str, deps: &[&str]) -> PlannedShard {
    PlannedShard {
        id: ShardId(id.to_string()),
        kind: ShardKind::Trial,
        deps: deps.iter().map(|d| ShardId(d.to_string())).collect(),
        model_key: None,
        spec_json: r#"{"noop":true}"#.to_string(),
    }
}

/// Job files are one line: `diamond <name>` (a; b,c after a; d after b,c) or
/// `independent <name> <n>`. Shard ids carry the name, so jobs never share shards.
pub fn fake_planner() -> Planner {
    Arc::new(|text: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        let plan = match words.as_slice() {
            ["diamond", name] => vec![
                shard(&format!("trial-{name}-a"), &[]),
                shard(&format!("trial-{name}-b"), &[&format!("trial-{name}-a")]),
                shard(&format!("trial-{name}-c"), &[&format!("trial-{name}-a")]),
                shard(&format!("trial-{name}-d"), &[&format!("trial-{name}-b"), &format!("trial-{name}-c")]),
            ],
            ["independent", name, n] => {
                let n: usize = n.parse().map_err(|e| format!("bad shard count {n}: {e}"))?;
                (0..n).map(|i| shard(&format!("trial-{name}-{i}"), &[])).collect()
            }
            _ => return Err(format!("unknown fake job `{text}`")),
        };
        Ok(PlannedJob { id: JobId(format!("job-{}", words[1])), name: words[1].to_string(), output_uri: String::new(), shards: plan })
    })
}

pub fn config(store_uri: &str, token: Option<&str>) -> CoordinatorConfig {
    let mut c = CoordinatorConfig::new("127.0.0.1:0".parse().expect("loopback address"), store_uri);
    c.token = token.map(str::to_string);
    c.heartbeat_interval = HEARTBEAT;
    c.lease_timeout = LEASE_TIMEOUT;
    c.tick = Duration::from_millis(50);
    c
}

pub async fn start(store_dir: &tempfile::TempDir, token: Option<&str>) -> CoordinatorHandle {
    let uri = store_dir.path().to_str().expect("utf-8 temp dir").to_string();
    start_coordinator(config(&uri, token), fake_planner()).await.expect("coordinator starts")
}

pub async fn stop(handle: CoordinatorHandle) {
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown finishes")
        .expect("server stopped cleanly");
}

pub async fn connect(handle: &CoordinatorHandle, token: Option<&str>) -> Client {
    let channel = Channel::from_shared(format!("http://{}", handle.addr))
        .expect("valid endpoint")
        .connect()
        .await
        .expect("connects to the coordinator");
    CoordinatorClient::with_interceptor(channel, Bearer::new(token))
}

/// A worker that runs no model: it commits an empty manifest per lease.
pub struct FakeWorker {
    pub client: Client,
    pub store: Store,
    pub id: String,
    pub name: String,
}

impl FakeWorker {
    pub async fn register(client: Client, store_dir: &tempfile::TempDir, name: &str) -> FakeWorker {
        FakeWorker::register_with_capacity(client, store_dir, name, 1).await
    }

    pub async fn register_with_capacity(client: Client, store_dir: &tempfile::TempDir, name: &str, capacity: u32) -> FakeWorker {
        let mut client = client;
        let id = client
            .register_worker(pb::RegisterWorkerRequest { capacity, ..registration(name, PROTOCOL_VERSION) })
            .await
            .expect("registration accepted")
            .into_inner()
            .worker_id;
        let store = Store::open(store_dir.path().to_str().expect("utf-8 temp dir")).expect("store opens");
        FakeWorker { client, store, id, name: name.to_string() }
    }

    pub async fn heartbeat(&mut self, running: &[&pb::Lease]) -> Result<Vec<String>, Status> {
        let request = pb::HeartbeatRequest {
            worker_id: self.id.clone(),
            running_attempts: running.iter().map(|l| l.attempt_id.clone()).collect(),
            loaded_models: vec![],
            ..Default::default()
        };
        Ok(self.client.heartbeat(request).await?.into_inner().abandon_attempts)
    }

    pub async fn lease(&mut self) -> Option<pb::Lease> {
        let request = pb::LeaseShardRequest { worker_id: self.id.clone(), max_shards: 1 };
        self.client.lease_shard(request).await.expect("lease call").into_inner().leases.pop()
    }

    pub async fn lease_many(&mut self, max: u32) -> Vec<pb::Lease> {
        let request = pb::LeaseShardRequest { worker_id: self.id.clone(), max_shards: max };
        self.client.lease_shard(request).await.expect("lease call").into_inner().leases
    }

    /// Commits every shard's manifest and reports them in one CompleteShards.
    pub async fn complete_many(&mut self, leases: &[pb::Lease]) -> Result<Vec<pb::ReportAck>, Status> {
        let mut completions = Vec::new();
        for lease in leases {
            let json = self.commit(lease).await;
            completions.push(pb::ShardCompletion { attempt_id: lease.attempt_id.clone(), manifest_json: json });
        }
        let request = pb::CompleteShardsRequest { worker_id: self.id.clone(), completions };
        Ok(self.client.complete_shards(request).await?.into_inner().acks)
    }

    /// Commits the shard's manifest (first writer wins) and reports it.
    pub async fn complete(&mut self, lease: &pb::Lease) -> pb::ReportAck {
        let json = self.commit(lease).await;
        let request = pb::CompleteShardRequest {
            worker_id: self.id.clone(),
            attempt_id: lease.attempt_id.clone(),
            manifest_json: json,
        };
        self.client.complete_shard(request).await.expect("complete call").into_inner()
    }

    /// Puts the shard's manifest if none is there; returns it as JSON.
    async fn commit(&mut self, lease: &pb::Lease) -> String {
        let shard = ShardId(lease.shard_id.clone());
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            shard: shard.clone(),
            kind: ShardKind::Trial,
            attempt: AttemptId(lease.attempt_id.clone()),
            worker: self.name.clone(),
            parts: vec![],
            spec: serde_json::Value::Null,
        };
        let json = serde_json::to_string(&manifest).expect("manifest serialises");
        self.store
            .put_if_absent(&manifest_key(&shard), Bytes::from(json.clone()))
            .await
            .expect("manifest put");
        json
    }

    pub async fn progress(&mut self, lease: &pb::Lease, done: u64, total: u64) -> pb::ReportAck {
        let request = pb::ReportProgressRequest { worker_id: self.id.clone(), attempt_id: lease.attempt_id.clone(), done, total };
        self.client.report_progress(request).await.expect("progress call").into_inner()
    }

    pub async fn fail(&mut self, lease: &pb::Lease, class: pb::FailureClass, reason: &str) -> pb::ReportAck {
        let request = pb::FailShardRequest {
            worker_id: self.id.clone(),
            attempt_id: lease.attempt_id.clone(),
            failure_class: class as i32,
            reason: reason.to_string(),
            missing_dependencies: Vec::new(),
        };
        self.client.fail_shard(request).await.expect("fail call").into_inner()
    }

    /// A lost-dependency failure naming dependencies the shard found uncommitted.
    pub async fn fail_missing(&mut self, lease: &pb::Lease, missing: &[&str]) -> pb::ReportAck {
        let request = pb::FailShardRequest {
            worker_id: self.id.clone(),
            attempt_id: lease.attempt_id.clone(),
            failure_class: pb::FailureClass::LostDependency as i32,
            reason: format!("dependency {} has no committed manifest", missing.join(", ")),
            missing_dependencies: missing.iter().map(|s| s.to_string()).collect(),
        };
        self.client.fail_shard(request).await.expect("fail call").into_inner()
    }

    /// Leases and completes shards until the job is finished; returns the
    /// shards it ran, in order.
    pub async fn run_until_finished(&mut self, job: &str) -> Vec<String> {
        let mut ran = Vec::new();
        loop {
            self.heartbeat(&[]).await.expect("heartbeat");
            match self.lease().await {
                Some(lease) => {
                    assert!(self.complete(&lease).await.accepted, "completion of {} accepted", lease.shard_id);
                    ran.push(lease.shard_id);
                }
                None if job_state(&mut self.client, job).await.state != pb::JobState::Running as i32 => return ran,
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

pub fn registration(name: &str, protocol_version: u32) -> pb::RegisterWorkerRequest {
    pb::RegisterWorkerRequest {
        protocol_version,
        worker_name: name.to_string(),
        device: "cpu".to_string(),
        capacity: 1,
        loaded_models: vec![],
    }
}

pub async fn submit(client: &mut Client, job_toml: &str) -> pb::SubmitJobResponse {
    let request = pb::SubmitJobRequest { job_toml: job_toml.to_string() };
    client.submit_job(request).await.expect("job accepted").into_inner()
}

pub async fn job_state(client: &mut Client, job: &str) -> pb::JobStatus {
    let request = pb::GetJobRequest { job_id: job.to_string() };
    client.get_job(request).await.expect("job known").into_inner()
}

