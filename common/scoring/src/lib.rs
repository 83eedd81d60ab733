//! Archive scoring: a detector applied to every image of a manifest or a
//! folder, streamed in row-range shards, each unreadable image a recorded
//! row rather than a failure.
//!
//! - [`input`]: the input cut into row ranges without holding its rows
//!   ([`parquet_split`] and [`parquet_scan`] for Parquet manifests).
//! - [`plan`]: the shard DAG of a scoring job (its job file is `rwclip-job`'s
//!   `score_job`).
//! - [`video_cut`]: videos probed and cut into shards of sampled frames;
//!   [`video_length`] reads a video's length from its container, [`sniff`]
//!   tells a video by its first bytes.
//! - [`videos`]: per-video results and their top moments.
//! - [`top_k`]: the best-scored rows, as the summary and the contact sheet
//!   rank them; [`row_error`]: a failed row's kind of error.
//!
//! Does not belong here: decoding images or video (`rwclip-inputs`, the
//! worker's decoder), the summary and report a scoring job publishes
//! (`rwclip-report`), the shapes of score shards (`rwclip-plan`).

pub mod input;
mod input_error;
pub mod parquet_scan;
pub mod parquet_split;
pub mod plan;
pub mod row_error;
pub mod sniff;
pub mod top_k;
pub mod video_cut;
pub mod video_length;
pub mod videos;

pub use plan::{plan_score, read_detector_header, ScorePlanError};
pub use rwclip_plan::pipe_span;
