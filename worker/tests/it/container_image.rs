//! The container image is real: `deploy/Dockerfile` built (on a Debian base
//! made with debootstrap) from the binaries of this build, and the
//! Kubernetes example job run in containers — moto, a coordinator, two
//! workers and the submitting client — sharing nothing but a network, the
//! S3 settings and the token. The data exists only on S3. The image's video
//! decoder sends the frames this machine's does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rwclip_test_support::docker::{build_image, docker, Containers, BASE_IMAGE};
use rwclip_test_support::python;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `rwclip-coordinator` binary next to `rwclip` (both built by `make test`).
fn coordinator_bin() -> PathBuf {
    let p = Path::new(BIN).with_file_name("rwclip-coordinator");
    assert!(p.exists(), "{} is missing: run `cargo build --release --workspace --bins` (make test does)", p.display());
    p
}

/// `rwclip-decode` next to `rwclip`.
fn decoder_bin() -> PathBuf {
    let p = Path::new(BIN).with_file_name("rwclip-decode");
    assert!(p.exists(), "{} is missing: run `cargo build --release --workspace --bins` (make test does)", p.display());
    p
}

/// The image's `rwclip-decode` (Debian's FFmpeg libraries installed in
/// it) sends the same frames, byte for byte, as the one on this machine.
fn the_image_decodes_video_as_this_machine_does(image: &str) {
    let footage = tempfile::tempdir().unwrap();
    let clip = footage.path().join("clip.mp4");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .output()
        .expect("run ffmpeg (make test's bootstrap installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::set_permissions(footage.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = std::process::Command::new(decoder_bin()).arg(footage.path()).args(["clip.mp4", "fps=1"]).output().unwrap();
    assert!(host.status.success() && host.stdout.len() > 3 * 160 * 120 * 3, "host decoder: {}", String::from_utf8_lossy(&host.stderr));
    let mount = format!("{}:/footage:ro", footage.path().display());
    let inside = docker(&["run", "--rm", "-v", &mount, "--entrypoint", "rwclip-decode", image, "/footage", "clip.mp4", "fps=1"], Duration::from_secs(120));
    assert!(inside.status.success(), "rwclip-decode in the image exited {:?}: {}", inside.status.code(), String::from_utf8_lossy(&inside.stderr));
    assert!(inside.stdout == host.stdout, "the image's decoder sent {} bytes, this machine's {}", inside.stdout.len(), host.stdout.len());
}

/// site-packages of the venv whose torch the binaries link.
fn site_packages() -> PathBuf {
    let torch = std::fs::canonicalize(repo().join(".libtorch")).expect(".libtorch (make bootstrap)");
    torch.parent().unwrap().to_path_buf()
}

fn k8s_job() -> String {
    let config = repo().join("deploy/k8s/config.yaml");
    python::run(
        "import sys, yaml\n\
         docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d['metadata']['name'] == 'rwclip-job']\n\
         print(docs[0]['data']['job.toml'])",
        &[config.to_str().unwrap()],
    )
}

#[test]
fn the_image_runs_the_kubernetes_job_in_containers_with_data_only_on_s3() {
    let staging = repo().join("target/container-image");
    let image = build_image(&repo(), &[Path::new(BIN), &coordinator_bin(), &decoder_bin()], &site_packages(), &staging);
    the_image_decodes_video_as_this_machine_does(&image);

    let id = std::process::id();
    let mut c = Containers::new(&format!("rwclip-test-{id}"));
    let site = site_packages();
    let moto_mount = format!("{}:/py:ro", site.display());
    let moto = format!("moto-{id}");
    c.start(
        &moto,
        &["--network-alias", "moto", "-v", &moto_mount, "-e", "PYTHONPATH=/py", BASE_IMAGE, "python3", "-c", "from moto.server import main; main(['-H', '0.0.0.0', '-p', '5000'])"],
    );
    let env = [
        "AWS_ENDPOINT_URL=http://moto:5000",
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
        "AWS_REGION=us-east-1",
        "AWS_ALLOW_HTTP=true",
    ];
    let mut env_args: Vec<&str> = Vec::new();
    for e in &env {
        env_args.extend(["-e", e]);
    }
    // The bucket the ConfigMaps name, created from a client container.
    let create = "import boto3, time\n\
                  for i in range(100):\n\
                  \x20   try:\n\
                  \x20       boto3.client('s3', endpoint_url='http://moto:5000', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='rwclip'); break\n\
                  \x20   except Exception:\n\
                  \x20       time.sleep(0.2)\n\
                  else:\n\
                  \x20   raise SystemExit('moto did not answer')";
    let out = docker(&["run", "--rm", "--network", &c.network, "-v", &moto_mount, "-e", "PYTHONPATH=/py", BASE_IMAGE, "python3", "-c", create], Duration::from_secs(120));
    assert!(out.status.success(), "create bucket: {}\n{}", String::from_utf8_lossy(&out.stderr), c.logs());

    // The token Secret and the job ConfigMap, as files mounted read-only.
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("token"), format!("token-{id}\n")).unwrap();
    std::fs::write(secrets.path().join("job.toml"), k8s_job().replace("device = \"auto\"", "device = \"cpu\"")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["token", "job.toml"] {
        std::fs::set_permissions(secrets.path().join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(secrets.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mount = format!("{}:/etc/rwclip/secrets:ro", secrets.path().display());
    let token = "/etc/rwclip/secrets/token";

    let mut args: Vec<&str> = vec!["--network-alias", "rwclip-coordinator", "-v", &mount];
    args.extend(&env_args);
    args.extend([image.as_str(), "coordinator", "--bind", "0.0.0.0:50051", "--store", "s3://rwclip/store", "--token-file", token]);
    c.start(&format!("coordinator-{id}"), &args);
    for w in 0..2 {
        let name = format!("worker-{w}-{id}");
        let mut args: Vec<&str> = vec!["-v", &mount];
        args.extend(&env_args);
        args.extend([image.as_str(), "worker", "--coordinator", "http://rwclip-coordinator:50051", "--device", "cpu", "--token-file", token, "--name", &name]);
        c.start(&name, &args);
    }

    // The submit Job: its container exits with the job's status.
    let mut args: Vec<&str> = vec!["run", "--rm", "--network", &c.network, "-v", &mount];
    args.extend(&env_args);
    args.extend([image.as_str(), "submit", "/etc/rwclip/secrets/job.toml", "--coordinator", "http://rwclip-coordinator:50051", "--token-file", token, "--wait"]);
    let out = docker(&args, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "submit exited {:?}:\n{stdout}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        c.logs()
    );
    assert!(stdout.contains("| 0-shot, object unknown | CLIP + ours |"), "{stdout}");
    for w in 0..2 {
        let out = docker(&["logs", &format!("worker-{w}-{id}")], Duration::from_secs(30));
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(log.contains("registered as"), "worker {w} never registered:\n{log}");
    }
    let logs = c.logs();
    assert!(logs.contains("committed"), "the workers committed no shards:\n{logs}");
}
