//! One figure drawn twice from the same code: SVG (text, for reports and
//! the dashboard) and PNG (pixels, for anything else), with an embedded
//! font so the PNG's text needs nothing from the machine.

use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans (its licence is next to it): registered once as the
/// "sans-serif" every figure uses. Its sizes are even: plotters' glyph
/// placement truncates half the size, which at odd sizes lifts small glyphs
/// such as '.' a pixel off the baseline.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub(super) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the embedded DejaVu Sans is not a valid font");
        }
    });
}

/// A rendered figure: `name` is the file stem (`<name>.svg`, `<name>.png`).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: String,
    pub title: String,
    pub svg: String,
    pub png: Vec<u8>,
}

/// What a figure draws, on any plotters backend.
pub trait Drawable {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

pub fn error<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Draws `what` as SVG and as PNG at `size` pixels.
pub fn render(name: &str, title: &str, size: (u32, u32), what: &impl Drawable) -> Result<Figure, String> {
    register_font();
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        what.draw(&area)?;
        area.present().map_err(error)?;
    }
    let mut pixels = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        what.draw(&area)?;
        area.present().map_err(error)?;
    }
    let png_bytes = encode_png(&pixels, size)?;
    Ok(Figure { name: name.to_string(), title: title.to_string(), svg, png: png_bytes })
}

/// `pixels` (RGB, 8 bits, row-major) as PNG bytes.
pub(super) fn encode_png(pixels: &[u8], size: (u32, u32)) -> Result<Vec<u8>, String> {
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(error)?;
        writer.write_image_data(pixels).map_err(error)?;
    }
    Ok(png_bytes)
}

/// Distinct colours for up to eight series, then repeating.
pub fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}
