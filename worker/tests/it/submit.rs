//! `rwclip submit` against real `rwclip coordinator` and `rwclip worker`
//! processes on loopback (the cluster harness of rwclip-test-support).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::tiny_job::TinyJob;
use rwclip_test_support::python::run as py;

const CLI_TIMEOUT: Duration = Duration::from_secs(300);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rwclip"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `rwclip submit JOB --coordinator URL --token-file F` plus `extra`.
fn submit(cluster: &Cluster, job: &Path, extra: &[&str]) -> Output {
    let url = cluster.url();
    let mut args = vec!["submit", job.to_str().unwrap(), "--coordinator", &url, "--token-file", cluster.token_file.to_str().unwrap()];
    args.extend_from_slice(extra);
    cluster.cli(&args, CLI_TIMEOUT)
}

#[test]
fn submit_prints_the_job_id_and_with_wait_the_results() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let output = work.path().join("out");
    let job = TinyJob::small("submit-wait", output.to_str().unwrap(), &work.path().join("data")).write(work.path());

    // Without --wait: the id at once, while no worker could have run anything.
    let id = cluster.submit(&job);
    assert_eq!(cluster.client().get_job(&id).unwrap().state, rwclip_proto::v1::JobState::Running as i32);

    // The same job again with --wait (same content, same id), now with a worker.
    cluster.add_worker();
    let out = submit(&cluster, &job, &["--wait"]);
    assert!(out.status.success(), "{:?}\n{}", out.status.code(), text(&out.stderr));
    let stdout = text(&out.stdout);
    let (first, results) = stdout.split_once('\n').unwrap();
    assert_eq!(first, id, "{stdout}");
    let published = std::fs::read_to_string(output.join("results.md")).unwrap();
    assert_eq!(results.trim_end(), published.trim_end(), "--wait printed something else than the published results.md");
    assert!(results.contains("| Setup |") && results.contains("CLIP + ours"), "{results}");
    let e = text(&out.stderr);
    assert!(e.contains("rwclip: progress: ") && e.contains("aggregate 1/1"), "{e}");

    // The printed table is the published results.parquet.
    let rows = py(
        "import sys, pyarrow.parquet as pq; print(pq.read_table(sys.argv[1]).num_rows)",
        &[output.join("results.parquet").to_str().unwrap()],
    );
    assert!(rows.trim().parse::<u64>().unwrap() > 0, "{rows}");
}

#[test]
fn submit_wait_of_a_job_with_a_corrupt_image_exits_3_with_the_shard_report() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    cluster.add_worker();
    let data = work.path().join("data");
    let synth = cluster.cli(
        &["dataset", "synth", "--out", data.to_str().unwrap(), "--categories", "weave", "--test-good", "2", "--test-defective", "1"],
        CLI_TIMEOUT,
    );
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    let victim = data.join("weave/test/good").read_dir().unwrap().next().unwrap().unwrap().path();
    std::fs::write(&victim, b"not an image").unwrap();
    let job = TinyJob::small("corrupt", work.path().join("out").to_str().unwrap(), &data).write(work.path());

    let out = submit(&cluster, &job, &["--wait"]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{e}");
    assert!(e.contains("(image), 1 attempt: fatal: "), "{e}");
    assert!(e.contains(victim.file_name().unwrap().to_str().unwrap()), "{e}");
    // The job id is still on stdout, for scripts.
    assert!(text(&out.stdout).trim().starts_with("job-"), "{}", text(&out.stdout));
}

