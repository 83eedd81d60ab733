//! `rwclip run`: the whole method on one machine, from one job file.
//!
//! Stages: dataset (synthesised if asked) → image embeddings → guide-prompt
//! embeddings (s_pr) → per seed: prompts → text embeddings → FNN → scores →
//! metrics → mean ± std summary. Every artifact goes through the store
//! (see docs/artifacts.md for the layout and schemas).

pub(crate) mod guides;
mod keys;
pub mod report;
mod run;
pub(crate) use run::with_intra_op_threads;
pub(crate) mod summary;

pub use run::{prompt_rows, run_job, RunOutcome};
pub use summary::per_category;
