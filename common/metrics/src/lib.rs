//! Image-level anomaly-detection metrics (pixel-level ones in [`pixel`]), computed exactly as scikit-learn 1.9
//! does (same tie grouping, same curve points, same float summation order), so
//! our numbers can be compared with published tables digit for digit.
//!
//! Labels are 1 for anomalous, 0 for normal; higher scores mean "more anomalous".
//! Unlike sklearn (which warns and returns NaN or a degenerate value), inputs
//! with a single class are an error: an image-level AUROC over one class is
//! meaningless and would silently poison averages over categories.
//!
//! Pure functions of labels, scores and masks: no I/O, no Arrow, no async.
//! Reading scores from Parquet is `rwclip-artifacts`' job; averaging over
//! seeds and tabling is `rwclip-report`'s.

mod curve;
mod numpy_sum;
pub mod pixel;

use curve::{precision_recall_curve, roc_curve, trapezoid_auc, ThresholdCounts};
use numpy_sum::numpy_sum;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "no samples: metrics need at least one normal (label 0) and one anomalous (label 1) sample"
    )]
    Empty,
    #[error("{labels} labels but {scores} scores: every sample needs exactly one score")]
    LengthMismatch { labels: usize, scores: usize },
    #[error("label {value} at index {index} is neither 0 (normal) nor 1 (anomalous)")]
    InvalidLabel { index: usize, value: u8 },
    #[error("score at index {index} is {value}: scores must be finite")]
    NonFiniteScore { index: usize, value: f64 },
    #[error(
        "all {count} samples are {present}; no {missing} sample, so the metric is undefined \
         (sklearn warns and returns NaN here)"
    )]
    SingleClass {
        present: &'static str,
        missing: &'static str,
        count: usize,
    },
}

/// The four image-level metrics reported per category.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BinaryMetrics {
    pub auroc: f64,
    pub aupr: f64,
    pub average_precision: f64,
    pub f1_max: f64,
}

/// Area under the ROC curve: sklearn `roc_auc_score`.
pub fn auroc(labels: &[u8], scores: &[f64]) -> Result<f64, MetricsError> {
    let counts = checked_counts(labels, scores)?;
    Ok(auroc_from(&counts))
}

/// Area under the PR curve the way the VisA / WinCLIP reference code computes
/// it: trapezoid `auc(recall, precision)` over sklearn's `precision_recall_curve`.
pub fn aupr(labels: &[u8], scores: &[f64]) -> Result<f64, MetricsError> {
    let (precision, recall) = precision_recall_curve(&checked_counts(labels, scores)?);
    Ok(trapezoid_auc(&recall, &precision))
}

/// sklearn `average_precision_score`: the step-function integral of the PR curve.
pub fn average_precision(labels: &[u8], scores: &[f64]) -> Result<f64, MetricsError> {
    let (precision, recall) = precision_recall_curve(&checked_counts(labels, scores)?);
    Ok(average_precision_from(&precision, &recall))
}

/// Best F1 over the points of sklearn's `precision_recall_curve`
/// (2PR/(P+R), taken as 0 where P+R = 0).
pub fn f1_max(labels: &[u8], scores: &[f64]) -> Result<f64, MetricsError> {
    let (precision, recall) = precision_recall_curve(&checked_counts(labels, scores)?);
    Ok(f1_max_from(&precision, &recall))
}

/// All four metrics from one sort of the scores.
pub fn binary_metrics(labels: &[u8], scores: &[f64]) -> Result<BinaryMetrics, MetricsError> {
    let counts = checked_counts(labels, scores)?;
    let (precision, recall) = precision_recall_curve(&counts);
    Ok(BinaryMetrics {
        auroc: auroc_from(&counts),
        aupr: trapezoid_auc(&recall, &precision),
        average_precision: average_precision_from(&precision, &recall),
        f1_max: f1_max_from(&precision, &recall),
    })
}

/// numpy `mean` and `std` (population, ddof = 0), summed in numpy's order.
/// An empty slice gives `(NaN, NaN)`, as numpy does.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = numpy_sum(values) / n;
    let squared_deviations: Vec<f64> = values
        .iter()
        .map(|&v| {
            let d = v - mean;
            d * d
        })
        .collect();
    (mean, (numpy_sum(&squared_deviations) / n).sqrt())
}

fn checked_counts(labels: &[u8], scores: &[f64]) -> Result<ThresholdCounts, MetricsError> {
    validate(labels, scores)?;
    Ok(ThresholdCounts::new(labels, scores))
}

fn validate(labels: &[u8], scores: &[f64]) -> Result<(), MetricsError> {
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    if let Some((index, &value)) = labels.iter().enumerate().find(|(_, &l)| l > 1) {
        return Err(MetricsError::InvalidLabel { index, value });
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MetricsError::NonFiniteScore { index, value });
    }
    let anomalous = labels.iter().filter(|&&l| l == 1).count();
    let count = labels.len();
    if anomalous == 0 {
        return Err(MetricsError::SingleClass {
            present: "normal (label 0)",
            missing: "anomalous (label 1)",
            count,
        });
    }
    if anomalous == count {
        return Err(MetricsError::SingleClass {
            present: "anomalous (label 1)",
            missing: "normal (label 0)",
            count,
        });
    }
    Ok(())
}

pub(crate) fn auroc_from(counts: &ThresholdCounts) -> f64 {
    let (fpr, tpr) = roc_curve(counts);
    trapezoid_auc(&fpr, &tpr)
}

fn average_precision_from(precision: &[f64], recall: &[f64]) -> f64 {
    let terms: Vec<f64> = recall
        .windows(2)
        .zip(precision)
        .map(|(r, &p)| (r[1] - r[0]) * p)
        .collect();
    let value = -numpy_sum(&terms);
    // sklearn clips the -0.0 that rounding can produce: max(0.0, value).
    if value > 0.0 {
        value
    } else {
        0.0
    }
}

fn f1_max_from(precision: &[f64], recall: &[f64]) -> f64 {
    precision
        .iter()
        .zip(recall)
        .map(|(&p, &r)| {
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        })
        .fold(0.0, f64::max)
}
