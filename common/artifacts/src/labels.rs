//! The values the metric and summary tables key their rows on: a trial
//! writes them, the aggregate groups by them, the tables look them up.

/// The category name of the mean-over-categories rows.
pub const MEAN_CATEGORY: &str = "mean";

/// Score kinds, named as in the paper's tables.
pub const SCORE_CLIP: &str = "clip";
pub const SCORE_OURS: &str = "ours";
pub const SCORE_COMBINED: &str = "clip+ours";
/// WinCLIP (anomalib's), a map method that also scores images.
pub const SCORE_WINCLIP: &str = "winclip";
