//! `rwclip run`: the whole method on one machine, from one job file.
//!
//! The job is planned into shards (`rwclip_common::plan`) and every shard is
//! executed in this process by the same executors a distributed worker uses
//! (`crate::shard`): image embeddings, text-embedding blocks, one trial per
//! grid point × seed, and the aggregate (mean ± std, result tables). Every
//! artifact goes through the store (see docs/artifacts.md, "Shard layout").

pub(crate) mod guides;
mod prompt_rows;
pub mod report;
mod run;
pub(crate) mod summary;
mod threads;

pub use prompt_rows::prompt_rows;
pub use run::{run_job, RunOutcome};
pub use summary::per_category;
pub(crate) use threads::with_intra_op_threads;
