//! `deploy/slurm/rwclip.sbatch` on a real single-node Slurm cluster.
//!
//! Each test boots its own cluster from Debian's slurm-wlm and munge in a
//! temporary directory: munged with its own key and socket, slurmctld and
//! slurmd in the foreground on free ports, state and spool inside the
//! directory, no cgroups (linuxproc process tracking) so it runs unprivileged
//! in a container. The daemons are killed when the cluster is dropped.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rwclip_test_support::process::{free_port, run_with_deadline};
use rwclip_test_support::tiny_job::TinyJob;

const INSTALL_HINT: &str = "run `make test` (installs slurm-wlm, munge)";

/// Where Debian puts the daemons; a test's PATH often lacks the sbin dirs.
const SEARCH_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

fn program(name: &str) -> PathBuf {
    let path_dirs = std::env::var("PATH").unwrap_or_default();
    path_dirs
        .split(':')
        .chain(SEARCH_DIRS.iter().copied())
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found on PATH or in /usr/sbin: {INSTALL_HINT}"))
}

/// A daemon in the foreground, its output in a log file, killed on drop.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, mut cmd: Command, dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.out"));
        let file = File::create(&log).expect("daemon log file");
        cmd.stdin(Stdio::null()).stdout(file.try_clone().expect("clone log")).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { name, child, log }
    }

    fn check_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, read(&self.log));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A one-node Slurm cluster: munged, slurmctld, slurmd.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    // Dropped in reverse start order: slurmd, slurmctld, munged.
    daemons: Vec<Daemon>,
}

