//! The last step of planning an input: ranges of stills pass through, each
//! video is probed for its stated length ([`super::video_length`]) and cut
//! into shards of at most `frames_per_shard` sampled frames, and a folder's
//! file of no known kind is sniffed ([`super::sniff`]) and planned as a
//! video when it is one. Rows are numbered here, in input order.

use futures::StreamExt;

use crate::artifacts::{Store, StoreError};
use crate::job::split_file_uri;

use super::input::{InputError, InputRange, InputShard};
use super::pipe_span::PipeSpan;
use super::sampling::Sampling;
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
/// every shard in input order. Returns the number of rows.
pub(super) async fn plan_pieces(root: &Store, pieces: Vec<Piece>, cut: VideoCut, max_shards: u64, rows_per_shard: u64, mut on_shard: impl FnMut(InputShard)) -> Result<u64, InputError> {
    let probes = futures::stream::iter(pieces.into_iter().map(|piece| probe(root, piece))).buffered(PROBES_IN_FLIGHT);
    futures::pin_mut!(probes);
    let (mut rows, mut shards) = (0u64, 0u64);
    let count = |shards: &mut u64| {
        *shards += 1;
        if *shards > max_shards {
            return Err(InputError::TooManyShards { input: root.uri().to_string(), max: max_shards, rows_per_shard });
        }
        Ok(())
    };
    while let Some(probed) = probes.next().await {
        match probed? {
            Probed::Range(mut shard) => {
                count(&mut shards)?;
                shard.first_row = rows;
                rows += shard.rows;
                on_shard(shard);
            }
            Probed::Video { range, seconds } => {
                for range in video_segments(range, seconds, cut) {
                    count(&mut shards)?;
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
    let range = InputRange::Video { root: store.uri().to_string(), key, size, first_tick: 0, end_tick: None, name: video.name, span: video.span };
    Ok(Probed::Video { range, seconds })
}

/// A video's shards: ticks of fps sampling `frames_per_shard` at a time by
/// its stated length, the last open-ended; one shard when the length is
/// unknown or the sampling is not by time.
fn video_segments(range: InputRange, seconds: Option<f64>, cut: VideoCut) -> Vec<InputRange> {
    let (Sampling::Fps(fps), Some(seconds)) = (cut.sampling, seconds) else { return vec![range] };
    let ticks = (seconds * fps - 1e-9).floor().max(0.0) as u64 + 1;
    let n = ticks.div_ceil(cut.frames_per_shard.max(1)).max(1);
    (0..n)
        .map(|k| {
            let mut piece = range.clone();
            if let InputRange::Video { first_tick, end_tick, .. } = &mut piece {
                *first_tick = k * cut.frames_per_shard;
                *end_tick = (k + 1 < n).then(|| (k + 1) * cut.frames_per_shard);
            }
            piece
        })
        .collect()
}
