//! Pixel-level metrics of anomaly maps against ground-truth masks, per
//! category over all pixels of all its test images:
//!
//! - **pixel AUROC**: scikit-learn's `roc_auc_score` over every pixel;
//! - **AUPRO@0.3**: the MVTec AD definition (its evaluation code and
//!   anomalib's): 8-connected ground-truth regions, the exact PRO curve over
//!   every distinct score, integrated up to FPR 0.3 (the last piece
//!   interpolated) and divided by 0.3;
//! - **PRO-200**: the 200-threshold variant of cflow-ad's `cal_pro_score`
//!   that the published zero-shot CLIP numbers (APRIL-GAN, AnomalyCLIP, MuSc)
//!   use: thresholds `np.arange(min, max, (max - min) / 200)`, points with
//!   FPR < 0.3 kept, their FPR min-max rescaled to [0, 1], trapezoid area.
//!   Not comparable with AUPRO; both are reported so rows compare with papers.
//!
//! A metric that a category cannot define (no anomalous pixel, no normal
//! pixel, a constant map for PRO-200) is `None`, never NaN: a NaN would
//! silently poison the mean over categories.

use super::curve::{trapezoid_auc, ThresholdCounts};
use super::numpy_sum::numpy_sum;

/// FPR limit of both PRO integrals.
pub const PRO_FPR_LIMIT: f64 = 0.3;
/// Threshold steps of PRO-200.
pub const PRO_STEPS: usize = 200;

/// One test image's anomaly map and its ground-truth mask, row-major.
#[derive(Debug, Clone, Copy)]
pub struct MaskedMap<'a> {
    pub height: usize,
    pub width: usize,
    pub map: &'a [f32],
    /// 1 anomalous, 0 normal.
    pub mask: &'a [u8],
}

/// The three pixel metrics of one category (fractions, not percent).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PixelMetrics {
    pub pixel_auroc: Option<f64>,
    pub aupro: Option<f64>,
    pub pro_200: Option<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PixelMetricsError {
    #[error("image {image}: its map has {map} values and its mask {mask}, but it is {height}×{width} ({expected} pixels)")]
    Shape { image: usize, height: usize, width: usize, expected: usize, map: usize, mask: usize },
    #[error("image {image}, pixel {pixel}: mask value {value} is neither 0 (normal) nor 1 (anomalous)")]
    MaskValue { image: usize, pixel: usize, value: u8 },
    #[error("image {image}, pixel {pixel}: map value {value} is not finite")]
    NonFinite { image: usize, pixel: usize, value: f32 },
    #[error("no pixels: a category needs at least one image with at least one pixel")]
    Empty,
    #[error("{pixels} pixels in one category: at most {max} are supported")]
    TooLarge { pixels: usize, max: usize },
}

/// Every pixel of a category, with its ground-truth region.
struct Pixels {
    scores: Vec<f32>,
    /// 0 for a normal pixel, else its region's index + 1.
    region: Vec<u32>,
    /// Pixels per region.
    area: Vec<u32>,
    /// Pixel indices by score, highest first.
    order: Vec<u32>,
}

impl Pixels {
    fn normal_count(&self) -> usize {
        self.region.iter().filter(|&&r| r == 0).count()
    }
}

