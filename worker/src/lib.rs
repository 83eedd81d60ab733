//! rwclip worker: libtorch (tch) CLIP towers, the FNN anomaly head, scoring,
//! and the job pipeline behind the `rwclip` CLI.

pub mod clip;
pub mod fnn;
pub mod score;
