//! rwclip's coordinator: a gRPC service (package rwclip.v1) that turns jobs
//! into shard DAGs, leases shards to workers, retries and times them out,
//! and rebuilds its jobs from the store after a restart. No libtorch.

pub mod auth;
pub mod cli;
pub mod config;
pub mod convert;
pub mod error;
pub mod failure;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod planner;
pub mod scheduler;
pub mod server;
pub mod service;

pub use config::{CoordinatorConfig, TlsFiles};
pub use error::CoordinatorError;
pub use planner::job_planner;
pub use scheduler::{PlannedJob, Planner};
pub use server::{start_coordinator, CoordinatorHandle};
