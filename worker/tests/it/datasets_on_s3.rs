//! Datasets on S3: a coordinator and workers that see nothing but S3
//! settings and the token produce, bit for bit, the results of the same job
//! over local directories; and the Kubernetes example job runs the way
//! `deploy/k8s/` configures its pods (no shared volume).

use std::path::Path;
use std::time::Duration;

use rwclip_artifacts::{MetricRow, ParquetRow, Store};
use rwclip_test_support::cluster::Cluster;
use rwclip_test_support::moto::{MotoServer, ACCESS_KEY, REGION, SECRET_KEY};
use rwclip_test_support::python;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");
const JOB_BUDGET: Duration = Duration::from_secs(300);

fn job(output: &str, root: impl Fn(&str) -> String) -> String {
    let synth = "[datasets.synth]\ncategories = [\"weave\", \"granite\"]\ntrain_good = 2\ntest_good = 2\ntest_defective = 1\nimage_size = 64\n";
    format!(
        r#"name = "s3-datasets"
output = "{output}"

[model]
preset = "rwclip-tiny"
device = "cpu"
text_batch_size = 128
image_batch_size = 4

[[datasets]]
name = "MVTec-AD"
kind = "mvtec"
root = "{mvtec}"
{synth}
[[datasets]]
name = "VisA"
kind = "visa"
root = "{visa}"
{synth}
[[datasets]]
name = "Sewer-ML"
kind = "sewer-ml"
root = "{sewer}"
setups = ["unknown"]
{synth}
[prompts]
pairs = 64

[training]
seeds = [0, 1]

[training.fnn]
hidden = [16]
epochs = 1
pairs_per_batch = 16

[scoring]
setups = ["unknown", "known", "1-shot"]
"#,
        mvtec = root("mvtec"),
        visa = root("visa"),
        sewer = root("sewer"),
    )
}

