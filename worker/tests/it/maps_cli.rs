//! `rwclip metrics --maps` from the command line: the reference's Parquet of
//! hostile categories (written by pyarrow in tests/reference/pixel_metrics.py)
//! gives the reference's numbers; bad map files name the row and column.

use std::path::PathBuf;
use std::process::{Command, Output};

use rwclip_test_support::python::run as py;

fn rwclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rwclip")).args(args).output().expect("run rwclip")
}

fn reference(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("RWCLIP_REFERENCE_DIR")).join("pixel_metrics").join(name);
    assert!(path.is_file(), "{} missing: run `make reference`", path.display());
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn metrics_maps_json_equals_the_reference_per_category() {
    let out = rwclip(&["metrics", "--maps", reference("maps.parquet").to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference("cases.json")).unwrap()).unwrap();
    let categories = report["categories"].as_object().expect("categories object");
    assert_eq!(categories.len(), cases.as_array().unwrap().len());
    let mut sums = [(0.0, 0usize); 3];
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        for (slot, metric) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
            let ours = &categories[name][*metric];
            match case["expected"][*metric].as_str() {
                Some(want) => {
                    let want: f64 = want.parse().unwrap();
                    let got = ours.as_f64().unwrap_or_else(|| panic!("{name}.{metric}: {ours}"));
                    assert!((got - want).abs() <= 1e-9, "{name}.{metric}: {got} vs reference {want}");
                    sums[slot].0 += want;
                    sums[slot].1 += 1;
                }
                None => assert!(ours.is_null(), "{name}.{metric} should be null, is {ours}"),
            }
        }
    }
    for (slot, metric) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
        let mean = report["mean"][*metric].as_f64().unwrap();
        let want = sums[slot].0 / sums[slot].1 as f64;
        assert!((mean - want).abs() <= 1e-9, "mean {metric}: {mean} vs {want} over the categories defining it");
    }

    let table = rwclip(&["metrics", "--maps", reference("maps.parquet").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("pixel AUROC") && text.contains("category_without_anomalies") && text.contains("n/a"), "{text}");
}

#[test]
fn bad_map_files_name_the_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, code: &str| -> String {
        let path = dir.path().join(name);
        py(&format!("import sys, pyarrow as pa, pyarrow.parquet as pq\n{code}\npq.write_table(t, sys.argv[1])"), &[path.to_str().unwrap()]);
        path.to_str().unwrap().to_string()
    };
    let schema = "s = pa.schema([('category', pa.string()), ('height', pa.int32()), ('width', pa.int32()), ('map', pa.list_(pa.float32())), ('mask', pa.list_(pa.uint8()))])";
    let bad_mask = write(
        "bad_mask.parquet",
        &format!("{schema}\nt = pa.table({{'category': ['a', 'a'], 'height': [1, 1], 'width': [2, 2], 'map': [[0.1, 0.2], [0.3, 0.4]], 'mask': [[0, 1], [0, 7]]}}, schema=s)"),
    );
    let out = rwclip(&["metrics", "--maps", &bad_mask]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("row 1, column `mask`: value 7 at pixel 1"), "{}", stderr(&out));

    let short = write(
        "short.parquet",
        &format!("{schema}\nt = pa.table({{'category': ['a'], 'height': [2], 'width': [2], 'map': [[0.1, 0.2]], 'mask': [[0, 1, 0, 0]]}}, schema=s)"),
    );
    let out = rwclip(&["metrics", "--maps", &short]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("row 0, column `map`: 2 values for a 2×2 image"), "{}", stderr(&out));

    let no_mask = write("no_mask.parquet", "t = pa.table({'category': ['a'], 'height': [1], 'width': [1], 'map': [[0.5]]})");
    let out = rwclip(&["metrics", "--maps", &no_mask]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no column `mask`"), "{}", stderr(&out));

    let neither = rwclip(&["metrics", "--json"]);
    assert_eq!(neither.status.code(), Some(2), "--scores or --maps is required");
}

/// Reads a maps Parquet with pyarrow: (uri, score, height, width, map length, error) per row.
fn read_maps(file: &std::path::Path) -> Vec<serde_json::Value> {
    let json = py(
        "import sys, json, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1]).to_pylist()\n\
         print(json.dumps([{'uri': r['uri'], 'score': r['score'], 'height': r['height'], 'width': r['width'],\n\
           'map': r['map'], 'error': r['error']} for r in t]))",
        &[file.to_str().unwrap()],
    );
    serde_json::from_str(&json).unwrap()
}

