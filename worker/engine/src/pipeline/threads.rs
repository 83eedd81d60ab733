//! libtorch's intra-op thread count, set explicitly for every shard.
//!
//! libtorch keeps the count per OS thread (OpenMP's per-thread setting),
//! but a thread's first libtorch call copies it from the process-wide value
//! that the last `set_num_threads` left, from whichever thread. With
//! several executor threads (`--capacity > 1`) a thread's count would then
//! depend on what another shard was doing at that moment, and CPU
//! reductions split by thread count. So every shard starts at the count the
//! process began with, FNN training pins one thread, and changes go through
//! one lock so the process-wide value is never read half-way.

use std::sync::{Mutex, OnceLock};

static SETTING: Mutex<()> = Mutex::new(());
static DEFAULT: OnceLock<i32> = OnceLock::new();

/// The count the process started with (captured before anything pins one).
fn default_threads() -> i32 {
    *DEFAULT.get_or_init(|| {
        let _guard = SETTING.lock().unwrap_or_else(|e| e.into_inner());
        tch::get_num_threads()
    })
}

fn set_threads(n: i32) {
    let _guard = SETTING.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(n);
}

/// Resets this thread to the process's starting count; called before each
/// shard so none inherits another's setting.
pub fn use_default_threads() {
    set_threads(default_threads());
}

/// Runs `f` with this thread's intra-op count set to `n`, then back to the
/// default. FNN training uses one thread: a fixed count is what makes a
/// seed's checkpoint bit-identical on every machine, and for a
/// 0.3 M-parameter net one thread is also the fastest.
pub(crate) fn with_intra_op_threads<T>(n: i32, f: impl FnOnce() -> T) -> T {
    let default = default_threads();
    set_threads(n);
    let out = f();
    set_threads(default);
    out
}
