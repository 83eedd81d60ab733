//! Batches fitted to device memory. On CUDA, a forward pass that runs out
//! of memory is run again in halves, and the size that fit is kept for the
//! model's life: a `image_batch_size` too big for a worker's GPU slows that
//! worker instead of failing its shards. What a batch holds (and so a row's
//! neighbours in the plan) never changes; only how many of its items go
//! through the device at once.
//!
//! tch's infallible ops report libtorch errors by panicking, so the out of
//! memory error arrives as a panic, told apart from any other by libtorch's
//! message ("CUDA out of memory", or c10's "out of memory"); every other
//! panic goes on unwinding.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use tch::Tensor;

/// The largest number of items known to fit through the model at once.
#[derive(Debug)]
pub struct DeviceFit {
    /// `usize::MAX` until a pass runs out of memory.
    limit: AtomicUsize,
    /// Only CUDA memory is fitted: on the CPU, running out is the process's
    /// end, not an error libtorch returns.
    enabled: bool,
}

impl DeviceFit {
    pub fn new(device: tch::Device) -> DeviceFit {
        DeviceFit { limit: AtomicUsize::new(usize::MAX), enabled: device.is_cuda() }
    }

    /// Fitting on whatever the device (for tests of the fitting itself).
    pub fn always() -> DeviceFit {
        DeviceFit { limit: AtomicUsize::new(usize::MAX), enabled: true }
    }

    /// Items per pass from now on (`None`: not limited).
    pub fn limit(&self) -> Option<usize> {
        Some(self.limit.load(Ordering::Relaxed)).filter(|&l| l != usize::MAX)
    }

    /// `forward` over items `0..n` (a range per pass, results in order along
    /// dim 0): all at once while they fit, in halves after an out of memory
    /// error, down to one item, which then fails as libtorch failed.
    pub fn run(&self, n: usize, forward: impl Fn(i64, i64) -> Tensor) -> Tensor {
        if !self.enabled {
            return forward(0, n as i64);
        }
        loop {
            let chunk = self.limit.load(Ordering::Relaxed).min(n).max(1);
            let passes = catch_unwind(AssertUnwindSafe(|| {
                (0..n).step_by(chunk).map(|start| forward(start as i64, chunk.min(n - start) as i64)).collect::<Vec<Tensor>>()
            }));
            match passes {
                Ok(mut parts) if parts.len() == 1 => return parts.remove(0),
                Ok(parts) => return Tensor::cat(&parts, 0),
                Err(payload) if chunk > 1 && is_out_of_memory(payload.as_ref()) => {
                    let half = chunk / 2;
                    self.limit.fetch_min(half, Ordering::Relaxed);
                    tracing::warn!(tried = chunk, now = half, "the device ran out of memory; running at most {half} items per pass from now on");
                }
                Err(payload) => resume_unwind(payload),
            }
        }
    }
}

/// Whether a panic is libtorch's out of memory error.
fn is_out_of_memory(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
    text.contains("out of memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forward pass that "runs out of memory" above `fits` items, with
    /// libtorch's message: each item's result is its index times ten.
    fn forward(fits: usize) -> impl Fn(i64, i64) -> Tensor {
        move |start, len| {
            if len as usize > fits {
                panic!("called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 139.81 GiB total capacity)\")");
            }
            Tensor::arange_start(start, start + len, (tch::Kind::Float, tch::Device::Cpu)) * 10.0
        }
    }

    #[test]
    fn an_out_of_memory_pass_is_run_again_in_halves_and_the_size_that_fit_is_kept() {
        let fit = DeviceFit::always();
        let out = fit.run(16, forward(5));
        assert_eq!(Vec::<f32>::try_from(&out).unwrap(), (0..16).map(|i| i as f32 * 10.0).collect::<Vec<_>>());
        assert_eq!(fit.limit(), Some(4), "16 → 8 → 4");
        // The next batch starts at the size that fit.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let again = fit.run(16, |s, l| {
            calls.fetch_add(1, Ordering::Relaxed);
            forward(5)(s, l)
        });
        assert_eq!(again.size(), [16]);
        assert_eq!(calls.load(Ordering::Relaxed), 4, "four passes of 4, none refused");
    }

    #[test]
    fn other_panics_and_one_item_that_does_not_fit_go_on_unwinding() {
        let fit = DeviceFit::always();
        let other = catch_unwind(AssertUnwindSafe(|| fit.run(4, |_, _| panic!("shape mismatch"))));
        assert!(other.is_err());
        assert_eq!(fit.limit(), None, "not an out of memory error: nothing learned");
        let none_fit = catch_unwind(AssertUnwindSafe(|| fit.run(4, forward(0))));
        assert!(none_fit.is_err(), "one item that does not fit fails as libtorch failed");
        assert_eq!(fit.limit(), Some(1));
    }

    #[test]
    fn on_the_cpu_a_pass_is_never_split() {
        let fit = DeviceFit::new(tch::Device::Cpu);
        let r = catch_unwind(AssertUnwindSafe(|| fit.run(8, forward(2))));
        assert!(r.is_err(), "CPU passes run whole");
        assert_eq!(fit.limit(), None);
    }
}
