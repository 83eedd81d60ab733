//! The method's building blocks shared by the shard executors
//! (`crate::shard`) and the single-step subcommands: prompt rows, object
//! guides, per-trial metrics and their summary, the result tables.
//!
//! Whole jobs run through a coordinator: `rwclip run` is local mode
//! (`rwclip_worker::client::LocalCluster`), `rwclip submit` sends a job to a cluster.

pub mod guides;
mod prompt_rows;
pub(crate) mod summary;
mod threads;

pub use prompt_rows::prompt_rows;
pub use summary::per_category;
pub(crate) use threads::{use_default_threads, with_intra_op_threads};
