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

/// A folder with one synthesised still (`data/weave/test/good/000.png`)
/// and `detector.safetensors`, trained for random-init rwclip-tiny.
fn with_detector() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = SynthSpec { categories: vec!["weave".into()], train_good: 0, test_good: 1, test_defective: 0, image_size: 64, ..SynthSpec::default() };
    synth::write(&dir.path().join("data"), &spec).unwrap();
    rwclip(dir.path(), &["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"], &[]);
    dir
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
    let dir = with_detector();
    let d = dir.path();
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

    let table: Vec<serde_json::Value> = serde_json::from_str(&python::run(
        "import sys, json, pyarrow.parquet as pq\nprint(json.dumps(pq.read_table(sys.argv[1]).to_pylist()))",
        &[d.join("out2/videos.parquet").to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(table.len(), 7);
    assert!(table[0]["uri"].as_str().unwrap().ends_with("b-pipe.mpg") && table[0]["frames_scored"] == 6 && table[0]["errors"] == 0, "{:?}", table[0]);
    let moments: Vec<serde_json::Value> = serde_json::from_str(table[0]["moments"].as_str().unwrap()).unwrap();
    assert_eq!(moments[0]["score"], table[0]["max_score"]);
    assert!(table[2]["error"].as_str().unwrap().starts_with("truncated at "), "{:?}", table[2]);
    let md = std::fs::read_to_string(d.join("out2/results.md")).unwrap();
    assert!(md.contains("## Videos") && md.contains("7 videos") && md.contains("b-pipe.mpg") && md.contains("00:00:0"), "{md}");
    // Score over time of the best videos, in results.html too.
    for rank in 1..=3 {
        let png = std::fs::read(d.join(format!("out2/score-over-time-{rank}.png"))).unwrap();
        let pixels = rwclip_inputs::preprocess::Preprocess::openai(224)
            .load_bytes_views(&png, "score-over-time", &[rwclip_inputs::preprocess::View::Center])
            .unwrap_or_else(|e| panic!("score-over-time-{rank}.png does not decode: {e}"))
            .remove(0);
        let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
        let var = pixels.iter().map(|p| (p - mean).powi(2)).sum::<f32>() / pixels.len() as f32;
        assert!(var > 1e-4, "score-over-time-{rank}.png is blank");
        let svg = std::fs::read_to_string(d.join(format!("out2/score-over-time-{rank}.svg"))).unwrap();
        assert!(svg.contains("score over time") && svg.contains("00:00:0"), "score-over-time-{rank}.svg");
    }
    let html = std::fs::read_to_string(d.join("out2/results.html")).unwrap();
    assert!(html.contains("Score over time") && html.contains("Videos"), "results.html");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("videos-score-over-time-1.png"), std::fs::read(d.join("out2/score-over-time-1.png")).unwrap()).unwrap();
    std::fs::write(artifacts.join("videos-results.md"), &md).unwrap();
    let top_k = std::fs::read_to_string(d.join("out2/top_k.csv")).unwrap();
    assert!(top_k.starts_with("rank,uri,score,s_fnn,s_pr,frame,pts_s,distance_m\n"), "{top_k}");

    // One worker gives the same parts, byte for byte.
    let b: Vec<String> = args("out1", "1");
    rwclip(d, &b.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    assert_eq!(parts(&d.join("out1")), parts(&d.join("out2")));
}

fn s3(server: &rwclip_test_support::moto::MotoServer, uri: &str) -> rwclip_artifacts::Store {
    use rwclip_test_support::moto::{ACCESS_KEY, REGION, SECRET_KEY};
    rwclip_artifacts::Store::open_with_options(uri, &[("aws_endpoint", &server.endpoint()), ("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY), ("aws_region", REGION)]).unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A long video is cut into shards of `frames_per_shard` sampled frames by
/// the length its container states; the shards, on any number of workers
/// and read from moto S3 in ranged reads, give the rows of one pass.
#[test]
fn long_videos_spread_over_shards_locally_and_on_s3_with_the_same_rows() {
    let dir = with_detector();
    let d = dir.path();
    let v = d.join("long");
    std::fs::create_dir_all(&v).unwrap();
    ffmpeg(&v.join("a.mp4"), 40, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "250"]);
    ffmpeg(&v.join("b.mpg"), 27, &["-c:v", "mpeg2video", "-q:v", "6"]);
    let score = |input: &str, out: &str, workers: &str, per: &str, env: &[(&str, &str)]| {
        rwclip(d, &["score", "--input", input, "--detector", "detector.safetensors", "--out", out, "--device", "cpu", "--batch-size", "4", "--frames-per-shard", per, "--workers", workers], env)
    };
    let run = score("long", "split3", "3", "8", &[]);
    // Progress counts frames: once every shard committed, all 67.
    let stderr = String::from_utf8_lossy(&run.stderr);
    let last = stderr.lines().filter(|l| l.starts_with("rwclip: progress:")).last().unwrap_or_default();
    assert!(last.contains("score 9/9") && last.ends_with(" — 67 images and frames scored"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("split3/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["shards"], 5 + 4, "40 s and 27 s at 1 fps in shards of 8 frames: {summary}");
    assert_eq!(summary["videos"]["count"], 2);
    let split = rows(&d.join("split3"));
    for (name, seconds) in [("a.mp4", 40u64), ("b.mpg", 27)] {
        let frames: Vec<u64> = split.iter().filter(|r| r["uri"].as_str().unwrap().ends_with(name)).map(|r| r["frame"].as_u64().unwrap()).collect();
        assert_eq!(frames, (0..seconds).map(|s| s * 25).collect::<Vec<_>>(), "{name}: every second once, in order");
    }
    score("long", "split1", "1", "8", &[]);
    assert_eq!(parts(&d.join("split1")), parts(&d.join("split3")), "1 and 3 workers");
    score("long", "whole", "1", "1024", &[]);
    assert_eq!(parts(&d.join("whole")).len(), 2);
    let whole = rows(&d.join("whole"));
    assert_eq!(whole, split, "one shard per video gives the same rows as shards of 8 frames");

    // The same folder on moto S3: read by ranged reads, scored into S3.
    let server = rwclip_test_support::moto::MotoServer::start();
    server.create_bucket("footage");
    let bucket = s3(&server, "s3://footage");
    for name in ["a.mp4", "b.mpg"] {
        block_on(bucket.put(&format!("inspections/{name}"), std::fs::read(v.join(name)).unwrap().into())).unwrap();
    }
    let env: Vec<(&str, String)> = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    score("s3://footage/inspections", "s3://footage/scored", "2", "8", &env);
    let on_s3: Vec<Vec<u8>> = (0..9).map(|i| block_on(bucket.get(&format!("scored/scores/part-{i:06}.parquet"))).unwrap().to_vec()).collect();
    let local: Vec<Vec<u8>> = parts(&d.join("split3"));
    assert_eq!(on_s3.len(), local.len());
    // Same rows; the uri column names the S3 objects.
    let dump = |bytes: &[Vec<u8>]| -> Vec<String> {
        bytes.iter().flat_map(|b| {
            let p = d.join("part.parquet");
            std::fs::write(&p, b).unwrap();
            let out = python::run("import sys, json, pyarrow.parquet as pq\nfor r in pq.read_table(sys.argv[1]).to_pylist():\n    r['uri'] = r['uri'].rsplit('/', 1)[1]\n    print(json.dumps(r, default=list, sort_keys=True))", &[p.to_str().unwrap()]);
            out.lines().map(String::from).collect::<Vec<_>>()
        }).collect()
    };
    assert_eq!(dump(&on_s3), dump(&local));
}

/// Videos cut into many shards survive a SIGKILLed worker and a restarted
/// coordinator: every frame exactly once, the same parts as a local run.
#[test]
fn a_killed_worker_and_a_restarted_coordinator_lose_no_frame() {
    use rwclip_test_support::cluster::Cluster;
    let dir = with_detector();
    let d = dir.path();
    let v = d.join("footage");
    std::fs::create_dir_all(&v).unwrap();
    ffmpeg(&v.join("a.mp4"), 40, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    ffmpeg(&v.join("b.mpg"), 30, &["-c:v", "mpeg2video", "-q:v", "6"]);
    ffmpeg(&v.join("c.avi"), 20, &["-c:v", "mpeg4", "-q:v", "6"]);
    let job = format!(
        "kind = \"score\"\nname = \"chaos\"\noutput = \"{out}\"\ndetector = \"{det}\"\ninput = \"{input}\"\nframes_per_shard = 4\ntop_k = 5\n[model]\ndevice = \"cpu\"\nimage_batch_size = 4\n",
        out = d.join("chaos-out").display(),
        det = d.join("detector.safetensors").display(),
        input = v.display(),
    );
    std::fs::write(d.join("chaos.toml"), job).unwrap();
    let mut cluster = Cluster::start(Path::new(BIN), d.join("store").to_str().unwrap(), &[]);
    let victim = cluster.add_worker();
    let id = cluster.submit(&d.join("chaos.toml"));
    cluster.wait_for(&id, Duration::from_secs(180), "a shard running", |s| s.shards_running >= 1 && s.shards_committed >= 3);
    cluster.kill_worker(victim);
    cluster.kill_coordinator();
    cluster.start_coordinator();
    cluster.add_worker();
    cluster.add_worker();
    let status = cluster.wait_succeeded(&id, Duration::from_secs(300));
    assert_eq!(status.shards_failed, 0);
    let got = rows(&d.join("chaos-out"));
    for (name, seconds) in [("a.mp4", 40u64), ("b.mpg", 30), ("c.avi", 20)] {
        let frames: Vec<u64> = got.iter().filter(|r| r["uri"].as_str().unwrap().ends_with(name)).map(|r| r["frame"].as_u64().unwrap()).collect();
        assert_eq!(frames, (0..seconds).map(|s| s * 25).collect::<Vec<_>>(), "{name}: every second exactly once");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("chaos-out/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["shards"], 10 + 8 + 5);
    drop(cluster);
    rwclip(d, &["score", "--input", "footage", "--detector", "detector.safetensors", "--out", "local", "--device", "cpu", "--batch-size", "4", "--frames-per-shard", "4", "--top-k", "5", "--workers", "1"], &[]);
    assert_eq!(parts(&d.join("local")), parts(&d.join("chaos-out")), "the same parts as one local worker");
}

/// A CSV manifest mixes stills and videos, named relative to it or by an
/// absolute path; a video that is not there is a row saying so.
#[test]
fn a_manifest_mixes_stills_and_videos_by_relative_and_absolute_names() {
    let dir = with_detector();
    let d = dir.path();
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    ffmpeg(&d.join("relative.mp4"), 3, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    ffmpeg(&d.join("elsewhere/absolute.wmv"), 2, &["-c:v", "wmv2"]);
    let absolute = d.join("elsewhere/absolute.wmv");
    let manifest = format!("site,uri\n1,data/weave/test/good/000.png\n2,relative.mp4\n3,{}\n4,gone.mpg\n", absolute.display());
    std::fs::write(d.join("m.csv"), manifest).unwrap();
    rwclip(d, &["score", "--input", "m.csv", "--detector", "detector.safetensors", "--out", "out", "--device", "cpu", "--batch-size", "4", "--workers", "1"], &[]);
    let got = rows(&d.join("out"));
    let names: Vec<(&str, Option<u64>)> = got.iter().map(|r| (r["uri"].as_str().unwrap(), r["frame"].as_u64())).collect();
    let abs = absolute.display().to_string();
    assert_eq!(
        names,
        vec![("data/weave/test/good/000.png", None), ("relative.mp4", Some(0)), ("relative.mp4", Some(25)), ("relative.mp4", Some(50)), (abs.as_str(), Some(0)), (abs.as_str(), Some(25)), ("gone.mpg", None)],
    );
    assert!(got[..6].iter().all(|r| r["score"].is_f64()));
    let gone = got[6]["error"].as_str().unwrap();
    assert!(gone.contains("gone.mpg") && gone.contains("not found"), "{gone}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("out/summary.json")).unwrap()).unwrap();
    assert_eq!((summary["rows"].as_u64(), summary["videos"]["count"].as_u64()), (Some(7), Some(3)), "{summary}");
    assert_eq!(summary["errors"]["missing"], 1, "{summary}");
}

/// The metres of pipe each frame shows when a manifest gives a video's
/// span (`start_m`/`end_m` in a CSV, against the flow; `length_m` in a
/// Parquet), with the manifest's videos cut into shards of frames like a
/// folder's; and a folder's video whose name says nothing, told by its
/// bytes.
#[test]
fn manifest_videos_are_cut_into_shards_and_placed_along_the_pipe_and_unnamed_footage_is_sniffed() {
    let dir = with_detector();
    let d = dir.path();
    ffmpeg(&d.join("survey.mpg"), 10, &["-c:v", "mpeg2video", "-q:v", "6"]);
    ffmpeg(&d.join("survey.mp4"), 6, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let still = "data/weave/test/good/000.png";
    std::fs::write(d.join("m.csv"), format!("uri,start_m,end_m\n{still},,\nsurvey.mpg,70,10\n")).unwrap();
    python::run(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\npq.write_table(pa.table({'uri': [sys.argv[2], 'survey.mpg'], 'length_m': [None, 25.0]}), sys.argv[1])",
        &[d.join("m.parquet").to_str().unwrap(), still],
    );
    // PyAV's frames of survey.mpg, every second, as PNG files.
    python::run(
        "import sys, av\nfrom PIL import Image\nwith av.open(sys.argv[1]) as c:\n    for i, f in enumerate(c.decode(video=0)):\n        if i % 25 == 0:\n            Image.fromarray(f.to_ndarray(format='rgb24')).save(f'{sys.argv[2]}/survey-{i}.png')",
        &[d.join("survey.mpg").to_str().unwrap(), d.to_str().unwrap()],
    );
    let score = |input: &str, out: &str| {
        rwclip(d, &["score", "--input", input, "--detector", "detector.safetensors", "--out", out, "--device", "cpu", "--batch-size", "4", "--frames-per-shard", "4", "--workers", "2"], &[]);
    };
    for (manifest, out, start, end) in [("m.csv", "by-csv", 70.0, 10.0), ("m.parquet", "by-parquet", 0.0, 25.0)] {
        score(manifest, out);
        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join(out).join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["shards"], 1 + 3, "{manifest}: the still's range and 10 s in shards of 4 frames: {summary}");
        let got = rows(&d.join(out));
        assert_eq!(got[0]["uri"], still);
        assert!(got[0]["distance_m"].is_null());
        let frames: Vec<&serde_json::Value> = got[1..].iter().collect();
        assert_eq!(frames.iter().map(|r| r["frame"].as_u64().unwrap()).collect::<Vec<_>>(), (0..10).map(|s| s * 25).collect::<Vec<_>>(), "{manifest}");
        assert!(frames.iter().all(|r| r["uri"] == "survey.mpg"));
        // Linear in time along the span, the same duration for every frame.
        assert_eq!(frames[0]["distance_m"].as_f64(), Some(start), "{manifest}");
        let durations: Vec<f64> = frames[1..].iter().map(|r| (end - start) * r["pts_s"].as_f64().unwrap() / (r["distance_m"].as_f64().unwrap() - start)).collect();
        assert!(durations.iter().all(|t| (t - durations[0]).abs() < 1e-9 && (9.9..10.2).contains(t)), "{manifest}: {durations:?}");
        let moments = &summary["videos"]["top"][0]["moments"];
        assert!(moments.as_array().unwrap().iter().all(|m| m["distance_m"].is_f64()), "{moments}");
        let md = std::fs::read_to_string(d.join(out).join("results.md")).unwrap();
        assert!(md.contains(" m ("), "moments give metres: {md}");
        let top_k = std::fs::read_to_string(d.join(out).join("top_k.csv")).unwrap();
        assert!(top_k.lines().skip(1).any(|l| l.contains(",\"survey.mpg\",") && !l.ends_with(',')), "{top_k}");
        // The contact sheet draws each ranked frame as PyAV decodes it,
        // the still from its file.
        let ranked: Vec<(String, Option<u64>)> = top_k.lines().skip(1).map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].trim_matches('"').to_string(), f[5].parse().ok())
        }).collect();
        let cells: Vec<std::path::PathBuf> = ranked.iter().map(|(uri, frame)| match frame {
            Some(i) => d.join(format!("survey-{i}.png")),
            None => d.join(uri),
        }).collect();
        assert_sheet_shows(&std::fs::read(d.join(out).join("contact_sheet.png")).unwrap(), &cells);
    }
    let mut bad = Command::new(BIN);
    bad.args(["score", "--input", "bad.csv", "--detector", "detector.safetensors", "--out", "bad", "--device", "cpu"]).current_dir(d);
    std::fs::write(d.join("bad.csv"), "uri,length_m\nsurvey.mpg,12 m\n").unwrap();
    let out = run_with_deadline(bad, Duration::from_secs(60)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("bad.csv, line 2") && stderr.contains("length_m") && stderr.contains("\"12 m\""), "{stderr}");

    // A folder: a recording named without an extension is read as the
    // video its bytes say it is; a text file without one is not scored;
    // an MP4 named .jpg is a row saying what it is.
    let f = d.join("mixed");
    std::fs::create_dir_all(&f).unwrap();
    std::fs::copy(d.join(still), f.join("000.png")).unwrap();
    std::fs::copy(d.join("survey.mpg"), f.join("run_0007")).unwrap();
    std::fs::copy(d.join("survey.mp4"), f.join("clip.jpg")).unwrap();
    std::fs::write(f.join("notes"), "inspector: A. Smith\n").unwrap();
    std::fs::write(f.join("readme.txt"), "footage of 2026-11-30\n").unwrap();
    score("mixed", "by-folder");
    let got = rows(&d.join("by-folder"));
    let names: Vec<String> = got.iter().map(|r| r["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(names, [vec!["000.png".to_string(), "clip.jpg".to_string()], vec!["run_0007".to_string(); 10]].concat());
    assert!(got[0]["score"].is_f64());
    let clip = got[1]["error"].as_str().unwrap();
    assert!(clip.contains("clip.jpg") && clip.contains("a video (MP4/QuickTime)"), "{clip}");
    assert_eq!(got[2..].iter().map(|r| r["frame"].as_u64().unwrap()).collect::<Vec<_>>(), (0..10).map(|s| s * 25).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("by-folder/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["shards"], 1 + 3, "{summary}");
}

/// Asserts `png` is a contact sheet whose cell i holds exactly the
/// thumbnail of the image file `cells[i]`.
fn assert_sheet_shows(png: &[u8], cells: &[std::path::PathBuf]) {
    use rwclip_figures::{SheetLayout, THUMB_SIDE};
    use rwclip_inputs::preprocess::{decode_rgb, thumbnail_rgb};
    let sheet = decode_rgb(png, "contact_sheet.png").unwrap();
    let layout = SheetLayout { count: cells.len() };
    assert_eq!(sheet.dimensions(), layout.size(), "sized for {} images", cells.len());
    for (i, path) in cells.iter().enumerate() {
        let (x, y) = layout.cell(i);
        let t = thumbnail_rgb(&std::fs::read(path).unwrap(), "cell", THUMB_SIDE).unwrap();
        let (ox, oy) = (x + (THUMB_SIDE - t.width()) / 2, y + (THUMB_SIDE - t.height()) / 2);
        for (px, py, p) in t.enumerate_pixels() {
            assert_eq!(sheet.get_pixel(ox + px, oy + py), p, "cell {i} ({}) at ({px}, {py})", path.display());
        }
    }
}

/// A real AVI whose `avih` says 4,294,967,295 µs per frame and as many
/// frames: 1.8e13 s, which once made the coordinator allocate 2.3 TB.
fn forge_avi(avi: &Path) {
    let mut bytes = std::fs::read(avi).unwrap();
    let at = bytes.windows(4).position(|w| w == b"avih").unwrap() + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[at + 16..at + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(avi, bytes).unwrap();
}

/// An MP4 whose second top-level box has a 64-bit size that puts the
/// header walk's next offset at 2^64 - 8 (it once panicked the planner:
/// `range start index 18446744073709551608 out of range`).
fn wrap_mp4(mp4: &Path) {
    let bytes = std::fs::read(mp4).unwrap();
    let first = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let mut forged = bytes[..first].to_vec();
    forged.extend_from_slice(&1u32.to_be_bytes());
    forged.extend_from_slice(b"mdat");
    forged.extend_from_slice(&(u64::MAX - 7 - first as u64).to_be_bytes());
    forged.extend_from_slice(&bytes[first..]);
    std::fs::write(mp4, forged).unwrap();
}

/// Forged headers submitted to a real coordinator: it stays up and answers
/// `status` throughout, the job is planned and succeeds, the good video is
/// scored frame by frame, and each forged file is a row that says what was
/// wrong with it.
#[test]
fn forged_video_headers_are_rows_and_the_coordinator_stays_up() {
    use rwclip_test_support::cluster::Cluster;
    let dir = with_detector();
    let d = dir.path();
    let v = d.join("footage");
    std::fs::create_dir_all(&v).unwrap();
    ffmpeg(&v.join("good.mp4"), 6, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    ffmpeg(&v.join("forged.avi"), 4, &["-c:v", "mpeg4", "-q:v", "6"]);
    forge_avi(&v.join("forged.avi"));
    ffmpeg(&v.join("wrapped.mp4"), 3, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    wrap_mp4(&v.join("wrapped.mp4"));
    let job = format!(
        "kind = \"score\"\nname = \"forged\"\noutput = \"{out}\"\ndetector = \"{det}\"\ninput = \"{input}\"\nframes_per_shard = 2\ntop_k = 5\n[model]\ndevice = \"cpu\"\nimage_batch_size = 4\n",
        out = d.join("forged-out").display(),
        det = d.join("detector.safetensors").display(),
        input = v.display(),
    );
    std::fs::write(d.join("forged.toml"), job).unwrap();
    let mut cluster = Cluster::start(Path::new(BIN), d.join("store").to_str().unwrap(), &[]);
    let id = cluster.submit(&d.join("forged.toml"));
    let (url, token) = (cluster.url(), cluster.token_file.display().to_string());
    let status = cluster.cli(&["status", &id, "--coordinator", &url, "--token-file", &token], Duration::from_secs(20));
    assert!(status.status.success(), "status after the submit: {}", String::from_utf8_lossy(&status.stderr));
    cluster.add_worker();
    let done = cluster.wait_succeeded(&id, Duration::from_secs(300));
    // good.mp4: 6 s at 1 fps in shards of 2; each forged file one shard.
    assert!(done.shards_committed >= 3 + 1 + 1, "{done:?}");
    assert!(cluster.coordinator.as_mut().unwrap().exit_code().is_none(), "the coordinator exited:\n{}", cluster.logs());
    let status = cluster.cli(&["status", &id, "--coordinator", &url, "--token-file", &token], Duration::from_secs(20));
    assert!(status.status.success());
    let got = rows(&d.join("forged-out"));
    let of = |name: &str| got.iter().filter(|r| r["uri"].as_str().unwrap().ends_with(name)).cloned().collect::<Vec<_>>();
    let good: Vec<u64> = of("good.mp4").iter().map(|r| r["frame"].as_u64().unwrap()).collect();
    assert_eq!(good, (0..6).map(|s| s * 25).collect::<Vec<_>>());
    let forged = of("forged.avi");
    assert!(
        forged.iter().any(|r| r["error"].as_str().is_some_and(|e| e.contains("its header states") && e.contains("more than its"))),
        "forged.avi's rows do not say its header was not believed: {forged:?}"
    );
    assert!(!of("wrapped.mp4").is_empty(), "wrapped.mp4 has no row");
}

/// A worker killed with SIGKILL mid-video leaves no decoder running: the
/// decoder's parent-death signal ends it with the worker.
#[test]
fn a_sigkilled_worker_leaves_no_decoder_behind() {
    use rwclip_test_support::cluster::Cluster;
    let dir = with_detector();
    let d = dir.path();
    let v = d.join("footage");
    std::fs::create_dir_all(&v).unwrap();
    ffmpeg(&v.join("stuck.mp4"), 8, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let job = format!(
        "kind = \"score\"\nname = \"stuck\"\noutput = \"{out}\"\ndetector = \"{det}\"\ninput = \"{input}\"\ntop_k = 5\n[model]\ndevice = \"cpu\"\nimage_batch_size = 4\n",
        out = d.join("stuck-out").display(),
        det = d.join("detector.safetensors").display(),
        input = v.display(),
    );
    std::fs::write(d.join("stuck.toml"), job).unwrap();
    // The decoder hangs after two frames (as libav can), so it is alive
    // when the worker dies.
    let mut cluster = Cluster::start(Path::new(BIN), d.join("store").to_str().unwrap(), &[("RWCLIP_DECODE_FAILPOINT", "stuck.mp4:hang".to_string())]);
    let worker = cluster.add_worker();
    let id = cluster.submit(&d.join("stuck.toml"));
    let began = std::time::Instant::now();
    let decoders = loop {
        let found = decoders_running("stuck.mp4");
        if !found.is_empty() {
            break found;
        }
        assert!(began.elapsed() < Duration::from_secs(120), "no decoder started for job {id}:\n{}", cluster.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.kill_worker(worker);
    let began = std::time::Instant::now();
    while decoders.iter().any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(*pid)) {
        assert!(began.elapsed() < Duration::from_secs(10), "decoders {decoders:?} outlived their SIGKILLed worker");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pids of running `rwclip-decode` processes decoding a key containing `key`.
fn decoders_running(key: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = String::from_utf8_lossy(&cmdline).split('\0').map(str::to_string).collect();
            (args.first()?.ends_with("rwclip-decode") && args.iter().any(|a| a.contains(key))).then_some(pid)
        })
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

/// every_nth and keyframes sampling spread a video over shards of seconds,
/// with the rows of the video scored as one shard.
#[test]
fn every_nth_and_keyframes_spread_over_shards_with_the_rows_of_one_shard() {
    let dir = with_detector();
    let d = dir.path();
    std::fs::create_dir_all(d.join("footage")).unwrap();
    ffmpeg(&d.join("footage/run.mp4"), 20, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50"]);
    for sampling in ["every_nth=10", "keyframes"] {
        let score = |per: &str, out: &str| {
            rwclip(d, &["score", "--input", "footage", "--detector", "detector.safetensors", "--out", out, "--device", "cpu", "--batch-size", "4", "--sampling", sampling, "--frames-per-shard", per, "--workers", "2"], &[]);
            let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join(out).join("summary.json")).unwrap()).unwrap();
            (rows(&d.join(out)), summary["shards"].as_u64().unwrap())
        };
        let (whole, one) = score("100000", &format!("whole-{}", &sampling[..4]));
        let (cut, many) = score("4", &format!("cut-{}", &sampling[..4]));
        assert!(many >= one + 4, "{sampling}: {many} shards cut, {one} whole");
        assert!(!whole.is_empty() && whole.iter().all(|r| r["error"].is_null()), "{sampling}: {whole:?}");
        assert_eq!(cut, whole, "{sampling}: the rows of 20 s cut into 4 s shards");
    }
}
