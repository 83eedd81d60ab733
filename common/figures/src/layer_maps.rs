//! Fig. 3 and Fig. 5: t-SNE maps of generated prompts (normal vs anomaly)
//! and of the user's own sentences, first as CLIP embeds them, then as each
//! hidden layer of the trained FNN sees them. A trial computes the maps
//! (it holds the FNN) into `layer_maps.json`; the aggregate draws them.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::figure::{error, render, Drawable, Figure};
use super::tsne::tsne;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointKind {
    Normal,
    Anomaly,
    Sentence,
}

/// One 2-D map: `points[i]` is point `i` of [`LayerMaps`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMap {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMaps {
    pub kinds: Vec<PointKind>,
    /// A sentence's text; empty for generated prompts.
    pub texts: Vec<String>,
    /// The CLIP embedding first, then each hidden layer.
    pub layers: Vec<LayerMap>,
}

/// Perplexity and iterations of every map.
const PERPLEXITY: f64 = 30.0;
const ITERATIONS: usize = 500;

/// Maps `layers` (name, one vector per point) with t-SNE, all from `seed`.
pub fn layer_maps(layers: Vec<(String, Vec<Vec<f32>>)>, kinds: Vec<PointKind>, texts: Vec<String>, seed: u64) -> LayerMaps {
    let layers = layers.into_iter().map(|(name, vectors)| LayerMap { name, points: tsne(&vectors, PERPLEXITY, ITERATIONS, seed) }).collect();
    LayerMaps { kinds, texts, layers }
}

struct Scatter<'a> {
    maps: &'a LayerMaps,
    layers: Vec<&'a LayerMap>,
}

impl Drawable for Scatter<'_> {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(error)?;
        let cols = self.layers.len().clamp(1, 2);
        let rows = self.layers.len().div_ceil(cols).max(1);
        for (layer, cell) in self.layers.iter().zip(area.split_evenly((rows, cols))) {
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &(x, y) in &layer.points {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
            let (px, py) = (((x1 - x0) * 0.08).max(1e-6), ((y1 - y0) * 0.08).max(1e-6));
            let mut chart = ChartBuilder::on(&cell)
                .caption(&layer.name, ("sans-serif", 16))
                .margin(10)
                .build_cartesian_2d((x0 - px)..(x1 + 4.0 * px), (y0 - py)..(y1 + 3.0 * py))
                .map_err(error)?;
            chart.configure_mesh().disable_mesh().x_labels(0).y_labels(0).draw().map_err(error)?;
            for (kind, colour, label) in [(PointKind::Normal, RGBColor(31, 119, 180), "normal prompts"), (PointKind::Anomaly, RGBColor(214, 39, 40), "anomaly prompts")] {
                let points: Vec<(f64, f64)> = layer.points.iter().zip(&self.maps.kinds).filter(|(_, k)| **k == kind).map(|(p, _)| *p).collect();
                chart
                    .draw_series(points.into_iter().map(|p| Circle::new(p, 2, colour.mix(0.6).filled())))
                    .map_err(error)?
                    .label(label)
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
            }
            let sentences: Vec<((f64, f64), &str)> = layer
                .points
                .iter()
                .zip(&self.maps.kinds)
                .zip(&self.maps.texts)
                .filter(|((_, k), _)| **k == PointKind::Sentence)
                .map(|((p, _), t)| (*p, t.as_str()))
                .collect();
            if !sentences.is_empty() {
                chart
                    .draw_series(sentences.iter().map(|&(p, _)| TriangleMarker::new(p, 6, BLACK.filled())))
                    .map_err(error)?
                    .label("your sentences")
                    .legend(|(x, y)| TriangleMarker::new((x + 6, y), 5, BLACK.filled()));
                chart
                    .draw_series(sentences.iter().map(|&(p, t)| {
                        let short: String = if t.chars().count() > 32 { t.chars().take(31).chain(std::iter::once('…')).collect() } else { t.to_string() };
                        Text::new(short, p, ("sans-serif", 12).into_font())
                    }))
                    .map_err(error)?;
            }
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 12))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(error)?;
        }
        Ok(())
    }
}

/// Fig. 3 (the CLIP text embeddings' map) and Fig. 5 (every layer's).
pub fn layer_figures(maps: &LayerMaps, point: &str) -> Result<Vec<Figure>, String> {
    let Some(first) = maps.layers.first() else { return Ok(Vec::new()) };
    let point = if point.is_empty() { String::new() } else { format!(", {point}") };
    let fig3 = render(
        "fig3-text-embeddings",
        &format!("Fig. 3: t-SNE of the generated prompts' CLIP text embeddings{point}"),
        (760, 640),
        &Scatter { maps, layers: vec![first] },
    )?;
    let layers: Vec<&LayerMap> = maps.layers.iter().collect();
    let rows = layers.len().div_ceil(2).max(1) as u32;
    let fig5 = render(
        "fig5-fnn-layers",
        &format!("Fig. 5: t-SNE through the FNN's layers{point}"),
        (1100, 520 * rows),
        &Scatter { maps, layers },
    )?;
    Ok(vec![fig3, fig5])
}
