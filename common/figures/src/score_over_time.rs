//! A video's score over time, its top moments marked and labelled with
//! their `hh:mm:ss`: where in an hour of footage to look.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{colour, error, Drawable};

/// Points kept per curve: a three-hour video at 25 fps still draws quickly,
/// and each kept point is the highest of its stretch, so no peak is lost.
pub const MAX_POINTS: usize = 4000;

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOverTime {
    pub video: String,
    /// (seconds, score), in time order.
    pub points: Vec<(f64, f64)>,
    /// (seconds, score) of the top moments.
    pub peaks: Vec<(f64, f64)>,
}

impl ScoreOverTime {
    /// `points` thinned to at most [`MAX_POINTS`] by keeping the highest of
    /// each equal stretch.
    pub fn new(video: String, points: Vec<(f64, f64)>, peaks: Vec<(f64, f64)>) -> ScoreOverTime {
        let step = points.len().div_ceil(MAX_POINTS).max(1);
        let points = points.chunks(step).filter_map(|c| c.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))).collect();
        ScoreOverTime { video, points, peaks }
    }
}

impl Drawable for ScoreOverTime {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(error)?;
        let end = self.points.iter().map(|p| p.0).fold(1.0, f64::max);
        let (lo, hi) = self.points.iter().map(|p| p.1).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        let pad = (hi - lo) * 0.12;
        let name = self.video.rsplit('/').next().unwrap_or(&self.video).to_string();
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{name}: score over time"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(54)
            .build_cartesian_2d(0f64..end, (lo - pad)..(hi + pad))
            .map_err(error)?;
        chart
            .configure_mesh()
            .x_desc("time")
            .y_desc("score")
            .x_label_formatter(&|s| rwclip_core::time::hms(*s))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(error)?;
        chart.draw_series(LineSeries::new(self.points.iter().copied(), colour(0).stroke_width(1))).map_err(error)?;
        let peak = colour(1);
        chart.draw_series(self.peaks.iter().map(|&(t, s)| Circle::new((t, s), 5, peak.filled()))).map_err(error)?;
        chart
            .draw_series(self.peaks.iter().map(|&(t, s)| Text::new(rwclip_core::time::hms(t), (t, s + pad * 0.5), ("sans-serif", 12).into_font().color(&peak))))
            .map_err(error)?;
        Ok(())
    }
}
