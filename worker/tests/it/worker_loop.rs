//! `rwclip worker` processes against an in-process coordinator on loopback:
//! a tiny job runs to completion with two workers and gives the same bytes
//! as the local plan runner; SIGTERM drains; a wrong token is refused.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_job::Job;
use rwclip_plan::{plan, JobPlan, ShardKind};
use rwclip_store::shard_store::{manifest_key, Manifest};
use rwclip_coordinator::{job_planner, start_coordinator, CoordinatorConfig, CoordinatorHandle};
use rwclip_proto::v1 as pb;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_worker::remote::{connect, ConnectOptions, CoordinatorClient};
use rwclip_engine::shard::ExecContext;
use rwclip_worker::local_plan::run_plan_locally;

/// How long a test waits for a job before declaring a hang.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A two-category synthetic dataset and a job on the rwclip-tiny preset:
/// 64 prompt pairs, 2 seeds, 1 epoch.
fn tiny_job(dir: &Path) -> Job {
    job_over(dir, 3, 64)
}

/// A job whose first shard (one image shard over every image) takes seconds,
/// not milliseconds, so a signal sent once it is seen running reliably
/// arrives while it still runs.
fn slow_first_shard_job(dir: &Path) -> Job {
    job_over(dir, 120, 1024)
}

fn job_over(dir: &Path, test_good: usize, image_size: u32) -> Job {
    let spec = SynthSpec {
        categories: vec!["weave".into(), "granite".into()],
        train_good: 0,
        test_good,
        test_defective: 1,
        defect_types: vec!["hole".into(), "stain".into()],
        image_size,
        seed: 0,
    };
    synth::write(&dir.join("data"), &spec).unwrap();
    let text = "name = \"loop\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\n\
                text_batch_size = 32\nimage_batch_size = 4\n[dataset]\nkind = \"mvtec\"\nroot = \"data\"\n\
                [prompts]\npairs = 64\n[training]\nseeds = [0, 1]\n[training.fnn]\nhidden = [8]\nepochs = 1\npairs_per_batch = 16\n";
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    Job::load(&path).unwrap()
}

/// Fast heartbeats so lost workers and restarts show up within seconds.
fn config(store: &Path, token: Option<&str>, lease_timeout: Duration) -> CoordinatorConfig {
    let mut c = CoordinatorConfig::new("127.0.0.1:0".parse::<SocketAddr>().unwrap(), store.to_str().unwrap());
    c.token = token.map(str::to_string);
    c.heartbeat_interval = Duration::from_millis(300);
    c.lease_timeout = lease_timeout;
    c.worker_grace = Duration::from_secs(120);
    c.tick = Duration::from_millis(100);
    c
}

async fn client(addr: SocketAddr, token: Option<&str>) -> CoordinatorClient {
    let options = ConnectOptions { url: format!("http://{addr}"), token: token.map(str::to_string), tls: None };
    connect(&options).await.unwrap()
}

async fn submit(addr: SocketAddr, job: &Job) -> String {
    let job_toml = job.to_submitted_toml().unwrap();
    let response = client(addr, None).await.submit_job(pb::SubmitJobRequest { job_toml }).await.unwrap();
    response.into_inner().job_id
}

async fn status(addr: SocketAddr, job_id: &str) -> pb::JobStatus {
    client(addr, None).await.get_job(pb::GetJobRequest { job_id: job_id.to_string() }).await.unwrap().into_inner()
}

