//! The `rwclip` binary's library: the command line, the client that submits
//! and watches jobs (and runs local mode), and the worker loop that leases
//! shards from a coordinator and runs them on the engine (`rwclip-engine`).

pub mod cli;
pub mod client;
pub mod error;
pub mod local_plan;
pub mod remote;
