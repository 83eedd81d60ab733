//! An anomaly map drawn over its image: the map's values min–max scaled
//! per image onto a blue → cyan → yellow → red ramp and blended half over the
//! pixels the model saw, and where a ground-truth mask is given its outline
//! in white.

use super::figure::encode_png;

/// The ramp's colour at `t` in [0, 1].
fn heat(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 4] = [[30.0, 60.0, 200.0], [40.0, 200.0, 220.0], [250.0, 220.0, 40.0], [220.0, 30.0, 30.0]];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    std::array::from_fn(|c| STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f)
}

/// RGB pixels (row-major, `width`×`height`×3) with `map` (one value per
/// pixel) blended over them, and `mask`'s outline when given.
pub fn heat_overlay_rgb(rgb: &[u8], width: u32, height: u32, map: &[f32], mask: Option<&[u8]>) -> Vec<u8> {
    let n = (width * height) as usize;
    assert!(rgb.len() == n * 3 && map.len() == n, "an overlay needs one map value and one RGB pixel per pixel");
    let lo = map.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut out = Vec::with_capacity(n * 3);
    for (p, &v) in map.iter().enumerate() {
        let colour = heat((v - lo) / span);
        for c in 0..3 {
            out.push((0.5 * f32::from(rgb[p * 3 + c]) + 0.5 * colour[c]).round() as u8);
        }
    }
    if let Some(mask) = mask {
        let (w, h) = (width as usize, height as usize);
        let inside = |x: isize, y: isize| x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h && mask[y as usize * w + x as usize] != 0;
        for y in 0..h as isize {
            for x in 0..w as isize {
                let edge = inside(x, y) && [(-1, 0), (1, 0), (0, -1), (0, 1)].iter().any(|&(dx, dy)| !inside(x + dx, y + dy));
                if edge {
                    let p = (y as usize * w + x as usize) * 3;
                    out[p..p + 3].copy_from_slice(&[255, 255, 255]);
                }
            }
        }
    }
    out
}

/// [`heat_overlay_rgb`] as PNG bytes.
pub fn heat_overlay_png(rgb: &[u8], width: u32, height: u32, map: &[f32], mask: Option<&[u8]>) -> Result<Vec<u8>, String> {
    encode_png(&heat_overlay_rgb(rgb, width, height, map, mask), (width, height))
}

/// Bilinear upsampling of a `g`×`g` grid to `side`×`side` (align_corners =
/// false, edges clamped, as torch upsamples maps).
pub fn upsample_grid(grid: &[f32], g: usize, side: usize) -> Vec<f32> {
    assert_eq!(grid.len(), g * g, "a {g}×{g} grid");
    let scale = g as f32 / side as f32;
    let source = |d: usize| -> (usize, usize, f32) {
        let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let i = (s.floor() as usize).min(g - 1);
        (i, (i + 1).min(g - 1), s - i as f32)
    };
    let mut out = Vec::with_capacity(side * side);
    for y in 0..side {
        let (y0, y1, fy) = source(y);
        for x in 0..side {
            let (x0, x1, fx) = source(x);
            let top = grid[y0 * g + x0] * (1.0 - fx) + grid[y0 * g + x1] * fx;
            let bottom = grid[y1 * g + x0] * (1.0 - fx) + grid[y1 * g + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// A patch-grid map (`g`×`g`) drawn over the centred square of an RGB image:
/// the region the model's eval view (resize, centre crop) covers.
pub fn overlay_centre_square(rgb: &mut [u8], width: u32, height: u32, grid: &[f32], g: usize) {
    let (w, h) = (width as usize, height as usize);
    let side = w.min(h);
    if side == 0 || g == 0 {
        return;
    }
    let (left, top) = ((w - side) / 2, (h - side) / 2);
    let mut square = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        let row = ((top + y) * w + left) * 3;
        square.extend_from_slice(&rgb[row..row + side * 3]);
    }
    let blended = heat_overlay_rgb(&square, side as u32, side as u32, &upsample_grid(grid, g, side), None);
    for y in 0..side {
        let row = ((top + y) * w + left) * 3;
        rgb[row..row + side * 3].copy_from_slice(&blended[y * side * 3..(y + 1) * side * 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_corner_is_red_and_the_mask_is_outlined() {
        let (w, h) = (8u32, 8u32);
        let grey = vec![128u8; 64 * 3];
        let map: Vec<f32> = (0..64).map(|i| if i == 63 { 1.0 } else { (i % 8) as f32 * 0.01 }).collect();
        let mut mask = vec![0u8; 64];
        for y in 2..5 {
            for x in 2..5 {
                mask[y * 8 + x] = 1;
            }
        }
        let out = heat_overlay_rgb(&grey, w, h, &map, Some(&mask));
        let px = |x: usize, y: usize| [out[(y * 8 + x) * 3], out[(y * 8 + x) * 3 + 1], out[(y * 8 + x) * 3 + 2]];
        assert_eq!(px(7, 7), [174, 79, 79], "the maximum is red over grey");
        assert!(px(0, 0)[2] > px(0, 0)[0], "the minimum is blue");
        assert_eq!(px(2, 2), [255, 255, 255], "mask outline");
        assert_ne!(px(3, 3), [255, 255, 255], "the mask's inside is not outlined");
        assert!(heat_overlay_png(&grey, w, h, &map, None).unwrap().starts_with(b"\x89PNG"));
    }

    #[test]
    fn a_grid_map_covers_the_centre_square_and_upsamples_as_torch_does() {
        // torch: F.interpolate([[0, 1], [2, 3]], size=4, mode="bilinear") first row.
        let up = upsample_grid(&[0.0, 1.0, 2.0, 3.0], 2, 4);
        assert_eq!(&up[..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(up[15], 3.0);
        let (w, h) = (12u32, 8u32);
        let mut rgb = vec![128u8; (w * h * 3) as usize];
        overlay_centre_square(&mut rgb, w, h, &[0.0, 0.0, 0.0, 1.0], 2);
        let px = |x: usize, y: usize| &rgb[(y * 12 + x) * 3..(y * 12 + x) * 3 + 3];
        assert_eq!(px(0, 0), &[128, 128, 128], "outside the centre square: untouched");
        assert_eq!(px(11, 7), &[128, 128, 128]);
        assert_eq!(px(9, 7), &[174, 79, 79], "the square's hot corner");
        assert!(px(2, 0)[2] > px(2, 0)[0], "the square's cold corner is blue");
    }
}