/// Polls until `done(status)`; panics (with the workers' logs) after `timeout`.
async fn wait_for(addr: SocketAddr, job_id: &str, logs: &[PathBuf], timeout: Duration, done: impl Fn(&pb::JobStatus) -> bool) -> pb::JobStatus {
    let start = Instant::now();
    loop {
        let s = status(addr, job_id).await;
        if done(&s) {
            return s;
        }
        if start.elapsed() > timeout {
            panic!("job {job_id} still at {s:?} after {timeout:?}\n{}", dump(logs));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dump(logs: &[PathBuf]) -> String {
    logs.iter()
        .map(|p| format!("--- {}\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default()))
        .collect()
}

/// Starts `rwclip worker` against `addr`, its stderr in `log`.
fn spawn_worker(addr: SocketAddr, log: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(["worker", "--coordinator", &format!("http://{addr}"), "--device", "cpu"])
        .args(extra)
        .env_remove("RWCLIP_TOKEN")
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, timeout: Duration, logs: &[PathBuf]) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("worker did not exit within {timeout:?}\n{}", dump(logs));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap();
    assert!(ok.success(), "kill -{name} failed");
}

/// Part bytes of a committed shard, by part file name.
fn parts(store: &BlockingStore, m: &Manifest) -> Vec<(String, Vec<u8>)> {
    m.parts
        .iter()
        .map(|p| (p.rsplit('/').next().unwrap().to_string(), store.get(p).unwrap().to_vec()))
        .collect()
}

fn manifest(store: &BlockingStore, shard: &rwclip_plan::ShardId) -> Option<Manifest> {
    let key = manifest_key(shard);
    store.exists(&key).unwrap().then(|| serde_json::from_slice(&store.get(&key).unwrap()).unwrap())
}

#[test]
fn two_workers_run_a_job_and_match_the_local_runner_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let job = tiny_job(dir.path());
    let store_dir = dir.path().join("store");
    let logs = [dir.path().join("w1.log"), dir.path().join("w2.log")];
    let rt = runtime();

    let coordinator: CoordinatorHandle = rt.block_on(start_coordinator(config(&store_dir, None, Duration::from_secs(10)), job_planner())).unwrap();
    let addr = coordinator.addr;
    let job_id = rt.block_on(submit(addr, &job));
    let mut workers: Vec<Child> = logs.iter().map(|log| spawn_worker(addr, log, &["--exit-when-idle", "2"])).collect();
    let done = rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.state != pb::JobState::Running as i32));
    assert_eq!(done.state, pb::JobState::Succeeded as i32, "{done:?}\n{}", dump(&logs));
    assert_eq!(done.shards_failed, 0);
    for w in &mut workers {
        let exit = wait_exit(w, Duration::from_secs(60), &logs);
        assert!(exit.success(), "worker exited with {exit}\n{}", dump(&logs));
    }
    let log_text = dump(&logs);
    for log in &logs {
        let text = std::fs::read_to_string(log).unwrap();
        assert!(text.contains("committed"), "a worker ran nothing; the job was not shared\n{log_text}");
    }
    rt.block_on(coordinator.shutdown()).unwrap();
    drop(rt);
    assert_matches_the_local_runner(&job, &store_dir, &dir.path().join("local"), &log_text);
}

/// Runs the same plan through the local runner into `local` and checks that
/// every shard the workers committed in `store_dir` has the same bytes.
fn assert_matches_the_local_runner(job: &Job, store_dir: &Path, local: &Path, log_text: &str) {
    let plan: JobPlan = plan(job).unwrap();
    let remote = BlockingStore::open(store_dir.to_str().unwrap()).unwrap();
    let local = BlockingStore::open(local.to_str().unwrap()).unwrap();
    run_plan_locally(&plan, &local, &mut ExecContext::new(tch::Device::Cpu, 2)).unwrap();
    for shard in &plan.shards {
        let theirs = manifest(&local, &shard.id).unwrap();
        let Some(ours) = manifest(&remote, &shard.id) else {
            panic!("shard {} ({:?}) was never committed by the workers\n{log_text}", shard.id, shard.kind);
        };
        if shard.kind != ShardKind::Aggregate {
            assert_ne!(ours.worker, "local", "shard {} was not run by a worker", shard.id);
        }
        assert_eq!(parts(&remote, &ours), parts(&local, &theirs), "shard {} ({:?}) differs from the local run", shard.id, shard.kind);
    }
}

/// Four executor threads in one process share libtorch's thread settings:
/// trials (pinned to one thread) and embeddings run side by side, and every
/// part still has the local runner's bytes.
#[test]
fn one_worker_with_capacity_4_matches_the_local_runner_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let job = tiny_job(dir.path());
    let store_dir = dir.path().join("store");
    let logs = [dir.path().join("w.log")];
    let rt = runtime();
    let coordinator: CoordinatorHandle = rt.block_on(start_coordinator(config(&store_dir, None, Duration::from_secs(10)), job_planner())).unwrap();
    let addr = coordinator.addr;
    let job_id = rt.block_on(submit(addr, &job));
    let mut worker = spawn_worker(addr, &logs[0], &["--capacity", "4", "--exit-when-idle", "2"]);
    let done = rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.state != pb::JobState::Running as i32));
    assert_eq!(done.state, pb::JobState::Succeeded as i32, "{done:?}\n{}", dump(&logs));
    let exit = wait_exit(&mut worker, Duration::from_secs(60), &logs);
    assert!(exit.success(), "worker exited with {exit}\n{}", dump(&logs));
    rt.block_on(coordinator.shutdown()).unwrap();
    drop(rt);
    assert_matches_the_local_runner(&job, &store_dir, &dir.path().join("local"), &dump(&logs));
}

