//! Archive scoring end to end: a detector trained by `rwclip train` (equal
//! to a sweep trial's checkpoint), scoring manifests with hostile entries,
//! 1 worker against 3, resuming, the contact sheet of the best-scored
//! images, a SIGKILLed worker and a restarted coordinator, and a
//! million-row manifest planned in bounded memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rwclip_inputs::synth::{self, SynthSpec};
use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::process::run_with_deadline;
use rwclip_test_support::python;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn rwclip(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    run_with_deadline(cmd, Duration::from_secs(600)).unwrap_or_else(|| panic!("rwclip {args:?} ran past 600 s"))
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let out = rwclip(dir, args);
    assert!(
        out.status.success(),
        "rwclip {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A few real images (PNG and JPEG), a detector for random-init rwclip-tiny.
fn archive(dir: &Path) -> Vec<String> {
    let spec = SynthSpec { categories: vec!["weave".into(), "granite".into()], train_good: 0, test_good: 2, test_defective: 1, image_size: 64, ..SynthSpec::default() };
    synth::write(&dir.join("data"), &spec).unwrap();
    ok(dir, &["train", "--model", "rwclip-tiny", "--pairs", "256", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"]);
    let mut images: Vec<String> = Vec::new();
    for cat in ["weave", "granite"] {
        let ext = if cat == "weave" { "png" } else { "jpg" };
        for f in ["good/000", "good/001", "hole/000", "scratch/000"] {
            images.push(format!("data/{cat}/test/{f}.{ext}"));
        }
    }
    images
}

/// Every row of `out/scores/*.parquet` as pyarrow reads them, as a dataset.
fn score_rows(out: &Path) -> Vec<serde_json::Value> {
    let json = python::run(
        "import sys, json, pyarrow.dataset as ds\n\
         t = ds.dataset(sys.argv[1], format='parquet').to_table()\n\
         print(json.dumps(t.to_pylist(), default=list))",
        &[out.join("scores").to_str().unwrap()],
    );
    serde_json::from_str(&json).unwrap()
}

fn parts(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut p: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.join("scores"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    p.sort();
    p
}

#[test]
fn a_detector_from_rwclip_train_is_the_sweep_trials_checkpoint_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let job = "name = \"t\"\noutput = \"out\"\n[model]\npreset = \"rwclip-tiny\"\ndevice = \"cpu\"\n\
               [dataset]\nkind = \"mvtec\"\nroot = \"data\"\n[dataset.synth]\ncategories = [\"weave\"]\ntrain_good = 0\ntest_good = 2\ntest_defective = 1\nimage_size = 64\n\
               [prompts]\npairs = 300\nnormal_word = \"a good\"\nanomaly_word = \"a broken\"\n[training]\nseeds = [3]\n[scoring]\nsetups = [\"unknown\"]\n";
    std::fs::write(dir.path().join("job.toml"), job).unwrap();
    ok(dir.path(), &["run", "job.toml", "--workers", "1"]);
    ok(dir.path(), &["train", "--model", "rwclip-tiny", "--pairs", "300", "--seed", "3", "--normal", "a good", "--anomaly", "a broken", "--device", "cpu", "--out", "d.safetensors"]);
    let mut checkpoints = Vec::new();
    let mut stack = vec![dir.path().join("out/shards")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "fnn.safetensors") {
                checkpoints.push(p);
            }
        }
    }
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    assert!(std::fs::read(&checkpoints[0]).unwrap() == std::fs::read(dir.path().join("d.safetensors")).unwrap(), "rwclip train differs from the sweep trial");
    let shown = String::from_utf8(ok(dir.path(), &["detector", "show", "d.safetensors"]).stdout).unwrap();
    let info: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!((info["clip_preset"].as_str(), info["clip_weights_digest"].as_str(), info["score"].as_str()), (Some("rwclip-tiny"), Some("random-init"), Some("pr+fnn")));
    assert_eq!((info["normal_word"].as_str(), info["seed"].as_u64(), info["pairs"].as_u64()), (Some("a good"), Some(3), Some(300)));

    // A trial exported as a detector, with another score kind.
    let trial = checkpoints[0].ancestors().nth(3).unwrap().file_name().unwrap().to_str().unwrap().to_string();
    ok(dir.path(), &["detector", "export", "--store", "out", "--trial", &trial, "--score", "fnn", "--out", "exported.safetensors"]);
    let shown = String::from_utf8(ok(dir.path(), &["detector", "show", "exported.safetensors"]).stdout).unwrap();
    assert!(shown.contains("\"score\": \"fnn\""), "{shown}");
}

#[test]
fn every_bad_entry_is_a_row_with_its_error_and_one_worker_equals_three() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    std::fs::create_dir_all(d.join("bad")).unwrap();
    let png = std::fs::read(d.join(&images[0])).unwrap();
    std::fs::write(d.join("bad/truncated.png"), &png[..png.len() / 3]).unwrap();
    std::fs::write(d.join("bad/zero.png"), b"").unwrap();
    std::fs::write(d.join("bad/notes.png"), b"not an image at all\n").unwrap();
    let mut png_corrupt = png.clone();
    for b in png_corrupt.iter_mut().skip(40).take(200) {
        *b = 0x5a;
    }
    std::fs::write(d.join("bad/corrupt.png"), &png_corrupt).unwrap();
    let mut manifest = String::from("\u{feff}site,uri\r\n");
    for (i, img) in images.iter().enumerate() {
        manifest.push_str(&format!("{i},{img}\r\n"));
    }
    for bad in ["bad/truncated.png", "bad/zero.png", "bad/notes.png", "bad/corrupt.png", "bad/missing.png"] {
        manifest.push_str(&format!("x,\"{bad}\"\r\n"));
    }
    std::fs::write(d.join("archive.csv"), &manifest).unwrap();

    let score = |out: &str, workers: &str| {
        ok(d, &["score", "--detector", "detector.safetensors", "--input", "archive.csv", "--out", out, "--device", "cpu", "--workers", workers, "--rows-per-shard", "4", "--batch-size", "4", "--top-k", "3"])
    };
    score("one", "1");
    let rows = score_rows(&d.join("one"));
    let uris: Vec<&str> = rows.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = images.iter().map(String::as_str).collect();
    expected.extend(["bad/truncated.png", "bad/zero.png", "bad/notes.png", "bad/corrupt.png", "bad/missing.png"]);
    assert_eq!(uris, expected, "every input row exactly once, in input order");
    for r in &rows[..images.len()] {
        assert!(r["error"].is_null() && r["score"].as_f64().is_some_and(f64::is_finite), "{r}");
        let (score, s_pr, s_fnn) = (r["score"].as_f64().unwrap(), r["s_pr"].as_f64().unwrap(), r["s_fnn"].as_f64().unwrap());
        assert!((score - (s_pr + s_fnn)).abs() < 1e-12, "pr+fnn detector: {r}");
    }
    let error = |i: usize| rows[images.len() + i]["error"].as_str().unwrap_or_else(|| panic!("{}", rows[images.len() + i])).to_string();
    assert!(error(0).contains("bad/truncated.png"), "{}", error(0));
    assert!(error(1).contains("bad/zero.png") && error(1).contains("empty"), "{}", error(1));
    assert!(error(2).contains("bad/notes.png") && error(2).contains("cannot decode"), "{}", error(2));
    assert!(error(3).contains("bad/corrupt.png"), "{}", error(3));
    assert!(error(4).contains("missing.png") && error(4).contains("not found"), "{}", error(4));
    for r in &rows[images.len()..] {
        assert!(r["score"].is_null() && r["s_fnn"].is_null() && r["s_pr"].is_null(), "{r}");
    }

    // DuckDB reads the parts as one table, as users query them.
    let counted = python::run(
        "import sys, duckdb\nprint(duckdb.sql(f\"select count(*), count(error), count(score) from read_parquet('{sys.argv[1]}/scores/*.parquet')\").fetchall()[0])",
        &[d.join("one").to_str().unwrap()],
    );
    assert_eq!(counted.trim(), "(13, 5, 8)");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("one/summary.json")).unwrap()).unwrap();
    assert_eq!((summary["rows"].as_u64(), summary["scored"].as_u64(), summary["failed"].as_u64()), (Some(13), Some(8), Some(5)), "{summary}");
    assert!(summary["score_quantiles"]["p50"].as_f64().is_some() && summary["images_per_s"].as_f64().is_some_and(|r| r > 0.0), "{summary}");
    let top = std::fs::read_to_string(d.join("one/top_k.csv")).unwrap();
    let lines: Vec<&str> = top.lines().collect();
    assert_eq!(lines.len(), 4, "{top}");
    let mut best: Vec<f64> = rows.iter().filter_map(|r| r["score"].as_f64()).collect();
    best.sort_by(|a, b| b.total_cmp(a));
    // (serde_json reads pyarrow's floats to within an ulp; the bytes are compared below.)
    let listed: Vec<f64> = lines[1..].iter().map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
    assert!(listed.iter().zip(&best[..3]).all(|(a, b)| (a - b).abs() < 1e-12), "{listed:?} vs {:?}", &best[..3]);

    // Three workers: the same bytes, part for part.
    score("three", "3");
    assert_eq!(parts(&d.join("one")), parts(&d.join("three")));
    assert_eq!(std::fs::read(d.join("one/top_k.csv")).unwrap(), std::fs::read(d.join("three/top_k.csv")).unwrap());

    // The same rows as a Parquet manifest (written by pyarrow): the same parts.
    let uris: Vec<String> = expected.iter().map(|u| u.to_string()).collect();
    python::run(
        "import sys, json, pyarrow as pa, pyarrow.parquet as pq\n\
         uris = json.loads(sys.argv[2])\n\
         pq.write_table(pa.table({'uri': uris, 'site': list(range(len(uris)))}), sys.argv[1], row_group_size=3)",
        &[d.join("archive.parquet").to_str().unwrap(), &serde_json::to_string(&uris).unwrap()],
    );
    ok(d, &["score", "--detector", "detector.safetensors", "--input", "archive.parquet", "--out", "pq", "--device", "cpu", "--workers", "2", "--rows-per-shard", "4", "--batch-size", "4", "--top-k", "3"]);
    assert_eq!(parts(&d.join("one")), parts(&d.join("pq")));

    // Rerunning computes nothing and ends with the same output.
    let again = score("one", "2");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("6 shards, 6 already committed"), "{stderr}");
    assert_eq!(score_rows(&d.join("one")), rows);

    // The contact sheet: top_k.csv's images, in its order, each the
    // thumbnail of that very file; the same bytes from one worker or three.
    let ranked: Vec<String> = lines[1..].iter().map(|l| l.split(',').nth(1).unwrap().trim_matches('"').to_string()).collect();
    let sheet = std::fs::read(d.join("one/contact_sheet.png")).unwrap();
    assert_eq!(sheet, std::fs::read(d.join("three/contact_sheet.png")).unwrap(), "one worker's sheet is three's");
    let cells: Vec<Option<&str>> = ranked.iter().map(|u| Some(u.as_str())).collect();
    assert_sheet_shows(d, &sheet, &cells);
    let svg = std::fs::read_to_string(d.join("one/contact_sheet.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("data:image/png;base64,"), "{}", &svg[..svg.len().min(300)]);
    let html = std::fs::read_to_string(d.join("one/results.html")).unwrap();
    assert!(html.contains("id=\"contact_sheet\"") && html.contains("id=\"score_distribution\""), "results.html shows both figures");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "results.html loads nothing");

    // The best image gone since it was scored: its cell says so, the job
    // still succeeds, and the others are still drawn.
    std::fs::rename(d.join(&ranked[0]), d.join("gone.bin")).unwrap();
    let again = ok(d, &["score", "--detector", "detector.safetensors", "--input", "archive.csv", "--out", "one", "--device", "cpu", "--workers", "1", "--rows-per-shard", "4", "--batch-size", "4", "--top-k", "3", "--contact-sheet", "2"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("6 shards, 4 already committed"), "only the sheet and summary are new: {stderr}");
    let sheet = std::fs::read(d.join("one/contact_sheet.png")).unwrap();
    assert_sheet_shows(d, &sheet, &[None, Some(&ranked[1])]);
    std::fs::rename(d.join("gone.bin"), d.join(&ranked[0])).unwrap();
}

/// Asserts `png` is the contact sheet of `cells`: each `Some(path)` cell
/// holds exactly that image's thumbnail; a `None` cell holds no picture.
fn assert_sheet_shows(d: &Path, png: &[u8], cells: &[Option<&str>]) {
    use rwclip_figures::{SheetLayout, THUMB_SIDE};
    use rwclip_inputs::preprocess::{decode_rgb, thumbnail_rgb};
    let sheet = decode_rgb(png, "contact_sheet.png").unwrap();
    let layout = SheetLayout { count: cells.len() };
    assert_eq!(sheet.dimensions(), layout.size(), "sized for {} images", cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let (x, y) = layout.cell(i);
        match cell {
            Some(path) => {
                let t = thumbnail_rgb(&std::fs::read(d.join(path)).unwrap(), path, THUMB_SIDE).unwrap();
                let (ox, oy) = (x + (THUMB_SIDE - t.width()) / 2, y + (THUMB_SIDE - t.height()) / 2);
                for (px, py, p) in t.enumerate_pixels() {
                    assert_eq!(sheet.get_pixel(ox + px, oy + py), p, "cell {i} ({path}) at ({px}, {py})");
                }
            }
            None => {
                // The empty box (light grey) at its centre row, apart from its caption text.
                let grey = (0..THUMB_SIDE).filter(|&px| sheet.get_pixel(x + px, y + THUMB_SIDE / 2 + 30).0 == [236, 236, 236]).count();
                assert!(grey > THUMB_SIDE as usize * 9 / 10, "cell {i} should be an empty box ({grey} grey pixels)");
            }
        }
    }
}

#[test]
fn a_detector_for_other_clip_weights_is_refused_naming_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    std::fs::write(d.join("m.csv"), format!("uri\n{}\n", images[0])).unwrap();
    let weights = PathBuf::from(env!("RWCLIP_REFERENCE_DIR")).join("clip_tiny/weights.safetensors");
    assert!(weights.exists(), "{} missing: run `make reference`", weights.display());
    let out = rwclip(d, &["score", "--detector", "detector.safetensors", "--input", "m.csv", "--out", "o", "--device", "cpu", "--workers", "1", "--weights", weights.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "a bad-input failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Both digests: the detector's (random init) and the given file's.
    let given = stderr.split("have digest ").nth(1).map(|r| r.chars().take_while(char::is_ascii_hexdigit).count());
    assert!(stderr.contains("digest random-init") && given == Some(32), "{stderr}");
    assert!(stderr.contains("weights.safetensors"), "{stderr}");
}

/// Resident-set high-water mark of a process, in MiB.
fn peak_rss_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

fn score_job(d: &Path, name: &str, input: &str, rows_per_shard: u64) -> PathBuf {
    let text = format!(
        "kind = \"score\"\nname = \"{name}\"\noutput = \"{out}\"\ndetector = \"{det}\"\ninput = \"{input}\"\nrows_per_shard = {rows_per_shard}\ntop_k = 5\n[model]\ndevice = \"cpu\"\nimage_batch_size = 4\n",
        out = d.join(format!("{name}-out")).display(),
        det = d.join("detector.safetensors").display(),
        input = d.join(input).display(),
    );
    let path = d.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_killed_worker_and_a_restarted_coordinator_end_with_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    let rows = 400;
    let manifest: String = std::iter::once("uri\n".to_string()).chain((0..rows).map(|i| format!("{}\n", images[i % images.len()]))).collect();
    std::fs::write(d.join("big.csv"), manifest).unwrap();
    let job = score_job(d, "chaos", "big.csv", 8);
    let store = d.join("store");
    let mut cluster = Cluster::start(Path::new(BIN), store.to_str().unwrap(), &[]);
    let victim = cluster.add_worker();
    let id = cluster.submit(&job);
    cluster.wait_for(&id, Duration::from_secs(120), "a shard running", |s| s.shards_running >= 1 && s.shards_committed >= 2);
    cluster.kill_worker(victim);
    cluster.kill_coordinator();
    cluster.start_coordinator();
    cluster.add_worker();
    cluster.add_worker();
    let status = cluster.wait_succeeded(&id, Duration::from_secs(300));
    assert_eq!(status.shards_failed, 0);
    let out = d.join("chaos-out");
    let got = score_rows(&out);
    assert_eq!(got.len(), rows, "every row exactly once");
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r["uri"].as_str(), Some(images[i % images.len()].as_str()), "row {i}");
        assert!(r["score"].as_f64().is_some(), "row {i}: {r}");
    }
    // Equal rows for equal images, wherever their shard ran.
    for (i, r) in got.iter().enumerate().skip(images.len()) {
        assert_eq!(r["score"], got[i % images.len()]["score"], "row {i}");
    }
}

