//! One figure drawn twice from the same code: SVG (text, for reports and
//! the dashboard) and PNG (pixels, for anything else), with an embedded
//! font so the PNG's text needs nothing from the machine.

use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans (its licence is next to it): registered once as the
/// "sans-serif" every figure uses. Its sizes are even: plotters' glyph
/// placement truncates half the size, which at odd sizes lifts small glyphs
/// such as '.' a pixel off the baseline.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

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

/// A file-name-safe form of a dataset name.
pub fn slug(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.trim_matches('-').to_string()
}

/// Text made safe inside HTML and SVG markup.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What a figure's PNG shows, for checking that something was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    pub width: u32,
    pub height: u32,
    /// Distinct RGB colours.
    pub colours: usize,
    /// Pixels that are not white.
    pub non_white: usize,
}

impl Figure {
    /// Decodes the PNG and counts its colours and drawn pixels.
    pub fn drawn(&self) -> Result<Drawn, String> {
        let decoder = png::Decoder::new(std::io::Cursor::new(&self.png));
        let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
        let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
        let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
        let pixels = &buf[..info.buffer_size()];
        let colours = pixels.chunks(3).collect::<std::collections::BTreeSet<&[u8]>>().len();
        let non_white = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
        Ok(Drawn { width: info.width, height: info.height, colours, non_white })
    }
}