/// The three metrics of one category's images.
pub fn pixel_metrics(images: &[MaskedMap<'_>]) -> Result<PixelMetrics, PixelMetricsError> {
    Ok(pixel_metrics_and_roc(images, 0)?.0)
}

/// The pixel ROC curve as `(fpr, tpr)` points, thinned to at most a given
/// number (evenly along the curve, ends kept): enough to draw it.
pub type RocPoints = Vec<(f64, f64)>;

/// [`pixel_metrics`] and, when `roc_points` > 1 and the category has both
/// kinds of pixel, its pixel ROC curve, from one sort of the pixels.
pub fn pixel_metrics_and_roc(images: &[MaskedMap<'_>], roc_points: usize) -> Result<(PixelMetrics, Option<RocPoints>), PixelMetricsError> {
    let pixels = gather(images)?;
    let normal = pixels.normal_count();
    let anomalous = pixels.scores.len() - normal;
    if normal == 0 || anomalous == 0 {
        return Ok((PixelMetrics::default(), None));
    }
    let (fpr, tpr) = super::curve::roc_curve(&pixel_counts(&pixels));
    let metrics = PixelMetrics {
        pixel_auroc: Some(trapezoid_auc(&fpr, &tpr)),
        aupro: Some(aupro(&pixels, normal)),
        pro_200: pro_200(&pixels, normal),
    };
    let roc = (roc_points > 1).then(|| {
        let n = fpr.len();
        let step = (n - 1) as f64 / (roc_points.min(n) - 1).max(1) as f64;
        let mut idx: Vec<usize> = (0..roc_points.min(n)).map(|k| ((k as f64 * step).round() as usize).min(n - 1)).collect();
        idx.dedup();
        idx.into_iter().map(|i| (fpr[i], tpr[i])).collect()
    });
    Ok((metrics, roc))
}

/// The unweighted mean over categories of each metric a category defines
/// (`None` where no category defines it).
pub fn mean_pixel_metrics<'a>(per_category: impl IntoIterator<Item = &'a PixelMetrics>) -> PixelMetrics {
    let all: Vec<&PixelMetrics> = per_category.into_iter().collect();
    let mean = |pick: fn(&PixelMetrics) -> Option<f64>| {
        let values: Vec<f64> = all.iter().filter_map(|m| pick(m)).collect();
        (!values.is_empty()).then(|| numpy_sum(&values) / values.len() as f64)
    };
    PixelMetrics { pixel_auroc: mean(|m| m.pixel_auroc), aupro: mean(|m| m.aupro), pro_200: mean(|m| m.pro_200) }
}

fn gather(images: &[MaskedMap<'_>]) -> Result<Pixels, PixelMetricsError> {
    let total: usize = images.iter().map(|m| m.height * m.width).sum();
    if total == 0 {
        return Err(PixelMetricsError::Empty);
    }
    if total > u32::MAX as usize {
        return Err(PixelMetricsError::TooLarge { pixels: total, max: u32::MAX as usize });
    }
    let mut scores = Vec::with_capacity(total);
    let mut region = Vec::with_capacity(total);
    let mut area = Vec::new();
    for (image, m) in images.iter().enumerate() {
        let expected = m.height * m.width;
        if m.map.len() != expected || m.mask.len() != expected {
            return Err(PixelMetricsError::Shape { image, height: m.height, width: m.width, expected, map: m.map.len(), mask: m.mask.len() });
        }
        if let Some((pixel, &value)) = m.mask.iter().enumerate().find(|(_, &v)| v > 1) {
            return Err(PixelMetricsError::MaskValue { image, pixel, value });
        }
        if let Some((pixel, &value)) = m.map.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(PixelMetricsError::NonFinite { image, pixel, value });
        }
        scores.extend_from_slice(m.map);
        let first_region = area.len() as u32;
        let labels = label_regions(m.mask, m.height, m.width, &mut area);
        region.extend(labels.into_iter().map(|l| if l == 0 { 0 } else { first_region + l }));
    }
    let mut order: Vec<u32> = (0..total as u32).collect();
    order.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    Ok(Pixels { scores, region, area, order })
}

/// 8-connected components of the anomalous pixels (scipy's `label` with a
/// 3×3 structure, skimage's default for 2-d): 0 for background, else a
/// 1-based label local to this image; each region's size is pushed on `area`.
fn label_regions(mask: &[u8], height: usize, width: usize, area: &mut Vec<u32>) -> Vec<u32> {
    let mut labels = vec![0u32; mask.len()];
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if mask[start] == 0 || labels[start] != 0 {
            continue;
        }
        next += 1;
        let mut size = 0u32;
        labels[start] = next;
        stack.push(start);
        while let Some(p) = stack.pop() {
            size += 1;
            let (y, x) = ((p / width) as isize, (p % width) as isize);
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= height as isize || nx >= width as isize {
                        continue;
                    }
                    let q = ny as usize * width + nx as usize;
                    if mask[q] != 0 && labels[q] == 0 {
                        labels[q] = next;
                        stack.push(q);
                    }
                }
            }
        }
        area.push(size);
    }
    labels
}

