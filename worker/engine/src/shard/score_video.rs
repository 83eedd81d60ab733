//! A video row of a score shard: its frames decoded by `rwclip-decode` in a
//! child process under a watchdog, scored in batches as they arrive (at
//! most one batch of frames held), one row per frame, and one more row
//! when the video could not be read to its end.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rwclip_artifacts::{FrameAt, ImageScoreRow};
use rwclip_plan::pipe_span::PipeSpan;
use rwclip_job::sampling::Sampling;
use rwclip_inputs::preprocess::{Preprocess, View};
use rwclip_video::child::{decode_in_child, ChildFailure};
use rwclip_video::{Frame, Message, Segment, VideoError};

use super::error::ShardError;
use super::batch_scorer::BatchScorer;
use crate::embed::parallel_map;
use crate::error::EngineError;

/// Where the decoder binary is: `RWCLIP_DECODER`, else beside this
/// executable.
const DECODER_ENV: &str = "RWCLIP_DECODER";
/// Seconds without a frame before a decoder is taken for hung.
const STALL_ENV: &str = "RWCLIP_DECODE_STALL_S";
const DEFAULT_STALL_S: u64 = 120;

pub struct VideoDecoder {
    exe: PathBuf,
    stall: Duration,
}

impl VideoDecoder {
    pub fn locate() -> Result<VideoDecoder, String> {
        let exe = match std::env::var_os(DECODER_ENV) {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?.with_file_name("rwclip-decode"),
        };
        if !exe.is_file() {
            return Err(format!("the video decoder {} is missing: install rwclip-decode beside rwclip, or set {DECODER_ENV}", exe.display()));
        }
        let stall = std::env::var(STALL_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_STALL_S);
        Ok(VideoDecoder { exe, stall: Duration::from_secs(stall.max(1)) })
    }
}

/// A video of a shard: where it is, what the rows call it, and the metres
/// of pipe it covers when its manifest row says.
pub struct VideoRef<'a> {
    pub root: &'a str,
    pub key: &'a str,
    pub uri: &'a str,
    pub span: Option<PipeSpan>,
    /// Why the planner did not believe the length its header states, if it
    /// did not: said once, on a row of the video after its frames.
    pub length_note: Option<&'a str>,
}

