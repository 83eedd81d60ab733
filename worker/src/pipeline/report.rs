//! Human-readable results: the paper's table layouts live in
//! `rwclip_common::aggregate::tables` (the coordinator writes results.md
//! without libtorch); re-exported here for the CLI.

pub use rwclip_common::aggregate::{markdown, table1, table1_per_grid_point};
