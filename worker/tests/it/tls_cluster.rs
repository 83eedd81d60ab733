//! The whole path over mutual TLS: `rwclip coordinator` with a server
//! certificate and a client CA, an `rwclip worker` and `rwclip submit`
//! presenting client certificates, a tiny job end to end. A client without
//! a certificate is refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rwclip_test_support::tiny_job::TinyJob;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

/// CA, server certificate (localhost) and client certificate as PEM files.
fn pki(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(DnType::CommonName, "rwclip e2e CA");
    std::fs::write(dir.join("ca.pem"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    for (name, sans, usage) in [
        ("server", vec!["localhost".to_string()], ExtendedKeyUsagePurpose::ServerAuth),
        ("client", vec![], ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        std::fs::write(dir.join(format!("{name}.pem")), params.signed_by(&key, &issuer).unwrap().pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arg(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn a_job_runs_over_mutual_tls_and_a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d);
    std::fs::write(d.join("token"), "tls-test-token\n").unwrap();
    let mut coordinator = Guard(
        Command::new(BIN)
            .args(["coordinator", "--bind", "127.0.0.1:0", "--store", &arg(d.join("store"))])
            .args(["--token-file", &arg(d.join("token")), "--heartbeat-interval", "0.5", "--lease-timeout", "3"])
            .args(["--tls-cert", &arg(d.join("server.pem")), "--tls-key", &arg(d.join("server.key"))])
            .args(["--tls-client-ca", &arg(d.join("ca.pem"))])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // "rwclip-coordinator listening on 127.0.0.1:PORT"
    let mut line = String::new();
    BufReader::new(coordinator.0.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or_else(|| panic!("no address in {line:?}"));
    let url = format!("https://localhost:{port}");
    let tls = ["--tls-ca", &arg(d.join("ca.pem")), "--tls-cert", &arg(d.join("client.pem")), "--tls-key", &arg(d.join("client.key"))];
    let token = ["--token-file", &arg(d.join("token"))];

    let _worker = Guard(
        Command::new(BIN)
            .args(["worker", "--coordinator", &url, "--device", "cpu", "--exit-when-idle", "30"])
            .args(tls)
            .args(token)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let job = TinyJob::small("tls", &arg(d.join("out")), &d.join("data")).write(d);
    let started = Instant::now();
    let out = Command::new(BIN).args(["submit", &arg(job.clone()), "--coordinator", &url, "--wait"]).args(tls).args(token).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "submit over mTLS failed ({:?}):\n{stderr}", out.status);
    assert!(started.elapsed() < Duration::from_secs(300));
    let results = std::fs::read_to_string(d.join("out/results.md")).expect("results published to the output");
    assert!(String::from_utf8_lossy(&out.stdout).contains(results.trim_end()), "submit --wait prints results.md");

    // The CA is trusted but no client certificate is presented: the
    // coordinator's mTLS refuses the handshake.
    let no_cert = Command::new(BIN)
        .args(["submit", &arg(job), "--coordinator", &url, "--tls-ca", &arg(d.join("ca.pem"))])
        .args(token)
        .output()
        .unwrap();
    assert!(!no_cert.status.success(), "a client without a certificate was served");
    let stderr = String::from_utf8_lossy(&no_cert.stderr);
    assert!(stderr.contains("SubmitJob") && stderr.contains("--tls-cert"), "the error says what to fix: {stderr}");
    assert_eq!(no_cert.status.code(), Some(1), "{stderr}");
}