/// Scores every frame `sampling` keeps of `video` into `out`, in batches
/// of at most `batch` that never span two blocks of `batch` ticks
/// ([`Sampling::ticks_per_second`]). The plan cuts videos at whole blocks,
/// so a frame's batch, and so its score's bits, never depend on the shard
/// it is in, whatever the frames a tick yields.
#[allow(clippy::too_many_arguments)]
pub fn score_video(
    decoder: &VideoDecoder,
    video: &VideoRef<'_>,
    sampling: Sampling,
    segment: Option<Segment>,
    batch: usize,
    preprocess: &Preprocess,
    views: &[View],
    scorer: &BatchScorer<'_>,
    out: &mut Vec<ImageScoreRow>,
    rows_out: &dyn Fn(u64),
) -> Result<(), ShardError> {
    let uri = video.uri;
    let mut command = Command::new(&decoder.exe);
    command.arg(video.root).arg(video.key).arg(sampling.to_string()).arg("1");
    if let Some(segment) = segment {
        command.arg(segment.arg());
    }
    let mut pending: Vec<Frame> = Vec::with_capacity(batch);
    let per_second = sampling.ticks_per_second();
    let block = |f: &Frame| {
        let tick = match f.target_s {
            Some(target) => (target * per_second).round(),
            None => (f.pts_s * per_second + 1e-9).floor().max(0.0),
        };
        tick as u64 / batch as u64
    };
    let mut failure: Option<ShardError> = None;
    // The container's duration (every shard of a video reads the same
    // header) places a frame along the pipe.
    let mut duration_s: Option<f64> = None;
    let flush = |pending: &mut Vec<Frame>, out: &mut Vec<ImageScoreRow>, duration_s: Option<f64>| -> Result<(), ShardError> {
        let frames = std::mem::take(pending);
        let prepared: Vec<Vec<Vec<f32>>> = parallel_map(&frames, |f| preprocess.rgb_views(&f.rgb, f.width, f.height, views));
        let items: Vec<&Vec<Vec<f32>>> = prepared.iter().collect();
        for (f, scored) in frames.iter().zip(scorer.score(&items)?) {
            let distance_m = video.span.zip(duration_s).and_then(|(span, d)| span.at(f.pts_s, d));
            out.push(scored.into_row(uri, Some(FrameAt { frame: Some(f.index), pts_s: f.pts_s, target_s: f.target_s, distance_m })));
        }
        rows_out(out.len() as u64);
        Ok(())
    };
    let ending = decode_in_child(command, decoder.stall, |message| {
        match message {
            Message::Info(info) => duration_s = info.duration_s,
            Message::Frame(frame) => {
                if pending.last().is_some_and(|last| block(last) != block(&frame)) {
                    if let Err(e) = flush(&mut pending, out, duration_s) {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                }
                pending.push(frame);
                if pending.len() == batch {
                    if let Err(e) = flush(&mut pending, out, duration_s) {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            Message::End(_) => {}
        }
        ControlFlow::Continue(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    flush(&mut pending, out, duration_s)?;
    let reached = out.last().and_then(|r| r.at.filter(|_| r.uri == uri)).map_or(0.0, |a| a.pts_s);
    let shard_failed = |source| Err(ShardError::Run { shard: scorer.shard().clone(), source });
    let trailing = match ending {
        Ok(Ok(decoded)) => decoded.ending.describe().map(|why| (why, decoded.ending.at_s().unwrap_or(reached))),
        // The store, not the video: the shard is tried again and decodes
        // the same frames.
        Ok(Err(outage @ VideoError::StoreUnavailable { .. })) => return shard_failed(EngineError::Unavailable(outage.to_string())),
        Ok(Err(video_error)) => Some((video_error.to_string(), 0.0)),
        Err(ChildFailure::Spawn(why)) => return shard_failed(EngineError::Usage(format!("{}: {why}", decoder.exe.display()))),
        Err(ChildFailure::SpawnBusy(why)) => return shard_failed(EngineError::Unavailable(format!("{}: {why}", decoder.exe.display()))),
        Err(failure @ (ChildFailure::Crashed { at_s, .. } | ChildFailure::Stalled { at_s, .. })) => Some((format!("{uri}: {failure}"), at_s.unwrap_or(reached))),
        Err(failure @ (ChildFailure::Protocol(_) | ChildFailure::Stopped)) => Some((format!("{uri}: {failure}"), reached)),
    };
    if let Some((why, at_s)) = trailing {
        out.push(ImageScoreRow::failed(uri, why, Some(FrameAt { frame: None, pts_s: at_s, target_s: None, distance_m: None })));
    }
    if let Some(note) = video.length_note {
        out.push(ImageScoreRow::failed(uri, format!("{uri}: {note}"), Some(FrameAt { frame: None, pts_s: reached, target_s: None, distance_m: None })));
    }
    Ok(())
}

/// The frame of `video` a row scored, decoded again to be drawn: with fps
/// sampling, the one tick the row stands for (a seek and a few frames);
/// otherwise a pass of the same sampling up to the row's frame index.
pub fn decode_scored_frame(decoder: &VideoDecoder, root: &str, key: &str, sampling: Sampling, at: &FrameAt) -> Result<Frame, String> {
    let mut command = Command::new(&decoder.exe);
    command.arg(root).arg(key).arg(sampling.to_string()).arg("1");
    let wanted = match (sampling, at.target_s) {
        (Sampling::Fps(fps), Some(target_s)) => {
            let tick = (target_s * fps).round() as u64;
            command.arg(Segment { first_tick: tick, end_tick: Some(tick + 1) }.arg());
            None
        }
        _ => Some(at.frame.ok_or("the row names no frame")?),
    };
    let mut found: Option<Frame> = None;
    // Stops the decoder at its frame rather than decoding on to the end.
    let ending = decode_in_child(command, decoder.stall, |message| {
        if let Message::Frame(frame) = message {
            if wanted.is_none_or(|i| frame.index == i) {
                found = Some(frame);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match (found, ending) {
        (Some(frame), _) => Ok(frame),
        (None, Err(failure)) => Err(failure.to_string()),
        (None, Ok(Err(video_error))) => Err(video_error.to_string()),
        (None, Ok(Ok(_))) => Err(format!("no frame at {} s any more", at.pts_s)),
    }
}
