//! One video decoded forward from its first packet, sampled, every loop
//! bounded.

use std::io::{Read, Seek};

use ffmpeg_next::codec;
use ffmpeg_next::Discard;
use ffmpeg_next::format::context::StreamIo;
use ffmpeg_next::media;
use ffmpeg_next::util::frame::Video as VideoFrame;
use ffmpeg_next::{Error as AvError, Packet, Rational};
use rwclip_job::sampling::{Sampler, Sampling};
use rwclip_video::{DecodeOptions, Decoded, Ending, Frame, VideoError, VideoInfo};

use crate::convert::RgbConverter;

/// Invalid-data answers from the demuxer in a row before the stream is
/// given up (after a broken seek a demuxer can answer so forever).
const MAX_INVALID_IN_A_ROW: u32 = 64;

fn seconds(ts: i64, tb: Rational) -> f64 {
    ts as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()).max(1.0)
}

fn rate(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg_next::init();
        // Errors come back as return codes and are reported per video;
        // libav's own log lines would only interleave on stderr.
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Quiet);
    });
}

/// Decodes `source` (`size` bytes, called `video` in errors), hands each
/// frame the sampling keeps to `on_frame` in order, and says how the stream
/// ended. `Err` only when the video gives no stream to decode at all.
pub fn decode<S: Read + Seek + Send + 'static>(
    source: S,
    size: u64,
    video: &str,
    options: &DecodeOptions,
    on_info: impl FnOnce(&VideoInfo),
    mut on_frame: impl FnMut(Frame),
) -> Result<Decoded, VideoError> {
    init();
    let name = video.to_string();
    if size == 0 {
        return Err(VideoError::Empty { video: name });
    }
    let io = StreamIo::from_read_seek(source).map_err(|e| VideoError::Io { video: name.clone(), reason: e.to_string() })?;
    let hint = video.rsplit('/').next().unwrap_or(video);
    let mut input = ffmpeg_next::format::input_from_stream(io, Some(hint), None).map_err(|e| VideoError::Unreadable { video: name.clone(), reason: open_reason(video, &e) })?;
    let (index, tb, start, params, stream_duration, fps) = {
        let stream = input.streams().best(media::Type::Video).ok_or_else(|| VideoError::NoVideoStream { video: name.clone() })?;
        let tb = stream.time_base();
        let start = (stream.start_time() != ffmpeg_next::ffi::AV_NOPTS_VALUE).then(|| stream.start_time());
        let duration = (stream.duration() > 0).then(|| seconds(stream.duration(), tb));
        (stream.index(), tb, start, stream.parameters(), duration, rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate())))
    };
    let container_duration = (input.duration() > 0).then(|| input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE));
    let id = params.id();
    if id == codec::Id::None || ffmpeg_next::decoder::find(id).is_none() {
        let codec = if id == codec::Id::None { "unknown to FFmpeg".to_string() } else { format!("{id:?}").to_lowercase() };
        return Err(VideoError::UnsupportedCodec { video: name, codec });
    }
    let mut context = codec::context::Context::from_parameters(params).map_err(|e| VideoError::Unreadable { video: name.clone(), reason: e.to_string() })?;
    context.set_threading(codec::threading::Config { kind: codec::threading::Type::Frame, count: options.threads.max(1), ..Default::default() });
    // Raw video says its pixel format in the container alone; when it does
    // not, the decoder refuses to open (or opens with none) and no scaler
    // may be built for it.
    let mut decoder = context.decoder().video().map_err(|e| match id {
        codec::Id::RAWVIDEO => VideoError::NoPixelFormat { video: name.clone() },
        _ => VideoError::Unreadable { video: name.clone(), reason: format!("cannot open its decoder: {e}") },
    })?;
    if id == codec::Id::RAWVIDEO && decoder.format() == ffmpeg_next::format::Pixel::None {
        return Err(VideoError::NoPixelFormat { video: name });
    }
    let sampler = Sampler::new(options.sampling);
    if sampler.keyframes_only() {
        decoder.skip_frame(Discard::NonKey);
    }
    let info = VideoInfo {
        codec: format!("{id:?}").to_lowercase(),
        width: decoder.width(),
        height: decoder.height(),
        duration_s: stream_duration.or(container_duration),
        fps,
    };
    on_info(&info);

    // A shard of a long video starts at its first tick: seek a few seconds
    // before it (containers land on the keyframe before; an MPEG program
    // stream may land late, which the first frame tells), else decode from
    // the start. Either way the frames kept are those of a whole pass.
    let window = options.segment.map(|segment| {
        let fps = options.sampling.ticks_per_second();
        Window { first: segment.first_tick, end: segment.end_tick, t0: segment.first_tick as f64 / fps, fps }
    });
    let mut seek_lead = Some(SEEK_LEAD_S);
    let mut skipping = true;
    let mut emitted_up_to: Option<i64> = None;
    loop {
        let seeked = match (window, start, seek_lead) {
            (Some(w), Some(origin), Some(lead)) if w.first > 0 => {
                let target = seconds(origin, tb) + (w.t0 - lead).max(0.0);
                let ts = (target * f64::from(ffmpeg_next::ffi::AV_TIME_BASE)) as i64;
                input.seek(ts, ..ts).is_ok()
            }
            _ => false,
        };
        let mut pass = Pass::new(tb, start, fps, Sampler::new(options.sampling), options.sampling == Sampling::Keyframes, window, seeked);
        pass.skipping = skipping && matches!(options.sampling, Sampling::Fps(_));
        pass.emitted_up_to = emitted_up_to;
        pass.run(&mut input, &mut decoder, index, &mut on_frame);
        if pass.inexact {
            // Decode everything from the start; what was emitted is not
            // emitted again (the same frames decode to the same pixels).
            decoder.flush();
            decoder.skip_frame(Discard::Default);
            if !rewind(&mut input, index, start) {
                return Ok(Decoded { info, decoded: pass.decoded, sampled: pass.sampled, corrupt: pass.corrupt, ending: Ending::Failed { at_s: pass.last_s.unwrap_or(0.0), reason: "a gap in the stream needs it read again from its start, and it cannot be".to_string() } });
            }
            skipping = false;
            emitted_up_to = pass.last_emitted.or(emitted_up_to);
            seek_lead = None;
            continue;
        }
        if pass.landed_late {
            // Start over from the first packet: exact, if slower.
            decoder.flush();
            if !rewind(&mut input, index, start) {
                return Ok(Decoded { info, decoded: 0, sampled: 0, corrupt: 0, ending: Ending::Failed { at_s: 0.0, reason: "a seek landed late and the stream cannot be read from its start again".to_string() } });
            }
            seek_lead = None;
            continue;
        }
        let ending = pass.ending(info.duration_s);
        return Ok(Decoded { info, decoded: pass.decoded, sampled: pass.sampled, corrupt: pass.corrupt, ending });
    }
}

