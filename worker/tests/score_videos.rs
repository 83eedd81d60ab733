//! Scoring a folder of inspection videos with `rwclip score`: one row per
//! sampled frame with its index and timestamp, every hostile file a
//! recorded row (empty, not a video, cut short, a decoder that aborts or
//! hangs), the per-video table and top moments in summary.json,
//! videos.csv and results.md, and 1 worker against 2 byte-identical.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_test_support::process::run_with_deadline;
use rwclip_test_support::python;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn rwclip(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).envs(env.iter().copied());
    let out = run_with_deadline(cmd, Duration::from_secs(600)).unwrap_or_else(|| panic!("rwclip {args:?} ran past 600 s"));
    assert!(out.status.success(), "rwclip {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn ffmpeg(path: &Path, seconds: u32, codec: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", &seconds.to_string()])
        .args(codec)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): install Debian's ffmpeg (make test's bootstrap does)"));
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
}

fn rows(out: &Path) -> Vec<serde_json::Value> {
    let json = python::run(
        "import sys, json, pyarrow.dataset as ds\nt = ds.dataset(sys.argv[1], format='parquet').to_table()\nprint(json.dumps(t.to_pylist(), default=list))",
        &[out.join("scores").to_str().unwrap()],
    );
    serde_json::from_str(&json).unwrap()
}

fn parts(out: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(out.join("scores")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn a_folder_of_videos_is_scored_frame_by_frame_and_bad_footage_is_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = SynthSpec { categories: vec!["weave".into()], train_good: 0, test_good: 1, test_defective: 0, image_size: 64, ..SynthSpec::default() };
    synth::write(&d.join("data"), &spec).unwrap();
    rwclip(d, &["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"], &[]);
    let v = d.join("inspections");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::copy(d.join("data/weave/test/good/000.png"), v.join("a-still.png")).unwrap();
    ffmpeg(&v.join("b-pipe.mpg"), 6, &["-c:v", "mpeg2video", "-q:v", "4"]);
    ffmpeg(&v.join("c-pipe.mp4"), 4, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    ffmpeg(&d.join("whole.mp4"), 8, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]);
    let whole = std::fs::read(d.join("whole.mp4")).unwrap();
    std::fs::write(v.join("d-cut.mp4"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(v.join("e-empty.avi"), b"").unwrap();
    std::fs::write(v.join("f-notes.wmv"), b"not a video at all\n").unwrap();
    ffmpeg(&v.join("g-abort.mkv"), 5, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    ffmpeg(&v.join("h-hang.avi"), 5, &["-c:v", "mpeg4"]);
    let env = [("RWCLIP_DECODE_FAILPOINT", "g-abort:abort,h-hang:hang"), ("RWCLIP_DECODE_STALL_S", "3")];
    let args = |out: &str, workers: &str| -> Vec<String> {
        ["score", "--input", "inspections", "--detector", "detector.safetensors", "--out", out, "--device", "cpu", "--batch-size", "4", "--rows-per-shard", "4", "--workers", workers].map(String::from).to_vec()
    };
    let a: Vec<String> = args("out2", "2");
    rwclip(d, &a.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    let rows = rows(&d.join("out2"));
    let of = |name: &str| -> Vec<&serde_json::Value> { rows.iter().filter(|r| r["uri"].as_str().unwrap().ends_with(name)).collect() };

    let still = of("a-still.png");
    assert_eq!(still.len(), 1);
    assert!(still[0]["score"].is_f64() && still[0]["frame"].is_null() && still[0]["pts_s"].is_null());

    // 1 fps of 25 fps: frames 0, 25, … at whole seconds, exactly.
    let mpg = of("b-pipe.mpg");
    assert_eq!(mpg.iter().map(|r| r["frame"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 25, 50, 75, 100, 125]);
    for r in &mpg {
        let t = r["frame"].as_f64().unwrap() / 25.0;
        assert!((r["pts_s"].as_f64().unwrap() - t).abs() < 1e-9 && r["target_s"].as_f64() == Some(t) && r["score"].is_f64() && r["error"].is_null(), "{r}");
    }
    assert_eq!(of("c-pipe.mp4").len(), 4);

    let cut = of("d-cut.mp4");
    let (frames, last) = cut.split_at(cut.len() - 1);
    assert!(frames.len() >= 2 && frames.iter().all(|r| r["score"].is_f64()), "{cut:?}");
    let why = last[0]["error"].as_str().unwrap();
    assert!(why.starts_with("truncated at ") && why.ends_with(" s of 8.0 s") && last[0]["frame"].is_null(), "{why}");

    let empty = of("e-empty.avi");
    assert!(empty.len() == 1 && empty[0]["error"].as_str().unwrap().contains("empty file"), "{empty:?}");
    let notes = of("f-notes.wmv");
    assert!(notes.len() == 1 && notes[0]["error"].as_str().unwrap().contains("not a readable video"), "{notes:?}");

    // The decoder aborts (as libav can) after two frames: they are kept, the
    // abort is a row, and the rest of the shard is scored.
    let aborted = of("g-abort.mkv");
    assert_eq!(aborted.len(), 3, "{aborted:?}");
    let why = aborted[2]["error"].as_str().unwrap();
    assert!(why.contains("decoder crashed") && why.contains("SIGABRT"), "{why}");
    let hung = of("h-hang.avi");
    assert_eq!(hung.len(), 3, "{hung:?}");
    let why = hung[2]["error"].as_str().unwrap();
    assert!(why.contains("decoder hung") && why.contains("killed"), "{why}");

    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("out2/summary.json")).unwrap()).unwrap();
    let videos = &summary["videos"];
    assert_eq!(videos["count"], 7, "{summary}");
    assert_eq!(videos["with_errors"], 5);
    assert_eq!(videos["frames_scored"].as_u64().unwrap() as usize, rows.iter().filter(|r| r["frame"].is_u64()).count());
    let top = videos["top"].as_array().unwrap();
    let mpg_summary = top.iter().find(|t| t["uri"].as_str().unwrap().ends_with("b-pipe.mpg")).unwrap();
    let best = mpg.iter().max_by(|a, b| a["score"].as_f64().unwrap().total_cmp(&b["score"].as_f64().unwrap())).unwrap();
    assert_eq!(mpg_summary["max_score"], best["score"]);
    assert_eq!(mpg_summary["max_at_s"], best["pts_s"]);
    assert!(!mpg_summary["moments"].as_array().unwrap().is_empty());

    let csv = std::fs::read_to_string(d.join("out2/videos.csv")).unwrap();
    assert_eq!(csv.lines().count(), 8, "{csv}");
    let md = std::fs::read_to_string(d.join("out2/results.md")).unwrap();
    assert!(md.contains("## Videos") && md.contains("7 videos") && md.contains("b-pipe.mpg") && md.contains("00:00:0"), "{md}");
    let top_k = std::fs::read_to_string(d.join("out2/top_k.csv")).unwrap();
    assert!(top_k.starts_with("rank,uri,score,s_fnn,s_pr,frame,pts_s\n"), "{top_k}");

    // One worker gives the same parts, byte for byte.
    let b: Vec<String> = args("out1", "1");
    rwclip(d, &b.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert_eq!(parts(&d.join("out1")), parts(&d.join("out2")));
}
