//! Float summation in exactly numpy's order.
//!
//! numpy reduces contiguous float64 arrays with pairwise summation (blocks of
//! eight accumulators below 128 elements, recursive halving above). Summing in
//! the same order makes our trapezoid areas and average precision bit-identical
//! to scikit-learn's instead of merely close.

/// Below this many elements numpy sums a block with eight interleaved accumulators.
const PAIRWISE_BLOCK: usize = 128;

/// `np.sum` of a contiguous float64 slice (numpy's `pairwise_sum_DOUBLE`).
pub(crate) fn numpy_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        let mut total = 0.0;
        for &v in values {
            total += v;
        }
        total
    } else if n <= PAIRWISE_BLOCK {
        let mut acc = [0.0f64; 8];
        acc.copy_from_slice(&values[..8]);
        let unrolled_end = n - n % 8;
        let mut i = 8;
        while i < unrolled_end {
            for (j, a) in acc.iter_mut().enumerate() {
                *a += values[i + j];
            }
            i += 8;
        }
        let mut total =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for &v in &values[unrolled_end..] {
            total += v;
        }
        total
    } else {
        let mut half = n / 2;
        half -= half % 8;
        numpy_sum(&values[..half]) + numpy_sum(&values[half..])
    }
}

#[cfg(test)]
mod tests {
    use super::numpy_sum;

    #[test]
    fn matches_plain_sum_on_exactly_representable_values() {
        // Integers below 2^53 add exactly in any order, so every branch must give n(n-1)/2.
        for n in [0usize, 1, 7, 8, 9, 127, 128, 129, 1000, 4097] {
            let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(
                numpy_sum(&values),
                (n * n.saturating_sub(1) / 2) as f64,
                "n = {n}"
            );
        }
    }
}
