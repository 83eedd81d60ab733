//! A real rwclip cluster on loopback for end-to-end and chaos tests: the
//! `rwclip coordinator` and `rwclip worker` binaries as child processes
//! ([`crate::process::Proc`]), watched through [`crate::client::Client`].
//!
//! Nothing is mocked and nothing can hang a test: every wait has a deadline
//! and panics with the tail of every process's stderr; every child is killed
//! when the [`Cluster`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rwclip_proto::v1 as pb;

use crate::client::Client;
use crate::process::{free_port, run_with_deadline, tail, Proc};

/// Short timings so failures are detected in seconds (heartbeat, lease
/// timeout, grace period), passed to every coordinator this harness starts.
pub const HEARTBEAT_INTERVAL_S: &str = "0.5";
pub const LEASE_TIMEOUT_S: &str = "3";
pub const WORKER_GRACE_S: &str = "20";

/// A coordinator, its workers and their logs.
pub struct Cluster {
    bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub store: String,
    pub port: u16,
    /// The coordinator's HTTP side (`--http-bind`).
    pub http_port: u16,
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
            http_port: free_port(),
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

    /// `host:port` of the coordinator's HTTP side (dashboard, /api, /metrics).
    pub fn http_addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
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
        let http = self.http_addr();
        let cmd = self.command(&[
            "coordinator",
            "--bind",
            &bind,
            "--http-bind",
            &http,
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
