//! Output sizes and crop offsets, computed exactly as torchvision 0.26 does for
//! `Resize(int)`, `CenterCrop(int)` and `FiveCrop(int)`, so that the same
//! pixels are kept.

/// Size after torchvision's `Resize(target)`: the shorter side becomes
/// `target`, the longer `int(target * long / short)` (truncated, not rounded).
pub(super) fn shortest_side_size(width: u32, height: u32, target: u32) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (width, height);
    }
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    // Python multiplies the ints exactly, then true-divides (correctly
    // rounded); both operands are exact in f64, so the division matches.
    let scaled_long = (u64::from(target) * u64::from(long)) as f64 / f64::from(short);
    let new_long = scaled_long as u32;
    if width <= height {
        (target, new_long)
    } else {
        (new_long, target)
    }
}

/// A `size × size` window inside a `width × height` image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CropWindow {
    pub left: u32,
    pub top: u32,
    pub size: u32,
}

impl CropWindow {
    /// torchvision's offsets: `int(round((len - size) / 2.0))`, where Python's
    /// `round` sends halves to the even neighbour (an odd excess of 3 gives 2,
    /// of 1 gives 0). The image is never smaller than the crop here: the
    /// shortest-side resize makes both sides at least `size`.
    pub(super) fn center(width: u32, height: u32, size: u32) -> CropWindow {
        let offset = |len: u32| (f64::from(len.saturating_sub(size)) / 2.0).round_ties_even() as u32;
        CropWindow { left: offset(width), top: offset(height), size }
    }

    /// One of `FiveCrop`'s corner windows (flush with the image's edges).
    pub(super) fn corner(width: u32, height: u32, size: u32, corner: super::Corner) -> CropWindow {
        use super::Corner::*;
        let (right, bottom) = (width.saturating_sub(size), height.saturating_sub(size));
        let (left, top) = match corner {
            TopLeft => (0, 0),
            TopRight => (right, 0),
            BottomLeft => (0, bottom),
            BottomRight => (right, bottom),
        };
        CropWindow { left, top, size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_side_truncates_the_long_side_like_torchvision() {
        // int(240 * 320 / 256) = 300; int(240 * 297 / 203) = int(351.13..) = 351
        assert_eq!(shortest_side_size(320, 256, 240), (300, 240));
        assert_eq!(shortest_side_size(203, 297, 240), (240, 351));
        assert_eq!(shortest_side_size(97, 131, 224), (224, 302));
        assert_eq!(shortest_side_size(240, 240, 240), (240, 240));
    }

    #[test]
    fn center_crop_rounds_half_offsets_to_even() {
        assert_eq!(CropWindow::center(243, 240, 240).left, 2); // round(1.5) = 2
        assert_eq!(CropWindow::center(245, 240, 240).left, 2); // round(2.5) = 2
        assert_eq!(CropWindow::center(241, 240, 240).left, 0); // round(0.5) = 0
        assert_eq!(CropWindow::center(240, 351, 240).top, 56); // round(55.5) = 56
    }

    #[test]
    fn corner_windows_touch_their_edges() {
        use super::super::Corner::*;
        assert_eq!(CropWindow::corner(300, 274, 240, TopLeft), CropWindow { left: 0, top: 0, size: 240 });
        assert_eq!(CropWindow::corner(300, 274, 240, TopRight), CropWindow { left: 60, top: 0, size: 240 });
        assert_eq!(CropWindow::corner(300, 274, 240, BottomLeft), CropWindow { left: 0, top: 34, size: 240 });
        assert_eq!(CropWindow::corner(300, 274, 240, BottomRight), CropWindow { left: 60, top: 34, size: 240 });
    }
}
