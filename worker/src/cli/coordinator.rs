//! `rwclip coordinator`: the `rwclip-coordinator` binary as a subcommand
//! (same flags, same behaviour), so one executable serves every role.

pub use rwclip_coordinator::cli::CoordinatorArgs;

use crate::error::{EngineError, Result};

pub fn run(args: CoordinatorArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| EngineError::Io { path: "tokio runtime".to_string(), source })?;
    runtime.block_on(rwclip_coordinator::cli::serve(args))?;
    Ok(())
}
