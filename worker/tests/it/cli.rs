//! End-to-end tests of the `rwclip` binary: every subcommand, the whole job,
//! determinism of its artifacts, and the errors users see for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rwclip_test_support::moto::MotoServer;
use rwclip_test_support::python::run as py;

fn rwclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args(args)
        .output()
        .expect("run rwclip")
}

fn ok(args: &[&str]) -> Output {
    let out = rwclip(args);
    assert!(
        out.status.success(),
        "rwclip {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn prompts_tsv_ranges_are_slices_of_one_sequence() {
    let all = String::from_utf8(ok(&["prompts", "--seed", "7", "--pairs", "50"]).stdout).unwrap();
    let part = String::from_utf8(ok(&["prompts", "--seed", "7", "--pairs", "10", "--start", "20"]).stdout).unwrap();
    let all: Vec<&str> = all.lines().collect();
    let part: Vec<&str> = part.lines().collect();
    assert_eq!(all[0], "pair_id\tnormal\tanomaly");
    assert_eq!(all.len(), 51);
    assert_eq!(&part[1..], &all[21..31]);
    let fields: Vec<&str> = all[1].split('\t').collect();
    assert_eq!(fields[0], "0");
    let normal: Vec<&str> = fields[1].split(' ').collect();
    let anomaly: Vec<&str> = fields[2].split(' ').collect();
    // [w0] a [w1] photo [w2] of [w3] a [w4]
    assert_eq!(normal.len(), 9, "{normal:?}");
    assert_eq!((normal[1], normal[3], normal[5], normal[7]), ("a", "photo", "of", "a"));
    // [w5] a [w6] photo [w7] of [w8] a damaged [w9]
    assert_eq!(anomaly.len(), 10, "{anomaly:?}");
    assert_eq!((anomaly[7], anomaly[8]), ("a", "damaged"));
    let other_seed = String::from_utf8(ok(&["prompts", "--seed", "8", "--pairs", "1"]).stdout).unwrap();
    assert_ne!(other_seed.lines().nth(1), Some(all[1]));
}

#[test]
fn prompts_parquet_is_readable_by_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.parquet");
    ok(&["prompts", "--seed", "1", "--pairs", "3", "--out", out.to_str().unwrap()]);
    let got = py(
        "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); \
         print(t.num_rows, ','.join(t.column_names), t.column('label').to_pylist())",
        &[out.to_str().unwrap()],
    );
    assert_eq!(got.trim(), "6 pair_id,seed,label,text [0, 1, 0, 1, 0, 1]");
}

