//! Which decoded frames of a video a scoring job keeps (the decoder that
//! applies it is rwclip-video; the plan and the job file only name it).

use serde::{Deserialize, Serialize};

/// How frames are sampled from a video.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sampling {
    /// The first frame at or after each tick `k / fps` seconds after the
    /// stream's start, found by decoding forward: exact, never snapped to a
    /// keyframe.
    Fps(f64),
    /// Frames 0, n, 2n, … of the stream in decode order.
    EveryNth(u64),
    /// Only the keyframes (the decoder skips every other frame: cheap).
    Keyframes,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling::Fps(1.0)
    }
}

impl Sampling {
    pub fn is_default(&self) -> bool {
        *self == Sampling::default()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("sampling {given:?}: {problem} (expected fps=<frames per second>, every_nth=<n> or keyframes)")]
pub struct SamplingParseError {
    pub given: String,
    pub problem: String,
}

impl std::str::FromStr for Sampling {
    type Err = SamplingParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem: &str| SamplingParseError { given: s.to_string(), problem: problem.to_string() };
        let s = s.trim();
        if s == "keyframes" {
            return Ok(Sampling::Keyframes);
        }
        let (key, value) = s.split_once('=').ok_or_else(|| err("no `=`"))?;
        match key.trim() {
            "fps" => {
                let fps: f64 = value.trim().parse().map_err(|_| err("fps is not a number"))?;
                Sampling::fps(fps).map_err(|p| err(&p))
            }
            "every_nth" => {
                let n: u64 = value.trim().parse().map_err(|_| err("every_nth is not a whole number"))?;
                if n == 0 {
                    return Err(err("every_nth must be at least 1"));
                }
                Ok(Sampling::EveryNth(n))
            }
            _ => Err(err("unknown sampling")),
        }
    }
}

impl TryFrom<String> for Sampling {
    type Error = SamplingParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Sampling> for String {
    fn from(s: Sampling) -> String {
        s.to_string()
    }
}

impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sampling::Fps(fps) => write!(f, "fps={fps}"),
            Sampling::EveryNth(n) => write!(f, "every_nth={n}"),
            Sampling::Keyframes => f.write_str("keyframes"),
        }
    }
}

impl Sampling {
    /// The rate, in ticks a second of stream time, that a long video's
    /// shards are counted in: fps sampling's own ticks; whole seconds for
    /// every_nth and keyframes, whose frames a second depend on the stream
    /// (which the planner does not decode).
    pub fn ticks_per_second(&self) -> f64 {
        match self {
            Sampling::Fps(fps) => *fps,
            Sampling::EveryNth(_) | Sampling::Keyframes => 1.0,
        }
    }

    /// `fps` checked: positive and finite.
    pub fn fps(fps: f64) -> Result<Sampling, String> {
        if fps.is_finite() && fps > 0.0 {
            Ok(Sampling::Fps(fps))
        } else {
            Err(format!("fps must be a positive number, not {fps}"))
        }
    }
}

/// Tolerance on tick comparisons: timestamps are rationals turned into
/// seconds, and a frame exactly on a tick must count as on it.
const TICK_EPSILON: f64 = 1e-9;

/// The state of one pass of [`Sampling`] over a stream's frames in order.
#[derive(Debug, Clone)]
pub struct Sampler {
    sampling: Sampling,
    /// Fps: the next tick not yet covered by a kept frame.
    next_tick: u64,
}

impl Sampler {
    pub fn new(sampling: Sampling) -> Sampler {
        Sampler { sampling, next_tick: 0 }
    }

    /// Whether the frame at `index` (decode order) and `pts_s` (seconds
    /// after the stream's start) is kept, and if so its target time. A frame
    /// after a gap that spans several ticks is kept once, for the earliest.
    pub fn keep(&mut self, index: u64, pts_s: f64, is_key: bool) -> Option<Option<f64>> {
        match self.sampling {
            Sampling::Fps(fps) => {
                let tick = self.next_tick as f64 / fps;
                if pts_s + TICK_EPSILON < tick {
                    return None;
                }
                let target = tick;
                // The next tick strictly after this frame.
                self.next_tick = ((pts_s * fps + TICK_EPSILON).floor().max(0.0) as u64 + 1).max(self.next_tick + 1);
                Some(Some(target))
            }
            Sampling::EveryNth(n) => (index % n == 0).then_some(None),
            Sampling::Keyframes => is_key.then_some(None),
        }
    }

    /// Fps sampling resumed mid-stream (after a seek): `pts_s` is the frame
    /// just before the next one offered. A frame is the first at or after a
    /// tick exactly when that tick lies between its predecessor and it, so
    /// this is all the state a whole pass would have.
    pub fn resume_after(&mut self, pts_s: f64) {
        if let Sampling::Fps(fps) = self.sampling {
            self.next_tick = (pts_s * fps + TICK_EPSILON).floor().max(-1.0) as i64 as u64 + 1;
        }
    }

    /// The ticks per second of fps sampling.
    pub fn fps(&self) -> Option<f64> {
        match self.sampling {
            Sampling::Fps(fps) => Some(fps),
            _ => None,
        }
    }

    /// Whether the decoder may skip every frame that is not a keyframe.
    pub fn keyframes_only(&self) -> bool {
        matches!(self.sampling, Sampling::Keyframes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(sampling: Sampling, frames: &[(f64, bool)]) -> Vec<(u64, Option<f64>)> {
        let mut s = Sampler::new(sampling);
        frames.iter().enumerate().filter_map(|(i, &(t, k))| s.keep(i as u64, t, k).map(|target| (i as u64, target))).collect()
    }

    #[test]
    fn fps_keeps_the_first_frame_at_or_after_each_tick() {
        // 25 fps: frames at i / 25; 1 fps keeps frames 0, 25, 50.
        let frames: Vec<(f64, bool)> = (0..60).map(|i| (i as f64 / 25.0, i % 12 == 0)).collect();
        assert_eq!(kept(Sampling::Fps(1.0), &frames), vec![(0, Some(0.0)), (25, Some(1.0)), (50, Some(2.0))]);
        // 2 fps on 25 fps: ticks 0, 0.5, 1.0 → frames 0, 13 (0.52 s), 25.
        let k = kept(Sampling::Fps(2.0), &frames);
        assert_eq!(k.iter().map(|k| k.0).collect::<Vec<_>>(), vec![0, 13, 25, 38, 50]);
    }

    #[test]
    fn a_gap_over_several_ticks_keeps_its_first_frame_once() {
        let frames = [(0.0, true), (0.5, false), (3.2, false), (3.4, false), (4.0, false)];
        assert_eq!(kept(Sampling::Fps(1.0), &frames), vec![(0, Some(0.0)), (2, Some(1.0)), (4, Some(4.0))]);
    }

    #[test]
    fn every_nth_and_keyframes() {
        let frames: Vec<(f64, bool)> = (0..10).map(|i| (i as f64, i == 0 || i == 7)).collect();
        assert_eq!(kept(Sampling::EveryNth(4), &frames), vec![(0, None), (4, None), (8, None)]);
        assert_eq!(kept(Sampling::Keyframes, &frames), vec![(0, None), (7, None)]);
    }

    #[test]
    fn parses_and_prints() {
        for s in ["fps=1", "fps=0.5", "every_nth=25", "keyframes"] {
            assert_eq!(s.parse::<Sampling>().unwrap().to_string(), s);
        }
        for bad in ["fps=0", "fps=-1", "fps=x", "every_nth=0", "nth=3", "1"] {
            let e = bad.parse::<Sampling>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