fn ok_in(dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rwclip")).current_dir(dir).args(args).output().expect("run rwclip");
    assert!(out.status.success(), "rwclip {args:?} failed ({:?}):\n{}", out.status.code(), stderr(&out));
    out
}

#[test]
fn maps_from_the_command_line_for_every_method_with_overlays_and_bad_images_as_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_in(d, &["dataset", "synth", "--kind", "mvtec", "--out", "data", "--categories", "bottle", "--test-good", "2", "--test-defective", "2"]);
    let test = d.join("data/bottle/test");
    std::fs::write(test.join("good/zz-broken.png"), b"not a png at all").unwrap();
    let tiny = ["--model", "rwclip-tiny", "--device", "cpu", "--batch-size", "3"];
    let run = |method: &str, extra: &[&str], out: &str| {
        let mut args = vec!["maps", "--method", method, "--input", "data/bottle/test", "--out", out];
        args.extend_from_slice(&tiny);
        args.extend_from_slice(extra);
        ok_in(d, &args);
        read_maps(&d.join(out))
    };

    // WinCLIP zero- and 1-shot, overlays for the 1-shot run.
    let zero = run("winclip", &["--object-word", "bottle"], "zero.parquet");
    let one = run("winclip", &["--object-word", "bottle", "--references", "data/bottle/train/good", "--png", "png"], "one.parquet");
    let uris: Vec<&str> = zero.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert!(uris.len() >= 5 && uris.iter().filter(|u| u.contains("/good/")).count() == 3, "2 good images, the broken file, the defective ones: {uris:?}");
    let mapped = uris.len() - 1;
    for rows in [&zero, &one] {
        let broken = rows.iter().find(|r| r["uri"].as_str().unwrap().ends_with("zz-broken.png")).expect("the broken file is a row");
        assert!(broken["score"].is_null() && broken["map"].is_null());
        assert!(broken["error"].as_str().unwrap().contains("zz-broken.png"), "{broken}");
        for r in rows.iter().filter(|r| r["error"].is_null()) {
            assert_eq!((r["height"].as_i64(), r["width"].as_i64()), (Some(64), Some(64)));
            let map = r["map"].as_array().unwrap();
            assert_eq!(map.len(), 64 * 64);
            let score = r["score"].as_f64().unwrap();
            assert!(score > 0.0 && score < 1.0, "{score}");
            assert!(map.iter().all(|v| v.as_f64().unwrap().is_finite()));
        }
    }
    assert_ne!(zero[0]["score"], one[0]["score"], "the reference memory changes WinCLIP's scores");
    // Written as made: one row group per batch of 3, never the whole table.
    let groups = py("import sys, pyarrow.parquet as pq\nm = pq.ParquetFile(sys.argv[1]).metadata\nprint([m.row_group(i).num_rows for i in range(m.num_row_groups)])", &[d.join("zero.parquet").to_str().unwrap()]);
    let expected: Vec<usize> = (0..uris.len()).step_by(3).map(|i| 3.min(uris.len() - i)).collect();
    assert_eq!(groups.trim(), format!("{expected:?}"), "row groups of zero.parquet");
    let pngs: Vec<_> = std::fs::read_dir(d.join("png")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(pngs.len(), mapped, "one overlay per mapped image: {pngs:?}");
    let sizes = py(
        "import sys\nfrom PIL import Image\nfor p in sys.argv[1:]:\n    im = Image.open(p).convert('RGB'); print(im.size, len(set(im.getdata())) > 20)",
        &pngs.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>(),
    );
    assert!(sizes.lines().all(|l| l == "(64, 64) True"), "{sizes}");

    // A detector's maps: clip+ours is the sum of clip and ours, row for row.
    ok_in(d, &["train", "--model", "rwclip-tiny", "--pairs", "128", "--seed", "1", "--device", "cpu", "--out", "detector.safetensors"]);
    let det = ["--detector", "detector.safetensors"];
    let (ours, clip, both) = (run("ours", &det, "ours.parquet"), run("clip", &det, "clip.parquet"), run("clip+ours", &det, "both.parquet"));
    for ((o, c), b) in ours.iter().zip(&clip).zip(&both) {
        assert_eq!(o["uri"], b["uri"]);
        if o["error"].is_null() {
            let sum = o["score"].as_f64().unwrap() + c["score"].as_f64().unwrap();
            assert!((sum - b["score"].as_f64().unwrap()).abs() < 1e-6);
            let (om, cm, bm) = (o["map"].as_array().unwrap(), c["map"].as_array().unwrap(), b["map"].as_array().unwrap());
            let worst = (0..bm.len()).map(|i| (om[i].as_f64().unwrap() + cm[i].as_f64().unwrap() - bm[i].as_f64().unwrap()).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-5, "clip+ours map differs from the sum by {worst}");
        }
    }
    // Runs repeat bit for bit.
    assert_eq!(run("ours", &det, "ours-again.parquet"), ours);

    let refuse = |args: &[&str], why: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rwclip")).current_dir(d).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    };
    refuse(&["maps", "--method", "ours", "--model", "rwclip-tiny", "--input", "data", "--out", "x.parquet"], "give --detector");
    refuse(&["maps", "--method", "tiles", "--model", "rwclip-tiny", "--input", "data", "--out", "x.parquet"], "unknown map method");
    refuse(
        &["maps", "--method", "ours", "--detector", "detector.safetensors", "--references", "data", "--model", "rwclip-tiny", "--input", "data", "--out", "x.parquet"],
        "only --method winclip takes them",
    );
}

