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
}
