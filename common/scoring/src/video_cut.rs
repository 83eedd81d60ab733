//! The last step of planning an input: ranges of stills pass through, each
//! video is probed for its stated length ([`super::video_length`]) and cut
//! into shards of at most `frames_per_shard` sampled frames, and a folder's
//! file of no known kind is sniffed ([`super::sniff`]) and planned as a
//! video when it is one. Rows are numbered here, in input order.

use futures::StreamExt;

use rwclip_store::{Store, StoreError};
use rwclip_core::split_file_uri;

use rwclip_job::sampling::Sampling;
use rwclip_plan::pipe_span::PipeSpan;
use rwclip_plan::score_input::{InputRange, InputShard};

use crate::input_error::InputError;
use super::sniff::{video_container, SNIFF_BYTES};

/// How the videos of an input are cut into shards.
#[derive(Debug, Clone, Copy)]
pub struct VideoCut {
    pub sampling: Sampling,
    pub frames_per_shard: u64,
}

/// Probes in flight while planning (each a HEAD and a ranged read or two).
const PROBES_IN_FLIGHT: usize = 16;

/// What reading an input's listing or manifest gives, in input order.
pub(super) enum Piece {
    /// Stills; `first_row` is set when the pieces are numbered.
    Range(InputShard),
    Video(NamedVideo),
    /// A folder's file whose name says neither image nor video.
    Unknown { key: String },
}

/// A video as the input names it.
pub(super) struct NamedVideo {
    /// Relative to the input's root, or an absolute path or URL (manifests).
    pub key: String,
    /// What the output calls it when that is not `root/key` (a manifest's
    /// own text).
    pub name: Option<String>,
    pub span: Option<PipeSpan>,
}

/// A piece after probing.
enum Probed {
    Range(InputShard),
    Video { range: InputRange, seconds: Option<f64> },
    Nothing,
}

/// Probes and numbers `pieces`, cutting videos by `cut`; `on_shard` gets
/// every shard in input order. Returns the number of rows. A video's
/// shards are counted against `max_shards` before any is made.
pub(super) async fn plan_pieces(root: &Store, pieces: Vec<Piece>, cut: VideoCut, max_shards: u64, rows_per_shard: u64, mut on_shard: impl FnMut(InputShard)) -> Result<u64, InputError> {
    let probes = futures::stream::iter(pieces.into_iter().map(|piece| probe(root, piece))).buffered(PROBES_IN_FLIGHT);
    futures::pin_mut!(probes);
    let (mut rows, mut shards) = (0u64, 0u64);
    let mut count = |more: u64| {
        shards = shards.saturating_add(more);
        if shards > max_shards {
            return Err(InputError::TooManyShards { input: root.uri().to_string(), max: max_shards, rows_per_shard });
        }
        Ok(())
    };
    while let Some(probed) = probes.next().await {
        match probed? {
            Probed::Range(mut shard) => {
                count(1)?;
                shard.first_row = rows;
                rows += shard.rows;
                on_shard(shard);
            }
            Probed::Video { range, seconds } => {
                let segments = VideoSegments::plan(range, seconds, cut);
                count(segments.count)?;
                for range in segments {
                    on_shard(InputShard { range, first_row: rows, rows: 1 });
                }
                rows += 1;
            }
            Probed::Nothing => {}
        }
    }
    Ok(rows)
}

async fn probe(root: &Store, piece: Piece) -> Result<Probed, InputError> {
    match piece {
        Piece::Range(shard) => Ok(Probed::Range(shard)),
        Piece::Video(video) => probe_video(root, video).await,
        Piece::Unknown { key } => {
            let failed = |source| InputError::Store { uri: root.full_uri(&key), source };
            let size = root.size(&key).await.map_err(failed)?;
            let head = root.get_range(&key, 0..size.min(SNIFF_BYTES)).await.map_err(failed)?;
            if video_container(&head).is_none() {
                return Ok(Probed::Nothing);
            }
            probe_video(root, NamedVideo { key, name: None, span: None }).await
        }
    }
}

/// A video's range and stated length; a video that is not there is still
/// planned (its shard records it as a row).
async fn probe_video(root: &Store, video: NamedVideo) -> Result<Probed, InputError> {
    let absolute = video.key.contains("://") || video.key.starts_with('/');
    let (store, key) = if absolute {
        let (parent, name) = split_file_uri(&video.key);
        (Store::open(&parent).map_err(|source| InputError::Store { uri: video.key.clone(), source })?, name)
    } else {
        (root.clone(), video.key.clone())
    };
    let failed = |source| InputError::Store { uri: store.full_uri(&key), source };
    let (size, seconds) = match store.size(&key).await {
        Ok(size) => match super::video_length::video_seconds(&store, &key, size).await {
            Ok(seconds) => (size, seconds),
            Err(StoreError::NotFound { .. }) => (0, None),
            Err(e) => return Err(failed(e)),
        },
        Err(StoreError::NotFound { .. }) => (0, None),
        Err(e) => return Err(failed(e)),
    };
    let range = InputRange::Video { root: store.uri().to_string(), key, size, first_tick: 0, end_tick: None, name: video.name, span: video.span, length_note: None };
    Ok(Probed::Video { range, seconds })
}

/// The most shards one video is cut into: a longer video gets longer
/// shards (4,096 of the default 1,024 frames is 48 days at 1 fps).
pub const MAX_SHARDS_PER_VIDEO: u64 = 4096;

/// The fewest bytes a sampled frame can take in a file: no codec stores a
/// coded frame in less than one, and no two ticks keep the same frame. A
/// header that states more sampled frames than its file has bytes is not
/// believed.
pub const MIN_BYTES_PER_FRAME: u64 = 1;