#[test]
fn a_million_row_manifest_is_planned_in_bounded_coordinator_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    let rows = 1_000_000;
    let mut manifest = String::with_capacity(rows * 40);
    manifest.push_str("uri,frame\n");
    for i in 0..rows {
        manifest.push_str(&images[i % images.len()]);
        manifest.push_str(&format!(",{i}\n"));
    }
    std::fs::write(d.join("million.csv"), manifest).unwrap();
    let job = score_job(d, "million", "million.csv", 1000);
    let mut cluster = Cluster::start(Path::new(BIN), d.join("store").to_str().unwrap(), &[]);
    let pid = cluster.coordinator.as_ref().unwrap().pid();
    let idle = peak_rss_mib(pid);
    let start = Instant::now();
    let id = cluster.submit(&job);
    let planned = start.elapsed();
    let status = cluster.client().get_job(&id).unwrap();
    assert_eq!(status.shards_total, 1002, "1,000 shards of 1,000 rows, the contact sheet and the summary");
    cluster.add_worker();
    cluster.wait_for(&id, Duration::from_secs(300), "the first shards scored", |s| s.shards_committed >= 2);
    let peak = peak_rss_mib(pid);
    eprintln!("coordinator: idle {idle:.1} MiB, peak {peak:.1} MiB after planning 1,000,000 rows in {planned:?}");
    assert!(peak < idle + 64.0, "the coordinator grew from {idle:.1} to {peak:.1} MiB planning 1M rows");
}

