//! A real Docker engine for tests: Debian's `docker.io` daemon (started when
//! none answers), a Debian base image made with `debootstrap` and `docker
//! import` (no base image can be pulled here), and `deploy/Dockerfile` built
//! on it from the binaries `cargo` just built. Images are tagged by the hash
//! of what goes into them, so an unchanged build is not repeated.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::run_with_deadline;

/// The Debian client matching the daemon from `docker.io`.
const DOCKER: &str = "/usr/bin/docker";
/// The imported base; bump the suffix when its package list changes.
pub const BASE_IMAGE: &str = "rwclip-debian:bookworm-v2";
/// python3 runs moto from the reference venv's site-packages in a container.
const BASE_PACKAGES: &str = "ca-certificates,libgomp1,python3,libavcodec59,libavformat59,libavutil57,libswscale6";

fn install_hint() -> String {
    "install Debian's docker.io, debootstrap and patchelf (make bootstrap)".to_string()
}

/// `docker ARGS`, with a deadline; panics naming the command when it cannot start.
pub fn docker(args: &[&str], timeout: Duration) -> Output {
    let mut cmd = Command::new(DOCKER);
    cmd.args(args).env("DOCKER_BUILDKIT", "1");
    run_with_deadline(cmd, timeout).unwrap_or_else(|| panic!("`docker {}` ran past {timeout:?}", args.join(" ")))
}

/// `docker ARGS` that must succeed; returns its stdout.
pub fn docker_ok(args: &[&str], timeout: Duration) -> String {
    let out = docker(args, timeout);
    assert!(
        out.status.success(),
        "`docker {}` exited {:?}:\n{}\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes sure a daemon answers: starts `dockerd` (left running, as a system
/// service would be) when none does.
pub fn ensure_daemon() {
    assert!(Path::new(DOCKER).exists() && Path::new("/usr/sbin/dockerd").exists(), "{DOCKER} or /usr/sbin/dockerd missing: {}", install_hint());
    if docker(&["info"], Duration::from_secs(30)).status.success() {
        return;
    }
    let log = std::env::temp_dir().join("rwclip-dockerd.log");
    let file = std::fs::File::create(&log).expect("create the dockerd log");
    Command::new("setsid")
        .arg("/usr/sbin/dockerd")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone log handle"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dockerd ({e}); {}", install_hint()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if docker(&["info"], Duration::from_secs(10)).status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("dockerd did not answer within 60 s:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
}

fn image_exists(tag: &str) -> bool {
    docker(&["image", "inspect", tag], Duration::from_secs(30)).status.success()
}

/// The Debian base image, made once with debootstrap and `docker import`.
pub fn ensure_base_image() {
    if image_exists(BASE_IMAGE) {
        return;
    }
    assert!(Path::new("/usr/sbin/debootstrap").exists(), "debootstrap missing: {}", install_hint());
    let root = tempfile::tempdir().expect("a directory for the root file system");
    let target = root.path().join("rootfs");
    let mut cmd = Command::new("/usr/sbin/debootstrap");
    cmd.args(["--variant=minbase", &format!("--include={BASE_PACKAGES}"), "bookworm"]).arg(&target).arg("http://deb.debian.org/debian");
    let out = run_with_deadline(cmd, Duration::from_secs(900)).expect("debootstrap ran past 15 minutes");
    assert!(out.status.success(), "debootstrap failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&target)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tar");
    let import = Command::new(DOCKER)
        .args(["import", "-", BASE_IMAGE])
        .stdin(tar.stdout.expect("tar's stdout"))
        .output()
        .expect("run docker import");
    assert!(import.status.success(), "docker import failed:\n{}", String::from_utf8_lossy(&import.stderr));
    // Earlier bases only take disk space.
    let tags = docker_ok(&["images", "rwclip-debian", "--format", "{{.Repository}}:{{.Tag}}"], Duration::from_secs(30));
    for old in tags.lines().filter(|t| *t != BASE_IMAGE) {
        let _ = docker(&["rmi", old], Duration::from_secs(120));
    }
}

/// The shared libraries `binary` loads from the torch wheel, as
/// (path relative to site-packages, canonical path).
fn torch_libraries(binary: &Path, site: &Path) -> Vec<(PathBuf, PathBuf)> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("not found"), "ldd {} finds missing libraries:\n{text}", binary.display());
    let mut libs: Vec<(PathBuf, PathBuf)> = text
        .lines()
        .filter_map(|l| l.split("=>").nth(1)?.split_whitespace().next().map(PathBuf::from))
        .filter_map(|p| {
            let real = std::fs::canonicalize(&p).ok()?;
            let rel = real.strip_prefix(site).ok()?.to_path_buf();
            // The soname a library is loaded by, at its canonical location.
            Some((rel.with_file_name(p.file_name()?), real))
        })
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

fn link_or_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("a parent")).expect("create staging directory");
    if to.exists() {
        return;
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    }
}

