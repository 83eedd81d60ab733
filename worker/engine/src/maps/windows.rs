//! Sliding windows over the patch grid, as WinCLIP cuts them (torch's
//! `unfold` over the grid of patch indices): windows of k×k patches at
//! stride 1, listed row by row of their top-left corner, each window's
//! patches row by row.

use tch::{Kind, Tensor};

/// Every window of one scale over a `grid`×`grid` patch grid.
#[derive(Debug)]
pub struct WindowSet {
    pub scale: i64,
    pub grid: i64,
    /// [windows, 1 + k²] Int64 token indices: the class token (0) then the
    /// window's patches (patch p is token p + 1), what `Clip::encode_windows` takes.
    pub tokens: Tensor,
    /// [grid², windows] Bool: whether a window covers a patch.
    pub coverage: Tensor,
}

impl WindowSet {
    /// Panics when `scale` is 0 or larger than the grid (the job check refuses those).
    pub fn new(grid: i64, scale: i64) -> WindowSet {
        assert!(scale >= 1 && scale <= grid, "window scale {scale} on a {grid}×{grid} patch grid");
        let positions = grid - scale + 1;
        let mut tokens = Vec::new();
        let mut coverage = vec![false; (grid * grid * positions * positions) as usize];
        let windows = positions * positions;
        for row in 0..positions {
            for col in 0..positions {
                let window = row * positions + col;
                tokens.push(0i64);
                for dy in 0..scale {
                    for dx in 0..scale {
                        let patch = (row + dy) * grid + col + dx;
                        tokens.push(patch + 1);
                        coverage[(patch * windows + window) as usize] = true;
                    }
                }
            }
        }
        WindowSet {
            scale,
            grid,
            tokens: Tensor::from_slice(&tokens).view([windows, 1 + scale * scale]),
            coverage: Tensor::from_slice(&coverage).view([grid * grid, windows]),
        }
    }

    pub fn len(&self) -> i64 {
        self.tokens.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per patch, the harmonic mean of the scores of the windows covering it:
    /// `window_scores` [B, windows] -> [B, grid, grid]. A patch whose windows
    /// include a zero score gets 0 (WinCLIP's `nan_to_num(posinf=0)`).
    pub fn harmonic_aggregation(&self, window_scores: &Tensor) -> Tensor {
        let batch = window_scores.size()[0];
        let coverage = self.coverage.to_device(window_scores.device());
        let inverse = window_scores.reciprocal().unsqueeze(1);
        let zero = Tensor::zeros([], (window_scores.kind(), window_scores.device()));
        let inverse_sums = inverse.where_self(&coverage.unsqueeze(0), &zero).sum_dim_intlist(-1, false, None::<Kind>);
        let counts = coverage.sum_dim_intlist(1, false, Kind::Int64);
        (counts / inverse_sums).view([batch, self.grid, self.grid]).nan_to_num(None, Some(0.0), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_listed_as_unfold_lists_them() {
        let w = WindowSet::new(3, 2);
        let tokens: Vec<i64> = Vec::try_from(w.tokens.flatten(0, 1)).unwrap();
        // anomalib's make_masks((3, 3), 2) columns are [0,1,3,4], [1,2,4,5], [3,4,6,7], [4,5,7,8].
        assert_eq!(tokens, vec![0, 1, 2, 4, 5, 0, 2, 3, 5, 6, 0, 4, 5, 7, 8, 0, 5, 6, 8, 9]);
        assert_eq!(WindowSet::new(15, 2).len(), 196);
        assert_eq!(WindowSet::new(15, 3).len(), 169);
    }

    #[test]
    fn harmonic_aggregation_gives_the_documented_example() {
        // The example in anomalib's harmonic_aggregation docstring.
        let w = WindowSet::new(3, 2);
        let scores = Tensor::from_slice(&[1.0f32, 0.75, 0.5, 0.25]).view([1, 4]);
        let got: Vec<f32> = Vec::try_from(w.harmonic_aggregation(&scores).flatten(0, 2)).unwrap();
        let want = [1.0, 0.857_142_9, 0.75, 0.666_666_7, 0.48, 0.375, 0.5, 0.333_333_3, 0.25];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let zero = Tensor::from_slice(&[0.0f32, 0.75, 0.5, 0.25]).view([1, 4]);
        let got: Vec<f32> = Vec::try_from(w.harmonic_aggregation(&zero).flatten(0, 2)).unwrap();
        assert_eq!(got[0], 0.0, "a zero score makes its patches 0, not NaN");
    }
}
