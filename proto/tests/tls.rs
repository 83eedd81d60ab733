//! `rwclip_proto::tls` against a real tonic server: a throwaway PKI made with
//! rcgen, the gRPC health service served over TLS / mutual TLS on loopback,
//! and clients with and without the right trust and identity.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rwclip_proto::tls::{client_tls, server_tls, TlsError};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{ClientTlsConfig, Endpoint, Server, ServerTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A CA, a server certificate for localhost / 127.0.0.1 and a client
/// certificate, all signed by the CA, written as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(DnType::CommonName, "rwclip test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).expect("write CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("leaf key");
            let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            let mut params = CertificateParams::new(sans).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &issuer).expect("sign leaf");
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).expect("write cert");
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem())
                .expect("write key");
        };
        leaf("server", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        leaf("client", &[], ExtendedKeyUsagePurpose::ClientAuth);
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Serves the health service on 127.0.0.1:0 with `tls` until the runtime ends.
async fn serve(tls: ServerTlsConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let router = Server::builder()
        .tls_config(tls)
        .expect("server accepts the TLS config")
        .add_service(health);
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    addr
}

/// Runs one health check; any failure (connect, handshake, RPC) as text.
async fn health_check(url: String, tls: Option<ClientTlsConfig>) -> Result<i32, String> {
    let mut endpoint = Endpoint::from_shared(url)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .map_err(|e| format!("check: {e:?}"))?;
    Ok(response.into_inner().status)
}

fn server_only(pki: &Pki) -> ServerTlsConfig {
    server_tls(&pki.path("server.pem"), &pki.path("server.key"), None).expect("server TLS")
}

fn mutual(pki: &Pki) -> ServerTlsConfig {
    let ca = pki.path("ca.pem");
    server_tls(&pki.path("server.pem"), &pki.path("server.key"), Some(&ca)).expect("mTLS")
}

#[tokio::test]
async fn tls_health_check_passes_with_the_ca() {
    let pki = Pki::new();
    let addr = serve(server_only(&pki)).await;
    let client = client_tls(Some(&pki.path("ca.pem")), None, None).expect("client TLS");
    let status = health_check(format!("https://{addr}"), Some(client)).await;
    assert_eq!(status, Ok(ServingStatus::Serving as i32));
}

#[tokio::test]
async fn domain_override_names_the_certificate_host() {
    let pki = Pki::new();
    let addr = serve(server_only(&pki)).await;
    let ca = pki.path("ca.pem");
    let right = client_tls(Some(&ca), None, Some("localhost")).expect("client TLS");
    let status = health_check(format!("https://{addr}"), Some(right)).await;
    assert_eq!(status, Ok(ServingStatus::Serving as i32));
    // The server certificate is not valid for this name: the handshake must fail.
    let wrong = client_tls(Some(&ca), None, Some("elsewhere.example")).expect("client TLS");
    let status = health_check(format!("https://{addr}"), Some(wrong)).await;
    assert!(status.is_err(), "a certificate for localhost passed as elsewhere.example: {status:?}");
}

#[tokio::test]
async fn client_without_the_ca_rejects_the_server() {
    let pki = Pki::new();
    let addr = serve(server_only(&pki)).await;
    // System roots only: our private CA is unknown to them.
    let client = client_tls(None, None, None).expect("client TLS");
    let status = health_check(format!("https://{addr}"), Some(client)).await;
    assert!(status.is_err(), "a server signed by an unknown CA was trusted: {status:?}");
}

#[tokio::test]
async fn plain_http_client_fails_against_a_tls_server() {
    let pki = Pki::new();
    let addr = serve(server_only(&pki)).await;
    let status = health_check(format!("http://{addr}"), None).await;
    assert!(status.is_err(), "plain HTTP/2 got an answer from a TLS server: {status:?}");
}

#[tokio::test]
async fn mutual_tls_rejects_a_client_without_a_certificate() {
    let pki = Pki::new();
    let addr = serve(mutual(&pki)).await;
    let client = client_tls(Some(&pki.path("ca.pem")), None, None).expect("client TLS");
    let status = health_check(format!("https://{addr}"), Some(client)).await;
    assert!(status.is_err(), "mTLS server answered a client without a certificate: {status:?}");
}

#[tokio::test]
async fn mutual_tls_accepts_a_client_with_a_ca_signed_certificate() {
    let pki = Pki::new();
    let addr = serve(mutual(&pki)).await;
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let client = client_tls(Some(&pki.path("ca.pem")), Some((&cert, &key)), None).expect("client");
    let status = health_check(format!("https://{addr}"), Some(client)).await;
    assert_eq!(status, Ok(ServingStatus::Serving as i32));
}

#[tokio::test]
async fn mutual_tls_rejects_a_self_signed_client_certificate() {
    let pki = Pki::new();
    let addr = serve(mutual(&pki)).await;
    // A certificate the server's client CA did not sign.
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(Vec::<String>::new())
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    let (cert_path, key_path) = (pki.path("rogue.pem"), pki.path("rogue.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    let client =
        client_tls(Some(&pki.path("ca.pem")), Some((&cert_path, &key_path)), None).expect("client");
    let status = health_check(format!("https://{addr}"), Some(client)).await;
    assert!(status.is_err(), "mTLS server accepted a certificate its CA did not sign: {status:?}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn garbage_certificate_file_is_named_in_the_error() {
    let pki = Pki::new();
    let garbage = write(pki.dir.path(), "garbage.pem", "this is not a certificate\n");
    let err = server_tls(&garbage, &pki.path("server.key"), None).expect_err("garbage accepted");
    assert!(matches!(err, TlsError::NotPem { .. }), "{err:?}");
    assert!(err.to_string().contains(&garbage.display().to_string()), "{err}");
}

#[test]
fn broken_pem_section_is_named_in_the_error() {
    let pki = Pki::new();
    let broken = write(pki.dir.path(), "ca-broken.pem", "-----BEGIN CERTIFICATE-----\n@@@@\n");
    let err = client_tls(Some(&broken), None, None).expect_err("broken PEM accepted");
    assert!(matches!(err, TlsError::NotPem { .. }), "{err:?}");
    assert!(err.to_string().contains(&broken.display().to_string()), "{err}");
}

#[test]
fn key_and_certificate_swapped_are_reported_per_file() {
    let pki = Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let err = server_tls(&key, &cert, None).expect_err("swapped files accepted");
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains(&key.display().to_string()), "{err}");
    let err = client_tls(None, Some((&cert, &cert)), None).expect_err("cert as key accepted");
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
    assert!(err.to_string().contains(&cert.display().to_string()), "{err}");
}

#[test]
fn missing_client_ca_file_is_named_in_the_error() {
    let pki = Pki::new();
    let missing = pki.path("no-such-ca.pem");
    let err = server_tls(&pki.path("server.pem"), &pki.path("server.key"), Some(&missing))
        .expect_err("missing CA accepted");
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
}
