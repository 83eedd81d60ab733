//! The coordinator's one error type; its CLI layer (`crate::cli::exit_code`)
//! maps it to exit codes.

use std::net::SocketAddr;

use rwclip_artifacts::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("no token configured and bind address {bind} is not loopback: set --token-file or RWCLIP_TOKEN")]
    TokenRequired { bind: SocketAddr },
    #[error("cannot read token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error("store {uri} does not support conditional put (needed for exactly-once commits); use a local path or s3://")]
    NoConditionalPut { uri: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("corrupt job record {key}: {reason}")]
    CorruptJobRecord { key: String, reason: String },
    #[error("cannot bind {bind}: {source}")]
    Bind {
        bind: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Server(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] rwclip_proto::tls::TlsError),
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
}
