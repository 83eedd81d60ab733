//! Failures talking to a coordinator, each naming the URL, file or RPC.

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("coordinator URL {url:?}: {reason} (expected http://HOST:PORT or https://HOST:PORT)")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot connect to the coordinator at {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("coordinator URL {url} is https:// but no TLS settings were given (--tls-ca)")]
    TlsRequired { url: String },
    /// A TLS file given on the command line is unusable (the message names it).
    #[error("{0}")]
    Tls(String),
    #[error("cannot read the token file {path}: {source}")]
    TokenFile { path: String, source: std::io::Error },
    #[error("token file {path} is empty")]
    EmptyToken { path: String },
    #[error("the token is not valid in an HTTP header (control characters?)")]
    InvalidToken,
    #[error("the coordinator at {url} rejected the bearer token from {token_source}: {message}")]
    Unauthenticated {
        url: String,
        /// Where the token came from (`--token-file F`, `$RWCLIP_TOKEN`, or none).
        token_source: String,
        message: String,
    },
    #[error("the coordinator at {url} refused this worker: {message}")]
    RegistrationRefused { url: String, message: String },
    #[error("coordinator refused {rpc}: {}{}", .status.message(), closed_connection_hint(.status))]
    Rpc {
        rpc: &'static str,
        status: tonic::Status,
    },
}

/// A TLS 1.3 client learns that its certificate was refused only when the
/// coordinator drops the connection under its first call.
fn closed_connection_hint(status: &tonic::Status) -> &'static str {
    match status.code() {
        tonic::Code::Cancelled | tonic::Code::Unavailable | tonic::Code::Unknown => {
            " (the connection was closed; a coordinator with mutual TLS does this when the client \
             presents no certificate (--tls-cert/--tls-key) or one its client CA did not sign)"
        }
        _ => "",
    }
}

impl RemoteError {
    /// Wraps a failed RPC, naming it.
    pub fn rpc(rpc: &'static str) -> impl FnOnce(tonic::Status) -> RemoteError {
        move |status| RemoteError::Rpc { rpc, status }
    }

    /// Whether the user must fix something (URL, token, TLS files, a job the
    /// coordinator rejected, an incompatible worker) rather than retry.
    pub fn is_usage(&self) -> bool {
        match self {
            RemoteError::Connect { .. } => false,
            RemoteError::Rpc { status, .. } => matches!(
                status.code(),
                tonic::Code::InvalidArgument
                    | tonic::Code::Unauthenticated
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::NotFound
            ),
            RemoteError::InvalidUrl { .. }
            | RemoteError::TlsRequired { .. }
            | RemoteError::Tls(_)
            | RemoteError::TokenFile { .. }
            | RemoteError::EmptyToken { .. }
            | RemoteError::InvalidToken
            | RemoteError::Unauthenticated { .. }
            | RemoteError::RegistrationRefused { .. } => true,
        }
    }

    /// Whether the coordinator (or the network to it) may be back later:
    /// workers keep retrying these, and give up on the rest.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Connect { .. } => true,
            RemoteError::Rpc { status, .. } => matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Aborted | tonic::Code::Unknown
            ),
            _ => false,
        }
    }
}
