//! rwclip worker: libtorch (tch) CLIP towers, the FNN anomaly head, scoring,
//! and the job pipeline behind the `rwclip` CLI.

pub mod blocking_store;
pub mod cli;
pub mod client;
pub mod clip;
pub mod device;
pub mod embed;
pub mod error;
pub mod fnn;
pub mod pipeline;
pub mod progress;
pub mod remote;
pub mod score;
pub mod shard;
