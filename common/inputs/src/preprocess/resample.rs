//! Resampling as Pillow 13 does it for `Image.resize(size, BICUBIC)`.
//!
//! Bicubic: Pillow convolves with the Catmull-Rom kernel (a = -0.5), widened
//! by the scale factor when shrinking (antialiasing), horizontal pass first,
//! with a rounded `u8` image between the passes. `fast_image_resize`'s
//! `CatmullRom` convolution is the same kernel and support; it would run the
//! vertical pass first for `u8` images, so the two passes are requested
//! separately to keep Pillow's order and intermediate rounding. Its `i16`
//! fixed-point weights (Pillow uses 22-bit `i32`) still leave rare ±1
//! differences, which the parity test measures.
//!
//! Nearest: used by Pillow for palette and 1-bit images whatever filter is
//! asked for; reproduced here exactly, including its accumulated `f64` steps.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    Bicubic,
    Nearest,
}

/// Resizes interleaved `u8` pixels with `channels` (1..=4) per pixel.
pub(super) fn resize(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    new_width: u32,
    new_height: u32,
    filter: Filter,
) -> Vec<u8> {
    match filter {
        Filter::Bicubic => bicubic(pixels, width, height, channels, new_width, new_height),
        Filter::Nearest => nearest(pixels, width, height, channels, new_width, new_height),
    }
}

fn pixel_type(channels: usize) -> PixelType {
    match channels {
        1 => PixelType::U8,
        2 => PixelType::U8x2,
        3 => PixelType::U8x3,
        _ => PixelType::U8x4,
    }
}

fn bicubic(pixels: &[u8], width: u32, height: u32, channels: usize, new_width: u32, new_height: u32) -> Vec<u8> {
    let pixel_type = pixel_type(channels);
    // Alpha is premultiplied by the caller with Pillow's rounding; the
    // library's own premultiplication rounds differently.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
        .use_alpha(false);
    let mut resizer = Resizer::new();
    let mut pass = |src: &[u8], (w, h): (u32, u32), (dst_w, dst_h): (u32, u32)| -> Vec<u8> {
        let src = ImageRef::new(w, h, src, pixel_type)
            .expect("the source buffer holds width * height pixels of this type");
        let mut dst = Image::new(dst_w, dst_h, pixel_type);
        resizer
            .resize(&src, &mut dst, &options)
            .expect("source and destination share one u8 pixel type");
        dst.into_vec()
    };
    let horizontal = (new_width != width).then(|| pass(pixels, (width, height), (new_width, height)));
    let after_horizontal = horizontal.as_deref().unwrap_or(pixels);
    if new_height != height {
        pass(after_horizontal, (new_width, height), (new_width, new_height))
    } else {
        horizontal.unwrap_or_else(|| pixels.to_vec())
    }
}

/// Source index for each destination index, as Pillow's `ImagingScaleAffine`
/// computes it: start at half a step, add the step (in `f64`) each time, truncate.
fn nearest_indices(len: u32, new_len: u32) -> Vec<usize> {
    let step = f64::from(len) / f64::from(new_len);
    let mut position = step * 0.5;
    (0..new_len)
        .map(|_| {
            // Truncation keeps the index below `len` (the last position is
            // `len - step / 2`); the clamp only guards against rounding drift.
            let index = (position as usize).min(len as usize - 1);
            position += step;
            index
        })
        .collect()
}

fn nearest(pixels: &[u8], width: u32, height: u32, channels: usize, new_width: u32, new_height: u32) -> Vec<u8> {
    let columns = nearest_indices(width, new_width);
    let rows = nearest_indices(height, new_height);
    let row_len = width as usize * channels;
    let mut out = Vec::with_capacity(new_width as usize * new_height as usize * channels);
    for &y in &rows {
        let row = &pixels[y * row_len..(y + 1) * row_len];
        for &x in &columns {
            out.extend_from_slice(&row[x * channels..(x + 1) * channels]);
        }
    }
    out
}

/// Pillow's RGBA → RGBa conversion: colour channels scaled by alpha / 255
/// with its rounding `((t >> 8) + t) >> 8`, `t = c * a + 128`. Alpha is last.
pub(super) fn premultiply_alpha(pixels: &mut [u8], channels: usize) {
    for px in pixels.chunks_exact_mut(channels) {
        let (colour, alpha) = px.split_at_mut(channels - 1);
        let alpha = u32::from(alpha[0]);
        for c in colour {
            let t = u32::from(*c) * alpha + 128;
            *c = (((t >> 8) + t) >> 8) as u8;
        }
    }
}

/// Pillow's RGBa → RGBA conversion for one colour value: integer division,
/// clipped; alpha 0 and 255 leave the value as it is.
#[inline]
pub(super) fn unpremultiply(colour: u8, alpha: u8) -> u8 {
    match alpha {
        0 | 255 => colour,
        a => (255 * u32::from(colour) / u32::from(a)).min(255) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_picks_pillow_source_indices() {
        // Pillow: Image.new("P", (5, 1)).resize((2, 1)) samples x = int(1.25), int(3.75).
        assert_eq!(nearest_indices(5, 2), vec![1, 3]);
        // Upscaling 2 -> 5: positions 0.2, 0.6, 1.0, 1.4, 1.8.
        assert_eq!(nearest_indices(2, 5), vec![0, 0, 1, 1, 1]);
    }

    #[test]
    fn premultiply_round_trip_keeps_opaque_and_clears_transparent() {
        let mut px = [200u8, 100, 7, 255, 200, 100, 7, 0, 200, 100, 7, 128];
        premultiply_alpha(&mut px, 4);
        assert_eq!(&px[..4], &[200, 100, 7, 255]);
        assert_eq!(&px[4..8], &[0, 0, 0, 0]);
        // 200 * 128 / 255 = 100.39 -> 100; back: 255 * 100 / 128 = 199.2 -> 199
        assert_eq!(px[8], 100);
        assert_eq!(unpremultiply(px[8], 128), 199);
    }
}
