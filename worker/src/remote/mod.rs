//! Talking to a coordinator over gRPC: the channel (token, TLS) shared by
//! `rwclip worker`, `rwclip submit` and `rwclip run`'s local mode.

mod channel;
mod error;
pub mod worker;

pub use channel::{client_tls_for, connect, read_token, CoordinatorClient, ConnectOptions, TOKEN_ENV};
pub use error::RemoteError;