/// `roc_auc_score` over every pixel, from the order already sorted.
fn pixel_counts(p: &Pixels) -> ThresholdCounts {
    let descending = p.order.iter().map(|&i| (u8::from(p.region[i as usize] != 0), f64::from(p.scores[i as usize])));
    ThresholdCounts::from_descending(descending)
}

/// AUPRO up to FPR 0.3, normalised by 0.3 (MVTec AD's `compute_pro` +
/// `trapezoid(x_max=0.3)`).
fn aupro(p: &Pixels, normal: usize) -> f64 {
    let regions = p.area.len() as f64;
    let (mut false_positives, mut overlap) = (0u64, 0.0f64);
    let mut fpr = vec![0.0];
    let mut pro = vec![0.0];
    // From the highest score down; a point after each tie group.
    for (rank, &i) in p.order.iter().enumerate() {
        match p.region[i as usize] {
            0 => false_positives += 1,
            r => overlap += 1.0 / f64::from(p.area[r as usize - 1]),
        }
        let score = p.scores[i as usize];
        // numpy's `diff(scores) != 0`: -0.0 and 0.0 are one threshold.
        if p.order.get(rank + 1).is_none_or(|&next| p.scores[next as usize] != score) {
            fpr.push((false_positives as f64 / normal as f64).min(1.0));
            pro.push((overlap / regions).min(1.0));
        }
    }
    fpr.push(1.0);
    pro.push(1.0);
    trapezoid_up_to(&fpr, &pro, PRO_FPR_LIMIT) / PRO_FPR_LIMIT
}

/// MVTec AD's `trapezoid(x, y, x_max)`: the area under the points with
/// `x <= x_max`, plus the piece up to `x_max` with `y` interpolated there.
/// `x` is non-decreasing, starts at 0 and ends above `x_max`.
fn trapezoid_up_to(x: &[f64], y: &[f64], x_max: f64) -> f64 {
    let mut correction = 0.0;
    if !x.contains(&x_max) {
        let ins = x.partition_point(|&v| v <= x_max);
        assert!(ins > 0 && ins < x.len(), "x_max {x_max} outside the curve");
        let (x0, x1, y0, y1) = (x[ins - 1], x[ins], y[ins - 1], y[ins]);
        let y_interp = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0);
        correction = 0.5 * (y_interp + y0) * (x_max - x0);
    }
    let kept = x.partition_point(|&v| v <= x_max);
    let terms: Vec<f64> = (1..kept).map(|i| 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1])).collect();
    numpy_sum(&terms) + correction
}

/// `np.arange(start, stop, step)` for doubles: the length is
/// `ceil((stop - start) / step)` and the values `start + i * delta` with
/// `delta = (start + step) - start`, as numpy fills them.
fn numpy_arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..len).map(|i| if i == 0 { start } else if i == 1 { start + step } else { start + i as f64 * delta }).collect()
}

