//! A store that misbehaves, on purpose: every rwclip process talks to moto
//! through the fault-injecting proxy of the test harness. The proxy's own
//! faults are checked first; then a scoring job over stills (with bad
//! entries) and a video, all on S3, gives the fault-free run's bytes at 5%
//! and 20% faults, with a commit whose answer was dropped, and through
//! stalls longer than the client's timeout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rwclip_artifacts::Store;
use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_test_support::fault_proxy::{Fault, FaultProxy, FaultRates};
use rwclip_test_support::moto::{MotoServer, ACCESS_KEY, REGION, SECRET_KEY};
use rwclip_test_support::process::run_with_deadline;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// moto itself, never through the proxy: what the test reads and writes.
fn direct(server: &MotoServer, uri: &str) -> Store {
    Store::open_with_options(uri, &[("aws_endpoint", &server.endpoint()), ("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY), ("aws_region", REGION)]).unwrap()
}

/// One raw request through the proxy: (status line or "", body bytes, Content-Length).
fn raw(proxy: &FaultProxy, method: &str, path: &str, body: &[u8]) -> (String, Vec<u8>, Option<usize>) {
    let mut s = TcpStream::connect(proxy.endpoint().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // moto reads the access key from the header and checks no signature.
    let auth = format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20261206/{REGION}/s3/aws4_request, SignedHeaders=host, Signature=0");
    let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).to_string();
    let Some((head, _)) = text.split_once("\r\n\r\n") else { return (String::new(), got, None) };
    let length = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()));
    let body = got[head.len() + 4..].to_vec();
    (head.lines().next().unwrap_or("").to_string(), body, length)
}

#[test]
fn the_proxy_injects_each_fault_kind_and_logs_it() {
    let server = MotoServer::start();
    server.create_bucket("probe");
    let proxy = FaultProxy::start(&server.endpoint(), FaultRates::none());
    let object: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let (status, _, _) = raw(&proxy, "PUT", "/probe/obj", &object);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let only = |fault: Fault| FaultRates { latency: Duration::from_millis(300), stall: Duration::from_secs(2), ..FaultRates::none().with(fault, 1.0) };

    proxy.set_rates(only(Fault::SlowDown));
    let (status, body, _) = raw(&proxy, "GET", "/probe/obj", b"");
    assert!(status.contains("503") && String::from_utf8_lossy(&body).contains("<Code>SlowDown</Code>"), "{status}");
    proxy.set_rates(only(Fault::InternalError));
    let (status, body, _) = raw(&proxy, "GET", "/probe/obj", b"");
    assert!(status.contains("500") && String::from_utf8_lossy(&body).contains("<Code>InternalError</Code>"), "{status}");
    proxy.set_rates(only(Fault::ResetBefore));
    assert_eq!(raw(&proxy, "GET", "/probe/obj", b"").0, "", "no answer at all");
    for cut in [Fault::ResetMidBody, Fault::Truncated] {
        proxy.set_rates(only(cut));
        let (status, body, length) = raw(&proxy, "GET", "/probe/obj", b"");
        assert!(status.contains("200") && length == Some(object.len()) && body.len() == object.len() / 2, "{cut:?}: {status} {length:?} {}", body.len());
        assert_eq!(body, object[..object.len() / 2]);
    }
    proxy.set_rates(only(Fault::Latency));
    let t = Instant::now();
    let (status, body, _) = raw(&proxy, "GET", "/probe/obj", b"");
    assert!(status.contains("200") && body == object && t.elapsed() >= Duration::from_millis(300));
    proxy.set_rates(only(Fault::Stall));
    let t = Instant::now();
    assert_eq!(raw(&proxy, "GET", "/probe/obj", b"").0, "");
    assert!(t.elapsed() >= Duration::from_secs(2), "held for the stall");
    // Dropped after moto applied it: no answer, yet the object is there.
    proxy.set_rates(only(Fault::DropAfterApply));
    assert_eq!(raw(&proxy, "PUT", "/probe/dropped", b"applied").0, "");
    assert_eq!(block_on(direct(&server, "s3://probe").get("dropped")).unwrap().as_ref(), b"applied");
    proxy.set_rates(FaultRates::none());
    proxy.outage(Duration::from_secs(2));
    assert!(raw(&proxy, "GET", "/probe/obj", b"").0.contains("503"));
    std::thread::sleep(Duration::from_millis(2100));
    assert!(raw(&proxy, "GET", "/probe/obj", b"").0.contains("200"), "healthy after the outage");

    let counts = proxy.counts();
    let expected: BTreeMap<Fault, u64> = Fault::DRAWN.into_iter().map(|f| (f, 1)).chain([(Fault::Outage, 1)]).collect();
    assert_eq!(counts, expected, "each fault once, as logged");
    assert!(proxy.log().iter().any(|i| i.method == "PUT" && i.path == "/probe/dropped" && i.fault == Fault::DropAfterApply));
}

/// A detector for rwclip-tiny, and an archive on moto: 6 stills, a text
/// file named `.png`, a manifest row naming a missing image, and a video.
fn archive(d: &Path, server: &MotoServer) {
    let spec = SynthSpec { categories: vec!["weave".into()], train_good: 0, test_good: 3, test_defective: 3, image_size: 64, ..SynthSpec::default() };
    synth::write(&d.join("data"), &spec).unwrap();
    let mut train = Command::new(BIN);
    train.args(["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"]).current_dir(d);
    ok(train);
    let video = d.join("run.mp4");
    let out = Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p"]).arg(&video).output().expect("ffmpeg (make test's bootstrap installs it)");
    assert!(out.status.success());
    server.create_bucket("archive");
    let bucket = direct(server, "s3://archive");
    let mut rows: Vec<String> = Vec::new();
    for entry in walk(&d.join("data")) {
        let key = format!("in/{}", entry.strip_prefix(d).unwrap().display());
        block_on(bucket.put(&key, std::fs::read(&entry).unwrap().into())).unwrap();
        rows.push(key.trim_start_matches("in/").to_string());
    }
    rows.sort();
    block_on(bucket.put("in/notes.png", b"not an image".to_vec().into())).unwrap();
    block_on(bucket.put("in/run.mp4", std::fs::read(&video).unwrap().into())).unwrap();
    rows.extend(["notes.png".into(), "missing.png".into(), "run.mp4".into()]);
    block_on(bucket.put("in/manifest.csv", format!("uri\n{}\n", rows.join("\n")).into_bytes().into())).unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "png") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn ok(cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = run_with_deadline(cmd, Duration::from_secs(600)).unwrap_or_else(|| panic!("{shown} ran past 600 s"));
    assert!(out.status.success(), "{shown} exited {:?}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    out
}

/// Scores the archive's manifest into `s3://archive/<out>` with the store
/// reached at `endpoint`; returns rwclip's stderr.
fn score(d: &Path, server: &MotoServer, endpoint: &str, out: &str) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["score", "--input", "s3://archive/in/manifest.csv", "--detector", "detector.safetensors", "--out", &format!("s3://archive/{out}"), "--device", "cpu"])
        .args(["--workers", "2", "--rows-per-shard", "4", "--batch-size", "2", "--frames-per-shard", "2", "--top-k", "8"])
        .current_dir(d);
    for (k, v) in server.env() {
        cmd.env(k, if k == "AWS_ENDPOINT_URL" { endpoint.to_string() } else { v });
    }
    // Quick timeouts and backoffs, so stalls and faults cost seconds.
    cmd.env("RWCLIP_STORE_TIMEOUT_S", "3").env("RWCLIP_STORE_BACKOFF_MAX_S", "1").env("RWCLIP_STORE_BACKOFF_INIT_MS", "50");
    String::from_utf8_lossy(&ok(cmd).stderr).to_string()
}

/// Every object of a scoring output but the wall-time-bearing ones.
fn output(server: &MotoServer, out: &str) -> BTreeMap<String, Vec<u8>> {
    let store = direct(server, &format!("s3://archive/{out}"));
    let keys = block_on(store.list("")).unwrap();
    keys.into_iter()
        .filter(|k| k.starts_with("scores/") || k == "top_k.csv" || k == "videos.parquet")
        .map(|k| {
            let bytes = block_on(store.get(&k)).unwrap().to_vec();
            (k, bytes)
        })
        .collect()
}

#[test]
fn a_scoring_job_gives_the_fault_free_bytes_at_5_and_20_percent_faults_with_dropped_commits_and_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = MotoServer::start();
    archive(d, &server);
    let began = Instant::now();
    score(d, &server, &server.endpoint(), "clean");
    let clean_wall = began.elapsed().as_secs_f64();
    let clean = output(&server, "clean");
    assert!(clean.keys().any(|k| k.starts_with("scores/part-")) && clean.contains_key("top_k.csv") && clean.contains_key("videos.parquet"), "{:?}", clean.keys());

    // Each kind must happen at least once over both runs: faults follow
    // the requests, whose keys hash this run's paths, so the counts vary
    // from run to run (each kind's chance of never happening: about 1e-4).
    let mut every_run: BTreeMap<Fault, u64> = BTreeMap::new();
    for (seed, rate) in [(5u64, 0.05), (20, 0.20)] {
        let proxy = FaultProxy::start(&server.endpoint(), FaultRates::short_faults(seed, rate));
        let name = format!("faults-{seed}");
        let began = Instant::now();
        let stderr = score(d, &server, &proxy.endpoint(), &name);
        let counts = proxy.counts();
        eprintln!("scoring at {rate}: {} requests, faults {counts:?}, {:.1} s against {clean_wall:.1} s fault-free", proxy.requests(), began.elapsed().as_secs_f64());
        assert_eq!(output(&server, &name), clean, "{rate} faults: the fault-free bytes");
        assert!(!stderr.contains("FAILED"), "a transient fault failed a shard:\n{stderr}");
        let injected: u64 = counts.values().sum();
        // Roughly at its rate (at 5% of ~230 requests, fewer than 2 has a
        // chance of about 1e-4; at 20%, fewer than half, about 1e-4).
        let floor = if rate >= 0.2 { 0.5 } else { 0.15 };
        assert!(injected as f64 >= rate * proxy.requests() as f64 * floor, "{injected} faults in {} requests", proxy.requests());
        for (kind, n) in counts {
            *every_run.entry(kind).or_default() += n;
        }
    }
    for kind in Fault::DRAWN.into_iter().filter(|f| *f != Fault::Stall) {
        assert!(every_run.get(&kind).copied().unwrap_or(0) > 0, "{kind:?} never happened: {every_run:?}");
    }

    // Every commit's answer dropped once after moto applied it: each is
    // recognised as committed, never failed, never committed twice.
    let commits = FaultRates { only: vec!["PUT ".into(), "manifest.json".into()], once_per_path: true, ..FaultRates::none().with(Fault::DropAfterApply, 1.0) };
    let proxy = FaultProxy::start(&server.endpoint(), commits);
    let stderr = score(d, &server, &proxy.endpoint(), "dropped");
    let dropped = proxy.log().iter().filter(|i| i.method == "PUT" && i.fault == Fault::DropAfterApply).count();
    assert!(dropped >= 3, "commits dropped: {:?}", proxy.log());
    assert_eq!(output(&server, "dropped"), clean);
    assert!(!stderr.contains("FAILED"), "{stderr}");

    // Stalls past the 3 s client timeout: retried, never hung (6% of
    // about 225 requests: no stall at all has a chance of about 1e-6).
    let proxy = FaultProxy::start(&server.endpoint(), FaultRates { stall: Duration::from_secs(5), ..FaultRates::none().with(Fault::Stall, 0.06) });
    score(d, &server, &proxy.endpoint(), "stalled");
    eprintln!("stalls: {:?} in {} requests", proxy.counts(), proxy.requests());
    assert!(proxy.counts().get(&Fault::Stall).copied().unwrap_or(0) > 0, "{:?}", proxy.counts());
    assert_eq!(output(&server, "stalled"), clean);
}