/// Back to the first packet: an MPEG program or transport stream (no
/// index) by byte, any other container to the keyframe at or before the
/// stream's start through its index.
fn rewind(input: &mut ffmpeg_next::format::context::Input, stream: usize, start: Option<i64>) -> bool {
    use ffmpeg_next::ffi;
    let by_byte = matches!(input.format().name(), "mpeg" | "mpegts" | "mpegvideo");
    // SAFETY: the context is open and owned by `input` for this call.
    unsafe {
        let ctx = input.as_mut_ptr();
        if by_byte {
            ffi::av_seek_frame(ctx, -1, 0, ffi::AVSEEK_FLAG_BYTE as i32) >= 0
        } else {
            ffi::av_seek_frame(ctx, stream as i32, start.unwrap_or(0), ffi::AVSEEK_FLAG_BACKWARD as i32) >= 0
        }
    }
}

/// How far before a shard's first tick a seek aims.
const SEEK_LEAD_S: f64 = 5.0;

/// The ticks a shard of a long video keeps.
#[derive(Debug, Clone, Copy)]
struct Window {
    first: u64,
    end: Option<u64>,
    /// Seconds of the first tick.
    t0: f64,
    /// Ticks a second ([`Sampling::ticks_per_second`]).
    fps: f64,
}

impl Pass {
    #[allow(clippy::too_many_arguments)]
    fn new(tb: Rational, origin: Option<i64>, fps: Option<f64>, sampler: Sampler, keyframes: bool, window: Option<Window>, seeked: bool) -> Pass {
        let frame_ticks = fps.map(|f| (f64::from(tb.denominator()) / (f * f64::from(tb.numerator()).max(1.0))).round() as i64).filter(|&t| t > 0);
        Pass {
            skipping: false,
            skipped: std::collections::BTreeSet::new(),
            previous: None,
            inexact: false,
            emitted_up_to: None,
            last_emitted: None,
            frame_ticks,
            undecoded: 0,
            tb,
            origin,
            fps,
            sampler,
            keyframes,
            window,
            awaiting_first: seeked,
            landed_late: false,
            done: false,
            converter: RgbConverter::new(),
            frame: VideoFrame::empty(),
            decoded: 0,
            sampled: 0,
            corrupt: 0,
            last_s: None,
            failure: None,
        }
    }

