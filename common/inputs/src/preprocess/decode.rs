//! Decoding into the pixel layout PIL would open the file in.
//!
//! The `image` crate expands palettes and PNG `tRNS` transparency into RGB(A),
//! while PIL keeps mode `P` (resized with nearest neighbour) and keeps `RGB`/`L`
//! files without an alpha channel. The PNG header tells which case applies.
//! JPEGs go to [`jpeg`], which decodes them as Pillow's libjpeg-turbo does.

use image::DynamicImage;

use super::jpeg;
use super::pixels::{Decoded, Layout};
use super::resample::Filter;
use super::ImageLoadError;

/// PNG colour types (IHDR byte 25) that change how PIL treats the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PngKind {
    /// Colour type 0 or 2: any alpha the decoder reports comes from `tRNS`,
    /// which PIL keeps aside as `info["transparency"]`, not as a channel.
    NoAlphaChannel,
    /// Colour type 3 (mode `P`) or 1-bit grey (mode `1`): nearest neighbour.
    PaletteOrBilevel,
    /// Colour types 4 and 6: a real alpha channel (modes `LA`, `RGBA`).
    AlphaChannel,
}

fn png_kind(bytes: &[u8]) -> Option<PngKind> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 26 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let (bit_depth, colour_type) = (bytes[24], bytes[25]);
    Some(match (colour_type, bit_depth) {
        (3, _) | (0, 1) => PngKind::PaletteOrBilevel,
        (0 | 2, _) => PngKind::NoAlphaChannel,
        _ => PngKind::AlphaChannel,
    })
}

pub(super) fn decode(bytes: &[u8], name: &str) -> Result<Decoded, ImageLoadError> {
    if bytes.is_empty() {
        return Err(ImageLoadError::Empty { name: name.to_string() });
    }
    if jpeg::is_jpeg(bytes) {
        let decoded = jpeg::decode(bytes).map_err(|message| ImageLoadError::Undecodable {
            name: name.to_string(),
            source: image::ImageError::Decoding(image::error::DecodingError::new(
                image::ImageFormat::Jpeg.into(),
                message,
            )),
        })?;
        if decoded.width == 0 || decoded.height == 0 {
            return Err(ImageLoadError::Empty { name: name.to_string() });
        }
        return Ok(decoded);
    }
    let image = image::load_from_memory(bytes)
        .map_err(|source| ImageLoadError::Undecodable { name: name.to_string(), source })?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(ImageLoadError::Empty { name: name.to_string() });
    }
    let (mut pixels, mut layout) = into_8bit(image);
    let kind = png_kind(bytes);
    if matches!(kind, Some(PngKind::NoAlphaChannel | PngKind::PaletteOrBilevel)) && layout.has_alpha() {
        (pixels, layout) = drop_alpha(pixels, layout);
    }
    let filter = match kind {
        Some(PngKind::PaletteOrBilevel) => Filter::Nearest,
        _ => Filter::Bicubic,
    };
    Ok(Decoded { pixels, width, height, layout, filter })
}

/// Moves 8-bit buffers out without copying; 16-bit samples keep their high
/// byte, which is what Pillow does for 16-bit RGB(A) PNGs. (For 16-bit grey,
/// mode `I;16`, Pillow's `convert("RGB")` clips every value above 255 to
/// white; we deliberately keep the high byte there too: clipping destroys the
/// image.)
fn into_8bit(image: DynamicImage) -> (Vec<u8>, Layout) {
    let high_bytes = |samples: &[u16]| samples.iter().map(|&v| (v >> 8) as u8).collect::<Vec<u8>>();
    match image {
        DynamicImage::ImageLuma8(buf) => (buf.into_raw(), Layout::Gray),
        DynamicImage::ImageLumaA8(buf) => (buf.into_raw(), Layout::GrayAlpha),
        DynamicImage::ImageRgb8(buf) => (buf.into_raw(), Layout::Rgb),
        DynamicImage::ImageRgba8(buf) => (buf.into_raw(), Layout::Rgba),
        DynamicImage::ImageLuma16(buf) => (high_bytes(buf.as_raw()), Layout::Gray),
        DynamicImage::ImageLumaA16(buf) => (high_bytes(buf.as_raw()), Layout::GrayAlpha),
        DynamicImage::ImageRgb16(buf) => (high_bytes(buf.as_raw()), Layout::Rgb),
        DynamicImage::ImageRgba16(buf) => (high_bytes(buf.as_raw()), Layout::Rgba),
        other if other.color().has_alpha() => (other.to_rgba8().into_raw(), Layout::Rgba),
        other => (other.to_rgb8().into_raw(), Layout::Rgb),
    }
}

fn drop_alpha(pixels: Vec<u8>, layout: Layout) -> (Vec<u8>, Layout) {
    let (channels, kept, without_alpha) = match layout {
        Layout::GrayAlpha => (2, 1, Layout::Gray),
        Layout::Rgba => (4, 3, Layout::Rgb),
        other => return (pixels, other),
    };
    let mut out = Vec::with_capacity(pixels.len() / channels * kept);
    for px in pixels.chunks_exact(channels) {
        out.extend_from_slice(&px[..kept]);
    }
    (out, without_alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage_bytes_name_the_image() {
        let empty = decode(b"", "a/empty.png").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(empty.contains("a/empty.png") && empty.contains("empty"), "{empty}");
        let garbage = decode(b"not an image at all", "b/garbage.jpg").err().map(|e| e.to_string());
        assert!(garbage.unwrap_or_default().contains("b/garbage.jpg"));
    }
}
