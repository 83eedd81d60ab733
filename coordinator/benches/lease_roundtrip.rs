//! Lease/complete round-trips per second through a real coordinator on
//! loopback, with no-op shards, so scheduler + gRPC overhead is what is
//! measured. Each shard's round trip is: leased (LeaseShard), its manifest
//! put conditionally into a local temporary store, reported complete (the
//! coordinator reads the manifest back). Measured with one shard per call
//! (LeaseShard + CompleteShard, as before multi-shard leases) and with
//! `BATCH` per call (a worker of that capacity: LeaseShard with
//! `max_shards`, CompleteShards). Shard count: first argument or
//! RWCLIP_BENCH_SHARDS (default 20000). The store is a directory in /dev/shm
//! when there is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rwclip_artifacts::Store;
use rwclip_plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
use rwclip_store::shard_store::{manifest_key, Manifest, MANIFEST_VERSION};
use rwclip_coordinator::{start_coordinator, CoordinatorConfig, PlannedJob, Planner};
use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_client::CoordinatorClient;
use rwclip_proto::PROTOCOL_VERSION;
use tonic::transport::Channel;

type Failure = Box<dyn std::error::Error + Send + Sync>;

const WORKER_COUNTS: [usize; 3] = [1, 4, 16];
/// Shards per call in the multi-shard rows.
const BATCH: usize = 64;

/// Plans `<n>` independent no-op shards; the job text is the shard count.
fn independent_planner() -> Planner {
    Arc::new(|text: &str| {
        let n: usize = text.trim().parse().map_err(|e| format!("bad shard count `{text}`: {e}"))?;
        let plan = (0..n)
            .map(|i| PlannedShard {
                id: ShardId(format!("trial-bench-{i}")),
                kind: ShardKind::Trial,
                deps: vec![],
                model_key: None,
                spec_json: r#"{"noop":true}"#.to_string(),
            })
            .collect();
        Ok(PlannedJob { id: JobId(format!("bench-{n}")), name: format!("bench-{n}"), output_uri: String::new(), shards: plan })
    })
}

fn manifest_of(lease: &pb::Lease, worker: &str) -> Manifest {
    Manifest {
        version: MANIFEST_VERSION,
        shard: ShardId(lease.shard_id.clone()),
        kind: ShardKind::Trial,
        attempt: AttemptId(lease.attempt_id.clone()),
        worker: worker.to_string(),
        parts: vec![],
        spec: serde_json::Value::Null,
    }
}

/// One fake worker of capacity `batch`: leases up to `batch` shards per
/// call until nothing is left, commits their manifests, reports them (one
/// CompleteShard each when `batch` is 1, else one CompleteShards); returns
/// shards completed.
async fn drain(mut client: CoordinatorClient<Channel>, store: Store, name: String, batch: usize) -> Result<usize, Failure> {
    let registration = pb::RegisterWorkerRequest {
        protocol_version: PROTOCOL_VERSION,
        worker_name: name.clone(),
        device: "cpu".to_string(),
        capacity: batch as u32,
        loaded_models: vec![],
    };
    let worker_id = client.register_worker(registration).await?.into_inner().worker_id;
    let mut done = 0;
    loop {
        let leases = client
            .lease_shard(pb::LeaseShardRequest { worker_id: worker_id.clone(), max_shards: batch as u32 })
            .await?
            .into_inner()
            .leases;
        // Independent shards: an empty lease means every shard is taken.
        if leases.is_empty() {
            return Ok(done);
        }
        // A worker's slots commit side by side.
        let manifests: Vec<Manifest> = leases.iter().map(|lease| manifest_of(lease, &name)).collect();
        let commits = manifests.into_iter().map(|manifest| {
            let store = store.clone();
            async move {
                let json = serde_json::to_string(&manifest)?;
                store.put_if_absent(&manifest_key(&manifest.shard), Bytes::from(json.clone())).await?;
                Ok::<_, Failure>(pb::ShardCompletion { attempt_id: manifest.attempt.0, manifest_json: json })
            }
        });
        let mut completions: Vec<pb::ShardCompletion> = futures::stream::iter(commits).buffered(8).try_collect().await?;
        let acks = if batch == 1 {
            let c = completions.pop().expect("one lease");
            let request = pb::CompleteShardRequest { worker_id: worker_id.clone(), attempt_id: c.attempt_id, manifest_json: c.manifest_json };
            vec![client.complete_shard(request).await?.into_inner()]
        } else {
            let request = pb::CompleteShardsRequest { worker_id: worker_id.clone(), completions };
            client.complete_shards(request).await?.into_inner().acks
        };
        if let Some(ack) = acks.iter().find(|a| !a.accepted) {
            return Err(format!("a completion was ignored: {}", ack.note).into());
        }
        done += acks.len();
    }
}

/// Runs one job of `shards` no-op shards with `workers` concurrent workers;
/// returns the wall time from first lease to last completion.
async fn measure(shards: usize, workers: usize, batch: usize) -> Result<Duration, Failure> {
    // RAM-backed when the machine has /dev/shm: the store's latency is not
    // what this measures, and a slow disk would hide the scheduler's.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm)? } else { tempfile::tempdir()? };
    let uri = dir.path().to_str().ok_or("temp dir path is not UTF-8")?.to_string();
    let mut config = CoordinatorConfig::new("127.0.0.1:0".parse()?, uri.clone());
    // The fake workers do not heartbeat; a slow run must not expire them.
    config.lease_timeout = Duration::from_secs(3600);
    let coordinator = start_coordinator(config, independent_planner()).await?;
    let endpoint = format!("http://{}", coordinator.addr);

    let mut client = CoordinatorClient::new(Channel::from_shared(endpoint.clone())?.connect().await?);
    let job_id = client
        .submit_job(pb::SubmitJobRequest { job_toml: shards.to_string() })
        .await?
        .into_inner()
        .job_id;

    // Connections are opened before the clock starts; each worker has its own.
    let store = Store::open(&uri)?;
    let mut clients = Vec::new();
    for _ in 0..workers {
        clients.push(CoordinatorClient::new(Channel::from_shared(endpoint.clone())?.connect().await?));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(drain(c, store.clone(), format!("bench-{i}"), batch)))
        .collect();
    let mut completed = 0;
    for task in tasks {
        completed += task.await??;
    }
    let elapsed = started.elapsed();

    let status = client.get_job(pb::GetJobRequest { job_id }).await?.into_inner();
    if completed != shards || status.state != pb::JobState::Succeeded as i32 {
        return Err(format!("{completed}/{shards} shards completed, job state {}", status.state).into());
    }
    drop(client);
    coordinator.shutdown().await?;
    Ok(elapsed)
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let shards: usize = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-')) // `cargo bench` passes `--bench`
        .or_else(|| std::env::var("RWCLIP_BENCH_SHARDS").ok())
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20000);
    println!("lease/complete round-trips, {shards} independent no-op shards, loopback, local store");
    println!("{:>8} {:>16} {:>10} {:>14}", "workers", "shards per call", "wall (s)", "round-trips/s");
    for batch in [1, BATCH] {
        for workers in WORKER_COUNTS {
            let elapsed = measure(shards, workers, batch).await?;
            let secs = elapsed.as_secs_f64();
            println!("{:>8} {:>16} {:>10.3} {:>14.0}", workers, batch, secs, shards as f64 / secs);
        }
    }
    Ok(())
}
