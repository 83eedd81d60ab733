//! Chaos tests of the distributed runner: real `rwclip coordinator` and
//! `rwclip worker` processes on loopback, killed and restarted mid-job. Each
//! test ends with the clean run's results (no duplicate or lost per-seed
//! rows) or a clear failure, within a deadline.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::Duration;

use rwclip_job::{Job, PathChecks};
use rwclip_plan::{plan, AttemptId, ShardSpec};
use rwclip_proto::v1 as pb;
use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::store_snapshot::StoreSnapshot;
use rwclip_test_support::tiny_job::TinyJob;
use rwclip_test_support::moto::MotoServer;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::shard::ExecContext;
use rwclip_worker::local_plan::execute_any;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");
const JOB_BUDGET: Duration = Duration::from_secs(180);
/// TinyJob::small: one grid point × 2 seeds.
const TRIALS: usize = 2;

/// A cluster on a local store, with the small job written next to it.
struct Fixture {
    cluster: Cluster,
    job: PathBuf,
    output: String,
    /// Holds store, output and dataset; dropped after the cluster.
    _dir: tempfile::TempDir,
}

fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_string_lossy().into_owned();
    let output = dir.path().join("out").to_string_lossy().into_owned();
    let job = TinyJob::small("chaos", &output, &dir.path().join("data")).write(dir.path());
    let cluster = Cluster::start(Path::new(BIN), &store, &[]);
    Fixture { cluster, job, output, _dir: dir }
}

fn state(s: &pb::JobStatus) -> pb::JobState {
    pb::JobState::try_from(s.state).unwrap_or(pb::JobState::Unspecified)
}

/// What a clean run of the small job produces.
struct Reference {
    trial_rows: Vec<String>,
    results_parquet: String,
}

/// One clean two-worker run, shared by every test of this file.
fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let mut f = local_fixture();
        f.cluster.add_worker();
        f.cluster.add_worker();
        let id = f.cluster.submit(&f.job);
        f.cluster.wait_succeeded(&id, JOB_BUDGET);
        let store = StoreSnapshot::read(&f.cluster.store, "");
        store.assert_trial_rows_complete(TRIALS);
        let output = StoreSnapshot::read(&f.output, "");
        Reference { trial_rows: store.trial_rows, results_parquet: output.sha256["results.parquet"].clone() }
    })
}

/// The job succeeded with exactly the clean run's rows and results.
fn assert_clean_result(store: &StoreSnapshot, output: &StoreSnapshot) {
    store.assert_parts_present();
    store.assert_trial_rows_complete(TRIALS);
    let r = reference();
    assert_eq!(store.trial_rows, r.trial_rows, "per-seed metric rows differ from a clean run");
    assert_eq!(output.sha256.get("results.parquet"), Some(&r.results_parquet), "results.parquet differs from a clean run");
}

fn finish_and_check(f: &mut Fixture, id: &str) -> StoreSnapshot {
    let status = f.cluster.wait_succeeded(id, JOB_BUDGET);
    assert!(status.failures.is_empty(), "{status:?}");
    let store = StoreSnapshot::read(&f.cluster.store, "");
    assert_clean_result(&store, &StoreSnapshot::read(&f.output, ""));
    store
}

#[test]
fn sigkill_worker_mid_shard_requeues_its_shard() {
    let mut f = local_fixture();
    f.cluster.add_worker();
    let id = f.cluster.submit(&f.job);
    // The only worker holds a lease: killing it now is killing it mid-shard.
    f.cluster.wait_for(&id, JOB_BUDGET, "a running shard", |s| s.shards_running >= 1);
    f.cluster.kill_worker(0);
    f.cluster.add_worker();
    f.cluster.add_worker();
    finish_and_check(&mut f, &id);
}

