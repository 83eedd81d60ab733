//! The distributed runner end to end: a coordinator process, worker
//! processes and a real S3 server (moto) run a 2 Np × 2 word pairs × 3 seeds
//! sweep; three workers give the same bytes as one, and pyarrow reads every
//! Parquet artifact in the store.

use std::path::Path;
use std::time::{Duration, Instant};

use rwclip_artifacts::Store;
use rwclip_proto::v1 as pb;
use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::store_snapshot::StoreSnapshot;
use rwclip_test_support::tiny_job::TinyJob;
use rwclip_test_support::moto::{MotoServer, ACCESS_KEY, REGION, SECRET_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");
const JOB_BUDGET: Duration = Duration::from_secs(240);
/// 2 Np × 2 word pairs × 3 seeds.
const TRIALS: usize = 12;

struct SweepRun {
    job_id: String,
    status: pb::JobStatus,
    results: pb::GetResultsResponse,
    store: StoreSnapshot,
    output: StoreSnapshot,
    wall: Duration,
}

/// Runs the sweep with `workers` worker processes, store and output in
/// `bucket`; `data` is the dataset root (synthesised by the first submit).
fn run_sweep(server: &MotoServer, bucket: &str, workers: usize, data: &Path, resubmit: bool) -> SweepRun {
    server.create_bucket(bucket);
    let store_uri = format!("s3://{bucket}/store");
    let output_uri = format!("s3://{bucket}/out");
    let mut cluster = Cluster::start(Path::new(BIN), &store_uri, &server.env());
    let job = TinyJob::sweep("sweep", &output_uri, data).write(cluster.dir.path());
    for _ in 0..workers {
        cluster.add_worker();
    }
    let start = Instant::now();
    let job_id = cluster.submit(&job);
    let status = cluster.wait_succeeded(&job_id, JOB_BUDGET);
    let wall = start.elapsed();
    let results = cluster
        .client()
        .results(&job_id)
        .unwrap_or_else(|e| cluster.fail(&format!("GetResults {job_id}: {e}")));
    let store = StoreSnapshot::read(&store_uri, &server.endpoint());
    if resubmit {
        resubmission_recomputes_nothing(&cluster, &job, &job_id, &results, &store, server);
    }
    let output = StoreSnapshot::read(&output_uri, &server.endpoint());
    SweepRun { job_id, status, results, store, output, wall }
}

/// `rwclip submit --wait` of the finished job: same id, exit 0, results.md on
/// stdout, and not one new attempt in the store (content addressing).
fn resubmission_recomputes_nothing(
    cluster: &Cluster,
    job: &Path,
    job_id: &str,
    results: &pb::GetResultsResponse,
    before: &StoreSnapshot,
    server: &MotoServer,
) {
    let out = cluster.cli(
        &["submit", job.to_str().unwrap(), "--coordinator", &cluster.url(), "--token-file", cluster.token_file.to_str().unwrap(), "--wait"],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        cluster.fail(&format!("resubmit --wait exited {:?}:\n{stdout}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    assert_eq!(stdout.lines().next(), Some(job_id), "resubmitting names the same job:\n{stdout}");
    assert!(
        stdout.contains(results.results_markdown.trim()),
        "submit --wait prints results.md:\n{stdout}\n--- expected ---\n{}",
        results.results_markdown
    );
    let after = StoreSnapshot::read(&cluster.store, &server.endpoint());
    assert_eq!(after.manifests, before.manifests, "resubmission changed committed manifests");
    for id in before.manifests.keys() {
        assert_eq!(after.attempts_of(id), before.attempts_of(id), "resubmission re-ran shard {id}");
    }
}

/// Fetches `key` from an S3 store on the moto server.
fn s3_get(server: &MotoServer, uri: &str, key: &str) -> Vec<u8> {
    let endpoint = server.endpoint();
    let options = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_access_key_id", ACCESS_KEY),
        ("aws_secret_access_key", SECRET_KEY),
        ("aws_region", REGION),
    ];
    let store = Store::open_with_options(uri, &options).unwrap_or_else(|e| panic!("open {uri}: {e}"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(store.get(key)).unwrap_or_else(|e| panic!("get {uri}/{key}: {e}")).to_vec()
}

fn check_one_run(server: &MotoServer, run: &SweepRun, workers: usize) {
    let s = &run.status;
    assert_eq!(s.shards_committed, s.shards_total, "{s:?}");
    assert!(s.failures.is_empty() && s.shards_failed == 0, "{s:?}");
    let store = &run.store;
    store.assert_parts_present();
    store.assert_trial_rows_complete(TRIALS);
    // Np values of one seed and word pair share their text shards.
    assert_eq!(store.count("text_embedding"), 6, "{:?}", store.manifests.keys());
    assert!(store.count("image_embedding") >= 1);
    assert_eq!(store.count("aggregate"), 1);
    assert_eq!(store.manifests.len() as u32, s.shards_total, "every planned shard committed once");
    // pyarrow read every Parquet file (StoreSnapshot::read fails otherwise);
    // each committed one has rows.
    let parquet: Vec<_> = store.files.iter().filter(|f| f.ends_with(".parquet")).collect();
    assert_eq!(parquet.len(), store.parquet_rows.len());
    for m in store.manifests.values() {
        for p in m.parts.iter().filter(|p| p.ends_with(".parquet")) {
            assert!(store.parquet_rows[p] > 0, "{p} is empty");
        }
    }
    for f in ["job.toml", "results.parquet", "results.csv", "results.md"] {
        assert!(run.output.sha256.contains_key(f), "job output lacks {f}: {:?}", run.output.files);
    }
    assert!(run.output.parquet_rows["results.parquet"] > 0);
    let output_uri = run.results.results_uri.trim_end_matches('/').to_string();
    let md = s3_get(server, &output_uri, "results.md");
    assert_eq!(String::from_utf8_lossy(&md), run.results.results_markdown, "GetResults markdown is results.md");
    let workers_used: std::collections::BTreeSet<_> = store.manifests.values().map(|m| m.worker.as_str()).collect();
    eprintln!("{} with {workers} worker(s): {} shards, committed by {workers_used:?}", run.job_id, s.shards_total);
    if workers > 1 {
        assert!(workers_used.len() > 1, "{workers} workers, but one did all the work: {workers_used:?}");
    }
}

#[test]
fn three_workers_on_s3_equal_one_worker_bit_for_bit() {
    let server = MotoServer::start();
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().join("data");
    let one = run_sweep(&server, "sweep-one", 1, &data, true);
    let three = run_sweep(&server, "sweep-three", 3, &data, false);
    check_one_run(&server, &one, 1);
    check_one_run(&server, &three, 3);

    for f in ["results.parquet", "results.csv", "results.md"] {
        assert_eq!(one.output.sha256[f], three.output.sha256[f], "{f} differs between 1 and 3 workers");
    }
    assert_eq!(one.store.trial_rows, three.store.trial_rows, "per-seed metric rows differ");
    // Same content-addressed shards, and every committed part has the same bytes.
    let ids = |r: &SweepRun| r.store.manifests.keys().cloned().collect::<Vec<_>>();
    assert_eq!(ids(&one), ids(&three));
    for (id, m1) in &one.store.manifests {
        let m3 = &three.store.manifests[id];
        let names = |m: &rwclip_test_support::store_snapshot::ManifestView, s: &StoreSnapshot| {
            m.parts.iter().map(|p| (p.rsplit('/').next().unwrap().to_string(), s.sha256[p].clone())).collect::<Vec<_>>()
        };
        assert_eq!(names(m1, &one.store), names(m3, &three.store), "shard {id}: parts differ");
    }
    eprintln!(
        "sweep wall time (submit to success, {} shards): 1 worker {:.1} s, 3 workers {:.1} s",
        one.status.shards_total,
        one.wall.as_secs_f64(),
        three.wall.as_secs_f64()
    );
}