#[test]
fn sigterm_hands_back_a_running_shard_uncounted_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let job = slow_first_shard_job(dir.path());
    let store_dir = dir.path().join("store");
    let logs = [dir.path().join("drained.log"), dir.path().join("second.log")];
    let rt = runtime();
    // A long lease timeout: only a hand-back can re-queue the shard quickly.
    let coordinator = rt.block_on(start_coordinator(config(&store_dir, None, Duration::from_secs(60)), job_planner())).unwrap();
    let addr = coordinator.addr;
    let job_id = rt.block_on(submit(addr, &job));

    let mut first = spawn_worker(addr, &logs[0], &["--drain-timeout", "0"]);
    rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.shards_running == 1));
    signal(&first, "TERM");
    let exit = wait_exit(&mut first, Duration::from_secs(30), &logs);
    assert!(exit.success(), "drained worker exited with {exit}\n{}", dump(&logs));
    let drained_log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(drained_log.contains("handed back 1 of 1"), "{drained_log}");
    let after = rt.block_on(wait_for(addr, &job_id, &logs, Duration::from_secs(10), |s| s.shards_running == 0));
    assert_eq!(after.state, pb::JobState::Running as i32, "{after:?}");

    // Another worker completes the job; nothing was counted as failed.
    let mut second = spawn_worker(addr, &logs[1], &["--exit-when-idle", "2"]);
    let done = rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.state != pb::JobState::Running as i32));
    assert_eq!(done.state, pb::JobState::Succeeded as i32, "{done:?}\n{}", dump(&logs));
    assert!(done.failures.is_empty(), "{:?}", done.failures);
    assert!(wait_exit(&mut second, Duration::from_secs(60), &logs).success());
    rt.block_on(coordinator.shutdown()).unwrap();
}

#[test]
fn sigterm_lets_a_running_shard_finish_within_the_drain_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let job = slow_first_shard_job(dir.path());
    let logs = [dir.path().join("w.log")];
    let rt = runtime();
    let coordinator = rt.block_on(start_coordinator(config(&dir.path().join("store"), None, Duration::from_secs(60)), job_planner())).unwrap();
    let addr = coordinator.addr;
    let job_id = rt.block_on(submit(addr, &job));

    let mut worker = spawn_worker(addr, &logs[0], &["--drain-timeout", "120"]);
    let running = rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.shards_running == 1));
    signal(&worker, "TERM");
    let exit = wait_exit(&mut worker, Duration::from_secs(120), &logs);
    assert!(exit.success(), "worker exited with {exit}\n{}", dump(&logs));
    let after = rt.block_on(status(addr, &job_id));
    assert_eq!(after.shards_running, 0, "{after:?}");
    assert!(after.shards_committed > running.shards_committed, "the running shard was not finished and reported\n{after:?}\n{}", dump(&logs));
    assert!(after.shards_committed < after.shards_total, "the draining worker kept leasing\n{after:?}");
    rt.block_on(coordinator.shutdown()).unwrap();
}