#[test]
fn a_folder_and_an_s3_prefix_are_scored_image_by_image_in_key_order() {
    use rwclip_test_support::moto::MotoServer;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    // A folder of frames, with a non-image file that is not an input.
    let frames = d.join("frames");
    for (i, img) in images.iter().enumerate() {
        let ext = img.rsplit('.').next().unwrap();
        let sub = frames.join(format!("day-{}", i % 3));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(d.join(img), sub.join(format!("f{i:03}.{ext}"))).unwrap();
    }
    std::fs::write(frames.join("README.txt"), b"not a frame").unwrap();
    ok(d, &["score", "--detector", "detector.safetensors", "--input", "frames", "--out", "from-folder", "--device", "cpu", "--workers", "2", "--rows-per-shard", "3", "--batch-size", "3"]);
    let local = score_rows(&d.join("from-folder"));
    assert_eq!(local.len(), images.len());
    let keys: Vec<String> = local.iter().map(|r| r["uri"].as_str().unwrap().rsplit("frames/").next().unwrap().to_string()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "rows in key order");

    // The same frames under an s3:// prefix, scored into S3.
    let server = MotoServer::start();
    server.create_bucket("archive");
    let mut cmd = Command::new(python::python());
    cmd.arg("-c")
        .arg("import sys, os, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nfor root, _, files in os.walk(sys.argv[2]):\n    for f in files:\n        p = os.path.join(root, f)\n        s3.upload_file(p, 'archive', 'frames/' + os.path.relpath(p, sys.argv[2]))")
        .arg(server.endpoint())
        .arg(&frames);
    assert!(cmd.status().unwrap().success());
    let mut cmd = Command::new(BIN);
    cmd.args(["score", "--detector", "detector.safetensors", "--input", "s3://archive/frames", "--out", "s3://archive/scores", "--device", "cpu", "--workers", "2", "--rows-per-shard", "3", "--batch-size", "3"]).current_dir(d);
    for (k, v) in server.env() {
        cmd.env(k, v);
    }
    let out = run_with_deadline(cmd, Duration::from_secs(300)).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = python::run(
        "import sys, json, boto3, io, pyarrow.parquet as pq\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='archive', Prefix='scores/scores/')['Contents'])\n\
         rows = []\n\
         for k in keys: rows += pq.read_table(io.BytesIO(s3.get_object(Bucket='archive', Key=k)['Body'].read())).to_pylist()\n\
         print(json.dumps(rows), flush=True)\n\
         import os; os._exit(0)  # pyarrow's and boto3's threads have aborted interpreter shutdown under load",
        &[&server.endpoint()],
    );
    let remote: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(remote.len(), local.len());
    for (r, l) in remote.iter().zip(&local) {
        let key = |v: &serde_json::Value| v["uri"].as_str().unwrap().rsplit("frames/").next().unwrap().to_string();
        assert_eq!(key(r), key(l));
        assert!(r["uri"].as_str().unwrap().starts_with("s3://archive/frames/"), "{r}");
        assert_eq!(r["score"], l["score"], "{r} vs {l}");
    }
}

