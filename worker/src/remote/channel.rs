//! A gRPC channel to the coordinator that carries the bearer token on
//! every call, over plain HTTP/2 or TLS.

use std::path::Path;
use std::time::Duration;

use rwclip_proto::v1::coordinator_client::CoordinatorClient as Generated;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

use super::error::RemoteError;

/// The environment variable read when no token file is given.
pub const TOKEN_ENV: &str = "RWCLIP_TOKEN";

pub type CoordinatorClient = Generated<InterceptedService<Channel, BearerToken>>;

/// Where the coordinator is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    pub token: Option<String>,
    /// Required for `https://` URLs.
    pub tls: Option<ClientTlsConfig>,
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

use super::error::ClientTls;

/// TLS settings for `url` from the `--tls-ca/--tls-cert/--tls-key` flags:
/// `None` for `http://`, the CA (else the system roots) and optional client
/// identity for `https://`; TLS files with an `http://` URL are a mistake.
pub fn client_tls_for(
    url: &str,
    ca: Option<&Path>,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Option<ClientTlsConfig>, RemoteError> {
    let https = url.starts_with("https://");
    if !https && (ca.is_some() || cert.is_some()) {
        return Err(RemoteError::InvalidUrl {
            url: url.to_string(),
            reason: "--tls-ca/--tls-cert are for https:// coordinators".to_string(),
        });
    }
    super::error::note_client_tls(if !https { ClientTls::Plain } else if cert.is_some() { ClientTls::WithCertificate } else { ClientTls::WithoutCertificate });
    if !https {
        return Ok(None);
    }
    rwclip_proto::tls::client_tls(ca, cert.zip(key), None)
        .map(Some)
        .map_err(|e| RemoteError::Tls(e.to_string()))
}

/// The token from `token_file`, else from `$RWCLIP_TOKEN`, else none.
pub fn read_token(token_file: Option<&Path>) -> Result<Option<String>, RemoteError> {
    match token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| RemoteError::TokenFile {
                path: path.display().to_string(),
                source,
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(RemoteError::EmptyToken { path: path.display().to_string() });
            }
            Ok(Some(token.to_string()))
        }
        None => Ok(std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())),
    }
}

/// Connects (eagerly, so a wrong address fails here and not at the first RPC).
pub async fn connect(options: &ConnectOptions) -> Result<CoordinatorClient, RemoteError> {
    let url = &options.url;
    let invalid = |reason: &str| RemoteError::InvalidUrl { url: url.clone(), reason: reason.to_string() };
    let https = if url.starts_with("https://") {
        true
    } else if url.starts_with("http://") {
        false
    } else {
        return Err(invalid("no http:// or https:// scheme"));
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| invalid(&e.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        // Detects a coordinator that vanished without closing the connection.
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    if https {
        let tls = options.tls.clone().ok_or_else(|| RemoteError::TlsRequired { url: url.clone() })?;
        endpoint = endpoint.tls_config(tls).map_err(|source| RemoteError::Connect { url: url.clone(), source })?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| RemoteError::Connect { url: url.clone(), source })?;
    let header = match &options.token {
        Some(t) => Some(
            MetadataValue::try_from(format!("Bearer {t}")).map_err(|_| RemoteError::InvalidToken)?,
        ),
        None => None,
    };
    Ok(Generated::with_interceptor(channel, BearerToken(header)))
}