#[test]
fn sigkill_every_worker_then_new_ones_finish_the_job() {
    let mut f = local_fixture();
    f.cluster.add_worker();
    f.cluster.add_worker();
    let id = f.cluster.submit(&f.job);
    f.cluster.wait_for(&id, JOB_BUDGET, "a committed and a running shard", |s| {
        s.shards_committed >= 1 && s.shards_running >= 1
    });
    f.cluster.kill_all_workers();
    // Past the lease timeout (3 s) but within the worker grace (20 s): the
    // job waits for workers instead of failing.
    std::thread::sleep(Duration::from_secs(4));
    let waiting = f.cluster.client().get_job(&id).expect("GetJob");
    assert_eq!(state(&waiting), pb::JobState::Running, "{waiting:?}");
    f.cluster.add_worker();
    f.cluster.add_worker();
    finish_and_check(&mut f, &id);
}

#[test]
fn coordinator_restart_mid_job_resumes_without_recomputing() {
    let mut f = local_fixture();
    f.cluster.add_worker();
    f.cluster.add_worker();
    let id = f.cluster.submit(&f.job);
    let mid = f.cluster.wait_for(&id, JOB_BUDGET, "some shards committed", |s| {
        s.shards_committed >= 1 && s.shards_committed < s.shards_total
    });
    f.cluster.kill_coordinator();
    let before = StoreSnapshot::read(&f.cluster.store, "");
    assert!(before.manifests.len() < mid.shards_total as usize, "the job was already complete when the coordinator died");
    std::thread::sleep(Duration::from_secs(1));
    f.cluster.start_coordinator();
    let after = finish_and_check(&mut f, &id);
    for (shard, m) in &before.manifests {
        assert_eq!(after.manifests.get(shard), Some(m), "committed shard {shard} changed");
        // No new attempt (the coordinator may garbage-collect losing ones).
        let new: Vec<_> = after.attempts_of(shard).difference(&before.attempts_of(shard)).cloned().collect();
        assert!(new.is_empty(), "committed shard {shard} was recomputed by {new:?}");
    }
    // The same worker processes reconnected and finished the job.
    for w in &mut f.cluster.workers {
        assert_eq!(w.exit_code(), None, "{} exited instead of reconnecting:\n{}", w.name, w.log());
    }
}

/// moto keeps everything in memory, so restarting it loses the whole store
/// (job records, parts, manifests) and the bucket, which the test recreates
/// as a real S3 would still have it. Workers then find committed
/// dependencies gone; the coordinator checks the store, recomputes the lost
/// shards, and the job ends with exactly the clean run's results.
#[test]
fn s3_server_restart_mid_job_recomputes_lost_shards_and_finishes_clean() {
    let server = MotoServer::start();
    server.create_bucket("chaos");
    let (store_uri, output_uri) = ("s3://chaos/store", "s3://chaos/out");
    let dir = tempfile::tempdir().unwrap();
    let job = TinyJob::small("chaos", output_uri, &dir.path().join("data")).write(dir.path());
    let env = server.env();
    let mut cluster = Cluster::start(Path::new(BIN), store_uri, &env);
    cluster.add_worker();
    cluster.add_worker();
    let id = cluster.submit(&job);
    cluster.wait_for(&id, JOB_BUDGET, "a committed shard", |s| s.shards_committed >= 1 && s.shards_committed < s.shards_total);
    let port = server.port();
    drop(server);
    std::thread::sleep(Duration::from_secs(1));
    let server = MotoServer::start_on(port);
    server.create_bucket("chaos");
    let end = cluster.wait_finished(&id, JOB_BUDGET);
    if let Some(c) = cluster.coordinator.as_mut() {
        assert_eq!(c.exit_code(), None, "the coordinator died with its store:\n{}", c.log());
    }
    if state(&end) != pb::JobState::Succeeded {
        cluster.fail(&format!("job {id} did not recover from the S3 restart: {end:?}"));
    }
    let store = StoreSnapshot::read(store_uri, &server.endpoint());
    assert_clean_result(&store, &StoreSnapshot::read(output_uri, &server.endpoint()));
}