    /// Reads packets to the end of the stream (or of the window), every
    /// loop bounded.
    fn run(&mut self, input: &mut ffmpeg_next::format::context::Input, decoder: &mut ffmpeg_next::decoder::Video, index: usize, on_frame: &mut impl FnMut(Frame)) {
        let mut invalid_in_a_row = 0u32;
        let mut packet = Packet::empty();
        loop {
            match packet.read(input) {
                Ok(()) => {
                    invalid_in_a_row = 0;
                    if packet.stream() != index {
                        continue;
                    }
                    // Keyframe sampling decodes few frames: how far the
                    // stream reaches is read off its packets too.
                    if let Some(ts) = packet.pts() {
                        self.reached(ts);
                    }
                    if self.skipping {
                        let skip = self.may_skip(&packet);
                        decoder.skip_frame(if skip { Discard::NonReference } else { Discard::Default });
                        if let (true, Some(ts)) = (skip, packet.pts()) {
                            self.skipped.insert(ts);
                        }
                    }
                    if decoder.send_packet(&packet).is_err() {
                        self.corrupt += 1;
                    }
                    self.drain(decoder, on_frame);
                }
                Err(AvError::Eof) => break,
                Err(AvError::InvalidData) if invalid_in_a_row < MAX_INVALID_IN_A_ROW => {
                    invalid_in_a_row += 1;
                    self.corrupt += 1;
                }
                Err(e) => {
                    self.failure.get_or_insert_with(|| format!("reading the stream: {e}"));
                    break;
                }
            }
            if self.failure.is_some() || self.done || self.landed_late || self.inexact {
                return;
            }
        }
        if self.failure.is_none() {
            let _ = decoder.send_eof();
            self.drain(decoder, on_frame);
        }
    }
}

fn open_reason(video: &str, e: &AvError) -> String {
    let lower = video.to_ascii_lowercase();
    let mp4 = [".mp4", ".m4v", ".mov"].iter().any(|x| lower.ends_with(x));
    match e {
        AvError::InvalidData if mp4 => format!("{e}; an MP4 whose index (moov) is missing or cut off reads so"),
        _ => e.to_string(),
    }
}

/// The state of the frame loop.
struct Pass {
    tb: Rational,
    origin: Option<i64>,
    fps: Option<f64>,
    sampler: Sampler,
    keyframes: bool,
    window: Option<Window>,
    /// After a seek: the first frame only tells where sampling resumes.
    awaiting_first: bool,
    /// The seek landed at or after the first tick: start over.
    landed_late: bool,
    /// The window's last tick is passed.
    done: bool,
    /// Fps sampling of a constant-rate stream may leave non-reference
    /// frames undecoded when no tick falls on them.
    skipping: bool,
    /// Timestamps of packets sent with non-reference frames discarded, not
    /// yet passed by a decoded frame.
    skipped: std::collections::BTreeSet<i64>,
    /// The last decoded frame's timestamp.
    previous: Option<i64>,
    /// A gap in the stream that skipped frames cannot account for: start
    /// over without skipping.
    inexact: bool,
    /// After a restart: frames up to this timestamp were emitted already.
    emitted_up_to: Option<i64>,
    /// The timestamp of the last frame emitted.
    last_emitted: Option<i64>,
    /// The nominal frame duration, in time-base units.
    frame_ticks: Option<i64>,
    /// Frames the decoder skipped (non-reference, between two ticks).
    undecoded: u64,
    converter: RgbConverter,
    frame: VideoFrame,
    decoded: u64,
    sampled: u64,
    corrupt: u64,
    /// End time of the last decoded frame.
    last_s: Option<f64>,
    failure: Option<String>,
}

impl Pass {
    /// Every frame the decoder has ready; one receive error ends the drain
    /// (the next packet resumes it), so this loop is bounded by the
    /// decoder's queue.
    fn drain(&mut self, decoder: &mut ffmpeg_next::decoder::Video, on_frame: &mut impl FnMut(Frame)) {
        loop {
            match decoder.receive_frame(&mut self.frame) {
                Ok(()) => self.on_decoded(on_frame),
                Err(AvError::Other { errno }) if errno == libc::EAGAIN => return,
                Err(AvError::Eof) => return,
                Err(_) => {
                    self.corrupt += 1;
                    return;
                }
            }
            if self.failure.is_some() || self.done || self.landed_late || self.inexact {
                return;
            }
        }
    }

    /// Seconds after the start of the timestamp `ts`, noting the end of its
    /// frame as reached.
    fn reached(&mut self, ts: i64) -> f64 {
        let origin = *self.origin.get_or_insert(ts);
        let pts_s = seconds(ts - origin, self.tb);
        let end = pts_s + self.fps.map_or(0.0, |f| 1.0 / f);
        self.last_s = Some(self.last_s.map_or(end, |l: f64| l.max(end)));
        pts_s
    }

