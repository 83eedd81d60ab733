//! Async store code run from synchronous callers.

/// Runs `future` to completion from synchronous code: on the caller's tokio
/// runtime when there is one (the coordinator plans on a blocking thread),
/// else on a current-thread runtime of its own. `Err` only when that
/// runtime cannot be built.
pub fn block_on_here<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => Ok(tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?.block_on(future)),
    }
}