#[test]
fn a_workers_memory_stays_flat_while_it_streams_a_ten_times_longer_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    let mut cluster = Cluster::start(Path::new(BIN), d.join("store").to_str().unwrap(), &[]);
    let mut peaks = Vec::new();
    for rows in [1_500usize, 15_000] {
        let manifest: String = std::iter::once("uri\n".to_string()).chain((0..rows).map(|i| format!("{}\n", images[i % images.len()]))).collect();
        std::fs::write(d.join(format!("m{rows}.csv")), manifest).unwrap();
        let job = score_job(d, &format!("stream-{rows}"), &format!("m{rows}.csv"), 500);
        // A fresh worker per run: its high-water mark is this run's alone.
        let worker = cluster.add_worker();
        let id = cluster.submit(&job);
        let status = cluster.wait_succeeded(&id, Duration::from_secs(300));
        assert_eq!(status.shards_failed, 0);
        peaks.push(peak_rss_mib(cluster.workers[worker].pid()));
        cluster.kill_worker(worker);
        assert_eq!(score_rows(&d.join(format!("stream-{rows}-out"))).len(), rows);
    }
    eprintln!("worker peak RSS: {:.1} MiB for 1,500 rows, {:.1} MiB for 15,000", peaks[0], peaks[1]);
    assert!(peaks[1] <= peaks[0] * 1.1 + 16.0, "the worker grew from {:.1} to {:.1} MiB with 10x the rows", peaks[0], peaks[1]);
}