#[test]
fn submit_is_refused_without_the_token() {
    let work = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let job = TinyJob::small("no-token", work.path().join("out").to_str().unwrap(), &work.path().join("data")).write(work.path());
    let out = cluster.cli(&["submit", job.to_str().unwrap(), "--coordinator", &cluster.url()], CLI_TIMEOUT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SubmitJob"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn submit_rejects_a_bad_job_file_before_connecting() {
    let work = tempfile::tempdir().unwrap();
    let mut job = TinyJob::small("bad", work.path().join("out").to_str().unwrap(), &work.path().join("data")).toml();
    job = job.replace("[scoring]", "[scoring]\ntemprature = 0.01");
    let path = work.path().join("bad.toml");
    std::fs::write(&path, job).unwrap();
    // Nothing listens on port 1: a connection attempt would fail differently.
    let out = std::process::Command::new(bin())
        .args(["submit", path.to_str().unwrap(), "--coordinator", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("bad.toml") && e.contains("temprature"), "{e}");
    assert!(!work.path().join("data").exists(), "the dataset was synthesised for a rejected job");
}

#[test]
fn a_billion_prompt_pairs_are_refused_at_once_naming_the_key_and_the_coordinator_carries_on() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let output = work.path().join("out");
    let mut huge = TinyJob::small("huge", output.to_str().unwrap(), &work.path().join("data"));
    huge.pairs = vec![1_000_000_000];
    let job = huge.write(work.path());
    let started = std::time::Instant::now();
    let out = submit(&cluster, &job, &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let e = text(&out.stderr);
    assert!(e.contains("lower `prompts.pairs`") && e.contains("would plan 976567 shards (976564 text"), "{e}");
    assert!(took < Duration::from_secs(10), "refusing took {took:?}");
    // The coordinator still plans and runs a normal job.
    let job = TinyJob::small("after", output.to_str().unwrap(), &work.path().join("data")).write(work.path());
    cluster.add_worker();
    let id = cluster.submit(&job);
    cluster.wait_succeeded(&id, Duration::from_secs(240));
}

#[test]
fn status_watch_and_results_report_a_submitted_job() {
    let work = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(bin(), work.path().join("store").to_str().unwrap(), &[]);
    let output = work.path().join("out");
    let job = TinyJob::small("commands", output.to_str().unwrap(), &work.path().join("data")).write(work.path());
    let id = cluster.submit(&job);
    let url = cluster.url();
    let token = cluster.token_file.to_str().unwrap().to_string();
    let run = |cluster: &Cluster, args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--coordinator", &url, "--token-file", &token]);
        cluster.cli(&all, CLI_TIMEOUT)
    };
    // Before any worker: running, nothing committed, every stage listed.
    let out = run(&cluster, &["status", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with(&format!("job {id} (commands): running, 0/")), "{s}");
    for stage in ["text", "image", "trial", "aggregate"] {
        assert!(s.lines().any(|l| l.trim_start().starts_with(stage) && l.contains("committed")), "{stage} missing:\n{s}");
    }
    // watch follows it to the end once a worker runs it.
    cluster.add_worker();
    let out = run(&cluster, &["watch", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("succeeded"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("rwclip: progress: "), "{}", text(&out.stderr));

    let md = text(&run(&cluster, &["results", &id]).stdout);
    assert_eq!(md.trim_end(), std::fs::read_to_string(output.join("results.md")).unwrap().trim_end());
    let csv = text(&run(&cluster, &["results", &id, "--format", "csv"]).stdout);
    assert_eq!(csv, std::fs::read_to_string(output.join("results.csv")).unwrap());
    let json: serde_json::Value = serde_json::from_str(&text(&run(&cluster, &["results", &id, "--format", "json"]).stdout)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), csv.lines().count() - 1, "one JSON row per results.csv row");
    // jobs lists it; a second job is cancelled before any worker takes it.
    let listed = text(&run(&cluster, &["jobs"]).stdout);
    assert!(listed.lines().any(|l| l.starts_with(&id) && l.contains("succeeded") && l.ends_with("commands")), "{listed}");
    // workers lists the one worker, idle: its device, capacity, no shards held.
    let out = run(&cluster, &["workers"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one worker:\n{listed}");
    assert!(lines[0].starts_with("worker") && lines[0].contains("capacity") && lines[0].contains("heartbeat"), "{listed}");
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!((fields[1], fields[2], fields[3], fields[5]), ("cpu", "1", "0", "-"), "device, capacity, held, shards:\n{listed}");
    assert!(fields[4].parse::<f64>().unwrap() < 30.0, "a recent heartbeat:\n{listed}");
    cluster.kill_all_workers();
    // Other seeds: shards no worker has computed (content addressing would
    // otherwise find them committed).
    let mut other = TinyJob::small("to-cancel", work.path().join("out2").to_str().unwrap(), &work.path().join("data"));
    other.seeds = vec![5, 6];
    let other = other.write(work.path());
    let other_id = cluster.submit(&other);
    let out = run(&cluster, &["cancel", &other_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("job {other_id} (to-cancel): cancelled")), "{}", text(&out.stdout));
    let listed = text(&run(&cluster, &["jobs"]).stdout);
    assert!(listed.lines().any(|l| l.starts_with(&other_id) && l.contains("cancelled")), "{listed}");
    // An unknown job is an error naming it.
    let out = run(&cluster, &["status", "job-unknown"]);
    assert!(!out.status.success() && text(&out.stderr).contains("job-unknown"), "{}", text(&out.stderr));
}

/// A coordinator that drops the connection under the call (as one that
/// exits does): over plain HTTP the error says the coordinator stopped and
/// does not send the user to mutual TLS.
#[test]
fn a_connection_dropped_over_plain_http_points_at_the_coordinator_not_at_tls() {
    let work = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            drop(stream);
        }
    });
    let job = TinyJob::small("dropped", work.path().join("out").to_str().unwrap(), &work.path().join("data")).write(work.path());
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["submit", job.to_str().unwrap(), "--coordinator", &url]).env_remove("RWCLIP_TOKEN");
    let out = rwclip_test_support::process::run_with_deadline(cmd, CLI_TIMEOUT).expect("rwclip submit ran past its deadline");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("SubmitJob") && stderr.contains("stopped or restarted"), "{stderr}");
    assert!(!stderr.contains("mutual TLS") && !stderr.contains("--tls-cert"), "{stderr}");
}