#[test]
fn bad_prompt_arguments_exit_2_with_reason() {
    let out = rwclip(&["prompts", "--seed", "0", "--pairs", "3", "--min-len", "9", "--max-len", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("len"), "{}", stderr(&out));
}

const ONE_POINT: &str = "pairs = 300\nnormal_word = \"a\"\nanomaly_word = \"a damaged\"";

fn write_job(dir: &Path, body_extra: &str, output: &str) -> PathBuf {
    write_job_with(dir, ONE_POINT, "[0, 1]", body_extra, output)
}

fn write_job_with(dir: &Path, prompts: &str, seeds: &str, body_extra: &str, output: &str) -> PathBuf {
    let job = format!(
        r#"
name = "e2e"
output = "{output}"
[model]
preset = "rwclip-tiny"
device = "cpu"
[dataset]
kind = "mvtec"
root = "data"
[dataset.synth]
categories = ["carpet_like", "bottle_like"]
test_good = 4
test_defective = 4
train_good = 1
[prompts]
{prompts}
min_len = 5
max_len = 10
[training]
seeds = {seeds}
[training.fnn]
hidden = [32, 32, 32]
dropout = 0.5
epochs = 2
pairs_per_batch = 64
lr = 1e-3
weight_decay = 1e-4
lr_decay = 0.1
decay_after_epochs = 1
{body_extra}
"#
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, job).unwrap();
    path
}

/// Committed parts named `part` of shards of `kind` (docs/artifacts.md,
/// "Shard layout"), sorted: each shard's manifest.json lists its parts
/// (under the attempt that committed first).
fn shard_parts(run: &Path, kind: &str, part: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = committed_parts(run)
        .into_iter()
        .filter(|(shard, p)| shard.starts_with(&format!("{kind}-")) && p.file_name().unwrap() == part)
        .map(|(_, p)| p)
        .collect();
    found.sort();
    found
}

/// (shard id, part path) of every committed part under `run`/shards.
fn committed_parts(run: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(run.join("shards")).unwrap() {
        let dir = dir.unwrap().path();
        let shard = dir.file_name().unwrap().to_str().unwrap().to_string();
        let manifest = dir.join("manifest.json");
        assert!(manifest.is_file(), "{} has no committed manifest", dir.display());
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        for key in manifest["parts"].as_array().unwrap() {
            let path = run.join(key.as_str().unwrap());
            assert!(path.is_file(), "{shard}: committed part {} is missing", path.display());
            out.push((shard.clone(), path));
        }
    }
    out
}

/// Every committed part keyed by (shard, file name): two runs commit under
/// different attempt ids, so this is what must be identical between them.
fn committed_by_name(run: &Path) -> std::collections::BTreeMap<(String, String), PathBuf> {
    committed_parts(run)
        .into_iter()
        .map(|(shard, p)| ((shard, p.file_name().unwrap().to_str().unwrap().to_string()), p))
        .collect()
}

/// (N, M) from `rwclip run`'s stderr line
/// "rwclip: job ID: N shards, M already committed; K worker processes".
fn shard_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("rwclip: job ") && l.contains(" already committed"))
        .unwrap_or_else(|| panic!("no shard counts in:\n{stderr}"));
    let counts: Vec<u64> = line
        .rsplit_once(": ")
        .unwrap()
        .1
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    (counts[0], counts[1])
}

fn one_part(run: &Path, kind: &str, part: &str) -> PathBuf {
    let mut all = shard_parts(run, kind, part);
    assert_eq!(all.len(), 1, "expected one {kind} shard with {part}: {all:?}");
    all.remove(0)
}