    /// Whether `packet`'s frame, if it is not a reference, may go
    /// undecoded: its predecessor is one nominal frame before it (checked
    /// when the next frame is decoded) and no tick falls between them, so
    /// the sampling never keeps it.
    fn may_skip(&self, packet: &Packet) -> bool {
        let (Some(ts), Some(frame), Some(origin)) = (packet.pts(), self.frame_ticks, self.origin) else { return false };
        // Program streams often leave durations unset; the gap check holds
        // either way.
        if self.awaiting_first || (packet.duration() != 0 && packet.duration() != frame) {
            return false;
        }
        let Some(fps) = self.sampler.fps() else { return false };
        let (now, before) = (seconds(ts - origin, self.tb), seconds(ts - frame - origin, self.tb));
        before >= 0.0 && (now * fps + 1e-9).floor() == (before * fps + 1e-9).floor()
    }

    /// Every frame between the last decoded one and `ts` must be one the
    /// decoder was allowed to skip, one nominal frame apart; else a gap in
    /// the stream may have made a skipped frame the one to keep.
    fn gap_explained(&mut self, ts: i64) -> bool {
        let (Some(previous), Some(frame)) = (self.previous, self.frame_ticks) else { return true };
        self.skipped = self.skipped.split_off(&(previous + 1));
        let mut expected = previous + frame;
        while expected < ts {
            if !self.skipped.remove(&expected) {
                return false;
            }
            self.undecoded += 1;
            expected += frame;
        }
        true
    }

    fn on_decoded(&mut self, on_frame: &mut impl FnMut(Frame)) {
        // The frame's own pts, as PyAV reports it; else libav's best-effort
        // guess; else (the last frame flushed out of an AVI with B-frames,
        // which newer FFmpeg times) one nominal frame after the previous.
        let guessed = self.previous.zip(self.frame_ticks).map(|(p, f)| p + f);
        let Some(ts) = self.frame.pts().or_else(|| self.frame.timestamp()).or(guessed) else {
            self.decoded += 1;
            self.corrupt += 1;
            return;
        };
        if self.skipping && !self.gap_explained(ts) {
            self.inexact = true;
            return;
        }
        // Frames left undecoded still count in the stream's order.
        let index = self.decoded + self.undecoded;
        self.decoded += 1;
        self.previous = Some(ts);
        let pts_s = self.reached(ts);
        if self.awaiting_first {
            self.awaiting_first = false;
            match self.window {
                Some(w) if pts_s + 1e-9 < w.t0 => self.sampler.resume_after(pts_s),
                _ => self.landed_late = true,
            }
            return;
        }
        // Decode order counts frames only on a whole pass from the start;
        // keyframe sampling and shards of a long video index by timestamp.
        let index = if self.keyframes || self.window.is_some() { self.fps.map_or(index, |f| (pts_s * f).round().max(0.0) as u64) } else { index };
        let Some(target_s) = self.sampler.keep(index, pts_s, self.frame.is_key()) else { return };
        if let Some(w) = self.window {
            // Fps sampling's tick is its target's; every_nth and keyframes
            // count whole seconds of the frame's own time.
            let tick = match target_s {
                Some(target) => (target * w.fps).round() as u64,
                None => (pts_s * w.fps + 1e-9).floor().max(0.0) as u64,
            };
            if tick < w.first {
                return;
            }
            if w.end.is_some_and(|end| tick >= end) {
                self.done = true;
                return;
            }
        }
        if self.emitted_up_to.is_some_and(|e| ts <= e) {
            self.sampled += 1;
            return;
        }
        match self.converter.rgb(&self.frame) {
            Ok(rgb) => {
                self.last_emitted = Some(ts);
                self.sampled += 1;
                on_frame(Frame { index, pts_s, target_s, width: self.frame.width(), height: self.frame.height(), rgb });
            }
            Err(reason) => self.failure = Some(reason),
        }
    }

    /// Truncated when the frames stop short of the announced duration by
    /// more than half a second and two frames.
    fn ending(&self, duration_s: Option<f64>) -> Ending {
        let at_s = self.last_s.unwrap_or(0.0);
        if let Some(reason) = &self.failure {
            return Ending::Failed { at_s, reason: reason.clone() };
        }
        // A shard that saw its last tick, or a stream that ended before it
        // began (the shard holding the end reports that), lost nothing.
        if self.done || self.window.is_some_and(|w| at_s < w.t0) {
            return Ending::Complete;
        }
        let slack = 0.5f64.max(2.0 * self.fps.map_or(0.0, |f| 1.0 / f));
        match duration_s {
            Some(of_s) if at_s + slack < of_s => Ending::Truncated { at_s, of_s },
            _ => Ending::Complete,
        }
    }
}
