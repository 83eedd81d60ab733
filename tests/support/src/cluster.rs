//! A real rwclip cluster on loopback for end-to-end and chaos tests: the
//! `rwclip coordinator` and `rwclip worker` binaries as child processes, a
//! blocking gRPC client to watch jobs, and a pyarrow snapshot of a store.
//!
//! Nothing is mocked and nothing can hang a test: every wait has a deadline
//! and panics with the tail of every process's stderr; every child is killed
//! when the [`Cluster`] is dropped (and, through `PR_SET_PDEATHSIG`, when the
//! thread that started it dies), so a failed test leaves no orphans.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_client::CoordinatorClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Short timings so failures are detected in seconds (heartbeat, lease
/// timeout, grace period), passed to every coordinator this harness starts.
pub const HEARTBEAT_INTERVAL_S: &str = "0.5";
pub const LEASE_TIMEOUT_S: &str = "3";
pub const WORKER_GRACE_S: &str = "20";

/// How many bytes of each log a panic message shows.
const LOG_TAIL: usize = 4000;

/// A child process whose stderr (and stdout) goes to a log file.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let file = File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let out = file.try_clone().expect("clone log file handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(file);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name: name.to_string(), child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log)
    }

    /// `None` while running.
    pub fn exit_code(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().expect("poll child").map(|s| s.code())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Waits for the process to exit; `None` when `timeout` passed first.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(code) = self.exit_code() {
                return Some(code);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Children die when the thread that spawned them dies (a panicking test
/// thread included), even if Drop never runs.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(LOG_TAIL);
    let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    &text[start..]
}

/// A free loopback port (bound then released; a race with another process
/// grabbing it is possible but harmless in practice on a test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A coordinator, its workers and their logs.
pub struct Cluster {
    bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub store: String,
    pub port: u16,
    pub token: String,
    pub token_file: PathBuf,
    env: Vec<(String, String)>,
    pub coordinator: Option<Proc>,
    pub workers: Vec<Proc>,
    /// Every process ever started, for panic messages (killed ones too).
    retired: Vec<Proc>,
    starts: usize,
    client: Option<Client>,
}

impl Cluster {
    /// Starts `rwclip coordinator` (the binary at `bin`) on a free loopback
    /// port with a fresh token, storing into `store`; `env` is given to every
    /// process (the moto AWS_* variables for S3 stores).
    pub fn start(bin: &Path, store: &str, env: &[(&str, String)]) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory for cluster logs");
        let token = format!("token-{}-{}", std::process::id(), free_port());
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).expect("write token file");
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir,
            store: store.to_string(),
            port: free_port(),
            token,
            token_file,
            env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            coordinator: None,
            workers: Vec::new(),
            retired: Vec::new(),
            starts: 0,
            client: None,
        };
        cluster.start_coordinator();
        cluster
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env_remove("RWCLIP_TOKEN");
        cmd
    }

    fn next_name(&mut self, role: &str) -> String {
        self.starts += 1;
        format!("{:02}-{role}", self.starts)
    }

    /// (Re)starts the coordinator on this cluster's port and store, and
    /// waits until it prints `listening on`.
    pub fn start_coordinator(&mut self) {
        assert!(self.coordinator.is_none(), "a coordinator is already running");
        let bind = format!("127.0.0.1:{}", self.port);
        let cmd = self.command(&[
            "coordinator",
            "--bind",
            &bind,
            "--store",
            &self.store.clone(),
            "--token-file",
            self.token_file.to_str().expect("utf-8 temp path"),
            "--heartbeat-interval",
            HEARTBEAT_INTERVAL_S,
            "--lease-timeout",
            LEASE_TIMEOUT_S,
            "--worker-grace",
            WORKER_GRACE_S,
        ]);
        let name = self.next_name("coordinator");
        let mut proc = Proc::spawn(&name, cmd, self.dir.path());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if proc.log().contains("listening on") {
                break;
            }
            if let Some(code) = proc.exit_code() {
                let log = proc.log();
                self.retired.push(proc);
                panic!("{name} exited with {code:?} before listening:\n{log}");
            }
            if Instant::now() > deadline {
                self.retired.push(proc);
                self.fail(&format!("{name} did not print `listening on` within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.coordinator = Some(proc);
    }

    /// SIGKILLs the coordinator (its store survives).
    pub fn kill_coordinator(&mut self) {
        let mut c = self.coordinator.take().expect("no coordinator running");
        c.kill();
        self.retired.push(c);
    }

    /// Starts one `rwclip worker --device cpu` with this cluster's token;
    /// returns its index in [`Cluster::workers`].
    pub fn add_worker(&mut self) -> usize {
        self.add_worker_with(&[])
    }

    pub fn add_worker_with(&mut self, extra: &[&str]) -> usize {
        let name = self.next_name("worker");
        let mut args = vec![
            "worker".to_string(),
            "--coordinator".to_string(),
            self.url(),
            "--device".to_string(),
            "cpu".to_string(),
            "--token-file".to_string(),
            self.token_file.to_string_lossy().into_owned(),
            "--name".to_string(),
            name.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.command(&args);
        self.workers.push(Proc::spawn(&name, cmd, self.dir.path()));
        self.workers.len() - 1
    }

    /// SIGKILLs worker `i` (it stays in the list, dead, so indices are stable).
    pub fn kill_worker(&mut self, i: usize) {
        self.workers[i].kill();
    }

    pub fn kill_all_workers(&mut self) {
        for w in &mut self.workers {
            w.kill();
        }
    }

    /// Runs `rwclip ARGS` to completion with this cluster's environment;
    /// panics (with all logs) when it takes longer than `timeout`.
    pub fn cli(&self, args: &[&str], timeout: Duration) -> Output {
        let mut cmd = self.command(args);
        cmd.current_dir(self.dir.path());
        run_with_deadline(cmd, timeout).unwrap_or_else(|| self.fail(&format!("`rwclip {args:?}` ran past {timeout:?}")))
    }

    /// `rwclip submit JOB --coordinator URL --token-file F`: the job id it
    /// prints on stdout.
    pub fn submit(&self, job: &Path) -> String {
        let out = self.cli(
            &["submit", job.to_str().expect("utf-8 job path"), "--coordinator", &self.url(), "--token-file", self.token_file.to_str().expect("utf-8 path")],
            Duration::from_secs(60),
        );
        if !out.status.success() {
            self.fail(&format!(
                "rwclip submit {} exited with {:?}:\nstdout:\n{}\nstderr:\n{}",
                job.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!id.is_empty() && !id.contains(char::is_whitespace), "rwclip submit printed no single job id: {id:?}");
        id
    }

    /// The gRPC client (connected lazily, so it survives coordinator restarts).
    pub fn client(&mut self) -> &mut Client {
        if self.client.is_none() {
            self.client = Some(Client::connect(&self.url(), Some(&self.token)));
        }
        self.client.as_mut().expect("just set")
    }

    /// Polls GetJob until `done(status)` holds; transport errors (a
    /// coordinator restarting) are retried until the deadline.
    pub fn wait_for(&mut self, job: &str, timeout: Duration, what: &str, done: impl Fn(&pb::JobStatus) -> bool) -> pb::JobStatus {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.client().get_job(job) {
                Ok(s) if done(&s) => return s,
                Ok(s) => last = format!("{s:?}"),
                Err(e) => last = format!("GetJob failed: {e}"),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.fail(&format!("job {job}: {what} not reached within {timeout:?}; last status: {last}"))
    }

    /// Waits for the job to end (succeeded, failed or cancelled).
    pub fn wait_finished(&mut self, job: &str, timeout: Duration) -> pb::JobStatus {
        self.wait_for(job, timeout, "a final state", |s| {
            s.state != pb::JobState::Running as i32 && s.state != pb::JobState::Unspecified as i32
        })
    }

    /// Waits for success; panics with the status and logs otherwise.
    pub fn wait_succeeded(&mut self, job: &str, timeout: Duration) -> pb::JobStatus {
        let s = self.wait_finished(job, timeout);
        if s.state != pb::JobState::Succeeded as i32 {
            self.fail(&format!("job {job} did not succeed: {s:?}"));
        }
        s
    }

    /// Every process's log tail, for failure messages.
    pub fn logs(&self) -> String {
        let mut all: Vec<&Proc> = self.retired.iter().chain(&self.coordinator).chain(&self.workers).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.iter()
            .map(|p| format!("----- {} -----\n{}", p.name, tail(&p.log())))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Panics with `message` and every log.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n===== cluster logs ({}) =====\n{}", self.dir.path().display(), self.logs())
    }
}

/// Runs `cmd` and collects its output; `None` (after killing it) when it
/// runs past `timeout`.
pub fn run_with_deadline(mut cmd: Command, timeout: Duration) -> Option<Output> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"));
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return Some(Output {
                status,
                stdout: std::fs::read(&out_path).unwrap_or_default(),
                stderr: std::fs::read(&err_path).unwrap_or_default(),
            });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Adds `authorization: Bearer <token>` to every call (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A blocking face over the generated gRPC client, for tests.
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: CoordinatorClient<InterceptedService<Channel, Bearer>>,
}

/// Every call's deadline: a coordinator that stops answering fails the call
/// instead of hanging the test.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    pub fn connect(url: &str, token: Option<&str>) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let channel = {
            let _guard = rt.enter();
            Endpoint::from_shared(url.to_string())
                .unwrap_or_else(|e| panic!("bad coordinator URL {url}: {e}"))
                .connect_timeout(Duration::from_secs(2))
                .timeout(RPC_TIMEOUT)
                .connect_lazy()
        };
        let bearer = Bearer(token.map(|t| format!("Bearer {t}").parse().expect("token is ASCII")));
        Client { rt, inner: CoordinatorClient::with_interceptor(channel, bearer) }
    }

    pub fn get_job(&mut self, job: &str) -> Result<pb::JobStatus, Status> {
        let req = pb::GetJobRequest { job_id: job.to_string() };
        self.rt.block_on(self.inner.get_job(req)).map(|r| r.into_inner())
    }

    pub fn results(&mut self, job: &str) -> Result<pb::GetResultsResponse, Status> {
        let req = pb::GetResultsRequest { job_id: job.to_string() };
        self.rt.block_on(self.inner.get_results(req)).map(|r| r.into_inner())
    }

    pub fn register_worker(&mut self, req: pb::RegisterWorkerRequest) -> Result<pb::RegisterWorkerResponse, Status> {
        self.rt.block_on(self.inner.register_worker(req)).map(|r| r.into_inner())
    }
}

/// A small sweep job on the `rwclip-tiny` preset (random init) over a tiny
/// synthetic dataset: everything a cluster test needs, in seconds on a CPU.
#[derive(Debug, Clone)]
pub struct TinyJob {
    pub name: String,
    pub output: String,
    /// Absolute; synthesised by the submitting client when missing.
    pub dataset_root: PathBuf,
    pub pairs: Vec<u64>,
    pub word_pairs: Vec<(String, String)>,
    pub seeds: Vec<u64>,
    pub weights: Option<PathBuf>,
    /// Prompts per text-tower pass. Large, because a text shard always
    /// encodes a whole block of 2048 pairs (the planner's default) and the
    /// tiny text tower is much faster in large batches on a CPU.
    pub text_batch_size: usize,
}

impl TinyJob {
    /// 2 Np × 2 word pairs × 3 seeds.
    pub fn sweep(name: &str, output: &str, dataset_root: &Path) -> TinyJob {
        TinyJob {
            name: name.to_string(),
            output: output.to_string(),
            dataset_root: dataset_root.to_path_buf(),
            pairs: vec![64, 128],
            word_pairs: vec![("a".into(), "a damaged".into()), ("a good".into(), "a broken".into())],
            seeds: vec![0, 1, 2],
            weights: None,
            text_batch_size: 512,
        }
    }

    /// One grid point (Np 64, "a" / "a damaged") × 2 seeds: the smallest job
    /// with a text, an image, trial and aggregate stage, for chaos tests.
    pub fn small(name: &str, output: &str, dataset_root: &Path) -> TinyJob {
        TinyJob {
            pairs: vec![64],
            word_pairs: vec![("a".into(), "a damaged".into())],
            seeds: vec![0, 1],
            ..TinyJob::sweep(name, output, dataset_root)
        }
    }

    pub fn toml(&self) -> String {
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let words = self
            .word_pairs
            .iter()
            .map(|(n, a)| format!("[{n:?}, {a:?}]"))
            .collect::<Vec<_>>()
            .join(", ");
        let weights = match &self.weights {
            Some(w) => format!("weights = {:?}\n", w.to_str().expect("utf-8 weights path")),
            None => String::new(),
        };
        format!(
            r#"name = {name:?}
output = {output:?}

[model]
preset = "rwclip-tiny"
{weights}device = "cpu"
text_batch_size = {text_batch}
image_batch_size = 8

[dataset]
kind = "mvtec"
root = {root:?}
[dataset.synth]
categories = ["weave", "granite"]
train_good = 0
test_good = 3
test_defective = 2
image_size = 64
seed = 0

[prompts]
pairs = [{pairs}]
word_pairs = [{words}]
min_len = 5
max_len = 10

[training]
seeds = [{seeds}]

[training.fnn]
hidden = [16]
dropout = 0.5
epochs = 1
pairs_per_batch = 16
lr = 1e-3
weight_decay = 1e-4
lr_decay = 0.1
decay_after_epochs = 1

[scoring]
temperature = 0.01
setups = ["unknown"]
object_word = "object"
"#,
            name = self.name,
            output = self.output,
            root = self.dataset_root.to_str().expect("utf-8 dataset path"),
            pairs = list(&self.pairs),
            seeds = list(&self.seeds),
            text_batch = self.text_batch_size,
        )
    }

    /// Writes `<dir>/<name>.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.toml", self.name));
        std::fs::write(&path, self.toml()).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// What pyarrow sees in a store (or a job's output): every file, every
/// Parquet file read in full, every committed shard manifest and the
/// per-seed metric rows of the committed trial shards.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSnapshot {
    /// Keys relative to the store root, sorted.
    pub files: Vec<String>,
    /// SHA-256 of every file, by key.
    pub sha256: BTreeMap<String, String>,
    /// Rows of every `.parquet` file, by key (pyarrow read each one).
    pub parquet_rows: BTreeMap<String, u64>,
    /// Committed manifests by shard id.
    pub manifests: BTreeMap<String, ManifestView>,
    /// Every committed trial's metric rows, one canonical JSON object per
    /// row (floats as exact hex), sorted.
    pub trial_rows: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManifestView {
    pub kind: String,
    pub worker: String,
    pub attempt: String,
    pub parts: Vec<String>,
}

const SNAPSHOT_PY: &str = r#"
import sys, json, hashlib
import pyarrow.parquet as pq, pyarrow.fs as pafs
uri, endpoint = sys.argv[1], sys.argv[2]
if uri.startswith("s3://"):
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    root = uri[len("s3://"):].rstrip("/")
else:
    fs = pafs.LocalFileSystem()
    root = uri.rstrip("/")
infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
files = sorted(i.path[len(root) + 1:] for i in infos if i.type == pafs.FileType.File)
def read(key):
    with fs.open_input_stream(root + "/" + key) as s:
        return s.read()
def canon(v):
    if isinstance(v, float):
        return v.hex()
    if isinstance(v, list):
        return [canon(x) for x in v]
    return v
out = {"files": files, "sha256": {}, "parquet_rows": {}, "manifests": {}, "trial_rows": []}
for f in files:
    data = read(f)
    out["sha256"][f] = hashlib.sha256(data).hexdigest()
    if f.endswith(".parquet"):
        out["parquet_rows"][f] = pq.read_table(root + "/" + f, filesystem=fs).num_rows
    if f.startswith("shards/") and f.endswith("/manifest.json"):
        m = json.loads(data)
        out["manifests"][m["shard"]] = {"kind": m["kind"], "worker": m["worker"], "attempt": m["attempt"], "parts": m["parts"]}
        if m["kind"] == "trial":
            for p in m["parts"]:
                if p.endswith("metrics.parquet"):
                    for row in pq.read_table(root + "/" + p, filesystem=fs).to_pylist():
                        out["trial_rows"].append(json.dumps({k: canon(v) for k, v in row.items()}, sort_keys=True))
out["trial_rows"].sort()
print(json.dumps(out))
"#;

impl StoreSnapshot {
    /// Reads `uri` (a local directory or `s3://bucket/prefix`; `endpoint` is
    /// the S3 server, ignored for local stores) with pyarrow.
    pub fn read(uri: &str, endpoint: &str) -> StoreSnapshot {
        let text = crate::python::run(SNAPSHOT_PY, &[uri, endpoint]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("snapshot of {uri} is not JSON: {e}"));
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
        };
        let manifests = v["manifests"]
            .as_object()
            .expect("manifests object")
            .iter()
            .map(|(id, m)| {
                let view = ManifestView {
                    kind: m["kind"].as_str().expect("kind").to_string(),
                    worker: m["worker"].as_str().expect("worker").to_string(),
                    attempt: m["attempt"].as_str().expect("attempt").to_string(),
                    parts: strings(&m["parts"]),
                };
                (id.clone(), view)
            })
            .collect();
        StoreSnapshot {
            files: strings(&v["files"]),
            sha256: v["sha256"]
                .as_object()
                .expect("sha256 object")
                .iter()
                .map(|(k, h)| (k.clone(), h.as_str().expect("hash").to_string()))
                .collect(),
            parquet_rows: v["parquet_rows"]
                .as_object()
                .expect("parquet_rows object")
                .iter()
                .map(|(k, n)| (k.clone(), n.as_u64().expect("row count")))
                .collect(),
            manifests,
            trial_rows: strings(&v["trial_rows"]),
        }
    }

    /// Attempt ids that wrote parts for `shard` (committed or not).
    pub fn attempts_of(&self, shard: &str) -> BTreeSet<String> {
        let prefix = format!("shards/{shard}/attempts/");
        self.files
            .iter()
            .filter_map(|f| f.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(str::to_string)
            .collect()
    }

    /// Committed manifests of `kind` (`text_embedding`, `trial`, ...).
    pub fn count(&self, kind: &str) -> usize {
        self.manifests.values().filter(|m| m.kind == kind).count()
    }

    /// Panics unless the committed trials hold exactly `trials` distinct
    /// (config, seed) pairs and no (config, seed, category, score) row twice:
    /// nothing lost, nothing duplicated.
    pub fn assert_trial_rows_complete(&self, trials: usize) {
        let mut keys = BTreeSet::new();
        let mut runs = BTreeSet::new();
        for row in &self.trial_rows {
            let v: serde_json::Value = serde_json::from_str(row).expect("row is JSON");
            let key = (v["config"].to_string(), v["seed"].to_string(), v["category"].to_string(), v["score"].to_string());
            runs.insert((key.0.clone(), key.1.clone()));
            assert!(keys.insert(key.clone()), "metric row {key:?} appears twice: {row}");
        }
        assert_eq!(runs.len(), trials, "expected {trials} (config, seed) trials with metrics, found {runs:?}");
        assert_eq!(self.count("trial"), trials, "committed trial shards");
    }

    /// Panics unless every committed manifest's parts exist in the store.
    pub fn assert_parts_present(&self) {
        for (id, m) in &self.manifests {
            for p in &m.parts {
                assert!(self.sha256.contains_key(p), "shard {id}: committed part {p} is missing from the store");
            }
        }
    }
}
