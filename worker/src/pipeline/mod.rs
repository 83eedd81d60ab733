//! `rwclip run`: the whole method on one machine, from one job file.
//!
//! Stages: dataset (synthesised if asked) → image embeddings → guide-prompt
//! embeddings (s_pr) → per seed: prompts → text embeddings → FNN → scores →
//! metrics → mean ± std summary. Every artifact goes through the store
//! (see docs/artifacts.md for the layout and schemas).

mod guides;
mod keys;
pub mod report;
mod run;
mod summary;

pub use run::{prompt_rows, run_job, RunOutcome};
pub use summary::per_category;
