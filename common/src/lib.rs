//! rwclip core pieces that need no libtorch. The coordinator links only this
//! crate; the worker adds the libtorch CLIP and FNN on top.

pub mod aggregate;
pub mod artifacts;
pub mod clip_config;
pub mod dataset;
pub mod failure;
pub mod fnn_config;
pub mod job;
pub mod metrics;
pub mod plan;
pub mod preprocess;
pub mod prompts;
pub mod scores_table;
pub mod shard_store;
pub mod text_clean;
pub mod tokenizer;