#[test]
fn maps_of_labelled_datasets_carry_their_masks_and_feed_metrics_maps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for kind in ["mvtec", "visa"] {
        ok_in(d, &["dataset", "synth", "--kind", kind, "--out", kind, "--categories", "bottle,pcb1", "--test-good", "2", "--test-defective", "3"]);
        let out = format!("{kind}.parquet");
        ok_in(d, &["maps", "--method", "winclip", "--dataset", kind, "--input", kind, "--out", &out, "--model", "rwclip-tiny", "--device", "cpu", "--batch-size", "4", "--png", &format!("{kind}-png")]);
        let rows = py(
            "import sys, json, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1]).to_pylist()\n\
             print(json.dumps([{'uri': r['uri'], 'category': r['category'], 'map': len(r['map'] or []), 'mask': r['mask'], 'error': r['error']} for r in t]))",
            &[d.join(&out).to_str().unwrap()],
        );
        let rows: Vec<serde_json::Value> = serde_json::from_str(&rows).unwrap();
        assert!(rows.len() >= 10, "{kind}: 2 categories × (2 good + defective) images, got {}", rows.len());
        for r in &rows {
            assert!(r["error"].is_null(), "{kind}: {r}");
            assert_eq!(r["map"], 64 * 64);
            let mask: Vec<u64> = r["mask"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(mask.len(), 64 * 64);
            let anomalous = mask.iter().filter(|&&v| v == 1).count();
            let good = r["uri"].as_str().unwrap().contains("good") || r["uri"].as_str().unwrap().contains("Normal");
            if good {
                assert_eq!(anomalous, 0, "{kind}: a normal image's mask is empty: {}", r["uri"]);
            } else {
                assert!(anomalous > 0 && anomalous < 64 * 64 / 2, "{kind}: the synthesised defect's mask is real: {} has {anomalous} pixels", r["uri"]);
            }
        }
        let json = ok_in(d, &["metrics", "--maps", &out, "--json"]).stdout;
        let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
        for category in ["bottle", "pcb1"] {
            for metric in ["pixel_auroc", "aupro", "pro_200"] {
                let v = report["categories"][category][metric].as_f64().unwrap_or_else(|| panic!("{kind} {category} {metric}: {report}"));
                assert!((0.0..=1.0).contains(&v), "{kind} {category} {metric} = {v}");
            }
        }
        assert!(report["mean"]["pixel_auroc"].is_number());
        assert_eq!(std::fs::read_dir(d.join(format!("{kind}-png"))).unwrap().count(), rows.len());
    }

    // k-shot on a dataset: each category's references drawn as a trial draws
    // them; other seeds may draw others, and too many shots name the category.
    let read_scores = |out: &str| py("import sys, pyarrow.parquet as pq\nprint(pq.read_table(sys.argv[1]).column('score').to_pylist())", &[d.join(out).to_str().unwrap()]);
    let mapped = |out: &str, extra: &[&str]| {
        let mut args = vec!["maps", "--method", "winclip", "--dataset", "mvtec", "--input", "mvtec", "--out", out, "--model", "rwclip-tiny", "--device", "cpu"];
        args.extend_from_slice(extra);
        ok_in(d, &args);
        read_scores(out)
    };
    let zero = mapped("zero.parquet", &[]);
    let one = mapped("one.parquet", &["--shots", "1", "--seed", "3"]);
    assert_ne!(zero, one, "the references change the scores");
    assert_eq!(one, mapped("one-again.parquet", &["--shots", "1", "--seed", "3"]), "the same seed draws the same references");
    ok_in(d, &["metrics", "--maps", "one.parquet"]);
    let out = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .current_dir(d)
        .args(["maps", "--method", "winclip", "--dataset", "mvtec", "--input", "mvtec", "--out", "x.parquet", "--model", "rwclip-tiny", "--device", "cpu", "--shots", "99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--shots 99: category bottle"), "{}", stderr(&out));
}