#[test]
fn scoring_with_maps_adds_a_quantised_patch_map_per_row_and_one_worker_equals_three() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = archive(d);
    std::fs::write(d.join("broken.png"), b"not an image").unwrap();
    let manifest: String = std::iter::once("uri".to_string()).chain(images.iter().cloned()).chain(["broken.png".to_string()]).collect::<Vec<_>>().join("\n");
    std::fs::write(d.join("archive.csv"), manifest + "\n").unwrap();
    let score = |out: &str, workers: &str, maps: bool| {
        let mut args = vec!["score", "--detector", "detector.safetensors", "--input", "archive.csv", "--out", out, "--device", "cpu", "--workers", workers, "--rows-per-shard", "3", "--batch-size", "3"];
        if maps {
            args.push("--maps");
        }
        ok(d, &args);
    };
    score("maps-one", "1", true);
    score("maps-three", "3", true);
    assert_eq!(parts(&d.join("maps-one")), parts(&d.join("maps-three")), "1 and 3 workers: the same bytes, part for part");
    score("plain", "2", false);

    let with_maps = score_rows(&d.join("maps-one"));
    let plain = score_rows(&d.join("plain"));
    assert_eq!(with_maps.len(), images.len() + 1);
    // rwclip-tiny: a 4×4 patch grid, one byte per patch.
    for (m, p) in with_maps.iter().zip(&plain) {
        assert_eq!(m["uri"], p["uri"]);
        assert!(p["map"].is_null() && p["map_max"].is_null(), "maps are off by default: {p}");
        if m["error"].is_null() {
            let bytes = m["map"].as_array().unwrap_or_else(|| panic!("no map: {m}"));
            assert_eq!(bytes.len(), 16);
            assert!(bytes.iter().any(|b| b == 255), "the maximum quantises to 255: {bytes:?}");
            let max = m["map_max"].as_f64().unwrap();
            assert!(max > 0.0 && max <= 2.0, "a pr+fnn map lies in [0, 2]: {max}");
            let score = m["score"].as_f64().unwrap();
            assert!((score - p["score"].as_f64().unwrap()).abs() < 1e-5, "maps leave the scores as they were: {m} vs {p}");
        } else {
            assert!(m["map"].is_null() && m["map_max"].is_null());
        }
    }

    // The contact sheet draws each image's map over it: the same sheet from
    // one worker and three, and not the plain sheet.
    let sheet = std::fs::read(d.join("maps-one/contact_sheet.png")).unwrap();
    assert_eq!(sheet, std::fs::read(d.join("maps-three/contact_sheet.png")).unwrap());
    assert_ne!(sheet, std::fs::read(d.join("plain/contact_sheet.png")).unwrap(), "heat maps on the sheet");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("contact_sheet_maps.png"), &sheet).unwrap();

    // The map is `rwclip maps`' with the same detector, before upsampling.
    ok(d, &["maps", "--method", "clip+ours", "--detector", "detector.safetensors", "--model", "rwclip-tiny", "--device", "cpu", "--input", "archive.csv", "--out", "maps.parquet"]);
    let full = python::run(
        "import sys, json, pyarrow.parquet as pq\nprint(json.dumps(pq.read_table(sys.argv[1]).to_pylist()))",
        &[d.join("maps.parquet").to_str().unwrap()],
    );
    let full: Vec<serde_json::Value> = serde_json::from_str(&full).unwrap();
    for (m, f) in with_maps.iter().zip(&full).filter(|(m, _)| m["error"].is_null()) {
        let max = m["map_max"].as_f64().unwrap();
        let full_max = f["map"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).fold(f64::MIN, f64::max);
        // Bilinear upsampling never exceeds the grid's maximum, and reaches it at the borders.
        assert!(full_max <= max + 1e-5 && full_max > max - 0.02 * max, "{}: map_max {max} vs the upsampled map's max {full_max}", m["uri"]);
    }
}
