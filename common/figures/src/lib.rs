//! Figures drawn with plotters, as PNG and SVG: ROC and precision–recall
//! curves, histograms, Np bands, t-SNE of embeddings, anomaly-map overlays
//! and sheets, layer maps, a video's score over time, and contact sheets of
//! thumbnails. Each takes plain numbers and pixels and returns a [`Figure`].
//!
//! Does not belong here: deciding which figures a job publishes or reading
//! the rows they are drawn from (`rwclip-report` for aggregates, the
//! worker's engine for a trial's overlays and a scoring job's contact
//! sheet). Drawing sits below both so a worker can draw a shard's figures
//! without linking the aggregation.

mod contact_sheet;
mod curves;
mod figure;
mod heat_overlay;
mod kinds;
mod layer_maps;
mod map_figures;
mod score_over_time;
mod tsne;

pub use contact_sheet::{contact_sheet, SheetImage, SheetLayout, Thumbnail, CONTACT_SHEET_TITLE, THUMB_SIDE};
pub use curves::{mean_curve, precision_recall, roc, CurveKind};
pub use figure::{escape, render, slug, Drawable, Drawn, Figure};
pub use heat_overlay::{heat_overlay_png, heat_overlay_rgb, overlay_centre_square, upsample_grid};
pub use kinds::{BandSeries, CurveGrid, CurvePanel, Histograms, NpBands};
pub use layer_maps::{layer_figures, layer_maps, LayerMap, LayerMaps, PointKind};
pub use map_figures::{overlay_sheet, pixel_roc_figures, sheet_name, MapFigures, OverlayCell, OverlayRow, PixelRoc, SheetRef};
pub use score_over_time::ScoreOverTime;
pub use tsne::tsne;

#[cfg(test)]
mod tests;