/// An outage: the proxy answers every request with 503 for 25 s in the
/// middle of a scoring job run by a real coordinator and two workers. The
/// job waits rather than fails; meanwhile the coordinator answers `status`
/// (which says the store is failing) and `/metrics` (which counts the
/// retries by cause); then it finishes with the fault-free bytes.
#[test]
fn an_outage_pauses_a_job_which_then_finishes_with_the_same_results() {
    use rwclip_test_support::cluster::Cluster;
    use rwclip_test_support::http;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = MotoServer::start();
    archive(d, &server);
    score(d, &server, &server.endpoint(), "clean");
    let clean = output(&server, "clean");

    let proxy = FaultProxy::start(&server.endpoint(), FaultRates::none().with(Fault::Latency, 0.3));
    let mut env = proxy.env(&server.env());
    env.extend([("RWCLIP_STORE_TIMEOUT_S", "3".to_string()), ("RWCLIP_STORE_BACKOFF_MAX_S", "2".to_string())]);
    let job = format!(
        "kind = \"score\"\nname = \"outage\"\noutput = \"s3://archive/outage\"\ndetector = \"{}\"\ninput = \"s3://archive/in/manifest.csv\"\nrows_per_shard = 4\nframes_per_shard = 2\ntop_k = 8\n[model]\ndevice = \"cpu\"\nimage_batch_size = 2\n",
        d.join("detector.safetensors").display()
    );
    std::fs::write(d.join("outage.toml"), job).unwrap();
    let mut cluster = Cluster::start(Path::new(BIN), "s3://archive/store", &env);
    cluster.add_worker();
    cluster.add_worker();
    let id = cluster.submit(&d.join("outage.toml"));
    cluster.wait_for(&id, Duration::from_secs(300), "a first shard committed", |s| s.shards_committed >= 1);
    let outage = Duration::from_secs(25);
    proxy.outage(outage);
    let began = Instant::now();
    // Status keeps answering, and says why nothing moves.
    let mut said = String::new();
    while began.elapsed() < outage - Duration::from_secs(3) {
        let asked = Instant::now();
        let (url, token) = (cluster.url(), cluster.token_file.display().to_string());
        let out = cluster.cli(&["status", &id, "--coordinator", &url, "--token-file", &token], Duration::from_secs(20));
        assert!(asked.elapsed() < Duration::from_secs(10), "status took {:?} during the outage", asked.elapsed());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("store: the store is failing") {
            said = text;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(said.contains("retrying"), "status never said the store is failing:\n{said}");
    let auth = format!("Bearer {}", cluster.token);
    // The dashboard is served, and its job JSON says the same.
    let asked = Instant::now();
    let page = http::get(&cluster.http_addr(), "/", &[("Authorization", &auth)]);
    let api = http::get(&cluster.http_addr(), &format!("/api/jobs/{id}"), &[("Authorization", &auth)]);
    assert!(asked.elapsed() < Duration::from_secs(5) && page.status == 200 && page.body.contains("store-trouble"), "the dashboard during the outage: {}", page.status);
    assert!(api.status == 200 && api.body.contains("the store is failing"), "{}", api.body);
    let metrics = http::get(&cluster.http_addr(), "/metrics", &[("Authorization", &auth)]).body;
    let retried = |line: &str| line.starts_with("rwclip_store_retries_total{") && line.contains("cause=\"throttled_503\"");
    assert!(metrics.lines().any(retried), "no 503 retries on /metrics:\n{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("rwclip_store_failing_calls{") && !l.ends_with(" 0")), "{metrics}");
    let status = cluster.wait_succeeded(&id, Duration::from_secs(400));
    eprintln!("outage: the job took {:.1} s after the outage began ({} s of outage)", began.elapsed().as_secs_f64(), outage.as_secs());
    assert_eq!(status.shards_failed, 0);
    assert!(began.elapsed() >= outage, "it finished only once the store answered again");
    assert!(proxy.counts().get(&Fault::Outage).copied().unwrap_or(0) > 10, "{:?}", proxy.counts());
    assert_eq!(output(&server, "outage"), clean, "the same results as without the outage");
    let after = http::get(&cluster.http_addr(), "/metrics", &[("Authorization", &auth)]).body;
    eprintln!("outage: {:?} faults; store metrics:\n{}", proxy.counts(), after.lines().filter(|l| l.starts_with("rwclip_store_")).collect::<Vec<_>>().join("\n"));
}

/// The three-dataset sweep (MVTec-AD, VisA, Sewer-ML on S3; zero-shot,
/// object known and 1-shot; with and without multi-crop) run by a real
/// coordinator and two workers gives the fault-free results at 5% and 20%
/// faults, with no shard failed.
#[test]
fn a_three_dataset_sweep_gives_the_fault_free_results_at_5_and_20_percent_faults() {
    use rwclip_test_support::cluster::Cluster;
    let server = MotoServer::start();
    server.create_bucket("data");
    let synth = "[datasets.synth]\ncategories = [\"weave\", \"granite\"]\ntrain_good = 2\ntest_good = 2\ntest_defective = 1\nimage_size = 64\n";
    let job = |name: &str| {
        format!(
            "name = \"faults\"\noutput = \"s3://data/out-{name}\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\ntext_batch_size = 128\nimage_batch_size = 4\n\
             [[datasets]]\nname = \"MVTec-AD\"\nkind = \"mvtec\"\nroot = \"s3://data/datasets/mvtec\"\n{synth}\
             [[datasets]]\nname = \"VisA\"\nkind = \"visa\"\nroot = \"s3://data/datasets/visa\"\n{synth}\
             [[datasets]]\nname = \"Sewer-ML\"\nkind = \"sewer-ml\"\nroot = \"s3://data/datasets/sewer\"\nsetups = [\"unknown\"]\n{synth}\
             [prompts]\npairs = 64\n[training]\nseeds = [0, 1]\n[training.fnn]\nhidden = [16]\nepochs = 1\npairs_per_batch = 16\n\
             [scoring]\nsetups = [\"unknown\", \"known\", \"1-shot\"]\nmulti_crop = [false, true]\n"
        )
    };
    // Every committed Parquet part of a shard store, by shard and file
    // name (the attempt in its key differs from run to run).
    let parts = |name: &str| -> BTreeMap<String, Vec<u8>> {
        let store = direct(&server, &format!("s3://data/store-{name}"));
        let mut out = BTreeMap::new();
        for key in block_on(store.list("shards")).unwrap().into_iter().filter(|k| k.ends_with("/manifest.json")) {
            let manifest: serde_json::Value = serde_json::from_slice(&block_on(store.get(&key)).unwrap()).unwrap();
            for part in manifest["parts"].as_array().unwrap().iter().filter_map(|p| p.as_str()).filter(|p| p.ends_with(".parquet")) {
                let shard = key.trim_start_matches("shards/").trim_end_matches("/manifest.json");
                let file = part.rsplit('/').next().unwrap();
                out.insert(format!("{shard}/{file}"), block_on(store.get(part)).unwrap().to_vec());
            }
        }
        out
    };
    let run = |name: &str, endpoint: &str| -> ((String, String), f64, u64) {
        let env: Vec<(&str, String)> = server
            .env()
            .into_iter()
            .map(|(k, v)| (k, if k == "AWS_ENDPOINT_URL" { endpoint.to_string() } else { v }))
            .chain([("RWCLIP_STORE_TIMEOUT_S", "3".to_string()), ("RWCLIP_STORE_BACKOFF_MAX_S", "1".to_string()), ("RWCLIP_STORE_BACKOFF_INIT_MS", "50".to_string())])
            .collect();
        // A store of its own, so no run reuses another's shards.
        let mut cluster = Cluster::start(Path::new(BIN), &format!("s3://data/store-{name}"), &env);
        let path = cluster.dir.path().join("job.toml");
        std::fs::write(&path, job(name)).unwrap();
        cluster.add_worker();
        cluster.add_worker();
        let began = Instant::now();
        let id = cluster.submit(&path);
        let status = cluster.wait_succeeded(&id, Duration::from_secs(600));
        let wall = began.elapsed().as_secs_f64();
        assert!(status.failures.is_empty() && status.shards_failed == 0, "{name}: {:?}", status.failures);
        // Retries of every process, as /metrics sums them.
        let auth = format!("Bearer {}", cluster.token);
        let metrics = rwclip_test_support::http::get(&cluster.http_addr(), "/metrics", &[("Authorization", &auth)]).body;
        let retries: u64 = metrics.lines().filter(|l| l.starts_with("rwclip_store_retries_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
        let out = direct(&server, &format!("s3://data/out-{name}"));
        let text = |k: &str| String::from_utf8(block_on(out.get(k)).unwrap().to_vec()).unwrap();
        ((text("results.csv"), text("results.md")), wall, retries)
    };
    // The first run synthesises the datasets onto S3; the second is the
    // fault-free reference, timed like the faulty ones.
    run("synthesis", &server.endpoint());
    let (clean, clean_wall, _) = run("clean", &server.endpoint());
    assert!(clean.0.lines().count() > 20, "{}", clean.0);
    let clean_parts = parts("clean");
    assert!(clean_parts.len() > 20 && clean_parts.keys().any(|k| k.starts_with("trial-")), "{:?}", clean_parts.keys().take(5).collect::<Vec<_>>());
    for (seed, rate) in [(105u64, 0.05), (120, 0.20)] {
        let proxy = FaultProxy::start(&server.endpoint(), FaultRates::short_faults(seed, rate));
        let (got, wall, retries) = run(&format!("faults-{seed}"), &proxy.endpoint());
        eprintln!("sweep at {rate}: {} requests, faults {:?}, {retries} retries (workers as of their last heartbeat), {wall:.1} s against {clean_wall:.1} s fault-free", proxy.requests(), proxy.counts());
        assert_eq!(got, clean, "the sweep at {rate} faults");
        assert!(parts(&format!("faults-{seed}")) == clean_parts, "every committed part of the sweep at {rate} faults is the fault-free one");
        assert!(retries > 0, "faults were met, so calls were retried");
        assert!(proxy.counts().values().sum::<u64>() > 0);
    }
}

/// A store outage while a decoder reads a video. Shorter than the store's
/// retry deadline, the decoder says it is waiting (so the watchdog spares
/// it) and gives the same bytes as without it; longer, it ends saying the
/// store did not answer (not a corrupt video), and `rwclip score` retries
/// the shard and writes the outage-free rows.
#[test]
fn a_store_outage_under_a_decoder_is_waited_out_or_retried_with_the_same_frames() {
    use rwclip_video::child::WAITING_FOR_STORE;
    use rwclip_video::{Message, VideoError};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = MotoServer::start();
    let spec = SynthSpec { categories: vec!["weave".into()], train_good: 0, test_good: 1, test_defective: 0, image_size: 64, ..SynthSpec::default() };
    synth::write(&d.join("data"), &spec).unwrap();
    let mut train = Command::new(BIN);
    train.args(["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"]).current_dir(d);
    ok(train);
    // Several 1 MB blocks of video, so an outage can begin mid-decode.
    let video = d.join("run.mpg");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25", "-t", "12", "-c:v", "mpeg2video", "-q:v", "2"])
        .arg(&video)
        .output()
        .expect("ffmpeg (make test's bootstrap installs it)");
    assert!(made.status.success());
    let bytes = std::fs::read(&video).unwrap();
    assert!(bytes.len() > 4 << 20, "{} bytes: too few blocks", bytes.len());
    server.create_bucket("footage");
    block_on(direct(&server, "s3://footage").put("in/run.mpg", bytes.into())).unwrap();

    let decoder = Path::new(BIN).with_file_name("rwclip-decode");
    let decode = |endpoint: &str, retry_for_s: &str, outage: Option<(&FaultProxy, Duration)>| -> (Vec<u8>, String) {
        let mut cmd = Command::new(&decoder);
        cmd.args(["s3://footage/in", "run.mpg", "fps=2", "1"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        for (k, v) in server.env() {
            cmd.env(k, if k == "AWS_ENDPOINT_URL" { endpoint.to_string() } else { v });
        }
        cmd.env("RWCLIP_STORE_RETRY_FOR_S", retry_for_s).env("RWCLIP_STORE_BACKOFF_MAX_S", "1").env("RWCLIP_STORE_BACKOFF_INIT_MS", "50");
        let child = cmd.spawn().unwrap();
        if let Some((proxy, length)) = outage {
            // The size and the first block read: the rest comes in the outage.
            let began = Instant::now();
            while proxy.requests() < 2 {
                assert!(began.elapsed() < Duration::from_secs(60), "the decoder made no request");
                std::thread::sleep(Duration::from_millis(5));
            }
            proxy.outage(length);
        }
        let out = child.wait_with_output().unwrap();
        (out.stdout, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let last = |stream: &[u8]| {
        let mut r = stream;
        let mut last = None;
        while let Some(m) = Message::read(&mut r).unwrap() {
            last = Some(m);
        }
        last
    };
    let (clean, _) = decode(&server.endpoint(), "60", None);
    assert!(matches!(last(&clean), Some(Message::End(Ok(_)))));
    // Each request slowed, so the decode is still reading when the outage begins.
    let slow = || FaultRates { latency: Duration::from_millis(250), ..FaultRates::none().with(Fault::Latency, 1.0) };

    let proxy = FaultProxy::start(&server.endpoint(), slow());
    let (waited, stderr) = decode(&proxy.endpoint(), "60", Some((&proxy, Duration::from_secs(8))));
    assert!(proxy.counts().get(&Fault::Outage).copied().unwrap_or(0) > 0, "{:?}", proxy.counts());
    assert!(stderr.contains(WAITING_FOR_STORE), "the decoder never said it was waiting:\n{stderr}");
    assert!(waited == clean, "the frames after an 8 s outage differ from the outage-free ones");

    let proxy = FaultProxy::start(&server.endpoint(), slow());
    let (gave_up, _) = decode(&proxy.endpoint(), "2", Some((&proxy, Duration::from_secs(8))));
    match last(&gave_up) {
        Some(Message::End(Err(VideoError::StoreUnavailable { video, reason }))) => assert!(video.ends_with("run.mpg") && reason.contains("run.mpg"), "{video}: {reason}"),
        other => panic!("an outage past the retry deadline ended as {other:?}"),
    }

    // End to end: the shard is retried, not committed with a failure row.
    let score = |endpoint: &str, out: &str, outage: Option<(&FaultProxy, Duration)>| -> BTreeMap<String, Vec<u8>> {
        let mut cmd = Command::new(BIN);
        cmd.args(["score", "--input", "s3://footage/in", "--detector", "detector.safetensors", "--out", &format!("s3://footage/{out}"), "--device", "cpu", "--workers", "1", "--sampling", "fps=2", "--top-k", "4"])
            .current_dir(d);
        for (k, v) in server.env() {
            cmd.env(k, if k == "AWS_ENDPOINT_URL" { endpoint.to_string() } else { v });
        }
        cmd.env("RWCLIP_STORE_RETRY_FOR_S", "3").env("RWCLIP_STORE_BACKOFF_MAX_S", "1").env("RWCLIP_STORE_BACKOFF_INIT_MS", "50");
        let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        if let Some((proxy, length)) = outage {
            let began = Instant::now();
            while decoders_of(d).is_empty() {
                assert!(began.elapsed() < Duration::from_secs(120), "no decoder started");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(500));
            proxy.outage(length);
        }
        let ran = child.wait_with_output().unwrap();
        assert!(ran.status.success(), "rwclip score exited {:?}\n{}", ran.status.code(), String::from_utf8_lossy(&ran.stderr));
        let store = direct(&server, &format!("s3://footage/{out}"));
        block_on(store.list("")).unwrap().into_iter().filter(|k| k.starts_with("scores/") || k == "top_k.csv" || k == "videos.parquet").map(|k| {
            let bytes = block_on(store.get(&k)).unwrap().to_vec();
            (k, bytes)
        }).collect()
    };
    let clean = score(&server.endpoint(), "clean", None);
    let proxy = FaultProxy::start(&server.endpoint(), slow());
    let retried = score(&proxy.endpoint(), "outage", Some((&proxy, Duration::from_secs(6))));
    assert!(proxy.counts().get(&Fault::Outage).copied().unwrap_or(0) > 0, "{:?}", proxy.counts());
    assert_eq!(retried, clean, "the rows after the outage are the outage-free rows");
}

/// The pids of `rwclip-decode` processes whose working directory is `dir`.
fn decoders_of(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        if String::from_utf8_lossy(&cmdline).split('\0').next().is_some_and(|a| a.ends_with("rwclip-decode")) && cwd.as_deref() == Some(dir) {
            pids.push(pid);
        }
    }
    pids
}
