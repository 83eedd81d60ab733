//! What decoding a video gives: its info, the kept frames, how it ended.

use serde::{Deserialize, Serialize};

use crate::Sampling;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecodeOptions {
    pub sampling: Sampling,
    /// Decoder threads (frame threading gives the same frames).
    pub threads: usize,
    /// Only the frames of these sampling ticks (fps sampling of a video the
    /// plan cut into shards); `None` = the whole video.
    #[serde(default)]
    pub segment: Option<Segment>,
}

/// Ticks `first_tick ..` up to `end_tick` (open-ended for a video's last
/// shard) of fps sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub first_tick: u64,
    pub end_tick: Option<u64>,
}

impl Segment {
    /// `FIRST:END` or `FIRST:` (open-ended), as `rwclip-decode` takes it.
    pub fn arg(&self) -> String {
        format!("{}:{}", self.first_tick, self.end_tick.map(|e| e.to_string()).unwrap_or_default())
    }

    pub fn parse(arg: &str) -> Option<Segment> {
        let (first, end) = arg.split_once(':')?;
        Some(Segment { first_tick: first.parse().ok()?, end_tick: if end.is_empty() { None } else { Some(end.parse().ok()?) } })
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { sampling: Sampling::default(), threads: 1, segment: None }
    }
}

/// What the container says about the video stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Seconds, from the stream or the container; `None` when neither says.
    pub duration_s: Option<f64>,
    /// The stream's average frame rate, when known.
    pub fps: Option<f64>,
}

/// A kept frame: packed RGB24, `width × height × 3` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Index in the stream, in decode order from its first frame (for
    /// keyframe sampling, which skips decoding the rest: from the timestamp
    /// and the frame rate).
    pub index: u64,
    /// Seconds after the stream's start.
    pub pts_s: f64,
    /// The sampling tick this frame stands for (fps sampling only).
    pub target_s: Option<f64>,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// How decoding a video ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "snake_case")]
pub enum Ending {
    /// Every frame up to the end of the stream.
    Complete,
    /// The stream stopped well before the duration its header announces.
    Truncated { at_s: f64, of_s: f64 },
    /// Decoding stopped on an error after `at_s` seconds.
    Failed { at_s: f64, reason: String },
}

impl Ending {
    /// How far the stream was read, for an ending that lost frames.
    pub fn at_s(&self) -> Option<f64> {
        match self {
            Ending::Complete => None,
            Ending::Truncated { at_s, .. } | Ending::Failed { at_s, .. } => Some(*at_s),
        }
    }

    /// The row text for an ending that lost frames; `None` when complete.
    pub fn describe(&self) -> Option<String> {
        match self {
            Ending::Complete => None,
            Ending::Truncated { at_s, of_s } => Some(format!("truncated at {at_s:.1} s of {of_s:.1} s")),
            Ending::Failed { at_s, reason } => Some(format!("decoding stopped at {at_s:.1} s: {reason}")),
        }
    }
}

/// Counts from one pass over a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decoded {
    pub info: VideoInfo,
    /// Frames the decoder produced.
    pub decoded: u64,
    /// Frames kept by the sampling.
    pub sampled: u64,
    /// Packets or frames the decoder rejected and skipped.
    pub corrupt: u64,
    pub ending: Ending,
}