/// A safetensors file cut short: its header promises 4000 bytes of data.
fn truncated_safetensors(path: &Path) {
    let header = br#"{"text_projection":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 100]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn truncated_weights_fail_every_embedding_shard_at_once_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("tiny-truncated.safetensors");
    truncated_safetensors(&weights);
    let mut job = TinyJob::small("weights", &dir.path().join("out").to_string_lossy(), &dir.path().join("data"));
    job.weights = Some(weights.clone());
    let job = job.write(dir.path());
    let mut cluster = Cluster::start(Path::new(BIN), &dir.path().join("store").to_string_lossy(), &[]);
    cluster.add_worker();
    let out = cluster.cli(
        &["submit", job.to_str().unwrap(), "--coordinator", &cluster.url(), "--token-file", cluster.token_file.to_str().unwrap(), "--wait"],
        JOB_BUDGET,
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "submit --wait of a job failing on bad input exits 3:\n{stdout}\n{stderr}");
    assert!(stderr.contains("tiny-truncated.safetensors"), "the error names the weights file:\n{stderr}");
    let id = stdout.lines().next().expect("job id on stdout").trim().to_string();
    let status = cluster.client().get_job(&id).expect("GetJob");
    assert_eq!(state(&status), pb::JobState::Failed, "{status:?}");
    assert!(!status.failures.is_empty(), "{status:?}");
    for r in &status.failures {
        let kind = pb::ShardKind::try_from(r.kind).unwrap_or(pb::ShardKind::Unspecified);
        assert!(matches!(kind, pb::ShardKind::TextEmbedding | pb::ShardKind::ImageEmbedding), "{r:?}");
        assert_eq!(r.attempts, 1, "a deterministic error is not retried: {r:?}");
        assert!(r.last_reason.contains("tiny-truncated.safetensors"), "{r:?}");
    }
    let store = StoreSnapshot::read(&cluster.store, "");
    assert_eq!(store.count("trial") + store.count("aggregate"), 0, "nothing downstream of a failed shard ran");
}

#[test]
fn corrupt_image_fails_the_job_naming_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let job = TinyJob::small("corrupt", &dir.path().join("out").to_string_lossy(), &data).write(dir.path());
    let mut cluster = Cluster::start(Path::new(BIN), &dir.path().join("store").to_string_lossy(), &[]);
    // Submitting synthesises the dataset; no worker runs anything yet.
    let id = cluster.submit(&job);
    let victim = first_test_image(&data);
    std::fs::write(&victim, b"not a png").unwrap();
    let name = victim.strip_prefix(&data).unwrap().to_string_lossy().into_owned();
    cluster.add_worker();
    let end = cluster.wait_finished(&id, JOB_BUDGET);
    assert_eq!(state(&end), pb::JobState::Failed, "{end:?}");
    let image_failures: Vec<_> = end.failures.iter().filter(|r| r.kind == pb::ShardKind::ImageEmbedding as i32).collect();
    assert_eq!(image_failures.len(), 1, "{end:?}");
    let r = image_failures[0];
    assert_eq!(r.attempts, 1, "a corrupt image is not retried: {r:?}");
    assert!(r.last_reason.contains(&name), "the reason names {name}: {r:?}");
}

fn first_test_image(data: &Path) -> PathBuf {
    let mut pngs = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "png") && p.components().any(|c| c.as_os_str() == "test") {
                pngs.push(p);
            }
        }
    }
    pngs.sort();
    pngs.into_iter().next().unwrap_or_else(|| panic!("no test image under {}", data.display()))
}

/// Two attempts of every shard of the small job race on one store, each in
/// its own thread with its own model cache: both get the one committed
/// manifest, the loser's parts are byte-identical garbage, and the results
/// are the clean run's.
static MODEL_INIT: Mutex<()> = Mutex::new(());

