//! A scoring job's contact sheet: its best-scored images as thumbnails in a
//! grid, in `top_k.csv`'s order, each captioned with its rank, score and
//! file name, so a person sees at a glance what the detector flags. The
//! worker decodes the thumbnails; this only lays them out.

use plotters::prelude::*;

use super::figure::{encode_png, error, register_font, Figure};

/// The caption of the sheet in reports.
pub const CONTACT_SHEET_TITLE: &str = "Contact sheet: the best-scored images, in top_k.csv order";
/// A thumbnail's longer side, in pixels.
pub const THUMB_SIDE: u32 = 160;
/// Thumbnails per row.
const COLUMNS: usize = 8;
const PAD: u32 = 8;
const HEADER: u32 = 50;
const CAPTION: u32 = 38;

/// A decoded thumbnail: RGB, 8 bits, row-major, at most [`THUMB_SIDE`]
/// on its longer side.
#[derive(Debug, Clone, PartialEq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// One image on the sheet; `thumb` is, when the image can no longer be
/// read (it was scored, so it was readable once), the short kind of error
/// drawn in its cell instead of a picture.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetImage {
    pub rank: usize,
    pub uri: String,
    pub score: f64,
    pub thumb: Result<Thumbnail, String>,
}

/// Where cell `i`'s thumbnail box starts, and the sheet's size, for
/// `count` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetLayout {
    pub count: usize,
}

impl SheetLayout {
    pub fn columns(self) -> usize {
        self.count.clamp(1, COLUMNS)
    }

    pub fn size(self) -> (u32, u32) {
        let rows = self.count.div_ceil(COLUMNS).max(1) as u32;
        let width = PAD + self.columns() as u32 * (THUMB_SIDE + PAD);
        (width.max(480), HEADER + rows * (THUMB_SIDE + CAPTION + PAD))
    }

    /// The top-left corner of cell `i`'s thumbnail box (THUMB_SIDE square).
    pub fn cell(self, i: usize) -> (u32, u32) {
        let (col, row) = ((i % COLUMNS) as u32, (i / COLUMNS) as u32);
        (PAD + col * (THUMB_SIDE + PAD), HEADER + row * (THUMB_SIDE + CAPTION + PAD))
    }
}

/// The last two path components of `uri` (a frame's folder often names
/// its site or day) in `max` chars. The folder is cut first: the file's
/// name, with a video frame's `at hh:mm:ss`, is what tells two cells apart,
/// and is cut in the middle only when it alone is too long.
pub(crate) fn short_name(uri: &str, max: usize) -> String {
    let (path, moment) = match uri.rsplit_once(" at ") {
        Some((path, moment)) if moment.starts_with(|c: char| c.is_ascii_digit()) => (path, format!(" at {moment}")),
        _ => (uri, String::new()),
    };
    let mut parts = path.trim_end_matches('/').rsplitn(3, '/');
    let file = format!("{}{moment}", parts.next().unwrap_or(path));
    let dir = parts.next();
    let count = |s: &str| s.chars().count();
    match dir {
        Some(dir) if count(dir) + 1 + count(&file) <= max => return format!("{dir}/{file}"),
        // As much of the folder as fits, its end kept (`…site-7/`).
        Some(dir) if count(&file) + 3 <= max => {
            let room = max - count(&file) - 2;
            let tail: String = dir.chars().skip(count(dir).saturating_sub(room)).collect();
            return format!("…{tail}/{file}");
        }
        None if count(&file) <= max => return file,
        _ => {}
    }
    let chars: Vec<char> = file.chars().collect();
    let keep = max.saturating_sub(1);
    let (head, tail) = (keep / 2, keep - keep / 2);
    format!("{}…{}", chars[..head.min(chars.len())].iter().collect::<String>(), chars[chars.len().saturating_sub(tail)..].iter().collect::<String>())
}

#[cfg(test)]
mod short_name_tests {
    use super::short_name;

    #[test]
    fn a_caption_keeps_the_file_name_and_the_moment_and_cuts_the_folder() {
        assert_eq!(short_name("s3://archive/site-7/day-2/frame-000123.jpg", 26), "day-2/frame-000123.jpg");
        let frame = short_name("s3://bucket/inspections/Hauptstrasse-north/pipe_section_4.mp4 at 00:00:05", 40);
        assert!(frame.ends_with("/pipe_section_4.mp4 at 00:00:05") && frame.starts_with('…') && frame.chars().count() <= 40, "{frame}");
        assert_eq!(short_name("inspections/run_4.mp4 at 00:00:05", 26), "…ons/run_4.mp4 at 00:00:05");
        assert_eq!(short_name("a-very-long-recording-name-of-a-camera.mp4 at 01:02:03", 20), "a-very-lo…t 01:02:03");
        assert_eq!(short_name("b.png", 26), "b.png");
    }
}