/// Builds `deploy/Dockerfile` with `BINARIES=prebuilt` on [`BASE_IMAGE`] from
/// `bins` (the `rwclip` and `rwclip-coordinator` cargo built) and returns
/// its tag, `rwclip:test-<hash>`; an image of the same inputs is reused.
pub fn build_image(repo: &Path, bins: &[&Path], site: &Path, staging: &Path) -> String {
    ensure_daemon();
    ensure_base_image();
    let dockerfile = repo.join("deploy/Dockerfile");
    let context = staging.join("context");
    let _ = std::fs::remove_dir_all(context.join("prebuilt/bin"));
    let mut identity = std::fs::read(&dockerfile).expect("read deploy/Dockerfile");
    identity.extend_from_slice(BASE_IMAGE.as_bytes());
    for bin in bins {
        let name = bin.file_name().expect("binary name");
        let staged = context.join("prebuilt/bin").join(name);
        std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
        std::fs::copy(bin, &staged).unwrap_or_else(|e| panic!("copy {}: {e}", bin.display()));
        // The rpath an in-image build gives: /opt/rwclip/torch/lib.
        let out = Command::new("patchelf").args(["--set-rpath", "/opt/rwclip/torch/lib"]).arg(&staged).output();
        let out = out.unwrap_or_else(|e| panic!("cannot run patchelf ({e}); {}", install_hint()));
        assert!(out.status.success(), "patchelf failed: {}", String::from_utf8_lossy(&out.stderr));
        identity.extend_from_slice(&std::fs::read(&staged).unwrap());
    }
    for (rel, real) in torch_libraries(bins[0], site) {
        let meta = std::fs::metadata(&real).unwrap();
        identity.extend_from_slice(format!("{}:{}", rel.display(), meta.len()).as_bytes());
        link_or_copy(&real, &context.join("prebuilt/rwclip").join(&rel));
    }
    // A cache key on this machine only, so std's hasher is stable enough.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&identity, &mut hasher);
    let tag = format!("rwclip:test-{:016x}", std::hash::Hasher::finish(&hasher));
    if image_exists(&tag) {
        return tag;
    }
    docker_ok(
        &[
            "build",
            "-f",
            dockerfile.to_str().unwrap(),
            "--build-arg",
            "BINARIES=prebuilt",
            "--build-arg",
            &format!("BASE_IMAGE={BASE_IMAGE}"),
            "-t",
            &tag,
            context.to_str().unwrap(),
        ],
        Duration::from_secs(1200),
    );
    // The build cache holds a copy of the context (gigabytes of torch
    // libraries); the image is cached by its tag instead.
    let _ = docker(&["builder", "prune", "-af"], Duration::from_secs(300));
    // Older test images only take disk space.
    let tags = docker_ok(&["images", "rwclip", "--format", "{{.Repository}}:{{.Tag}}"], Duration::from_secs(30));
    for old in tags.lines().filter(|t| t.starts_with("rwclip:test-") && *t != tag) {
        let _ = docker(&["rmi", old], Duration::from_secs(120));
    }
    tag
}

/// Containers and a network removed when dropped (also on panic).
pub struct Containers {
    pub network: String,
    names: Vec<String>,
}

impl Containers {
    pub fn new(network: &str) -> Containers {
        let _ = docker(&["network", "rm", network], Duration::from_secs(30));
        docker_ok(&["network", "create", network], Duration::from_secs(30));
        Containers { network: network.to_string(), names: Vec::new() }
    }

    /// `docker run -d --name NAME --network N ARGS`.
    pub fn start(&mut self, name: &str, args: &[&str]) {
        let _ = docker(&["rm", "-f", name], Duration::from_secs(30));
        let mut all = vec!["run", "-d", "--name", name, "--network", &self.network];
        all.extend_from_slice(args);
        docker_ok(&all, Duration::from_secs(60));
        self.names.push(name.to_string());
    }

    pub fn logs(&self) -> String {
        self.names
            .iter()
            .map(|n| {
                let out = docker(&["logs", n], Duration::from_secs(30));
                format!("--- {n}\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
            })
            .collect()
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = docker(&["rm", "-f", n], Duration::from_secs(30));
        }
        let _ = docker(&["network", "rm", &self.network], Duration::from_secs(30));
    }
}