fn s3(server: &MotoServer, uri: &str) -> Store {
    Store::open_with_options(
        uri,
        &[("aws_endpoint", &server.endpoint()), ("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY), ("aws_region", REGION)],
    )
    .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Submits `job_text` to `cluster` with 2 workers and waits for success.
fn run(cluster: &mut Cluster, job_text: &str) -> String {
    let path = cluster.dir.path().join("job.toml");
    std::fs::write(&path, job_text).unwrap();
    cluster.add_worker();
    cluster.add_worker();
    let id = cluster.submit(&path);
    cluster.wait_succeeded(&id, JOB_BUDGET);
    id
}

/// Every file below `dir`, as sorted (relative path, bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_dataset_on_s3_equals_the_local_directory_run_bit_for_bit() {
    let server = MotoServer::start();
    server.create_bucket("data");

    // On S3: `rwclip submit` synthesises each tree straight into its empty
    // prefix (staged in a temporary directory it removes), so no process
    // of this run can read the images from a file system.
    let mut remote = Cluster::start(Path::new(BIN), "s3://data/store", &server.env());
    run(&mut remote, &job("s3://data/out", |d| format!("s3://data/datasets/{d}")));
    let s3_out = s3(&server, "s3://data/out");
    let s3_csv = String::from_utf8(block_on(s3_out.get("results.csv")).unwrap().to_vec()).unwrap();
    let s3_md = String::from_utf8(block_on(s3_out.get("results.md")).unwrap().to_vec()).unwrap();
    let coordinator_log = remote.coordinator.as_ref().unwrap().log();
    drop(remote);

    // The same job over local directories (synthesised the same way).
    let tmp = tempfile::tempdir().unwrap();
    let (data, local_store, local_out) = (tmp.path().join("data"), tmp.path().join("store"), tmp.path().join("out"));
    let mut local = Cluster::start(Path::new(BIN), local_store.to_str().unwrap(), &[]);
    run(&mut local, &job(local_out.to_str().unwrap(), |d| data.join(d).to_str().unwrap().to_string()));
    let local_csv = std::fs::read_to_string(local_out.join("results.csv")).unwrap();
    let local_md = std::fs::read_to_string(local_out.join("results.md")).unwrap();

    // The trees on S3 are the local trees, file for file.
    for d in ["mvtec", "visa", "sewer"] {
        let store = s3(&server, &format!("s3://data/datasets/{d}"));
        let mut keys = block_on(store.list("")).unwrap();
        keys.sort();
        let stored: Vec<(String, Vec<u8>)> = keys.iter().map(|k| (k.clone(), block_on(store.get(k)).unwrap().to_vec())).collect();
        assert_eq!(stored, files(&data.join(d)), "{d} on S3 differs from the local tree");
    }

    // Every summary number to the last bit, every per-seed metric too.
    assert_eq!(s3_csv, local_csv);
    assert!(s3_csv.lines().count() > 20, "{s3_csv}");
    for name in ["MVTec-AD", "VisA", "Sewer-ML"] {
        assert!(s3_csv.contains(&format!("\n\"{name}\",")), "{name} missing:\n{s3_csv}");
    }
    assert_eq!(s3_md, local_md);
    let per_seed = |store: &Store| -> Vec<MetricRow> {
        let keys = block_on(store.list("shards")).unwrap();
        let mut rows: Vec<MetricRow> = keys
            .iter()
            .filter(|k| k.starts_with("shards/aggregate-") && k.ends_with("/metrics.parquet"))
            .flat_map(|k| MetricRow::from_parquet(&block_on(store.get(k)).unwrap()).unwrap())
            .collect();
        rows.sort_by(|a, b| (&a.dataset, &a.config, a.seed, &a.category, &a.score).cmp(&(&b.dataset, &b.config, b.seed, &b.category, &b.score)));
        rows
    };
    let remote_rows = per_seed(&s3(&server, "s3://data/store"));
    assert!(!remote_rows.is_empty());
    assert_eq!(remote_rows, per_seed(&Store::open(local_store.to_str().unwrap()).unwrap()));
    assert!(!coordinator_log.contains("/datasets/"), "the coordinator logged a dataset path:\n{coordinator_log}");
}

/// The `job.toml` of `deploy/k8s/config.yaml`'s `rwclip-job` ConfigMap.
fn k8s_job() -> String {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s/config.yaml");
    python::run(
        "import sys, yaml\n\
         docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d['metadata']['name'] == 'rwclip-job']\n\
         print(docs[0]['data']['job.toml'])",
        &[config],
    )
}

#[test]
fn the_kubernetes_example_runs_with_only_s3_settings_and_the_token() {
    let server = MotoServer::start();
    // The bucket the ConfigMaps name (RWCLIP_STORE and the job's URIs).
    server.create_bucket("rwclip");
    let text = k8s_job();
    assert!(text.contains("s3://rwclip/data/") && text.contains("[datasets.synth]"), "{text}");
    // Every process gets the S3 settings (the ConfigMap and Secret's AWS_*)
    // and the token file, nothing else: the coordinator's store is
    // RWCLIP_STORE, and no directory is shared with the workers.
    let mut cluster = Cluster::start(Path::new(BIN), "s3://rwclip/store", &server.env());
    let id = run(&mut cluster, &text.replace("device = \"auto\"", "device = \"cpu\""));
    let out = s3(&server, "s3://rwclip/runs/k8s-smoke");
    let md = String::from_utf8(block_on(out.get("results.md")).unwrap().to_vec()).unwrap();
    assert!(md.contains("| 0-shot, object unknown | CLIP + ours |"), "{md}");
    let dataset = block_on(s3(&server, "s3://rwclip/data/mvtec-synth").list("")).unwrap();
    assert!(dataset.iter().any(|k| k.contains("/test/")), "the synthesised dataset is on S3: {dataset:?}");
    // Nothing but the job file, the token and logs was written locally.
    let local: Vec<String> = files(cluster.dir.path()).into_iter().map(|(p, _)| p).filter(|p| !p.ends_with(".log")).collect();
    assert_eq!(local, ["job.toml", "token"], "job {id} wrote local files");
}
