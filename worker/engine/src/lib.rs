//! rwclip's libtorch engine: the open_clip-exact CLIP towers (tch), the FNN
//! anomaly head, scoring, and the shard executors that run a planned job's
//! shards against the store. The `rwclip` binary (CLI, client, worker loop)
//! is built on top of it.
//!
//! Does not belong here: aggregation and reports (`rwclip-report`, which the
//! coordinator runs; the engine never links it), drawing primitives
//! (`rwclip-figures`), video decoding (`rwclip-decoder`'s own process).

pub mod blocking_store;
pub mod clip;
pub mod detector;
pub mod device;
pub mod device_fit;
pub mod embed;
pub mod error;
pub mod fnn;
pub mod image_reader;
pub mod maps;
pub mod overlap;
pub mod pipeline;
pub mod progress;
pub mod score;
pub mod shard;