/// A video's shards, made one at a time: `frames_per_shard` ticks of its
/// sampling ([`Sampling::ticks_per_second`]; more when the video would need
/// more than [`MAX_SHARDS_PER_VIDEO`]) at a time by its stated length, the
/// last open-ended. One open-ended shard when the length is unknown, or
/// more than the file's bytes can hold (the range then says why).
pub struct VideoSegments {
    range: InputRange,
    per: u64,
    /// How many shards; at most [`MAX_SHARDS_PER_VIDEO`].
    pub count: u64,
    next: u64,
}

impl VideoSegments {
    pub fn plan(mut range: InputRange, seconds: Option<f64>, cut: VideoCut) -> VideoSegments {
        let one = |range| VideoSegments { range, per: 0, count: 1, next: 0 };
        let fps = cut.sampling.ticks_per_second();
        let (Some(seconds), InputRange::Video { size, length_note, .. }) = (seconds, &mut range) else { return one(range) };
        // Floats all the way: a stated length may be anything a file holds.
        let ticks = (seconds * fps - 1e-9).floor().max(0.0) + 1.0;
        let holds = (*size / MIN_BYTES_PER_FRAME) as f64;
        if !(ticks.is_finite() && ticks <= holds) {
            *length_note = Some(format!(
                "its header states {seconds:.6e} s ({ticks:.3e} frames at {fps} a second), more than its {size} bytes can hold; planned as one shard to its end"
            ));
            return one(range);
        }
        let ticks = ticks as u64;
        // Past the cap, shards of whole multiples of `frames_per_shard`
        // (which the plan makes whole batches).
        let base = cut.frames_per_shard.max(1);
        let per = ticks.div_ceil(MAX_SHARDS_PER_VIDEO).div_ceil(base).saturating_mul(base).max(base);
        VideoSegments { range, per, count: ticks.div_ceil(per).max(1), next: 0 }
    }
}

impl Iterator for VideoSegments {
    type Item = InputRange;

    fn next(&mut self) -> Option<InputRange> {
        if self.next == self.count {
            return None;
        }
        let k = self.next;
        self.next += 1;
        let mut piece = self.range.clone();
        if let (InputRange::Video { first_tick, end_tick, .. }, true) = (&mut piece, self.count > 1) {
            *first_tick = k * self.per;
            *end_tick = (k + 1 < self.count).then(|| (k + 1) * self.per);
        }
        Some(piece)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(size: u64) -> InputRange {
        InputRange::Video { root: "r".into(), key: "v.avi".into(), size, first_tick: 0, end_tick: None, name: None, span: None, length_note: None }
    }

    fn fps(fps: f64, frames_per_shard: u64) -> VideoCut {
        VideoCut { sampling: Sampling::Fps(fps), frames_per_shard }
    }

    #[test]
    fn a_header_stating_more_than_the_file_holds_is_one_open_ended_shard_that_says_why() {
        // The forged AVI: 4,294,967,295 frames of 4,294,967,295 µs in 1.5 MB.
        let forged = f64::from(u32::MAX) * f64::from(u32::MAX) / 1e6;
        let mut segments = VideoSegments::plan(video(1_500_000), Some(forged), fps(1.0, 1024));
        assert_eq!(segments.count, 1);
        let only = segments.next().unwrap();
        assert!(segments.next().is_none());
        let InputRange::Video { first_tick: 0, end_tick: None, length_note: Some(note), .. } = only else { panic!("{only:?}") };
        assert!(note.contains("more than its 1500000 bytes can hold"), "{note}");
        for absurd in [1e300, f64::MAX, f64::INFINITY, f64::NAN] {
            assert_eq!(VideoSegments::plan(video(1 << 40), Some(absurd), fps(30.0, 1)).count, 1, "{absurd}");
        }
    }

    #[test]
    fn a_believable_length_is_cut_by_frames_and_capped_per_video() {
        let cut: Vec<_> = VideoSegments::plan(video(10_000_000), Some(25.0), fps(2.0, 16)).collect();
        let ticks: Vec<_> = cut.iter().map(|r| match r { InputRange::Video { first_tick, end_tick, length_note: None, .. } => (*first_tick, *end_tick), _ => panic!() }).collect();
        assert_eq!(ticks, [(0, Some(16)), (16, Some(32)), (32, Some(48)), (48, None)]);
        // A ten-year recording in a large enough file: longer shards, never
        // more than the cap.
        let decade = 10.0 * 365.0 * 86400.0;
        let long = VideoSegments::plan(video(1 << 40), Some(decade), fps(1.0, 1));
        assert!(long.count <= MAX_SHARDS_PER_VIDEO && long.count > MAX_SHARDS_PER_VIDEO - 2, "{}", long.count);
        let last = long.last().unwrap();
        assert!(matches!(last, InputRange::Video { end_tick: None, .. }));
        // every_nth and keyframes: shards of `frames_per_shard` seconds.
        for sampling in [Sampling::EveryNth(3), Sampling::Keyframes] {
            let seconds: Vec<_> = VideoSegments::plan(video(1 << 20), Some(25.0), VideoCut { sampling, frames_per_shard: 10 }).map(|r| match r { InputRange::Video { first_tick, end_tick, .. } => (first_tick, end_tick), _ => panic!() }).collect();
            assert_eq!(seconds, [(0, Some(10)), (10, Some(20)), (20, None)], "{sampling}");
        }
        assert_eq!(VideoSegments::plan(video(1 << 20), None, fps(1.0, 1)).count, 1);
    }
}
