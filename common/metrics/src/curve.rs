//! The ROC and precision-recall curves as scikit-learn builds them.
//!
//! Inputs are validated by the caller (`super::validate`): equal lengths, at
//! least one sample of each class, labels 0/1, finite scores.

use super::numpy_sum::numpy_sum;

/// Cumulative positive/negative counts at each distinct score, highest score
/// first (sklearn's `confusion_matrix_at_thresholds`, ex `_binary_clf_curve`).
///
/// Samples with equal scores form one threshold: they are all predicted
/// positive together, so only the counts after the whole tie group matter.
pub(crate) struct ThresholdCounts {
    /// True positives with `score >= threshold`, increasing.
    pub tps: Vec<f64>,
    /// False positives with `score >= threshold`, increasing.
    pub fps: Vec<f64>,
}

impl ThresholdCounts {
    pub fn new(labels: &[u8], scores: &[f64]) -> ThresholdCounts {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Descending; the order inside a tie group is irrelevant because only
        // the cumulative count at the end of each group is kept.
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        ThresholdCounts::from_descending(order.into_iter().map(|i| (labels[i], scores[i])))
    }

    /// From (label, score) pairs already in descending score order (a
    /// caller that sorted for its own reasons need not sort again).
    pub fn from_descending(samples: impl Iterator<Item = (u8, f64)>) -> ThresholdCounts {
        let mut tps = Vec::new();
        let mut fps = Vec::new();
        let mut positives = 0u64;
        let mut samples = samples.peekable();
        let mut seen = 0u64;
        while let Some((label, score)) = samples.next() {
            positives += u64::from(label);
            seen += 1;
            // numpy's `diff(y_score) != 0` — so -0.0 and 0.0 are one threshold.
            let group_ends = samples.peek().is_none_or(|&(_, next)| next != score);
            if group_ends {
                tps.push(positives as f64);
                fps.push((seen - positives) as f64);
            }
        }
        ThresholdCounts { tps, fps }
    }
}

/// `(fpr, tpr)` of sklearn's `roc_curve(drop_intermediate=True)`.
pub(crate) fn roc_curve(counts: &ThresholdCounts) -> (Vec<f64>, Vec<f64>) {
    let (tps, fps) = (&counts.tps, &counts.fps);
    let n = tps.len();
    // Drop points collinear with both neighbours (zero second difference in
    // fps and tps). They do not change the area mathematically, but they do
    // change the floating-point summation, so we drop exactly what sklearn drops.
    let keep = |i: usize| -> bool {
        if n <= 2 || i == 0 || i == n - 1 {
            return true;
        }
        let second_diff = |v: &[f64]| (v[i + 1] - v[i]) - (v[i] - v[i - 1]);
        second_diff(fps) != 0.0 || second_diff(tps) != 0.0
    };
    let kept: Vec<usize> = (0..n).filter(|&i| keep(i)).collect();

    let total_fp = fps[n - 1];
    let total_tp = tps[n - 1];
    let mut fpr = Vec::with_capacity(kept.len() + 1);
    let mut tpr = Vec::with_capacity(kept.len() + 1);
    // The extra threshold at +inf makes the curve start at (0, 0).
    fpr.push(0.0);
    tpr.push(0.0);
    for i in kept {
        fpr.push(fps[i] / total_fp);
        tpr.push(tps[i] / total_tp);
    }
    (fpr, tpr)
}

/// `(precision, recall)` of sklearn's `precision_recall_curve`: recall
/// decreasing, ending with the point (precision 1, recall 0).
pub(crate) fn precision_recall_curve(counts: &ThresholdCounts) -> (Vec<f64>, Vec<f64>) {
    let (tps, fps) = (&counts.tps, &counts.fps);
    let total_tp = tps[tps.len() - 1];
    let mut precision: Vec<f64> = tps
        .iter()
        .zip(fps)
        .rev()
        .map(|(&tp, &fp)| {
            let predicted = tp + fp;
            if predicted != 0.0 {
                tp / predicted
            } else {
                0.0
            }
        })
        .collect();
    let mut recall: Vec<f64> = tps.iter().rev().map(|&tp| tp / total_tp).collect();
    precision.push(1.0);
    recall.push(0.0);
    (precision, recall)
}

/// sklearn's `auc(x, y)`: trapezoid rule, sign flipped when `x` decreases.
/// The callers' curves are monotonic by construction.
pub(crate) fn trapezoid_auc(x: &[f64], y: &[f64]) -> f64 {
    let steps: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let direction = if steps.iter().any(|&d| d < 0.0) {
        -1.0
    } else {
        1.0
    };
    debug_assert!(
        direction > 0.0 || steps.iter().all(|&d| d <= 0.0),
        "x must be monotonic"
    );
    // Same expression order as scipy's trapezoid: d * (y[1:] + y[:-1]) / 2.0.
    let terms: Vec<f64> = steps
        .iter()
        .zip(y.windows(2))
        .map(|(&d, w)| d * (w[1] + w[0]) / 2.0)
        .collect();
    direction * numpy_sum(&terms)
}