impl Slurm {
    fn start() -> Slurm {
        let (munged, slurmctld, slurmd) = (program("munged"), program("slurmctld"), program("slurmd"));
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        // munged wants every directory above its socket traversable.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        let munge_dir = root.join("munge");
        for sub in ["munge", "state", "spool"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
        }
        std::fs::set_permissions(&munge_dir, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        let key = munge_dir.join("munge.key");
        std::fs::write(&key, random_key()).expect("write munge key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
        let socket = munge_dir.join("munge.socket");

        let mut daemons = Vec::new();
        let mut cmd = Command::new(munged);
        cmd.arg("--foreground")
            .arg("--force")
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", munge_dir.join("munged.pid").display()))
            .arg(format!("--log-file={}", munge_dir.join("munged.log").display()))
            .arg(format!("--seed-file={}", munge_dir.join("munged.seed").display()));
        daemons.push(Daemon::start("munged", cmd, &root));
        wait_until(Duration::from_secs(10), "munged socket", &mut daemons, || socket.exists());

        let conf = root.join("slurm.conf");
        std::fs::write(&conf, slurm_conf(&root, &socket, &hostname())).expect("write slurm.conf");
        for (name, bin) in [("slurmctld", slurmctld), ("slurmd", slurmd)] {
            let mut cmd = Command::new(bin);
            cmd.arg("-D").arg("-f").arg(&conf).env("SLURM_CONF", &conf);
            daemons.push(Daemon::start(name, cmd, &root));
        }
        let mut slurm = Slurm { dir, conf, daemons };
        slurm.wait_for_idle_node();
        slurm
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A Slurm client command (sbatch, sinfo, ...) pointed at this cluster.
    fn client(&self, name: &str) -> Command {
        let mut cmd = Command::new(program(name));
        cmd.env("SLURM_CONF", &self.conf).current_dir(self.path());
        cmd
    }

    fn wait_for_idle_node(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for d in &mut self.daemons {
                d.check_running();
            }
            let mut sinfo = self.client("sinfo");
            sinfo.args(["--noheader", "--format=%t"]);
            let state = run_with_deadline(sinfo, Duration::from_secs(10))
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if state == "idle" {
                return;
            }
            if Instant::now() > deadline {
                panic!("the Slurm node is not idle after 30 s (sinfo: {state:?})\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `sbatch --wait SCRIPT ARGS`: returns once the batch job has ended,
    /// with the job's exit status as sbatch's.
    fn sbatch_wait(&self, script: &Path, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
        let mut cmd = self.client("sbatch");
        cmd.arg("--wait")
            .arg(format!("--chdir={}", self.path().display()))
            .arg(format!("--output={}", self.path().join("job-%j.out").display()))
            .arg(script)
            .args(args)
            .envs(env.iter().copied());
        match run_with_deadline(cmd, timeout) {
            Some(out) => out,
            None => panic!("sbatch --wait ran past {timeout:?}\n{}", self.logs()),
        }
    }

    /// The batch jobs' output files, for failure messages.
    fn job_outputs(&self) -> String {
        let mut text = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.path()).expect("read dir").flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("job-") && name.ends_with(".out") {
                text += &format!("--- {name}\n{}\n", read(&e.path()));
            }
        }
        text
    }

    fn logs(&self) -> String {
        let mut text = self.job_outputs();
        for d in &self.daemons {
            let log = read(&d.log);
            let tail = &log[log.len().saturating_sub(3000)..];
            text += &format!("--- {} (tail)\n{}\n", d.name, tail);
        }
        text
    }
}

fn random_key() -> Vec<u8> {
    use std::io::Read;
    let mut key = vec![0u8; 1024];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key)).expect("read /dev/urandom");
    key
}

/// The short host name: slurmd registers under it and slurmctld only runs on
/// the host its SlurmctldHost names.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("read host name");
    name.trim().split('.').next().unwrap_or("localhost").to_string()
}

fn slurm_conf(root: &Path, munge_socket: &Path, host: &str) -> String {
    let r = root.display();
    let (ctld_port, slurmd_port) = (free_port(), free_port());
    format!(
        "ClusterName=rwclip-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
        socket = munge_socket.display(),
    )
}

fn wait_until(timeout: Duration, what: &str, daemons: &mut [Daemon], ready: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        for d in daemons.iter_mut() {
            d.check_running();
        }
        assert!(Instant::now() < deadline, "no {what} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

#[test]
fn slurm_runs_a_batch_script_and_reports_its_exit_status() {
    let slurm = Slurm::start();
    let script = slurm.path().join("probe.sbatch");
    std::fs::write(
        &script,
        "#!/bin/bash\necho \"host=$(hostname) arg=$1 probe=$PROBE\"\n\
         srun --overlap --ntasks-per-node=1 bash -c 'echo step=$SLURM_STEP_ID'\nexit \"$2\"\n",
    )
    .expect("write script");
    let out = slurm.sbatch_wait(&script, &["first", "0"], &[("PROBE", "passed")], Duration::from_secs(60));
    assert!(out.status.success(), "sbatch failed: {}\n{}", String::from_utf8_lossy(&out.stderr), slurm.logs());
    let text = slurm.job_outputs();
    assert!(text.contains(&format!("host={} arg=first probe=passed", hostname())), "{text}");
    assert!(text.contains("step=0"), "srun inside the batch job did not run:\n{text}");

    // A failing job fails `sbatch --wait` with the job's status: the rwclip
    // test below relies on this to see a failed sweep.
    let out = slurm.sbatch_wait(&script, &["second", "3"], &[], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}\n{}", String::from_utf8_lossy(&out.stderr), slurm.logs());
}

#[test]
fn rwclip_sbatch_runs_a_tiny_sweep_to_results() {
    let slurm = Slurm::start();
    let work = slurm.path();
    let mut job = TinyJob::sweep("slurm-tiny", &work.join("out").display().to_string(), &work.join("data"));
    job.pairs = vec![64];
    job.word_pairs.truncate(1);
    job.seeds = vec![0, 1];
    let job_file = job.write(work);

    let script = repo_root().join("deploy/slurm/rwclip.sbatch");
    let store = work.join("store").display().to_string();
    let out = slurm.sbatch_wait(
        &script,
        &[job_file.to_str().expect("utf-8 path")],
        &[
            ("RWCLIP_BIN", env!("CARGO_BIN_EXE_rwclip")),
            ("RWCLIP_STORE", &store),
            ("RWCLIP_DEVICE", "cpu"),
            ("RWCLIP_CPU_WORKERS", "2"),
        ],
        Duration::from_secs(300),
    );
    let logs = || {
        let mut text = slurm.logs();
        for e in std::fs::read_dir(work).expect("read dir").flatten() {
            if e.file_name().to_string_lossy().starts_with("rwclip-logs-") {
                for log in std::fs::read_dir(e.path()).expect("log dir").flatten() {
                    text += &format!("--- {}\n{}\n", log.path().display(), read(&log.path()));
                }
            }
        }
        text
    };
    assert!(out.status.success(), "rwclip.sbatch failed ({:?})\n{}", out.status.code(), logs());

    let text = slurm.job_outputs();
    assert!(text.contains("2 worker(s): cpu cpu"), "{text}");
    let csv_path = work.join("out/results.csv");
    let csv = std::fs::read_to_string(&csv_path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", csv_path.display(), logs()));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column: {header:?}"));
    let (category, score, auroc, n_seeds) = (col("category"), col("score"), col("auroc_mean"), col("n_seeds"));
    let mut seen = std::collections::BTreeSet::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[n_seeds], "2", "every row averages both seeds: {line}");
        let auroc: f64 = fields[auroc].parse().unwrap_or_else(|e| panic!("auroc in {line}: {e}"));
        assert!((0.0..=1.0).contains(&auroc), "{line}");
        seen.insert((fields[category].trim_matches('"').to_string(), fields[score].trim_matches('"').to_string()));
    }
    let mut expected = std::collections::BTreeSet::new();
    for c in ["granite", "weave", "mean"] {
        for s in ["clip", "ours", "clip+ours"] {
            expected.insert((c.to_string(), s.to_string()));
        }
    }
    assert_eq!(seen, expected, "{csv}");
    assert!(work.join("out/results.md").is_file() && work.join("out/results.parquet").is_file());
}