#[test]
fn two_attempts_racing_on_every_shard_commit_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tiny = TinyJob::small("race", &dir.path().join("out").to_string_lossy(), &data);
    let job_path = tiny.write(dir.path());
    let job = Job::parse_with(&std::fs::read_to_string(&job_path).unwrap(), &job_path, PathChecks::Skip).unwrap();
    let synth = job.datasets()[0].spec.synth.as_ref().expect("[dataset.synth]").to_spec();
    rwclip_inputs::synth::write(&data, &synth).unwrap();
    let plan = plan(&job).unwrap();
    let store_uri = dir.path().join("store").to_string_lossy().into_owned();

    for shard in &plan.shards {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|k| {
                let (barrier, spec_json, uri) = (barrier.clone(), shard.spec_json.clone(), store_uri.clone());
                std::thread::spawn(move || {
                    let spec = ShardSpec::from_json(&spec_json).unwrap();
                    let store = BlockingStore::open(&uri).unwrap();
                    let mut ctx = ExecContext::new(tch::Device::Cpu, 1);
                    if let Some(model) = spec.model() {
                        // Each racer stands for a worker process. A random-init
                        // model is drawn from libtorch's process-global RNG, so
                        // two built at once in one process interleave their
                        // draws; building them one at a time keeps the racers
                        // equivalent to two processes.
                        let _one_at_a_time = MODEL_INIT.lock().unwrap();
                        ctx.model(model).unwrap();
                    }
                    barrier.wait();
                    execute_any(&spec, &mut ctx, &store, &AttemptId(format!("racer-{k}")), &format!("w{k}"))
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let got: Vec<_> = racers.into_iter().map(|t| t.join().expect("racer thread")).collect();
        let [a, b] = [&got[0], &got[1]].map(|r| r.as_ref().unwrap_or_else(|e| panic!("shard {}: {e}", shard.id)).clone());
        assert_eq!(a, b, "shard {}: both racers must report the one committed manifest", shard.id);
        assert!(["racer-0", "racer-1"].contains(&a.attempt.0.as_str()), "{a:?}");
    }
    let store = StoreSnapshot::read(&store_uri, "");
    assert_eq!(store.manifests.len(), plan.shards.len(), "one manifest per shard");
    store.assert_trial_rows_complete(TRIALS);
    assert_eq!(store.trial_rows, reference().trial_rows, "racing changed the results");
    // Where the loser got as far as writing its parts, they are
    // byte-identical to the winner's (determinism), and never committed.
    let mut twins = 0;
    for (id, m) in &store.manifests {
        let loser = if m.attempt == "racer-0" { "racer-1" } else { "racer-0" };
        for p in &m.parts {
            let twin = p.replace(&format!("/attempts/{}/", m.attempt), &format!("/attempts/{loser}/"));
            if let Some(h) = store.sha256.get(&twin) {
                assert_eq!(h, &store.sha256[p], "shard {id}: {p} and {twin} differ");
                twins += 1;
            }
        }
    }
    assert!(twins > 0, "no shard had both racers write parts: the race never happened");
}

#[test]
fn wrong_token_is_refused_by_worker_and_submit_with_exit_2() {
    let f = local_fixture();
    let wrong = f.cluster.dir.path().join("wrong-token");
    std::fs::write(&wrong, "not-the-token\n").unwrap();
    let wrong = wrong.to_str().unwrap();
    let url = f.cluster.url();
    for args in [
        vec!["worker", "--coordinator", &url, "--device", "cpu", "--token-file", wrong],
        vec!["submit", f.job.to_str().unwrap(), "--coordinator", &url, "--token-file", wrong],
    ] {
        let out = f.cluster.cli(&args, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "rwclip {args:?}:\n{stderr}");
        assert!(stderr.to_lowercase().contains("token"), "rwclip {args:?} names the token:\n{stderr}");
    }
}

#[test]
fn old_protocol_version_is_refused_naming_both_versions() {
    let mut f = local_fixture();
    let refused = f
        .cluster
        .client()
        .register_worker(pb::RegisterWorkerRequest {
            protocol_version: 0,
            worker_name: "old-worker".into(),
            device: "cpu".into(),
            capacity: 1,
            loaded_models: vec![],
        })
        .expect_err("a version-0 worker must be refused");
    let numbers: Vec<u32> = refused
        .message()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.contains(&0) && numbers.contains(&rwclip_proto::PROTOCOL_VERSION),
        "the refusal names versions 0 and {}: {refused:?}",
        rwclip_proto::PROTOCOL_VERSION
    );
}
