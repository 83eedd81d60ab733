//! Where the anomalies are, per category: a sheet of the most and the least
//! anomalous-scored anomalous test images with each method's map over them
//! and the ground truth outlined (drawn by the trial, which has the
//! images), and pixel ROC curves (drawn by the aggregate from the points
//! the trial kept).

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::figure::{encode_png, error, register_font, render, Figure};
use super::kinds::{CurveGrid, CurvePanel};
use super::figure::slug;

/// What the figure trial hands the aggregate (`map_figures.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapFigures {
    /// The overlay sheets it wrote as parts `<name>.svg` and `<name>.png`.
    pub sheets: Vec<SheetRef>,
    pub curves: Vec<PixelRoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetRef {
    pub name: String,
    pub title: String,
}

/// One method's pixel ROC curve on one category (thinned points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PixelRoc {
    pub dataset: String,
    /// The setup label the maps were made under.
    pub setup: String,
    pub category: String,
    /// The method as tables name it ("WinCLIP", "CLIP + ours", …).
    pub method: String,
    pub pixel_auroc: f64,
    pub points: Vec<(f64, f64)>,
}

/// One picture on an overlay sheet: an S×S RGB overlay and its caption.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayCell {
    pub side: u32,
    pub rgb: Vec<u8>,
    pub caption: String,
}

/// A method's row: its label and its pictures (the best, then the worst).
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayRow {
    pub label: String,
    pub cells: Vec<OverlayCell>,
}

const PAD: u32 = 8;
const HEADER: u32 = 56;
const LABEL: u32 = 120;
const CAPTION: u32 = 36;
/// Pictures are shown at least this large (small models' views are
/// enlarged by whole factors, pixels kept sharp).
const MIN_SIDE: u32 = 160;

/// The figure stem of a dataset category's overlay sheet.
pub fn sheet_name(dataset: &str, category: &str) -> String {
    format!("maps-{}-{}", slug(dataset), slug(category))
}

/// Rows of overlays under a heading, a subtitle and column titles; each
/// caption's first line under the picture, the rest on a second line. PNG
/// pixels, and an SVG holding the same PNG.
pub fn overlay_sheet(name: &str, heading: &str, subtitle: &str, columns: &[&str], rows: &[OverlayRow]) -> Result<Figure, String> {
    register_font();
    let side = rows.iter().flat_map(|r| r.cells.iter().map(|c| c.side)).max().unwrap_or(64);
    for r in rows {
        for c in &r.cells {
            if c.side != side || c.rgb.len() != (side * side * 3) as usize {
                return Err(format!("overlay {:?} of {:?} is not {side}×{side} RGB", c.caption, r.label));
            }
        }
    }
    let scale = MIN_SIDE.div_ceil(side).max(1);
    let shown = side * scale;
    let cols = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0).max(columns.len()).max(1) as u32;
    // DejaVu Sans is about 7 px a character at 12 px, 9 at 16 px.
    let width = (LABEL + cols * (shown + PAD) + PAD).max(9 * heading.chars().count() as u32 / 10 * 10 + 2 * PAD).max(7 * subtitle.chars().count() as u32 + 2 * PAD);
    let row_height = shown + CAPTION + PAD;
    let top = HEADER + 20;
    let height = top + rows.len().max(1) as u32 * row_height;
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    let cell_at = |row: usize, col: usize| (LABEL + col as u32 * (shown + PAD), top + row as u32 * row_height);
    {
        let area = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let text = |px: u32, colour: RGBColor| ("sans-serif", px).into_font().color(&colour);
        area.draw_text(heading, &text(16, BLACK), (PAD as i32, 10)).map_err(error)?;
        area.draw_text(subtitle, &text(12, RGBColor(70, 70, 70)), (PAD as i32, 32)).map_err(error)?;
        for (col, title) in columns.iter().enumerate() {
            let (x, _) = cell_at(0, col);
            area.draw_text(title, &text(13, BLACK), (x as i32, HEADER as i32)).map_err(error)?;
        }
        let chars = ((shown / 7) as usize).max(8);
        let fit = |line: &str| -> String {
            if line.chars().count() > chars {
                let tail: Vec<char> = line.chars().rev().take(chars - 1).collect();
                std::iter::once('…').chain(tail.into_iter().rev()).collect()
            } else {
                line.to_string()
            }
        };
        for (i, r) in rows.iter().enumerate() {
            let (_, y) = cell_at(i, 0);
            area.draw_text(&r.label, &text(14, BLACK), (PAD as i32, (y + shown / 2) as i32 - 8)).map_err(error)?;
            for (col, c) in r.cells.iter().enumerate() {
                let (x, y) = cell_at(i, col);
                let (first, rest) = c.caption.split_once('\n').unwrap_or((&c.caption, ""));
                area.draw_text(&fit(first), &text(12, BLACK), (x as i32, (y + shown + 3) as i32)).map_err(error)?;
                area.draw_text(&fit(rest), &text(12, RGBColor(70, 70, 70)), (x as i32, (y + shown + 18) as i32)).map_err(error)?;
            }
        }
        area.present().map_err(error)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (col, c) in r.cells.iter().enumerate() {
            let (x, y) = cell_at(i, col);
            for line in 0..shown {
                let src_row = (line / scale) * side;
                let dst = (((y + line) * width + x) * 3) as usize;
                for px in 0..shown {
                    let src = ((src_row + px / scale) * 3) as usize;
                    let d = dst + (px * 3) as usize;
                    pixels[d..d + 3].copy_from_slice(&c.rgb[src..src + 3]);
                }
            }
        }
    }
    let png = encode_png(&pixels, (width, height))?;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\"><title>{title}</title><image width=\"{width}\" height=\"{height}\" href=\"data:image/png;base64,{data}\"/></svg>\n",
        title = super::figure::escape(&format!("{heading}. {subtitle}")),
        data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &png),
    );
    Ok(Figure { name: name.to_string(), title: heading.to_string(), svg, png })
}

/// Per dataset, the pixel ROC curves: a panel per category, a line per method.
pub fn pixel_roc_figures(curves: &[PixelRoc]) -> Result<Vec<Figure>, String> {
    let mut datasets: Vec<(&str, &str)> = Vec::new();
    for c in curves {
        if !datasets.contains(&(c.dataset.as_str(), c.setup.as_str())) {
            datasets.push((&c.dataset, &c.setup));
        }
    }
    let mut out = Vec::new();
    for (dataset, setup) in datasets {
        let mut panels: Vec<CurvePanel> = Vec::new();
        for c in curves.iter().filter(|c| c.dataset == dataset && c.setup == setup) {
            let line = (format!("{} ({:.1})", c.method, c.pixel_auroc * 100.0), c.points.clone());
            match panels.iter_mut().find(|p| p.title == c.category) {
                Some(p) => p.lines.push(line),
                None => panels.push(CurvePanel { title: c.category.clone(), lines: vec![line] }),
            }
        }
        let grid = CurveGrid { x_desc: "false positive rate (pixels)", y_desc: "true positive rate (pixels)", diagonal: true, panels };
        let title = format!("Pixel ROC curves, {dataset}, {setup} (pixel AUROC in the legend)");
        out.push(render(&format!("pixel-roc-{}", slug(dataset)), &title, grid.size(), &grid)?);
    }
    Ok(out)
}
