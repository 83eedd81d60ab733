//! `make bench` (third part): memory and time at archive scale, with real
//! processes — a coordinator (`rwclip coordinator`), a worker under GNU
//! `time` for its peak RSS, and `rwclip submit`.
//!
//! - peak worker RSS scoring 10k and 100k manifest rows (rwclip-tiny: the
//!   model's size is not what is measured, the streaming is);
//! - the coordinator's time to answer `submit` and its peak RSS while
//!   planning a 10-million-row CSV manifest.
//!
//! Row counts: RWCLIP_BENCH_ROWS="10000,100000" and RWCLIP_BENCH_PLAN_ROWS.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use rwclip_job::synth::SynthSpec;
use rwclip_job::detector::ScoreKind;
use rwclip_job::fnn_config::FnnConfig;
use rwclip_job::WordPair;
use rwclip_plan::ModelRef;
use rwclip_engine::detector::{train_detector, TrainSpec};
use rwclip_engine::shard::ExecContext;
use rwclip_inputs::synth;

const RWCLIP: &str = env!("CARGO_BIN_EXE_rwclip");

fn rows_env(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name).unwrap_or_else(|_| default.to_string()).split(',').map(|s| s.trim().parse().expect("a row count")).collect()
}

/// Starts the `rwclip-coordinator` binary (no libtorch, as deployed) built
/// next to `rwclip`, on a free loopback port; returns it and its URL.
fn coordinator(store: &Path) -> (Child, String) {
    let binary = Path::new(RWCLIP).with_file_name("rwclip-coordinator");
    assert!(binary.exists(), "{} is missing: cargo build --release -p rwclip-coordinator", binary.display());
    let mut child = Command::new(&binary)
        .args(["--bind", "127.0.0.1:0", "--store", store.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the coordinator");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("the coordinator prints where it listens").expect("utf-8");
        if let Some(addr) = line.strip_prefix("rwclip-coordinator listening on ") {
            break addr.trim().to_string();
        }
    };
    // Keep reading its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn manifest(path: &Path, rows: u64, images: &[String]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("manifest"));
    writeln!(out, "uri").unwrap();
    for i in 0..rows {
        writeln!(out, "{}", images[(i % images.len() as u64) as usize]).unwrap();
    }
    out.flush().unwrap();
}

fn score_job(dir: &Path, name: &str, manifest: &Path, detector: &Path) -> PathBuf {
    let text = format!(
        "kind = \"score\"\nname = {name:?}\noutput = {:?}\ndetector = {:?}\ninput = {:?}\nrows_per_shard = 1024\n[model]\ndevice = \"cpu\"\nimage_batch_size = 64\n",
        dir.join(format!("out-{name}")).to_str().unwrap(),
        detector.to_str().unwrap(),
        manifest.to_str().unwrap()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // Images at the tiny model's 64 px, and a tiny detector.
    let data = d.join("data");
    synth::write(&data, &SynthSpec { train_good: 0, test_good: 4, test_defective: 4, image_size: 64, ..SynthSpec::default() }).expect("synth");
    let images: Vec<String> = rwclip_datasets::mvtec::read_test(&data, None)
        .expect("read synth")
        .into_iter()
        .map(|r| data.join(r.path).display().to_string())
        .collect();
    let spec = TrainSpec {
        model: ModelRef::new("rwclip-tiny", None),
        pairs: 64,
        seed: 0,
        words: WordPair { normal: "a".into(), anomaly: "a damaged".into() },
        min_len: 5,
        max_len: 10,
        fnn: FnnConfig { hidden: vec![32], epochs: 1, ..FnnConfig::default() },
        text_batch_size: 64,
        object_word: "object".into(),
        temperature: 0.01,
        score: ScoreKind::PrFnn,
        multi_crop: false,
    };
    let detector = d.join("detector.safetensors");
    std::fs::write(&detector, train_detector(&spec, &mut ExecContext::new(tch::Device::Cpu, 1)).expect("train")).unwrap();

    let (mut coord, url) = coordinator(&d.join("store"));
    println!("| measure | rows | wall (s) | peak RSS (MiB) |\n|---|---|---|---|");
    for rows in rows_env("RWCLIP_BENCH_ROWS", "10000,100000") {
        let m = d.join(format!("manifest-{rows}.csv"));
        manifest(&m, rows, &images);
        let job = score_job(d, &format!("rss-{rows}"), &m, &detector);
        // Submitted first: a worker started before would idle out while
        // `submit` checks a long manifest.
        let t = Instant::now();
        let submit = Command::new(RWCLIP).args(["submit", job.to_str().unwrap(), "--coordinator", &url]).output().expect("submit");
        assert!(submit.status.success(), "submitting {rows} rows failed: {}", String::from_utf8_lossy(&submit.stderr));
        let id = String::from_utf8_lossy(&submit.stdout).trim().to_string();
        let rss_file = d.join(format!("rss-{rows}.txt"));
        let worker = Command::new("/usr/bin/time")
            .args(["-o", rss_file.to_str().unwrap(), "-f", "%M", RWCLIP, "worker", "--coordinator", &url, "--device", "cpu", "--exit-when-idle", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker under /usr/bin/time (apt install time)");
        let watch = Command::new(RWCLIP).args(["watch", &id, "--coordinator", &url]).output().expect("watch");
        let wall = t.elapsed().as_secs_f64();
        assert!(watch.status.success(), "scoring {rows} rows failed: {}", String::from_utf8_lossy(&watch.stderr));
        let status = worker.wait_with_output().expect("the worker exits when idle").status;
        assert!(status.success(), "the worker failed: {status}");
        let text = std::fs::read_to_string(&rss_file).expect("time's report");
        let kib: u64 = text.trim().lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no RSS from time: {text}"));
        println!("| worker scoring a manifest | {rows} | {wall:.1} | {:.0} |", kib as f64 / 1024.0);
    }
    for rows in rows_env("RWCLIP_BENCH_PLAN_ROWS", "10000000") {
        let m = d.join(format!("plan-{rows}.csv"));
        manifest(&m, rows, &images);
        let job = score_job(d, &format!("plan-{rows}"), &m, &detector);
        let before = vm_hwm_kib(coord.id());
        let t = Instant::now();
        let submit = Command::new(RWCLIP).args(["submit", job.to_str().unwrap(), "--coordinator", &url]).output().expect("submit");
        let wall = t.elapsed().as_secs_f64();
        assert!(submit.status.success(), "planning {rows} rows failed: {}", String::from_utf8_lossy(&submit.stderr));
        let after = vm_hwm_kib(coord.id());
        println!(
            "| coordinator planning a CSV manifest ({:.0} MiB), submit answered | {rows} | {wall:.1} | {:.0} (before: {:.0}) |",
            std::fs::metadata(&m).unwrap().len() as f64 / 1048576.0,
            after as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }
    let _ = coord.kill();
    let _ = coord.wait();
}