#[test]
fn run_writes_every_artifact_and_is_bit_identical_when_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "out-a");
    let out = ok(&["run", job.to_str().unwrap()]);
    let table = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(table.contains("AUROC") && table.contains("CLIP + ours") && table.contains("object known"), "{table}");
    assert!(stderr(&out).contains("RANDOMLY INITIALISED"), "{}", stderr(&out));
    // Plain progress lines (stderr is not a terminal), one per stage.
    let e = stderr(&out);
    let progress = e.lines().filter(|l| l.starts_with("rwclip: progress: ")).last().unwrap_or_else(|| panic!("{e}"));
    for stage in ["text", "image", "trial", "aggregate"] {
        assert!(progress.contains(&format!("{stage} ")), "{progress}");
    }
    let (total, already) = shard_counts(&e);
    assert_eq!(already, 0, "{e}");
    assert!(progress.ends_with("aggregate 1/1") && total > 4, "{progress}");

    let a = dir.path().join("out-a");
    // The job's results are published at its output, next to the store.
    for f in ["job.toml", "results.parquet", "results.csv", "results.md"] {
        assert!(a.join(f).is_file(), "no {f} in {}", a.display());
    }
    assert_eq!(std::fs::read(a.join("results.parquet")).unwrap(), std::fs::read(one_part(&a, "aggregate", "results.parquet")).unwrap());
    assert!(!shard_parts(&a, "image", "image_embeddings.parquet").is_empty(), "no image shards");
    assert!(!shard_parts(&a, "text", "text_embeddings.parquet").is_empty(), "no text shards");
    for part in ["fnn.safetensors", "scores-object-unknown.parquet", "scores-object-known.parquet", "metrics.parquet"] {
        assert_eq!(shard_parts(&a, "trial", part).len(), 2, "one {part} per seed");
    }
    for part in ["metrics.parquet", "results.parquet", "results.csv", "results.md"] {
        one_part(&a, "aggregate", part);
    }

    // pyarrow reads the artifacts and sees what they hold.
    let texts = shard_parts(&a, "text", "text_embeddings.parquet");
    let images = shard_parts(&a, "image", "image_embeddings.parquet");
    let got = py(
        "import sys, pyarrow.parquet as pq\n\
         te = pq.read_table(sys.argv[1])\n\
         ie = sum(pq.read_table(p).num_rows for p in sys.argv[4].split(','))\n\
         m = pq.read_table(sys.argv[2]).to_pylist()\n\
         s = pq.read_table(sys.argv[3]).to_pylist()\n\
         print(te.schema.field('embedding').type, ie)\n\
         print(sorted({r['seed'] for r in m}), sorted({r['score'] for r in m}))\n\
         print(all(r['n_seeds'] == 2 for r in s))\n",
        &[
            texts[0].to_str().unwrap(),
            one_part(&a, "aggregate", "metrics.parquet").to_str().unwrap(),
            one_part(&a, "aggregate", "results.parquet").to_str().unwrap(),
            &images.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>().join(","),
        ],
    );
    let lines: Vec<&str> = got.lines().collect();
    // 2 categories x (4 good + 4 per each of the 3 synthetic defect types).
    assert_eq!(lines[0], "fixed_size_list<item: float not null>[64] 32", "{got}");
    assert_eq!(lines[1], "[0, 1] ['clip', 'clip+ours', 'ours']", "{got}");
    assert_eq!(lines[2], "True", "{got}");

    // The same job again into another directory: bit-identical shards
    // (embeddings, checkpoints, scores, metrics, results).
    let job_b = write_job(dir.path(), "", "out-b");
    ok(&["run", job_b.to_str().unwrap()]);
    let b = dir.path().join("out-b");
    let (parts_a, parts_b) = (committed_by_name(&a), committed_by_name(&b));
    assert_eq!(parts_a.keys().collect::<Vec<_>>(), parts_b.keys().collect::<Vec<_>>(), "the two runs committed different shards");
    for (key, x) in &parts_a {
        assert_eq!(std::fs::read(x).unwrap(), std::fs::read(&parts_b[key]).unwrap(), "{key:?} differs");
    }

    // `rwclip metrics` on a scores file agrees with scikit-learn.
    let scores = &shard_parts(&a, "trial", "scores-object-unknown.parquet")[0];
    let json = ok(&["metrics", "--scores", scores.to_str().unwrap(), "--score-column", "s_combined", "--json"]).stdout;
    let ours: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let sk = py(
        "import sys, json, pyarrow.parquet as pq\n\
         from sklearn.metrics import roc_auc_score\n\
         t = pq.read_table(sys.argv[1]).to_pydict()\n\
         cats = sorted(set(t['category']))\n\
         out = {}\n\
         for c in cats:\n\
         \x20   idx = [i for i, x in enumerate(t['category']) if x == c]\n\
         \x20   out[c] = roc_auc_score([t['label'][i] for i in idx], [t['s_combined'][i] for i in idx])\n\
         print(json.dumps(out))\n",
        &[scores.to_str().unwrap()],
    );
    let sk: serde_json::Value = serde_json::from_str(sk.trim()).unwrap();
    for c in ours["categories"].as_array().unwrap() {
        let name = c["category"].as_str().unwrap();
        let a = c["auroc"].as_f64().unwrap();
        let b = sk[name].as_f64().unwrap();
        assert!((a - b).abs() < 1e-12, "{name}: ours {a} sklearn {b}");
    }
}

