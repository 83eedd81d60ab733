//! `make bench` (video): scoring SD inspection footage at 1 fps, side by
//! side with the Python way (PyAV + open_clip + pyarrow, tools/bench_video.py)
//! in one run, the same footage, sampling, rwclip-tiny weights and thread
//! count; decoding alone (rwclip-decode against PyAV, fps=1 against
//! keyframes) per hour of footage; and the peak RSS of `rwclip score` on a
//! 10-minute against a 60-minute video.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rwclip_video::child::decode_in_child;
use rwclip_video::Message;

const RWCLIP: &str = env!("CARGO_BIN_EXE_rwclip");
const FOOTAGE_S: u32 = 300;

fn decoder() -> PathBuf {
    Path::new(RWCLIP).with_file_name("rwclip-decode")
}

fn ffmpeg(path: &Path, seconds: u32, source: &str, codec: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", &seconds.to_string()])
        .args(codec)
        .arg(path)
        .output()
        .expect("ffmpeg (Debian's, installed by the bootstrap)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn python(args: &[&str]) -> (f64, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/bench_video.py");
    let text = run(Command::new(env!("RWCLIP_PYTHON")).arg(script).args(args));
    let line: serde_json::Value = serde_json::from_str(text.lines().rfind(|l| l.starts_with('{')).expect("a JSON line")).unwrap();
    (line["seconds"].as_f64().unwrap(), line["frames"].as_u64().unwrap())
}

/// Seconds and frames of rwclip-decode over `video` with `sampling`.
fn rust_decode(dir: &Path, video: &str, sampling: &str) -> (f64, u64) {
    let (first, n) = rust_decode_once(dir, video, sampling);
    let (second, _) = rust_decode_once(dir, video, sampling);
    (first.min(second), n)
}

fn rust_decode_once(dir: &Path, video: &str, sampling: &str) -> (f64, u64) {
    let started = Instant::now();
    let mut frames = 0u64;
    let mut cmd = Command::new(decoder());
    cmd.arg(dir).arg(video).arg(sampling).arg("1");
    let end = decode_in_child(cmd, Duration::from_secs(120), |m| {
        if let Message::Frame(_) = m {
            frames += 1;
        }
        std::ops::ControlFlow::Continue(())
    });
    assert!(matches!(end, Ok(Ok(_))), "{video}: {end:?}");
    (started.elapsed().as_secs_f64(), frames)
}

fn peak_rss_mib(d: &Path, input: &str, out: &str) -> f64 {
    let report = d.join(format!("{out}.rss"));
    run(Command::new("/usr/bin/time").args(["-o", report.to_str().unwrap(), "-f", "%M", RWCLIP, "score", "--input", input, "--detector", "det.safetensors", "--weights", "w.safetensors", "--out", out, "--device", "cpu", "--workers", "1", "--batch-size", "16"]).current_dir(d));
    let kib: f64 = std::fs::read_to_string(&report).unwrap().trim().lines().last().unwrap().trim().parse().unwrap();
    kib / 1024.0
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let weights = Path::new(env!("RWCLIP_REFERENCE_DIR")).join("clip_tiny/weights.safetensors");
    assert!(weights.is_file(), "{} is missing: run `make reference`", weights.display());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(&weights, d.join("w.safetensors")).unwrap();
    run(Command::new(RWCLIP).args(["train", "--model", "rwclip-tiny", "--weights", "w.safetensors", "--pairs", "256", "--seed", "0", "--device", "cpu", "--out", "det.safetensors"]).current_dir(d));
    let footage = d.join("footage");
    std::fs::create_dir_all(&footage).unwrap();
    let noisy = "testsrc2=size=720x576:rate=25,noise=alls=10:allf=t";
    // MPEG-2 as broadcast and DVD footage has it: two B-frames between references.
    ffmpeg(&footage.join("sd.mpg"), FOOTAGE_S, noisy, &["-c:v", "mpeg2video", "-b:v", "6M", "-bf", "2"]);
    ffmpeg(&footage.join("sd.mp4"), FOOTAGE_S, noisy, &["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]);

    println!("# rwclip video bench ({threads} threads, {FOOTAGE_S} s of SD 720x576 25 fps per codec)\n");
    println!("## 1-fps scoring, end to end (rwclip-tiny, batch 16)\n");
    println!("| footage | rwclip frames/s | Python (PyAV + open_clip + pyarrow) frames/s | ratio |\n|---|---|---|---|");
    for name in ["sd.mpg", "sd.mp4"] {
        let one = d.join(format!("one-{name}"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::copy(footage.join(name), one.join(name)).unwrap();
        let started = Instant::now();
        run(Command::new(RWCLIP).args(["score", "--input", one.to_str().unwrap(), "--detector", "det.safetensors", "--weights", "w.safetensors", "--out", &format!("out-{name}"), "--device", "cpu", "--workers", "1", "--batch-size", "16"]).current_dir(d));
        let ours_s = started.elapsed().as_secs_f64();
        let (py_s, py_frames) = python(&[weights.to_str().unwrap(), &threads.to_string(), "1", "16", d.join("py.parquet").to_str().unwrap(), footage.join(name).to_str().unwrap()]);
        assert_eq!(py_frames, u64::from(FOOTAGE_S));
        let (ours, py) = (f64::from(FOOTAGE_S) / ours_s, f64::from(FOOTAGE_S) / py_s);
        println!("| {name} | {ours:.1} | {py:.1} | {:.2}× |", ours / py);
    }

    println!("\n## Decoding alone, one decoder thread (seconds of one core per hour of footage)\n");
    println!("| footage | rwclip-decode fps=1 | PyAV fps=1 | ratio | rwclip-decode keyframes | keyframes vs fps=1 |\n|---|---|---|---|---|---|");
    for name in ["sd.mpg", "sd.mp4"] {
        let per_hour = |s: f64| s * 3600.0 / f64::from(FOOTAGE_S);
        let (fps_s, n) = rust_decode(&footage, name, "fps=1");
        assert_eq!(n, u64::from(FOOTAGE_S));
        let (key_s, _) = rust_decode(&footage, name, "keyframes");
        let video = footage.join(name);
        let decode_only = [weights.to_str().unwrap(), "1", "1", "16", "-", "--decode-only", video.to_str().unwrap()];
        let py_s = python(&decode_only).0.min(python(&decode_only).0);
        println!("| {name} | {:.0} s | {:.0} s | {:.2}× | {:.0} s | {:.1}× cheaper |", per_hour(fps_s), per_hour(py_s), py_s / fps_s, per_hour(key_s), fps_s / key_s);
    }

    println!("\n## Peak RSS of `rwclip score --workers 1` (largest process: coordinator, worker or decoder)\n");
    println!("| video | peak RSS (MiB) |\n|---|---|");
    let plain = "testsrc2=size=720x576:rate=25";
    let mut rss = Vec::new();
    for minutes in [10u32, 60] {
        let folder = d.join(format!("long-{minutes}"));
        std::fs::create_dir_all(&folder).unwrap();
        ffmpeg(&folder.join("pipe.mpg"), minutes * 60, plain, &["-c:v", "mpeg2video", "-q:v", "12"]);
        let mib = peak_rss_mib(d, folder.to_str().unwrap(), &format!("rss-{minutes}"));
        println!("| {minutes} min MPEG-2 | {mib:.0} |");
        rss.push(mib);
    }
    println!("\n60 min against 10 min: {:+.1}%", (rss[1] / rss[0] - 1.0) * 100.0);
}
