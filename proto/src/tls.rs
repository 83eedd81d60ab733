//! TLS settings for the coordinator's server and its clients (workers,
//! `rwclip submit`), loaded from PEM files.
//!
//! tonic only parses PEM when the server starts or a channel connects, and
//! its errors there do not say which file was wrong. We read and check every
//! file up front so a typo in `--tls-cert` fails at startup naming that file.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS file {} is not PEM: {reason}", path.display())]
    NotPem { path: PathBuf, reason: String },
    #[error("TLS file {} holds no certificate (expected a PEM \"BEGIN CERTIFICATE\" section)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("TLS file {} holds no private key (expected a PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" section)", path.display())]
    NoPrivateKey { path: PathBuf },
}

/// TLS for the coordinator's gRPC server. With `client_ca_pem` the server
/// runs mutual TLS: every client must present a certificate signed by that CA.
pub fn server_tls(
    cert_pem: &Path,
    key_pem: &Path,
    client_ca_pem: Option<&Path>,
) -> Result<ServerTlsConfig, TlsError> {
    let config = ServerTlsConfig::new().identity(load_identity(cert_pem, key_pem)?);
    Ok(match client_ca_pem {
        Some(ca) => config.client_ca_root(load_certificates(ca)?),
        None => config,
    })
}

/// TLS for a client channel to the coordinator.
///
/// `ca_pem` is the CA that signed the server's certificate; without it the
/// system's root certificates are trusted. `identity` (certificate, key) is
/// presented to a server running mutual TLS. `domain` overrides the name
/// checked against the server certificate (default: the URL's host).
pub fn client_tls(
    ca_pem: Option<&Path>,
    identity: Option<(&Path, &Path)>,
    domain: Option<&str>,
) -> Result<ClientTlsConfig, TlsError> {
    let mut config = match ca_pem {
        Some(ca) => ClientTlsConfig::new().ca_certificate(load_certificates(ca)?),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    if let Some((cert, key)) = identity {
        config = config.identity(load_identity(cert, key)?);
    }
    if let Some(domain) = domain {
        config = config.domain_name(domain);
    }
    Ok(config)
}

fn load_identity(cert_pem: &Path, key_pem: &Path) -> Result<Identity, TlsError> {
    let cert = load_certificates(cert_pem)?;
    let key = read_pem(key_pem)?;
    match PrivateKeyDer::from_pem_slice(&key) {
        Ok(_) => Ok(Identity::from_pem(cert, key)),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey { path: key_pem.into() }),
        Err(e) => Err(not_pem(key_pem, e)),
    }
}

/// The file's PEM text, checked to hold at least one certificate.
fn load_certificates(path: &Path) -> Result<Certificate, TlsError> {
    let text = read_pem(path)?;
    let mut found = false;
    for cert in CertificateDer::pem_slice_iter(&text) {
        cert.map_err(|e| not_pem(path, e))?;
        found = true;
    }
    if !found {
        return Err(TlsError::NoCertificate { path: path.into() });
    }
    Ok(Certificate::from_pem(text))
}

/// The file's bytes, provided they contain at least one PEM section header:
/// a DER file or a wrong path to some other file is reported as "not PEM"
/// rather than as a missing certificate.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.into(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::NotPem {
            path: path.into(),
            reason: "no \"-----BEGIN ...-----\" section".into(),
        });
    }
    Ok(bytes)
}

fn not_pem(path: &Path, e: pem::Error) -> TlsError {
    TlsError::NotPem {
        path: path.into(),
        reason: e.to_string(),
    }
}
