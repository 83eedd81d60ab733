//! rwclip's core without libtorch and without the model's input codecs: job
//! specs, planning, the shard store protocol, failure classes, artifacts,
//! metrics and aggregation. The coordinator links only this crate (and the
//! protocol); `rwclip-inputs` adds the tokenizer, image decoding and the
//! synthetic datasets, and the worker the libtorch CLIP and FNN on top.

pub mod aggregate;
pub mod artifacts;
pub mod clip_config;
pub mod dataset;
pub mod detector;
pub mod failure;
pub mod fnn_config;
pub mod job;
pub mod metrics;
pub mod plan;
pub mod plots;
pub mod prompts;
pub mod map_method;
pub mod maps_table;
pub mod scores_table;
pub mod scoring;
pub mod shard_store;
