//! One `rwclip worker` child process of a local cluster, with the tail of
//! its stderr kept for the report when it dies.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::error::ClientError;

/// Lines of a worker's stderr kept for failure reports.
const TAIL_LINES: usize = 20;

pub struct WorkerProcess {
    pub name: String,
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    exit: Option<ExitStatus>,
}

impl WorkerProcess {
    /// Starts `exe worker --coordinator URL ...args`. The child is killed
    /// when this value is dropped, so an error or Ctrl-C in the parent
    /// leaves no orphan behind.
    pub fn spawn(exe: &Path, name: &str, url: &str, args: &[String]) -> Result<WorkerProcess, ClientError> {
        let mut child = Command::new(exe)
            .arg("worker")
            .args(["--coordinator", url, "--name", name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ClientError::SpawnWorker { exe: exe.display().to_string(), source })?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        Ok(WorkerProcess { name: name.to_string(), child, tail, exit: None })
    }

    /// The exit status, once the process has exited (non-blocking); `None`
    /// while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Kills the process (if still running) and reaps it.
    pub async fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill().await;
        }
    }

    /// "worker-1 exited with exit status: 2; last lines:\n    ..." for reports.
    pub fn describe_exit(&self) -> String {
        let status = match self.exit {
            Some(s) => s.to_string(),
            None => "an unknown status".to_string(),
        };
        let tail = self.tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if tail.is_empty() {
            format!("  {} exited with {status} (no output)", self.name)
        } else {
            let lines: Vec<String> = tail.iter().map(|l| format!("    {l}")).collect();
            format!("  {} exited with {status}; its last lines:\n{}", self.name, lines.join("\n"))
        }
    }
}
