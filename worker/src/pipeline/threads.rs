//! libtorch's intra-op thread count, pinned for deterministic training.

/// Runs `f` with libtorch's intra-op thread count set to `n`, then restores
/// it. FNN training uses one thread: CPU reductions split by thread count, so
/// a fixed count is what makes a seed's checkpoint bit-identical on every
/// machine, and for a 0.3 M-parameter net one thread is also the fastest.
pub(crate) fn with_intra_op_threads<T>(n: i32, f: impl FnOnce() -> T) -> T {
    let before = tch::get_num_threads();
    tch::set_num_threads(n);
    let out = f();
    tch::set_num_threads(before);
    out
}