/// Copies `t` into the `THUMB_SIDE` box at `at`, centred.
fn blit(pixels: &mut [u8], width: u32, at: (u32, u32), t: &Thumbnail) {
    let (ox, oy) = (at.0 + (THUMB_SIDE - t.width.min(THUMB_SIDE)) / 2, at.1 + (THUMB_SIDE - t.height.min(THUMB_SIDE)) / 2);
    for y in 0..t.height.min(THUMB_SIDE) {
        let src = (y * t.width * 3) as usize;
        let dst = (((oy + y) * width + ox) * 3) as usize;
        let n = (t.width.min(THUMB_SIDE) * 3) as usize;
        pixels[dst..dst + n].copy_from_slice(&t.rgb[src..src + n]);
    }
}

/// `text` cut to `max` chars, marked where it was cut.
fn fit_line(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max.saturating_sub(1)).chain(std::iter::once('…')).collect()
}

/// Draws the sheet, a figure named `name`, under `heading` and a smaller `subtitle` (cut to the
/// sheet's width): PNG pixels, and an SVG that holds the same PNG (a report
/// or the dashboard shows either; neither loads anything else).
pub fn contact_sheet(name: &str, heading: &str, subtitle: &str, images: &[SheetImage]) -> Result<Figure, String> {
    register_font();
    for im in images {
        if let Ok(t) = &im.thumb {
            if t.width == 0 || t.height == 0 || t.width > THUMB_SIDE || t.height > THUMB_SIDE || t.rgb.len() != (t.width * t.height * 3) as usize {
                return Err(format!("thumbnail of rank {} ({}) is {}×{} with {} bytes; at most {THUMB_SIDE} a side, RGB", im.rank, im.uri, t.width, t.height, t.rgb.len()));
            }
        }
    }
    let layout = SheetLayout { count: images.len() };
    let size = layout.size();
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        let text = |px: u32, colour: RGBColor| ("sans-serif", px).into_font().color(&colour);
        // DejaVu Sans at 12 px is about 7 px a character.
        let (heading, subtitle) = (fit_line(heading, (size.0 / 9) as usize), fit_line(subtitle, (size.0 / 7) as usize));
        area.draw_text(&heading, &text(16, BLACK), (PAD as i32, 8)).map_err(error)?;
        area.draw_text(&subtitle, &text(12, RGBColor(70, 70, 70)), (PAD as i32, 28)).map_err(error)?;
        for (i, im) in images.iter().enumerate() {
            let (x, y) = layout.cell(i);
            let (x, y) = (x as i32, y as i32);
            let side = THUMB_SIDE as i32;
            area.draw(&Rectangle::new([(x, y), (x + side, y + side)], RGBColor(236, 236, 236).filled())).map_err(error)?;
            if let Err(why) = &im.thumb {
                area.draw_text("cannot read now", &text(12, RGBColor(180, 30, 30)), (x + 6, y + side / 2 - 16)).map_err(error)?;
                area.draw_text(why.as_str(), &text(12, RGBColor(90, 90, 90)), (x + 6, y + side / 2 + 2)).map_err(error)?;
            }
            let caption = format!("#{}  {:.4}", im.rank, im.score);
            area.draw_text(&caption, &text(14, BLACK), (x, y + side + 4)).map_err(error)?;
            area.draw_text(&short_name(&im.uri, 26), &text(12, RGBColor(70, 70, 70)), (x, y + side + 21)).map_err(error)?;
        }
        area.present().map_err(error)?;
    }
    // Thumbnails go in after the text, over the boxes drawn for them.
    for (i, im) in images.iter().enumerate() {
        if let Ok(t) = &im.thumb {
            blit(&mut pixels, size.0, layout.cell(i), t);
        }
    }
    let png = encode_png(&pixels, size)?;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><title>{title}</title><image width=\"{w}\" height=\"{h}\" href=\"data:image/png;base64,{data}\"/></svg>\n",
        w = size.0,
        h = size.1,
        title = super::figure::escape(&format!("{heading}. {subtitle}")),
        data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &png),
    );
    Ok(Figure { name: name.to_string(), title: CONTACT_SHEET_TITLE.to_string(), svg, png })
}
