//! Procedural background textures, one style per category, so categories
//! differ the way MVTec's do (woven, brushed, speckled surfaces) and the
//! images of one category vary only a little.

use image::RgbImage;

use super::rng::Rng;

#[derive(Debug, Clone, Copy)]
pub(super) enum TextureStyle {
    /// Crossed sinusoidal threads, like fabric or carpet.
    Weave,
    /// Long horizontal streaks, like brushed metal.
    Brushed,
    /// Multi-scale blotches and speckle, like stone or tile.
    Granite,
}

impl TextureStyle {
    pub(super) fn for_category(index: usize) -> TextureStyle {
        [TextureStyle::Weave, TextureStyle::Brushed, TextureStyle::Granite][index % 3]
    }
}

/// Smooth noise: random values on a `cell`-pixel lattice, bilinearly interpolated.
struct ValueNoise {
    cell: f32,
    columns: usize,
    values: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, size: u32, cell: f32) -> ValueNoise {
        let columns = (size as f32 / cell) as usize + 2;
        let values = (0..columns * columns).map(|_| rng.unit()).collect();
        ValueNoise { cell, columns, values }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (gx, gy) = (x / self.cell, y / self.cell);
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let v = |cx: usize, cy: usize| self.values[cy.min(self.columns - 1) * self.columns + cx.min(self.columns - 1)];
        let top = v(ix, iy) * (1.0 - fx) + v(ix + 1, iy) * fx;
        let bottom = v(ix, iy + 1) * (1.0 - fx) + v(ix + 1, iy + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A `size × size` texture; `base` is the category colour (shared by all its
/// images), `rng` varies phase, noise and small colour shifts per image.
pub(super) fn render(style: TextureStyle, base: [f32; 3], size: u32, rng: &mut Rng) -> RgbImage {
    let shift = [rng.range(-0.03, 0.03), rng.range(-0.03, 0.03), rng.range(-0.03, 0.03)];
    let (phase_x, phase_y) = (rng.range(0.0, 6.3), rng.range(0.0, 6.3));
    let coarse = ValueNoise::new(rng, size, 48.0);
    let fine = ValueNoise::new(rng, size, 6.0);
    let streaks: Vec<f32> = (0..size).map(|_| rng.range(-1.0, 1.0)).collect();
    let mut image = RgbImage::new(size, size);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        let (fx, fy) = (x as f32, y as f32);
        let shade = match style {
            TextureStyle::Weave => {
                let warp = (fx * 0.55 + phase_x).sin();
                let weft = (fy * 0.55 + phase_y).sin();
                0.75 + 0.12 * warp * weft + 0.1 * (coarse.at(fx, fy) - 0.5) + 0.06 * (fine.at(fx, fy) - 0.5)
            }
            TextureStyle::Brushed => {
                // A streak value per row, smeared a little into its neighbours.
                let row = y as usize;
                let streak = (streaks[row] + 0.5 * streaks[row.saturating_sub(1)]) / 1.5;
                0.8 + 0.06 * streak + 0.12 * (coarse.at(fx * 0.2, fy) - 0.5)
            }
            TextureStyle::Granite => {
                let blotch = coarse.at(fx, fy) - 0.5;
                let grain = fine.at(fx, fy) - 0.5;
                let speck = if fine.at(fy, fx) > 0.93 { -0.25 } else { 0.0 };
                0.78 + 0.25 * blotch + 0.2 * grain + speck
            }
        };
        let mut rgb = [0u8; 3];
        for (channel, value) in rgb.iter_mut().enumerate() {
            *value = ((base[channel] + shift[channel]) * shade * 255.0).clamp(0.0, 255.0) as u8;
        }
        *pixel = image::Rgb(rgb);
    }
    image
}
