//! What a store call can fail with, and what it met: the classification
//! that retries, `/metrics` and failure classes read.

use object_store::client::{HttpError, HttpErrorKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URI {uri:?}: use a local path, file:///absolute/path or s3://bucket/prefix")]
    UnsupportedUri { uri: String },
    #[error("invalid store URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("cannot create local store directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("options {keys:?} were given for local store {uri}; store options apply to s3:// stores only")]
    OptionsForLocalStore { uri: String, keys: Vec<String> },
    #[error("unknown S3 option {key:?} for {uri}: {source}")]
    UnknownS3Option {
        uri: String,
        key: String,
        source: Box<object_store::Error>,
    },
    #[error("cannot open store {uri}: {source}")]
    Open {
        uri: String,
        source: Box<object_store::Error>,
    },
    #[error("invalid object key {key:?} under {uri}: {source}")]
    InvalidKey {
        uri: String,
        key: String,
        source: object_store::path::Error,
    },
    #[error("{uri} not found")]
    NotFound { uri: String },
    /// An answer's body that stopped before its length: the connection
    /// broke, and reading on from `at` may succeed.
    #[error("get {uri}: the body ended at byte {at} of {size}")]
    BodyEndedEarly { uri: String, at: u64, size: u64 },
    #[error("{operation} {uri}: {source}")]
    Backend {
        operation: &'static str,
        uri: String,
        source: Box<object_store::Error>,
    },
}

impl StoreError {
    /// A malformed URI, key or option stays malformed; everything else the
    /// store says (network, throttling, an object not visible yet) may pass.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            StoreError::UnsupportedUri { .. }
                | StoreError::InvalidUri { .. }
                | StoreError::InvalidKey { .. }
                | StoreError::OptionsForLocalStore { .. }
                | StoreError::UnknownS3Option { .. }
        )
    }
}

impl StoreError {
    /// Whether trying the call again later can succeed: an outage, a
    /// timeout, throttling (a missing object or a bad key cannot).
    pub fn is_retryable(&self) -> bool {
        retryable(self)
    }
}

/// What a failed store call met, read from the error's types: the HTTP
/// status or transport failure found down its `source()` chain, never its
/// text (which holds URIs, elapsed times and bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Met {
    /// An answer with this HTTP status.
    Status(u16),
    /// A provider error in the body of a successful answer (S3 does this).
    ErrorInBody,
    /// No usable answer: the connection, the request, a timeout.
    Transport(HttpErrorKind),
    /// A body that ended before its length.
    BodyEndedEarly,
    /// Nothing typed (a local file system error, a configuration error).
    Other,
}

/// The text object_store gives its status error, fixed by its type (the
/// status error itself is not nameable outside object_store).
const STATUS_PREFIX: &str = "Server returned non-2xx status code: ";
const ERROR_BODY_PREFIX: &str = "Server returned error response: ";

pub fn met(e: &StoreError) -> Met {
    match e {
        StoreError::BodyEndedEarly { .. } => Met::BodyEndedEarly,
        StoreError::Backend { source, .. } => {
            let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
            while let Some(error) = current {
                if let Some(http) = error.downcast_ref::<HttpError>() {
                    return Met::Transport(http.kind());
                }
                // Only the innermost request error's own text, which is
                // its status and the answer's body.
                let own = error.to_string();
                if let Some(rest) = own.strip_prefix(STATUS_PREFIX) {
                    if let Some(code) = rest.get(..3).and_then(|c| c.parse().ok()) {
                        return Met::Status(code);
                    }
                }
                if own.starts_with(ERROR_BODY_PREFIX) {
                    return Met::ErrorInBody;
                }
                current = error.source();
            }
            Met::Other
        }
        _ => Met::Other,
    }
}

/// Why a store call failed, as `/metrics` labels it.
pub fn cause(e: &StoreError) -> &'static str {
    match met(e) {
        Met::Status(503 | 429) => "throttled_503",
        Met::Status(500..=599) | Met::ErrorInBody => "server_error_5xx",
        Met::Transport(HttpErrorKind::Timeout) => "timeout",
        Met::Transport(_) | Met::BodyEndedEarly => "connection",
        Met::Status(_) | Met::Other => "other",
    }
}

/// Whether retrying `e` can help: a timeout, a lost connection, a body
/// cut short, a 5xx, 408 or 429 can pass; a refused credential, a missing
/// object, a lost conditional put or any other 4xx answer stays what it is.
pub(crate) fn retryable(e: &StoreError) -> bool {
    use object_store::Error as E;
    match e {
        StoreError::BodyEndedEarly { .. } => true,
        StoreError::Backend { source, .. } => match source.as_ref() {
            E::NotFound { .. } | E::InvalidPath { .. } | E::NotSupported { .. } | E::AlreadyExists { .. } | E::Precondition { .. } | E::NotModified { .. } | E::NotImplemented { .. } | E::PermissionDenied { .. } | E::Unauthenticated { .. } | E::UnknownConfigurationKey { .. } => false,
            _ => match met(e) {
                Met::Status(code) => !(400..500).contains(&code) || code == 408 || code == 429,
                Met::ErrorInBody | Met::Transport(_) | Met::BodyEndedEarly | Met::Other => true,
            },
        },
        other => other.is_transient() && !matches!(other, StoreError::NotFound { .. } | StoreError::CreateDir { .. }),
    }
}