#[test]
fn run_executes_a_sweep_grid_and_reruns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = "pairs = [20, 40]\nword_pairs = [[\"a\", \"a damaged\"], [\"flawless\", \"broken\"]]";
    let job = write_job_with(dir.path(), prompts, "[0, 1]", "", "out");
    let out = ok(&["run", job.to_str().unwrap()]);
    let table = String::from_utf8(out.stdout).unwrap();
    // One Table 1 per grid point.
    assert_eq!(table.matches("CLIP + ours").count(), 4 * 2, "{table}");
    assert!(table.contains("Np=40 \"flawless\"/\"broken\""), "{table}");

    let run = dir.path().join("out");
    assert_eq!(shard_parts(&run, "trial", "fnn.safetensors").len(), 2 * 2 * 2, "one trial per Np x words x seed");
    // results.parquet: per config (setup x grid point), 2 categories + mean,
    // 3 score kinds, each over both seeds.
    let got = py(
        "import sys, collections, pyarrow.parquet as pq\n\
         rows = pq.read_table(sys.argv[1]).to_pylist()\n\
         per = collections.Counter(r['config'] for r in rows)\n\
         print(len(per), sorted(set(per.values())), all(r['n_seeds'] == 2 for r in rows))\n",
        &[one_part(&run, "aggregate", "results.parquet").to_str().unwrap()],
    );
    assert_eq!(got.trim(), "8 [9] True", "{got}");

    // Content-addressed shards: the second run finds every shard committed
    // and prints the same table.
    let before = committed_by_name(&run);
    let again = ok(&["run", job.to_str().unwrap()]);
    let (total, already) = shard_counts(&stderr(&again));
    assert_eq!(already, total, "{}", stderr(&again));
    assert_eq!(committed_by_name(&run), before, "the second run committed new parts");
    assert_eq!(String::from_utf8(again.stdout).unwrap(), table, "the second run printed another table");
}

