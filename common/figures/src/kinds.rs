//! The figures: Fig. 4's AUROC-against-Np band, ROC and precision–recall
//! curves per category, score histograms (normal vs anomaly, or a scoring
//! job's distribution).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{colour, error, Drawable};

/// One line of Fig. 4: (Np, mean, std) in percent, Np ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct BandSeries {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
}

/// Fig. 4: AUROC (mean ± std band over seeds) against Np, log scale.
#[derive(Debug, Clone, PartialEq)]
pub struct NpBands {
    pub title: String,
    pub series: Vec<BandSeries>,
}

impl Drawable for NpBands {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(error)?;
        let all = self.series.iter().flat_map(|s| s.points.iter());
        let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, m, s) in all {
            lo_x = lo_x.min(x);
            hi_x = hi_x.max(x);
            lo_y = lo_y.min(m - s);
            hi_y = hi_y.max(m + s);
        }
        let (lo_y, hi_y) = ((lo_y - 2.0).max(0.0), (hi_y + 2.0).min(100.0));
        // Np on a log axis (drawn in ln Np), labelled at the swept values.
        let swept = {
            let mut v: Vec<u64> = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0 as u64)).collect();
            v.sort();
            v.dedup();
            v
        };
        let (lo_x, hi_x) = (lo_x.max(1.0).ln(), hi_x.max(1.0).ln());
        let pad = ((hi_x - lo_x) * 0.05).max(0.05);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((lo_x - pad)..(hi_x + pad), lo_y..hi_y.max(lo_y + 1.0))
            .map_err(error)?;
        chart
            .configure_mesh()
            .x_desc("Np (prompt pairs, log scale)")
            .y_desc("AUROC (%)")
            .x_labels(0)
            .disable_x_mesh()
            .label_style(("sans-serif", 14))
            .light_line_style(WHITE)
            .draw()
            .map_err(error)?;
        let tick_style = TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        let floor = lo_y + (hi_y - lo_y) * 0.01;
        chart
            .draw_series(swept.iter().map(|&np| Text::new(np.to_string(), ((np.max(1) as f64).ln(), floor), tick_style.clone())))
            .map_err(error)?;
        chart
            .draw_series(swept.iter().map(|&np| PathElement::new(vec![((np.max(1) as f64).ln(), lo_y), ((np.max(1) as f64).ln(), hi_y)], BLACK.mix(0.12))))
            .map_err(error)?;
        for (i, s) in self.series.iter().enumerate() {
            let c = colour(i);
            let ln = |x: f64| x.max(1.0).ln();
            let mut band: Vec<(f64, f64)> = s.points.iter().map(|&(x, m, d)| (ln(x), m + d)).collect();
            band.extend(s.points.iter().rev().map(|&(x, m, d)| (ln(x), m - d)));
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled()))).map_err(error)?;
            chart
                .draw_series(LineSeries::new(s.points.iter().map(|&(x, m, _)| (ln(x), m)), c.stroke_width(2)))
                .map_err(error)?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            chart.draw_series(s.points.iter().map(|&(x, m, _)| Circle::new((ln(x), m), 3, c.filled()))).map_err(error)?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(error)?;
        Ok(())
    }
}

/// One panel of curves (one category), one line per method.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePanel {
    pub title: String,
    pub lines: Vec<(String, Vec<(f64, f64)>)>,
}

/// ROC or precision–recall curves, a panel per category.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveGrid {
    pub x_desc: &'static str,
    pub y_desc: &'static str,
    /// The chance line: ROC's diagonal.
    pub diagonal: bool,
    pub panels: Vec<CurvePanel>,
}

fn grid_shape(n: usize) -> (usize, usize) {
    let cols = n.clamp(1, 3);
    (n.div_ceil(cols).max(1), cols)
}

/// Height of one legend row under a curve panel.
const LEGEND_ROW: u32 = 16;

impl CurveGrid {
    pub fn size(&self) -> (u32, u32) {
        let (rows, cols) = grid_shape(self.panels.len());
        (cols as u32 * 380, rows as u32 * (340 + self.legend_height()))
    }

