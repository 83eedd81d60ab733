//! ROC and precision–recall curves of one score, and their mean over seeds
//! on a fixed grid (what the figures draw).

/// Points of the mean curves: 0, 0.01, …, 1.
pub const GRID: usize = 101;

fn by_score_desc(scores: &[f64], labels: &[u8]) -> Vec<(f64, u8)> {
    let mut v: Vec<(f64, u8)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    v
}

/// (false positive rate, true positive rate) at every distinct threshold,
/// from (0, 0) to (1, 1); None when one class is absent.
pub fn roc(scores: &[f64], labels: &[u8]) -> Option<Vec<(f64, f64)>> {
    let pos = labels.iter().filter(|&&l| l == 1).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    let sorted = by_score_desc(scores, labels);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![(0.0, 0.0)];
    for (i, &(s, l)) in sorted.iter().enumerate() {
        if l == 1 { tp += 1.0 } else { fp += 1.0 }
        if i + 1 == sorted.len() || sorted[i + 1].0 != s {
            out.push((fp / neg, tp / pos));
        }
    }
    Some(out)
}

/// (recall, precision) at every distinct threshold, highest first; None
/// without anomalies.
pub fn precision_recall(scores: &[f64], labels: &[u8]) -> Option<Vec<(f64, f64)>> {
    let pos = labels.iter().filter(|&&l| l == 1).count() as f64;
    if pos == 0.0 {
        return None;
    }
    let sorted = by_score_desc(scores, labels);
    let (mut tp, mut seen) = (0.0, 0.0);
    let mut out = Vec::new();
    for (i, &(s, l)) in sorted.iter().enumerate() {
        seen += 1.0;
        if l == 1 {
            tp += 1.0;
        }
        if i + 1 == sorted.len() || sorted[i + 1].0 != s {
            out.push((tp / pos, tp / seen));
        }
    }
    Some(out)
}

/// A ROC curve's TPR at each grid FPR (the highest TPR reached at or below it).
fn roc_on_grid(curve: &[(f64, f64)]) -> Vec<f64> {
    (0..GRID)
        .map(|k| {
            let x = k as f64 / (GRID - 1) as f64;
            curve.iter().filter(|(f, _)| *f <= x + 1e-12).map(|(_, t)| *t).fold(0.0, f64::max)
        })
        .collect()
}

/// A PR curve's interpolated precision at each grid recall (the highest
/// precision at that recall or beyond).
fn pr_on_grid(curve: &[(f64, f64)]) -> Vec<f64> {
    (0..GRID)
        .map(|k| {
            let r = k as f64 / (GRID - 1) as f64;
            curve.iter().filter(|(rec, _)| *rec >= r - 1e-12).map(|(_, p)| *p).fold(0.0, f64::max)
        })
        .collect()
}

/// Mean over seeds, on the grid: `(x, mean y)`; None when no seed has both classes.
pub fn mean_curve(per_seed: &[(Vec<f64>, Vec<u8>)], kind: CurveKind) -> Option<Vec<(f64, f64)>> {
    let curves: Vec<Vec<f64>> = per_seed
        .iter()
        .filter_map(|(s, l)| match kind {
            CurveKind::Roc => roc(s, l).map(|c| roc_on_grid(&c)),
            CurveKind::PrecisionRecall => precision_recall(s, l).map(|c| pr_on_grid(&c)),
        })
        .collect();
    if curves.is_empty() {
        return None;
    }
    Some((0..GRID).map(|k| (k as f64 / (GRID - 1) as f64, curves.iter().map(|c| c[k]).sum::<f64>() / curves.len() as f64)).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveKind {
    Roc,
    PrecisionRecall,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_score_has_the_corner_roc_and_flat_precision() {
        let (s, l) = (vec![0.9, 0.8, 0.2, 0.1], vec![1, 1, 0, 0]);
        assert_eq!(roc(&s, &l).unwrap(), vec![(0.0, 0.0), (0.0, 0.5), (0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]);
        let pr = precision_recall(&s, &l).unwrap();
        assert_eq!(pr[1], (1.0, 1.0));
        let mean = mean_curve(&[(s, l)], CurveKind::Roc).unwrap();
        assert!(mean.iter().all(|(_, t)| *t == 1.0), "{mean:?}");
    }

    #[test]
    fn ties_are_one_threshold_and_one_class_has_no_curve() {
        assert_eq!(roc(&[0.5, 0.5], &[1, 0]).unwrap(), vec![(0.0, 0.0), (1.0, 1.0)]);
        assert!(roc(&[0.5, 0.4], &[1, 1]).is_none());
        assert!(precision_recall(&[0.5], &[0]).is_none());
    }
}
