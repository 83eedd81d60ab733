//! `deploy/`: the Kubernetes manifests, the Slurm script and the Dockerfile
//! agree with the `rwclip` CLI they drive (every flag they pass is one the
//! subcommand accepts), the manifests parse and wire the pieces together, and
//! the image pins the torch the workspace is built against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rwclip_job::{Job, PathChecks};
use rwclip_test_support::python::run as py;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every YAML document under deploy/k8s (pyyaml), keyed "file: Kind/name".
fn manifests() -> BTreeMap<String, Value> {
    let dir = deploy_dir().join("k8s");
    let json = py(
        "import sys, json, yaml, pathlib\n\
         out = {}\n\
         for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')):\n\
         \x20   for i, d in enumerate(yaml.safe_load_all(p.read_text())):\n\
         \x20       if d is not None:\n\
         \x20           out[f\"{p.name}: {d.get('kind')}/{d.get('metadata', {}).get('name', i)}\"] = d\n\
         print(json.dumps(out))",
        &[dir.to_str().expect("utf-8 path")],
    );
    serde_json::from_str(&json).expect("manifests as JSON")
}

fn find<'a>(all: &'a BTreeMap<String, Value>, kind: &str, name: &str) -> &'a Value {
    all.values()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name} in deploy/k8s: {:?}", all.keys()))
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn args(workload: &Value) -> Vec<String> {
    container(workload)["args"]
        .as_array()
        .unwrap_or_else(|| panic!("no args: {workload}"))
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// `rwclip SUBCOMMAND --help`.
fn help(subcommand: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rwclip"))
        .args([subcommand, "--help"])
        .output()
        .expect("run rwclip");
    assert!(out.status.success(), "rwclip {subcommand} --help failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails naming the first `--flag` in `used` that `rwclip SUBCOMMAND` does not define.
fn assert_flags_exist(subcommand: &str, used: &[String], origin: &str) {
    let help = help(subcommand);
    for flag in used.iter().filter(|a| a.starts_with("--")) {
        let defined = help
            .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == '<')
            .any(|word| word == flag);
        assert!(defined, "{origin} passes {flag} to `rwclip {subcommand}`, which has no such flag:\n{help}");
    }
}

#[test]
fn k8s_manifests_parse_and_are_namespace_less() {
    let all = manifests();
    let mut files = std::collections::BTreeSet::new();
    for (key, doc) in all.iter().filter(|(_, d)| d["kind"] != "Kustomization") {
        assert!(doc["apiVersion"].is_string() && doc["metadata"]["name"].is_string(), "{key}: {doc}");
        assert!(doc["metadata"].get("namespace").is_none(), "{key} pins a namespace");
        files.insert(key.split(':').next().expect("file name").to_string());
    }
    assert!(all.len() >= 9, "{:?}", all.keys());
    // Everything lives on S3: no pod mounts a shared volume.
    for (key, doc) in &all {
        let volumes = &doc["spec"]["template"]["spec"]["volumes"];
        for v in volumes.as_array().into_iter().flatten() {
            assert!(v.get("persistentVolumeClaim").is_none(), "{key} mounts a volume claim: {v}");
        }
        assert_ne!(doc["kind"], "PersistentVolumeClaim", "{key}: datasets are read from S3, not a shared volume");
    }
    // `kubectl apply -k deploy/k8s` applies every manifest in the folder.
    let kustomization = all
        .iter()
        .find(|(k, _)| k.starts_with("kustomization.yaml:"))
        .map(|(_, d)| d)
        .expect("deploy/k8s/kustomization.yaml");
    let listed: std::collections::BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource path").to_string())
        .collect();
    assert_eq!(listed, files);
}

#[test]
fn k8s_coordinator_serves_grpc_on_50051_with_health_probes_and_a_token() {
    let all = manifests();
    let deploy = find(&all, "Deployment", "rwclip-coordinator");
    let c = container(deploy);
    let a = args(deploy);
    assert_eq!(a[0], "coordinator");
    assert!(a.windows(2).any(|w| w == ["--bind", "0.0.0.0:50051"]), "{a:?}");
    assert!(a.windows(2).any(|w| w == ["--token-file", "/etc/rwclip/token/token"]), "{a:?}");
    assert_flags_exist("coordinator", &a, "deploy/k8s/coordinator.yaml");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["grpc"]["port"], 50051, "{probe}: {c}");
    }
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate", "two coordinators must never share a store");
    let service = find(&all, "Service", "rwclip-coordinator");
    assert_eq!(service["spec"]["ports"][0]["port"], 50051);
    assert_eq!(service["spec"]["selector"], deploy["spec"]["template"]["metadata"]["labels"]);
    let token = find(&all, "Secret", "rwclip-token");
    assert!(token["stringData"]["token"].as_str().is_some_and(|t| t.contains("not-a-real-token")));
}

