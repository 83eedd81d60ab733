//! A decoded image's bytes and the PIL mode they stand for, whichever
//! decoder (PNG and BMP through `image`, JPEG through libjpeg-turbo) made them.

use image::RgbImage;

use super::resample::Filter;

/// Interleaved 8-bit channel layouts, named after the PIL modes they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Gray,
    GrayAlpha,
    Rgb,
    Rgba,
    /// Pillow's `CMYK` (JPEG only), already un-inverted.
    Cmyk,
}

impl Layout {
    pub(super) fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::GrayAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba | Layout::Cmyk => 4,
        }
    }

    pub(super) fn has_alpha(self) -> bool {
        matches!(self, Layout::GrayAlpha | Layout::Rgba)
    }
}

/// A decoded image: `width * height * layout.channels()` bytes, row-major.
#[derive(Clone)]
pub(super) struct Decoded {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    /// The filter Pillow uses for this image's mode under `BICUBIC`.
    pub filter: Filter,
}

impl Decoded {
    /// PIL's `convert("RGB")`: grey replicated, alpha dropped (not composited),
    /// CMYK converted with Pillow's formula.
    pub(super) fn into_rgb(self) -> RgbImage {
        let (width, height) = (self.width, self.height);
        let rgb = match self.layout {
            Layout::Rgb => self.pixels,
            layout => {
                let channels = layout.channels();
                let mut rgb = Vec::with_capacity(self.pixels.len() / channels * 3);
                for px in self.pixels.chunks_exact(channels) {
                    match layout {
                        Layout::Gray | Layout::GrayAlpha => rgb.extend_from_slice(&[px[0]; 3]),
                        Layout::Cmyk => rgb.extend_from_slice(&cmyk_to_rgb(px)),
                        _ => rgb.extend_from_slice(&px[..3]),
                    }
                }
                rgb
            }
        };
        RgbImage::from_raw(width, height, rgb)
            .expect("an RGB buffer of width * height * 3 bytes was just built")
    }
}

/// Pillow's `cmyk2rgb`: each colour is `(255 - k) * (1 - c / 255)`, with its
/// rounded fixed-point division by 255.
pub(super) fn cmyk_to_rgb(px: &[u8]) -> [u8; 3] {
    let not_k = 255 - u32::from(px[3]);
    let channel = |c: u8| {
        let product = u32::from(c) * not_k + 128;
        (not_k - (((product >> 8) + product) >> 8)) as u8
    };
    [channel(px[0]), channel(px[1]), channel(px[2])]
}