#[test]
fn malformed_job_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "[scoring]\ntemprature = 0.01", "out");
    let out = rwclip(&["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("job.toml") && e.contains("temprature"), "{e}");
    // Rejected before any work: no dataset synthesised, no store created.
    assert!(!dir.path().join("data").exists() && !dir.path().join("out").exists(), "{e}");

    std::fs::write(&job, "name = \n").unwrap();
    let out = rwclip(&["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
}

#[test]
fn run_needs_at_least_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "out");
    let out = rwclip(&["run", job.to_str().unwrap(), "--workers", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--workers"), "{}", stderr(&out));
}

#[test]
fn run_fails_fast_when_every_worker_process_dies() {
    let dir = tempfile::tempdir().unwrap();
    // No machine has a 100th GPU: every worker exits at start, naming it.
    let job = write_job(dir.path(), "", "out");
    std::fs::write(&job, std::fs::read_to_string(&job).unwrap().replace("device = \"cpu\"", "device = \"cuda:99\"")).unwrap();
    let started = std::time::Instant::now();
    let out = rwclip(&["run", job.to_str().unwrap(), "--workers", "2"]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("every worker process exited"), "{e}");
    for worker in ["local-worker-1", "local-worker-2"] {
        assert!(e.contains(worker), "{e}");
    }
    assert!(e.contains("cuda:99"), "the workers' own error is not reported:\n{e}");
    // Long before any lease timeout or worker grace period.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn unreadable_image_exits_3_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "out");
    // Materialise the synthetic dataset, then corrupt one image.
    ok(&["dataset", "synth", "--out", dir.path().join("data").to_str().unwrap(), "--categories", "carpet_like", "--test-good", "2", "--test-defective", "2"]);
    let victim = dir.path().join("data/carpet_like/test/good").read_dir().unwrap().next().unwrap().unwrap().path();
    std::fs::write(&victim, b"not an image").unwrap();
    let out = rwclip(&["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let name = victim.file_name().unwrap().to_str().unwrap();
    let e = stderr(&out);
    assert!(e.contains(name), "{e}");
    // The per-shard report: a corrupt image fails its shard at once.
    assert!(e.contains("(image), 1 attempt: fatal: "), "{e}");
}

#[test]
fn embed_text_and_images_write_unnormalised_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("p.txt");
    std::fs::write(&prompts, "a photo of a object\n\na photo of a damaged object\n").unwrap();
    let text_out = dir.path().join("t.parquet");
    let out = ok(&["embed", "text", "--model", "rwclip-tiny", "--device", "cpu", "--input", prompts.to_str().unwrap(), "--out", text_out.to_str().unwrap()]);
    assert!(stderr(&out).contains("RANDOMLY INITIALISED"));
    let data = dir.path().join("data");
    ok(&["dataset", "synth", "--out", data.to_str().unwrap(), "--categories", "tile_like", "--test-good", "2", "--test-defective", "1"]);
    let img_out = dir.path().join("i.parquet");
    ok(&["embed", "images", "--model", "rwclip-tiny", "--device", "cpu", "--input", data.to_str().unwrap(), "--out", img_out.to_str().unwrap()]);
    let got = py(
        "import sys, numpy as np, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1]).to_pydict(); i = pq.read_table(sys.argv[2]).to_pydict()\n\
         norms = [float(np.linalg.norm(e)) for e in t['embedding'] + i['embedding']]\n\
         print(t['pair_id'], t['label'], len(i['path']), sorted(set(i['label'])), any(abs(n - 1) > 1e-3 for n in norms))\n",
        &[text_out.to_str().unwrap(), img_out.to_str().unwrap()],
    );
    // 2 good + 1 per each of the 3 synthetic defect types.
    assert_eq!(got.trim(), "[0, 2] [None, None] 5 [0, 1] True");
}

#[test]
fn metrics_rejects_single_class_and_missing_columns() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.parquet");
    py(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         pq.write_table(pa.table({'label': pa.array([0, 0, 0], pa.int64()), 'score': [0.1, 0.2, 0.3]}), sys.argv[1])",
        &[f.to_str().unwrap()],
    );
    let out = rwclip(&["metrics", "--scores", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("no anomalous (label 1) sample"), "{}", stderr(&out));
    let out = rwclip(&["metrics", "--scores", f.to_str().unwrap(), "--score-column", "s_fnn"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("s_fnn"), "{}", stderr(&out));
}

#[test]
fn run_and_metrics_work_against_a_real_s3_server() {
    let server = MotoServer::start();
    server.create_bucket("rwclip-e2e");
    let dir = tempfile::tempdir().unwrap();
    let job = write_job(dir.path(), "", "s3://rwclip-e2e/runs/one");
    let with_s3 = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rwclip"));
        cmd.args(args);
        for (k, v) in server.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("run rwclip")
    };
    let out = with_s3(&["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("s3://rwclip-e2e/runs/one"));

    // pyarrow reads the aggregate's results straight from the S3 server and
    // finds a trial's scores under the shard layout.
    let got = py(
        "import sys, pyarrow.parquet as pq, pyarrow.fs as fs\n\
         s3 = fs.S3FileSystem(endpoint_override=sys.argv[1], access_key='testing', secret_key='testing', region='us-east-1', scheme='http')\n\
         keys = sorted(f.path for f in s3.get_file_info(fs.FileSelector('rwclip-e2e/runs/one/shards', recursive=True)))\n\
         res = [k for k in keys if k.startswith('rwclip-e2e/runs/one/shards/aggregate-') and k.endswith('/results.parquet')]\n\
         t = pq.read_table('rwclip-e2e/runs/one/results.parquet', filesystem=s3)\n\
         print(len(res), t.num_rows > 0, t.schema.metadata[b'rwclip.artifact'].decode())\n\
         print([k for k in keys if k.endswith('/scores-object-known.parquet')][0])\n",
        &[&server.endpoint()],
    );
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], "1 True summary", "{got}");

    let scores = format!("s3://{}", lines[1]);
    let metrics = with_s3(&["metrics", "--scores", &scores, "--score-column", "s_fnn", "--json"]);
    assert!(metrics.status.success(), "{}", stderr(&metrics));
    let report: serde_json::Value = serde_json::from_slice(&metrics.stdout).unwrap();
    assert_eq!(report["images"], 32);

    // A missing object names its full URI and exits with the store code.
    let missing = with_s3(&["metrics", "--scores", "s3://rwclip-e2e/runs/one/nope.parquet"]);
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("s3://rwclip-e2e/runs/one/nope.parquet"), "{}", stderr(&missing));
}

#[test]
fn dataset_inspect_prints_what_a_job_would_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = data.to_str().unwrap();
    ok(&["dataset", "synth", "--out", root, "--categories", "weave,granite", "--test-good", "2", "--test-defective", "1"]);
    let out = ok(&["dataset", "inspect", "--kind", "mvtec", "--root", root, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The built-in defect types are three, one defective image each.
    let per_category = serde_json::json!({"normal": 2, "anomaly": 3});
    assert_eq!(json["kind"], "mvtec");
    assert_eq!(json["split"], "test");
    assert_eq!(json["images"], 10);
    assert_eq!(json["categories"], serde_json::json!({"granite": per_category, "weave": per_category}));
    assert!(json["references"].as_u64().unwrap() > 0, "{json}");
    let text = String::from_utf8(ok(&["dataset", "inspect", "--kind", "mvtec", "--root", root]).stdout).unwrap();
    assert!(text.contains("10 images") && text.lines().any(|l| l.split_whitespace().eq(["weave", "2", "3"])), "{text}");

    let bad = rwclip(&["dataset", "inspect", "--kind", "imagenet", "--root", root]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let missing = rwclip(&["dataset", "inspect", "--kind", "visa", "--root", root]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("split_csv/1cls.csv not found"), "{}", stderr(&missing));
}

#[test]
fn dataset_synth_writes_each_layout_exactly_and_inspect_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--categories", "candle,pcb1", "--test-good", "2", "--test-defective", "1"];
    for (kind, images) in [("visa", None), ("sewer-ml", Some("images"))] {
        let root = dir.path().join(kind);
        let root_s = root.to_str().unwrap();
        let mut synth = vec!["dataset", "synth", "--kind", kind, "--out", root_s];
        synth.extend(args);
        ok(&synth);
        let mut inspect = vec!["dataset", "inspect", "--kind", kind, "--root", root_s, "--json"];
        if let Some(images) = images {
            inspect.extend(["--images", images]);
        }
        let json: serde_json::Value = serde_json::from_slice(&ok(&inspect).stdout).unwrap();
        match kind {
            "visa" => {
                // Three built-in defect types, one image each, per object.
                let per_object = serde_json::json!({"normal": 2, "anomaly": 3});
                assert_eq!(json["categories"], serde_json::json!({"candle": per_object, "pcb1": per_object}), "{json}");
                assert!(json["references"].as_u64().unwrap() > 0, "train normals are the few-shot pool: {json}");
                let csv = std::fs::read_to_string(root.join("split_csv/1cls.csv")).unwrap();
                assert_eq!(csv.lines().next(), Some("object,split,label,image,mask"));
                let jpeg = std::fs::read(root.join("candle/Data/Images/Anomaly/000.JPG")).unwrap();
                assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "VisA images are JPEG");
                assert!(root.join("candle/Data/Masks/Anomaly/000.png").is_file());
            }
            _ => {
                assert_eq!((json["split"].as_str(), json["images"].as_u64()), (Some("val"), Some(5)), "{json}");
                assert_eq!(json["categories"], serde_json::json!({"sewer": {"normal": 2, "anomaly": 3}}));
                let header = std::fs::read_to_string(root.join("SewerML_Val.csv")).unwrap();
                assert!(header.starts_with("Filename,WaterLevel,VA,RB,OB,PF,DE,FS,IS,RO,IN,AF,BE,FO,GR,PH,PB,OS,OP,OK,ND,Defect\n"), "{header}");
                let folders = std::fs::read_dir(root.join("images")).unwrap().count();
                assert!(folders > 1, "images are spread over several folders");
            }
        }
    }
}