#[test]
fn worker_reconnects_and_registers_again_after_a_coordinator_restart() {
    let dir = tempfile::tempdir().unwrap();
    let job = tiny_job(dir.path());
    let store_dir = dir.path().join("store");
    let logs = [dir.path().join("w.log")];
    let rt = runtime();
    let first = rt.block_on(start_coordinator(config(&store_dir, None, Duration::from_secs(10)), job_planner())).unwrap();
    let addr = first.addr;
    let job_id = rt.block_on(submit(addr, &job));
    let mut worker = spawn_worker(addr, &logs[0], &["--exit-when-idle", "5"]);
    rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.shards_committed >= 1));
    rt.block_on(first.shutdown()).unwrap();

    // Same address, same store: the job is rebuilt from the store, and the
    // worker (unknown to the new coordinator) registers again.
    let mut restarted = config(&store_dir, None, Duration::from_secs(10));
    restarted.bind = addr;
    let second = rt.block_on(start_coordinator(restarted, job_planner())).unwrap();
    let done = rt.block_on(wait_for(addr, &job_id, &logs, JOB_TIMEOUT, |s| s.state != pb::JobState::Running as i32));
    assert_eq!(done.state, pb::JobState::Succeeded as i32, "{done:?}\n{}", dump(&logs));
    assert!(wait_exit(&mut worker, Duration::from_secs(60), &logs).success());
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("registering again") && log.matches("registered as").count() == 2, "{log}");
    rt.block_on(second.shutdown()).unwrap();
}

/// `rwclip coordinator` as a process; returns it and the address it printed.
fn spawn_coordinator_cli(store: &Path, token_file: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(["coordinator", "--bind", "127.0.0.1:0", "--store", store.to_str().unwrap()])
        .arg("--token-file")
        .arg(token_file)
        .env_remove("RWCLIP_TOKEN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("rwclip coordinator exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("rwclip-coordinator listening on ") {
            break addr.trim().parse().unwrap();
        }
    };
    // Keep draining: a closed pipe would make its next eprintln! panic.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

#[test]
fn wrong_token_exits_2_naming_the_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("coordinator.token");
    std::fs::write(&right, "right-token\n").unwrap();
    let (mut coordinator, addr) = spawn_coordinator_cli(&dir.path().join("store"), &right);
    let token_file = dir.path().join("worker.token");
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(["worker", "--coordinator", &format!("http://{addr}"), "--device", "cpu"])
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("token") && stderr.contains(token_file.to_str().unwrap()), "{stderr}");
    assert!(!stderr.contains("wrong-token"), "the token itself must not be printed: {stderr}");

    // The coordinator subcommand stops cleanly on SIGTERM.
    signal(&coordinator, "TERM");
    let exit = wait_exit(&mut coordinator, Duration::from_secs(30), &[]);
    assert!(exit.success(), "rwclip coordinator exited with {exit}");
}

/// `RWCLIP_LOG_FORMAT=json`: every log line of the coordinator and of a
/// worker is one JSON object with a level and a message; `RUST_LOG` filters.
#[test]
fn json_logs_are_one_object_per_line_in_both_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut coordinator = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(["coordinator", "--bind", "127.0.0.1:0", "--store", dir.path().join("store").to_str().unwrap()])
        .env_remove("RWCLIP_TOKEN")
        .env("RWCLIP_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(coordinator.stderr.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("rwclip coordinator exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("rwclip-coordinator listening on ") {
            break addr.trim().parse().unwrap();
        }
    };
    let collected = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<String>>());

    let worker = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(["worker", "--coordinator", &format!("http://{addr}"), "--device", "cpu", "--exit-when-idle", "1"])
        .env_remove("RWCLIP_TOKEN")
        .env("RWCLIP_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(worker.status.success(), "{}", String::from_utf8_lossy(&worker.stderr));
    signal(&coordinator, "TERM");
    assert!(wait_exit(&mut coordinator, Duration::from_secs(30), &[]).success());
    let coordinator_lines = collected.join().unwrap();

    let messages = |lines: Vec<String>, who: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let event: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{who} line is not JSON ({e}): {l}"));
                assert!(event["level"].is_string(), "{who} line has no level: {l}");
                event["fields"]["message"].as_str().unwrap_or_else(|| panic!("{who} line has no message: {l}")).to_string()
            })
            .collect()
    };
    let worker_messages = messages(String::from_utf8_lossy(&worker.stderr).lines().map(str::to_string).collect(), "worker");
    assert!(worker_messages.iter().any(|m| m.starts_with("registered as ")), "{worker_messages:?}");
    let coordinator_messages = messages(coordinator_lines, "coordinator");
    assert!(coordinator_messages.iter().any(|m| m == "worker registered"), "{coordinator_messages:?}");
    assert!(coordinator_messages.iter().any(|m| m == "shutting down"), "{coordinator_messages:?}");
}