#[test]
fn k8s_workers_take_one_gpu_each_and_reach_the_coordinator_service() {
    let all = manifests();
    let workers = find(&all, "Deployment", "rwclip-worker");
    let a = args(workers);
    assert_eq!(a[0], "worker");
    assert!(a.windows(2).any(|w| w == ["--coordinator", "http://rwclip-coordinator:50051"]), "{a:?}");
    assert!(a.windows(2).any(|w| w == ["--device", "cuda:0"]), "{a:?}");
    assert_flags_exist("worker", &a, "deploy/k8s/workers.yaml");
    let c = container(workers);
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], 1, "{c}");
    // S3 settings come from the standard AWS_* variables: a ConfigMap and a Secret.
    let env_from: Vec<&str> = c["envFrom"]
        .as_array()
        .expect("envFrom")
        .iter()
        .filter_map(|s| s.get("secretRef").or(s.get("configMapRef")).and_then(|r| r["name"].as_str()))
        .collect();
    assert_eq!(env_from, ["rwclip-s3", "rwclip-s3"]);
    let s3_secret = find(&all, "Secret", "rwclip-s3");
    assert!(s3_secret["stringData"]["AWS_SECRET_ACCESS_KEY"].is_string());
    let s3_config = find(&all, "ConfigMap", "rwclip-s3");
    assert!(s3_config["data"]["AWS_REGION"].is_string());
    // The drain must fit in the kubelet's grace period.
    let drain: u64 = a[a.iter().position(|x| x == "--drain-timeout").expect("--drain-timeout") + 1].parse().expect("seconds");
    let grace = workers["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().expect("grace period");
    assert!(grace > drain, "grace {grace} s <= drain {drain} s");
}

#[test]
fn k8s_submit_job_waits_for_a_valid_job_file() {
    let all = manifests();
    let submit = find(&all, "Job", "rwclip-submit");
    let a = args(submit);
    assert_eq!((a[0].as_str(), a[1].as_str()), ("submit", "/etc/rwclip/job/job.toml"));
    assert!(a.contains(&"--wait".to_string()), "{a:?}");
    assert_flags_exist("submit", &a, "deploy/k8s/submit-job.yaml");
    let job_map = find(&all, "ConfigMap", "rwclip-job");
    let text = job_map["data"]["job.toml"].as_str().expect("job.toml in the rwclip-job ConfigMap");
    let job = Job::parse_with(text, Path::new("/etc/rwclip/job/job.toml"), PathChecks::Skip)
        .unwrap_or_else(|e| panic!("the example job in deploy/k8s/config.yaml is invalid: {e}"));
    for d in job.datasets() {
        assert_eq!(d.root.as_ref().and_then(|r| r.scheme()), Some("s3"), "{}: the k8s job's datasets are on S3", d.key);
    }
}

#[test]
fn slurm_script_is_valid_bash_and_uses_existing_flags() {
    let script = deploy_dir().join("slurm/rwclip.sbatch");
    let out = Command::new("bash").arg("-n").arg(&script).output().expect("run bash -n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&script).expect("read rwclip.sbatch");
    // Each `"$RWCLIP_BIN" SUBCOMMAND ...` invocation, continuation lines joined.
    let joined = text.replace("\\\n", " ");
    let mut seen = Vec::new();
    for line in joined.lines().filter(|l| l.trim_start().starts_with("\"$RWCLIP_BIN\" ")) {
        let words: Vec<String> = line.split_whitespace().skip(1).map(str::to_string).collect();
        assert_flags_exist(&words[0], &words, "deploy/slurm/rwclip.sbatch");
        seen.push(words[0].clone());
    }
    seen.sort();
    assert_eq!(seen, ["coordinator", "submit", "worker"]);
}

#[test]
fn dockerfile_pins_the_torch_the_workspace_builds_against() {
    let requirements = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/python-requirements.txt"))
        .expect("read tools/python-requirements.txt");
    let torch = requirements
        .lines()
        .find(|l| l.starts_with("torch=="))
        .expect("torch pin in tools/python-requirements.txt");
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("read deploy/Dockerfile");
    assert!(dockerfile.contains(&format!(" {torch} ")) || dockerfile.contains(&format!(" {torch}\n")), "deploy/Dockerfile does not install {torch}");
    assert!(dockerfile.contains("ENTRYPOINT [\"rwclip\"]"));
}