    /// Room under every panel for the most lines any panel has: the legend
    /// sits below the axes, so it never hides a curve.
    fn legend_height(&self) -> u32 {
        let lines = self.panels.iter().map(|p| p.lines.len()).max().unwrap_or(0) as u32;
        lines * LEGEND_ROW + if lines > 0 { 6 } else { 0 }
    }
}

impl Drawable for CurveGrid {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(error)?;
        let (rows, cols) = grid_shape(self.panels.len());
        let legend_height = self.legend_height();
        for (panel, cell) in self.panels.iter().zip(area.split_evenly((rows, cols))) {
            let cell_height = cell.dim_in_pixel().1;
            let (plot, legend) = cell.split_vertically(cell_height.saturating_sub(legend_height));
            let mut chart = ChartBuilder::on(&plot)
                .caption(&panel.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(40)
                .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)
                .map_err(error)?;
            chart.configure_mesh().x_desc(self.x_desc).y_desc(self.y_desc).label_style(("sans-serif", 12)).draw().map_err(error)?;
            if self.diagonal {
                chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3))).map_err(error)?;
            }
            for (i, (label, points)) in panel.lines.iter().enumerate() {
                let c = colour(i);
                chart.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2))).map_err(error)?;
                let y = i as i32 * LEGEND_ROW as i32 + LEGEND_ROW as i32 / 2;
                legend.draw(&PathElement::new(vec![(48, y), (64, y)], c.stroke_width(2))).map_err(error)?;
                legend
                    .draw(&Text::new(label.clone(), (70, y - 6), ("sans-serif", 12).into_font().color(&BLACK)))
                    .map_err(error)?;
            }
        }
        Ok(())
    }
}

/// Histograms of scores, a panel each: every group (e.g. normal, anomaly)
/// drawn as a translucent density over the same bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Histograms {
    pub panels: Vec<(String, Vec<(String, Vec<f64>)>)>,
    pub bins: usize,
}

impl Histograms {
    pub fn size(&self) -> (u32, u32) {
        let (rows, cols) = grid_shape(self.panels.len());
        (cols as u32 * 400, rows as u32 * 320)
    }
}

impl Drawable for Histograms {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(error)?;
        let (rows, cols) = grid_shape(self.panels.len());
        for ((title, groups), cell) in self.panels.iter().zip(area.split_evenly((rows, cols))) {
            let values = groups.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
            let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
            let (lo, hi) = if lo >= hi { (lo.min(0.0), lo.max(0.0) + 1.0) } else { (lo, hi) };
            let width = (hi - lo) / self.bins as f64;
            let densities: Vec<Vec<f64>> = groups
                .iter()
                .map(|(_, v)| {
                    let mut counts = vec![0f64; self.bins];
                    for &x in v.iter().filter(|x| x.is_finite()) {
                        counts[(((x - lo) / width) as usize).min(self.bins - 1)] += 1.0;
                    }
                    let n = v.len().max(1) as f64;
                    counts.iter().map(|c| c / n).collect()
                })
                .collect();
            let top = densities.iter().flatten().copied().fold(0.0, f64::max).max(1e-9) * 1.1;
            let mut chart = ChartBuilder::on(&cell)
                .caption(title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(32)
                .y_label_area_size(44)
                .build_cartesian_2d(lo..hi, 0f64..top)
                .map_err(error)?;
            chart.configure_mesh().x_desc("score").y_desc("fraction").label_style(("sans-serif", 12)).draw().map_err(error)?;
            for (i, ((label, _), density)) in groups.iter().zip(&densities).enumerate() {
                let c = colour(i);
                chart
                    .draw_series(density.iter().enumerate().map(|(b, &d)| {
                        let x0 = lo + b as f64 * width;
                        Rectangle::new([(x0, 0.0), (x0 + width, d)], c.mix(0.45).filled())
                    }))
                    .map_err(error)?
                    .label(label.clone())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.mix(0.45).filled()));
            }
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 12))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(error)?;
        }
        Ok(())
    }
}
