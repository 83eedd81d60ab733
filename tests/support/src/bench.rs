//! What the benches share: timing by the best of several runs.

use std::time::Instant;

/// The fastest of `repeats` runs of `f`, in seconds (the least disturbed
/// by whatever else the machine was doing).
pub fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
