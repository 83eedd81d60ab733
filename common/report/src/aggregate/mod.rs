//! Aggregation of a job's trials, without libtorch: the
//! coordinator runs it itself, and a worker's in-process plan runner calls
//! the same code.
//!
//! - [`summary`]: mean ± std over seeds, keyed so duplicates count once; CSV.
//! - [`grid`]: config names back into setup and sweep grid point.
//! - [`tables`]: results.md and the printed tables, in the paper's layouts.
//! - [`exec`]: the aggregate shard over the store, and publishing results
//!   to the job's output location.

pub mod error;
pub mod exec;
pub mod grid;
pub mod summary;
pub mod tables;
#[cfg(test)]
mod tests;

pub use error::AggregateError;
pub use exec::{publish_figures, publish_results, read_summary, read_trial_metrics, run_aggregate, write_aggregate_parts, PublishedResults};
pub use summary::{csv, summarise, unique_trial_rows, MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS, SCORE_WINCLIP};
pub use tables::{markdown, DatasetColumn, np_sweep_markdown, per_category_markdown, table1, table1_per_grid_point, word_pair_markdown};
