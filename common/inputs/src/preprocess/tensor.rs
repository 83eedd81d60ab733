//! The last steps: crop window → RGB → `ToTensor` (/255) → `Normalize`, CHW.

use super::pixels::{cmyk_to_rgb, Layout};
use super::geometry::CropWindow;
use super::resample::unpremultiply;

/// `(v / 255 - mean) / std` for every byte value and channel, computed with
/// the same `f32` operations as torchvision (`div(255)`, `sub_(mean)`,
/// `div_(std)`) so each entry is bit-identical to open_clip's.
pub(super) struct NormalizeLut([[f32; 256]; 3]);

impl NormalizeLut {
    pub(super) fn new(mean: [f32; 3], std: [f32; 3]) -> NormalizeLut {
        let mut table = [[0f32; 256]; 3];
        for (channel, values) in table.iter_mut().enumerate() {
            for (byte, value) in values.iter_mut().enumerate() {
                *value = (byte as f32 / 255.0 - mean[channel]) / std[channel];
            }
        }
        NormalizeLut(table)
    }
}

/// The tensor of an all-black `size × size` image.
pub(super) fn black_image(size: u32, lut: &NormalizeLut) -> Vec<f32> {
    let plane = size as usize * size as usize;
    (0..3).flat_map(|channel| std::iter::repeat_n(lut.0[channel][0], plane)).collect()
}

/// Writes the crop window of `pixels` (rows of `width` pixels in `layout`) as
/// three normalised planes. Grey is replicated to R, G and B and alpha dropped,
/// as PIL's `convert("RGB")`; premultiplied colour is first divided back.
pub(super) fn crop_to_chw(
    pixels: &[u8],
    width: u32,
    layout: Layout,
    premultiplied: bool,
    crop: CropWindow,
    lut: &NormalizeLut,
) -> Vec<f32> {
    let channels = layout.channels();
    let size = crop.size as usize;
    let plane = size * size;
    let mut out = vec![0f32; 3 * plane];
    let (red, rest) = out.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    let row_len = width as usize * channels;
    for y in 0..size {
        let row_start = (crop.top as usize + y) * row_len + crop.left as usize * channels;
        let row = &pixels[row_start..row_start + size * channels];
        let out_row = y * size..(y + 1) * size;
        let (r_row, g_row, b_row) = (&mut red[out_row.clone()], &mut green[out_row.clone()], &mut blue[out_row]);
        for (x, px) in row.chunks_exact(channels).enumerate() {
            let [r, g, b] = to_rgb(px, layout, premultiplied);
            r_row[x] = lut.0[0][usize::from(r)];
            g_row[x] = lut.0[1][usize::from(g)];
            b_row[x] = lut.0[2][usize::from(b)];
        }
    }
    out
}

#[inline(always)]
fn to_rgb(px: &[u8], layout: Layout, premultiplied: bool) -> [u8; 3] {
    match layout {
        Layout::Gray => [px[0]; 3],
        Layout::Rgb => [px[0], px[1], px[2]],
        Layout::GrayAlpha if premultiplied => [unpremultiply(px[0], px[1]); 3],
        Layout::GrayAlpha => [px[0]; 3],
        Layout::Rgba if premultiplied => {
            let a = px[3];
            [unpremultiply(px[0], a), unpremultiply(px[1], a), unpremultiply(px[2], a)]
        }
        Layout::Rgba => [px[0], px[1], px[2]],
        Layout::Cmyk => cmyk_to_rgb(px),
    }
}
