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

/// How this process talks to its coordinator, for the hint on a closed
/// connection (a CLI process talks to one coordinator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTls {
    Plain,
    WithoutCertificate,
    WithCertificate,
}

static CLIENT_TLS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub(crate) fn note_client_tls(tls: ClientTls) {
    CLIENT_TLS.store(tls as u8, std::sync::atomic::Ordering::Relaxed);
}

/// A closed connection's likely causes, for this client: a coordinator
/// that stopped comes first; a TLS 1.3 client learns that its certificate
/// was refused only when the coordinator drops the connection under its
/// first call, so that cause is named where it can apply.
fn closed_connection_hint(status: &tonic::Status) -> &'static str {
    if !matches!(status.code(), tonic::Code::Cancelled | tonic::Code::Unavailable | tonic::Code::Unknown) {
        return "";
    }
    match CLIENT_TLS.load(std::sync::atomic::Ordering::Relaxed) {
        x if x == ClientTls::WithoutCertificate as u8 => {
            " (the connection was closed: the coordinator stopped or restarted (its log says why), or it \
             requires mutual TLS and this client presents no certificate (--tls-cert/--tls-key))"
        }
        x if x == ClientTls::WithCertificate as u8 => {
            " (the connection was closed: the coordinator stopped or restarted (its log says why), or its \
             client CA did not sign this client's certificate)"
        }
        _ => " (the connection was closed: the coordinator stopped or restarted; its log says why)",
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