#[test]
fn maps_of_a_dataset_on_s3_equal_the_local_run() {
    let server = rwclip_test_support::moto::MotoServer::start();
    server.create_bucket("maps");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_in(d, &["dataset", "synth", "--kind", "mvtec", "--out", "mvtec", "--categories", "bottle", "--test-good", "1", "--test-defective", "2"]);
    upload_tree(&server, "maps", &d.join("mvtec"), "mvtec");
    let args = |input: &str, out: &str| -> Vec<String> {
        ["maps", "--method", "winclip", "--dataset", "mvtec", "--input", input, "--out", out, "--model", "rwclip-tiny", "--device", "cpu", "--shots", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    ok_in(d, &args("mvtec", "local.parquet").iter().map(String::as_str).collect::<Vec<_>>());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rwclip"));
    cmd.current_dir(d).args(args("s3://maps/mvtec", "s3://maps/out/maps.parquet"));
    for (k, v) in server.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let compare = py(
        "import sys, boto3, io, pyarrow.parquet as pq\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         remote = pq.read_table(io.BytesIO(s3.get_object(Bucket='maps', Key='out/maps.parquet')['Body'].read())).to_pylist()\n\
         local = pq.read_table(sys.argv[2]).to_pylist()\n\
         strip = lambda rows, root: [dict(r, uri=r['uri'][len(root):]) for r in rows]\n\
         print(len(local), strip(remote, 's3://maps/mvtec') == strip(local, 'mvtec'))",
        &[&server.endpoint(), d.join("local.parquet").to_str().unwrap()],
    );
    assert_eq!(compare.trim(), "7 True", "the S3 run's rows (maps, masks, scores) equal the local run's");
}

/// The store failing under the image reads (503 past the retry deadline)
/// is a store failure, exit 4, not a usage error.
#[test]
fn maps_exit_with_the_store_code_when_the_store_fails_under_the_reads() {
    use rwclip_test_support::fault_proxy::{Fault, FaultProxy, FaultRates};
    let server = rwclip_test_support::moto::MotoServer::start();
    server.create_bucket("down");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_in(d, &["dataset", "synth", "--kind", "mvtec", "--out", "mvtec", "--categories", "bottle", "--test-good", "1", "--test-defective", "1"]);
    upload_tree(&server, "down", &d.join("mvtec"), "mvtec");
    // Listings answer; every object read is refused with 503 SlowDown.
    let proxy = FaultProxy::start(&server.endpoint(), FaultRates { only: vec!["GET /down/mvtec/".into()], ..FaultRates::none().with(Fault::SlowDown, 1.0) });
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rwclip"));
    cmd.current_dir(d).args(["maps", "--method", "winclip", "--input", "s3://down/mvtec/bottle/test", "--out", "x.parquet", "--model", "rwclip-tiny", "--device", "cpu"]);
    for (k, v) in proxy.env(&server.env()) {
        cmd.env(k, v);
    }
    cmd.env("RWCLIP_STORE_RETRY_FOR_S", "1").env("RWCLIP_STORE_BACKOFF_MAX_S", "0.2");
    let out = cmd.output().unwrap();
    assert!(proxy.counts().get(&Fault::SlowDown).copied().unwrap_or(0) > 0, "{:?}", proxy.counts());
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("s3://down/mvtec/bottle/test/"), "{}", stderr(&out));
}

/// Every file below `dir` into `bucket` under `prefix`, on moto (boto3).
fn upload_tree(server: &rwclip_test_support::moto::MotoServer, bucket: &str, dir: &std::path::Path, prefix: &str) {
    py(
        "import sys, os, boto3\n\
         s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         for root, _, files in os.walk(sys.argv[2]):\n    for f in files:\n        p = os.path.join(root, f)\n        s3.upload_file(p, sys.argv[3], sys.argv[4] + '/' + os.path.relpath(p, sys.argv[2]))",
        &[&server.endpoint(), dir.to_str().unwrap(), bucket, prefix],
    );
}
