//! Lease/complete round-trips per second through a real coordinator on
//! loopback, with no-op shards, so scheduler + gRPC overhead is what is
//! measured. Each round trip is: LeaseShard, the manifest's conditional put
//! into a local temporary store, CompleteShard (whose handler checks the
//! manifest exists). Shard count: first argument or RWCLIP_BENCH_SHARDS
//! (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rwclip_common::artifacts::Store;
use rwclip_common::plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
use rwclip_common::shard_store::{manifest_key, Manifest, MANIFEST_VERSION};
use rwclip_coordinator::{start_coordinator, CoordinatorConfig, PlannedJob, Planner};
use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_client::CoordinatorClient;
use rwclip_proto::PROTOCOL_VERSION;
use tonic::transport::Channel;

type Failure = Box<dyn std::error::Error + Send + Sync>;

const WORKER_COUNTS: [usize; 2] = [1, 4];

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

/// One fake worker: leases until nothing is left; returns shards completed.
async fn drain(mut client: CoordinatorClient<Channel>, store: Store, name: String) -> Result<usize, Failure> {
    let registration = pb::RegisterWorkerRequest {
        protocol_version: PROTOCOL_VERSION,
        worker_name: name.clone(),
        device: "cpu".to_string(),
        capacity: 1,
        loaded_models: vec![],
    };
    let worker_id = client.register_worker(registration).await?.into_inner().worker_id;
    let mut done = 0;
    // Independent shards: an empty lease means every shard is taken.
    while let Some(lease) = client
        .lease_shard(pb::LeaseShardRequest { worker_id: worker_id.clone() })
        .await?
        .into_inner()
        .lease
    {
        let shard = ShardId(lease.shard_id);
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            shard: shard.clone(),
            kind: ShardKind::Trial,
            attempt: AttemptId(lease.attempt_id.clone()),
            worker: name.clone(),
            parts: vec![],
            spec: serde_json::Value::Null,
        };
        let json = serde_json::to_string(&manifest)?;
        store.put_if_absent(&manifest_key(&shard), Bytes::from(json.clone())).await?;
        let ack = client
            .complete_shard(pb::CompleteShardRequest {
                worker_id: worker_id.clone(),
                attempt_id: lease.attempt_id,
                manifest_json: json,
            })
            .await?
            .into_inner();
        if !ack.accepted {
            return Err(format!("completion of {shard} ignored: {}", ack.note).into());
        }
        done += 1;
    }
    Ok(done)
}

/// Runs one job of `shards` no-op shards with `workers` concurrent workers;
/// returns the wall time from first lease to last completion.
async fn measure(shards: usize, workers: usize) -> Result<Duration, Failure> {
    let dir = tempfile::tempdir()?;
    let uri = dir.path().to_str().ok_or("temp dir path is not UTF-8")?.to_string();
    let config = CoordinatorConfig::new("127.0.0.1:0".parse()?, uri.clone());
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
        .map(|(i, c)| tokio::spawn(drain(c, store.clone(), format!("bench-{i}"))))
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
        .unwrap_or(2000);
    println!("lease/complete round-trips, {shards} independent no-op shards, loopback, local store");
    println!("{:>8} {:>10} {:>14} {:>16}", "workers", "wall (s)", "round-trips/s", "mean latency (ms)");
    for workers in WORKER_COUNTS {
        let elapsed = measure(shards, workers).await?;
        let secs = elapsed.as_secs_f64();
        // Each worker runs its round trips back to back, so the mean latency
        // of one round trip is wall time × workers / shards.
        println!(
            "{:>8} {:>10.3} {:>14.0} {:>16.3}",
            workers,
            secs,
            shards as f64 / secs,
            secs * 1000.0 * workers as f64 / shards as f64
        );
    }
    Ok(())
}
