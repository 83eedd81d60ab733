//! Drawn defects and their ground-truth masks (0 background, 255 defect, as
//! in MVTec). Every pixel the drawing changes is marked in the mask.

use image::{GrayImage, Luma, RgbImage};

use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DefectStyle {
    /// A thin, long, darker or lighter line.
    Scratch,
    /// A dark, roughly elliptical hole with a lighter rim.
    Hole,
    /// A darker blob made of overlapping discs.
    Stain,
}

impl DefectStyle {
    /// The well-known names draw what they say; other defect names take the
    /// styles in turn by their position in the spec.
    pub(super) fn for_name(name: &str, position: usize) -> DefectStyle {
        match name {
            "scratch" => DefectStyle::Scratch,
            "hole" => DefectStyle::Hole,
            "stain" => DefectStyle::Stain,
            _ => [DefectStyle::Scratch, DefectStyle::Hole, DefectStyle::Stain][position % 3],
        }
    }
}

/// Draws one defect into `image` and returns its mask.
pub(super) fn draw(style: DefectStyle, image: &mut RgbImage, rng: &mut Rng) -> GrayImage {
    let size = image.width() as f32;
    let mut mask = GrayImage::new(image.width(), image.height());
    // Keep defects away from the border so the centre crop keeps them.
    let (cx, cy) = (rng.range(0.3, 0.7) * size, rng.range(0.3, 0.7) * size);
    match style {
        DefectStyle::Scratch => {
            let angle = rng.range(0.0, std::f32::consts::PI);
            let half_len = rng.range(0.12, 0.25) * size;
            let half_width = rng.range(1.0, 2.5);
            let (dx, dy) = (angle.cos(), angle.sin());
            let tone = if rng.unit() < 0.5 { 0.35 } else { 1.6 };
            paint(image, &mut mask, |x, y| {
                let (px, py) = (x - cx, y - cy);
                let along = px * dx + py * dy;
                let across = (px * dy - py * dx).abs();
                (along.abs() <= half_len && across <= half_width).then_some(tone)
            });
        }
        DefectStyle::Hole => {
            let (rx, ry) = (rng.range(0.04, 0.09) * size, rng.range(0.04, 0.09) * size);
            paint(image, &mut mask, |x, y| {
                let r = ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2);
                if r <= 1.0 {
                    Some(0.12)
                } else if r <= 1.35 {
                    Some(1.3)
                } else {
                    None
                }
            });
        }
        DefectStyle::Stain => {
            let blobs: Vec<(f32, f32, f32)> = (0..4)
                .map(|_| {
                    let r = rng.range(0.03, 0.07) * size;
                    (cx + rng.range(-0.05, 0.05) * size, cy + rng.range(-0.05, 0.05) * size, r)
                })
                .collect();
            let tone = rng.range(0.55, 0.75);
            paint(image, &mut mask, |x, y| {
                blobs
                    .iter()
                    .any(|&(bx, by, r)| (x - bx).powi(2) + (y - by).powi(2) <= r * r)
                    .then_some(tone)
            });
        }
    }
    mask
}

/// Multiplies every pixel `shade` selects by its factor and marks it in `mask`.
fn paint(image: &mut RgbImage, mask: &mut GrayImage, shade: impl Fn(f32, f32) -> Option<f32>) {
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        if let Some(factor) = shade(x as f32 + 0.5, y as f32 + 0.5) {
            for value in pixel.0.iter_mut() {
                *value = (f32::from(*value) * factor).clamp(0.0, 255.0) as u8;
            }
            mask.put_pixel(x, y, Luma([255]));
        }
    }
}
