//! What a job publishes: mean ± std over a sweep's trials ([`aggregate`]),
//! the paper's tables in markdown and CSV, the figures drawn from them
//! ([`figures`]) and `results.html` ([`html`]); for a scoring job, its
//! `top_k.csv`, `summary.json` and `results.md` ([`score_summary`],
//! [`score_report`]).
//!
//! The coordinator runs these itself (an aggregate shard needs no
//! libtorch), and the worker's local mode calls the same code. Does not
//! belong here: metrics of one trial (`rwclip-metrics`), drawing primitives
//! (`rwclip-figures`), anything a shard computes on a worker.

pub mod aggregate;
pub mod figures;
pub mod html;
pub mod score_report;
pub mod score_summary;

pub use aggregate::{AggregateError, PublishedResults};
pub use html::results_html;