/// cflow-ad's `cal_pro_score` with 200 steps; `None` for a constant map
/// (numpy's arange has no step) or when fewer than two thresholds give
/// distinct FPRs below 0.3.
fn pro_200(p: &Pixels, normal: usize) -> Option<f64> {
    let max = f64::from(p.scores[p.order[0] as usize]);
    let min = f64::from(p.scores[*p.order.last()? as usize]);
    if max == min {
        return None;
    }
    let thresholds = numpy_arange(min, max, (max - min) / PRO_STEPS as f64);
    // Thresholds from the highest down, pixels above each one added as the
    // walk passes it: every pixel is visited once.
    let mut above_in_region = vec![0u32; p.area.len()];
    let mut false_positives = 0u64;
    let mut next = 0usize;
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(thresholds.len());
    for &th in thresholds.iter().rev() {
        while let Some(&i) = p.order.get(next) {
            if f64::from(p.scores[i as usize]) <= th {
                break;
            }
            match p.region[i as usize] {
                0 => false_positives += 1,
                r => above_in_region[r as usize - 1] += 1,
            }
            next += 1;
        }
        let overlaps: Vec<f64> = above_in_region.iter().zip(&p.area).map(|(&tp, &a)| f64::from(tp) / f64::from(a)).collect();
        let pro = numpy_sum(&overlaps) / overlaps.len() as f64;
        points.push((false_positives as f64 / normal as f64, pro));
    }
    // Back to ascending thresholds, as the reference lists them.
    points.reverse();
    let kept: Vec<(f64, f64)> = points.into_iter().filter(|&(fpr, _)| fpr < PRO_FPR_LIMIT).collect();
    if kept.len() < 2 {
        return None;
    }
    let lo = kept.iter().map(|k| k.0).fold(f64::INFINITY, f64::min);
    let hi = kept.iter().map(|k| k.0).fold(f64::NEG_INFINITY, f64::max);
    if hi == lo {
        return None;
    }
    let fpr: Vec<f64> = kept.iter().map(|k| (k.0 - lo) / (hi - lo)).collect();
    let pro: Vec<f64> = kept.iter().map(|k| k.1).collect();
    Some(trapezoid_auc(&fpr, &pro))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(map: &[f32], mask: &[u8], h: usize, w: usize) -> PixelMetrics {
        pixel_metrics(&[MaskedMap { height: h, width: w, map, mask }]).unwrap()
    }

    #[test]
    fn diagonal_neighbours_are_one_region() {
        let mut area = Vec::new();
        let labels = label_regions(&[1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0], 3, 4, &mut area);
        assert_eq!(area, vec![3, 1], "the diagonal is one region; the lone pixel at (0, 3) is another");
        assert_eq!(labels[0], labels[5]);
        assert_eq!(labels[0], labels[10]);
        assert_ne!(labels[3], labels[0]);
    }

    #[test]
    fn a_perfect_map_scores_one_everywhere() {
        let mask = [0, 0, 1, 1, 0, 0, 0, 1, 0];
        let map: Vec<f32> = mask.iter().map(|&m| f32::from(m) + 0.1).collect();
        let m = one(&map, &mask, 3, 3);
        assert_eq!(m.pixel_auroc, Some(1.0));
        assert!((m.aupro.unwrap() - 1.0).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn undefined_metrics_are_none_not_nan() {
        let no_anomaly = one(&[0.1, 0.5, 0.3, 0.2], &[0, 0, 0, 0], 2, 2);
        assert_eq!(no_anomaly, PixelMetrics::default());
        let constant = one(&[0.5; 4], &[0, 1, 0, 0], 2, 2);
        assert_eq!(constant.pixel_auroc, Some(0.5));
        assert!(constant.aupro.is_some());
        assert_eq!(constant.pro_200, None);
        let mean = mean_pixel_metrics([&no_anomaly, &constant]);
        assert_eq!(mean.pixel_auroc, Some(0.5), "the undefined category is left out of the mean");
    }

    #[test]
    fn bad_input_names_the_image_and_pixel() {
        let good = MaskedMap { height: 1, width: 2, map: &[0.1, 0.2], mask: &[0, 1] };
        let bad_mask = MaskedMap { height: 1, width: 2, map: &[0.1, 0.2], mask: &[0, 2] };
        let err = pixel_metrics(&[good, bad_mask]).unwrap_err();
        assert_eq!(err, PixelMetricsError::MaskValue { image: 1, pixel: 1, value: 2 });
        let short = MaskedMap { height: 2, width: 2, map: &[0.1, 0.2], mask: &[0, 1, 0, 0] };
        assert!(pixel_metrics(&[short]).unwrap_err().to_string().contains("image 0: its map has 2 values"));
        let nan = MaskedMap { height: 1, width: 2, map: &[f32::NAN, 0.2], mask: &[0, 1] };
        assert!(matches!(pixel_metrics(&[nan]), Err(PixelMetricsError::NonFinite { image: 0, pixel: 0, .. })));
    }

    #[test]
    fn arange_has_numpy_length_and_values() {
        assert_eq!(numpy_arange(0.0, 1.0, 0.25), vec![0.0, 0.25, 0.5, 0.75]);
        assert_eq!(numpy_arange(0.0, 1.0, 0.3).len(), 4);
    }
}
