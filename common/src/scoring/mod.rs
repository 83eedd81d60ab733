//! Archive scoring: a detector applied to every image of a manifest or a
//! folder, streamed in row-range shards, each unreadable image a recorded
//! row rather than a failure.
//!
//! - [`job`]: the `kind = "score"` job file.
//! - [`input`]: the input cut into row ranges without holding its rows.
//! - [`plan`]: the shard DAG of a scoring job.
//! - [`summary`]: `top_k.csv` and `summary.json` over every shard, and
//!   publishing `scores/` to the output.
//! - [`report`]: its `results.md`.
//! - [`sampling`]: which frames of a video are scored.
//! - [`videos`]: per-video results and their top moments.
//! - [`video_length`]: a video's length from its container, for the plan.
//! - [`video_cut`]: videos probed and cut into shards of sampled frames.
//! - [`sniff`]: a video told by its first bytes.
//! - [`pipe_span`]: where along the pipe a manifest's video runs.
//! - [`parquet_scan`]: a manifest's columns read a row group at a time.
//! - [`parquet_split`]: a Parquet manifest cut into row ranges.

pub mod input;
pub mod job;
pub mod parquet_scan;
pub mod parquet_split;
pub mod pipe_span;
pub mod plan;
pub mod report;
pub mod sampling;
pub mod sniff;
pub mod summary;
pub mod video_cut;
pub mod video_length;
pub mod videos;

pub use job::{declared_kind, ScoreJob, ScoreJobSpec, MAX_SCORE_SHARDS};
pub use plan::{plan_score, read_detector_header, ScorePlanError};
