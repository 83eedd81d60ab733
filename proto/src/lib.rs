//! rwclip's wire protocol. Everything here is generated from
//! `proto/rwclip/v1/rwclip.proto`; conversion to domain types happens at the
//! edges (the coordinator's `convert` module), never in generated code.

/// Version of the worker protocol; a worker registering with another version
/// is refused, so an old worker never runs shards it misunderstands.
pub const PROTOCOL_VERSION: u32 = 4;

pub mod v1 {
    tonic::include_proto!("rwclip.v1");
}

pub mod tls;
