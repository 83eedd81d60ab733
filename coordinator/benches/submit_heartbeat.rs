//! Heartbeat latency while a large job is submitted, against a real S3
//! server (moto) on loopback: a coordinator over `s3://`, one registered
//! worker heartbeating back to back, and a submission of N independent
//! shards (first argument or RWCLIP_BENCH_SHARDS, default 5000) of which
//! every fifth is already committed in the store. A coordinator whose event
//! loop waits on the store stalls every heartbeat for the whole submission;
//! one that does its store work beside the loop answers them throughout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rwclip_artifacts::Store;
use rwclip_plan::{JobId, PlannedShard, ShardId, ShardKind};
use rwclip_store::shard_store::manifest_key;
use rwclip_coordinator::{start_coordinator, CoordinatorConfig, PlannedJob, Planner};
use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_client::CoordinatorClient;
use rwclip_proto::PROTOCOL_VERSION;
use rwclip_test_support::moto::MotoServer;
use tonic::transport::Channel;

type Failure = Box<dyn std::error::Error + Send + Sync>;

const BUCKET: &str = "bench";
/// One in this many shards is committed before the submission.
const COMMITTED_EVERY: usize = 5;

fn shard_id(i: usize) -> ShardId {
    ShardId(format!("trial-heartbeat-bench-{i:06}"))
}

/// Plans `<n>` independent shards; the job text is the shard count.
fn planner() -> Planner {
    Arc::new(|text: &str| {
        let n: usize = text.trim().parse().map_err(|e| format!("bad shard count `{text}`: {e}"))?;
        let shards = (0..n)
            .map(|i| PlannedShard {
                id: shard_id(i),
                kind: ShardKind::Trial,
                deps: vec![],
                model_key: None,
                spec_json: r#"{"noop":true}"#.to_string(),
            })
            .collect();
        Ok(PlannedJob { id: JobId(format!("heartbeat-bench-{n}")), name: "heartbeat-bench".to_string(), output_uri: String::new(), shards })
    })
}

fn fake_manifest(shard: &ShardId) -> Bytes {
    // Only the manifest's key matters to a submission; its content is never read.
    Bytes::from(format!("{{\"shard\":\"{shard}\"}}"))
}

struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default()
    }
}

/// Heartbeats back to back until `stop`, recording each round trip.
async fn heartbeat_until(mut client: CoordinatorClient<Channel>, worker_id: String, stop: Arc<AtomicBool>) -> Result<Latencies, Failure> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        client
            .heartbeat(pb::HeartbeatRequest { worker_id: worker_id.clone(), ..Default::default() })
            .await?;
        samples.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Latencies { samples })
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let shards: usize = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-')) // `cargo bench` passes `--bench`
        .or_else(|| std::env::var("RWCLIP_BENCH_SHARDS").ok())
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5000);

    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    for (key, value) in moto.env() {
        std::env::set_var(key, value);
    }
    let uri = format!("s3://{BUCKET}/coordinator");
    let store = Store::open(&uri)?;
    let committed: Vec<ShardId> = (0..shards).step_by(COMMITTED_EVERY).map(shard_id).collect();
    let puts: Vec<_> = futures::stream::iter(committed.iter().map(|id| {
        let (store, key, body) = (store.clone(), manifest_key(id), fake_manifest(id));
        async move { store.put(&key, body).await }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    for put in puts {
        put?;
    }

    let mut config = CoordinatorConfig::new("127.0.0.1:0".parse()?, uri);
    // Long enough that no lease or worker expires during a slow submission.
    config.heartbeat_interval = Duration::from_secs(60);
    config.lease_timeout = Duration::from_secs(600);
    let coordinator = start_coordinator(config, planner()).await?;
    let endpoint = format!("http://{}", coordinator.addr);
    let mut worker = CoordinatorClient::new(Channel::from_shared(endpoint.clone())?.connect().await?);
    let worker_id = worker
        .register_worker(pb::RegisterWorkerRequest {
            protocol_version: PROTOCOL_VERSION,
            worker_name: "bench".to_string(),
            device: "cpu".to_string(),
            capacity: 1,
            loaded_models: vec![],
        })
        .await?
        .into_inner()
        .worker_id;

    // A quiet baseline first, then the same during the submission.
    let stop = Arc::new(AtomicBool::new(false));
    let quiet = tokio::spawn(heartbeat_until(worker.clone(), worker_id.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let quiet = quiet.await??;

    let stop = Arc::new(AtomicBool::new(false));
    let busy = tokio::spawn(heartbeat_until(worker.clone(), worker_id.clone(), stop.clone()));
    let mut client = CoordinatorClient::new(Channel::from_shared(endpoint)?.connect().await?);
    let started = Instant::now();
    let response = client.submit_job(pb::SubmitJobRequest { job_toml: shards.to_string() }).await?.into_inner();
    let submit = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let busy = busy.await??;
    if response.shards_already_committed as usize != committed.len() {
        return Err(format!("{} shards reported committed, {} were", response.shards_already_committed, committed.len()).into());
    }

    println!("heartbeat latency while submitting {shards} shards ({} already committed) to a coordinator on moto S3", committed.len());
    println!("submit answered in {:.3} s", submit.as_secs_f64());
    println!("{:>10} {:>9} {:>10} {:>10} {:>10}", "phase", "samples", "p50 (ms)", "p99 (ms)", "max (ms)");
    for (phase, l) in [("quiet", &quiet), ("submitting", &busy)] {
        println!(
            "{:>10} {:>9} {:>10.2} {:>10.2} {:>10.2}",
            phase,
            l.samples.len(),
            l.quantile(0.5).as_secs_f64() * 1e3,
            l.quantile(0.99).as_secs_f64() * 1e3,
            l.quantile(1.0).as_secs_f64() * 1e3
        );
    }
    drop(worker);
    coordinator.shutdown().await?;
    Ok(())
}
