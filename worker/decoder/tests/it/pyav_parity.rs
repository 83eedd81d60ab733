//! Frames from rwclip-video equal PyAV's `to_ndarray(format="rgb24")`,
//! pixel for pixel, with the same indices and timestamps, on videos that
//! Debian's `ffmpeg` CLI makes here in every container and codec a sewer
//! inspection archive holds.

use std::path::Path;
use std::process::Command;

use crate::footage;

use footage::make_video;
use rwclip_decoder::decode;
use rwclip_video::{DecodeOptions, Ending, Frame, Sampling};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/reference/_video_frames.py");

fn rust_frames(path: &Path, sampling: Sampling) -> (Vec<Frame>, rwclip_video::Decoded) {
    let file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut frames = Vec::new();
    let decoded = decode(file, size, &path.display().to_string(), &DecodeOptions { sampling, threads: 2, segment: None }, |_| {}, |f| frames.push(f)).unwrap();
    (frames, decoded)
}

fn pyav_frames(path: &Path, sampling: Sampling, dir: &Path) -> (Vec<serde_json::Value>, Vec<u8>) {
    let out = dir.join(format!("{}-{}", path.file_name().unwrap().to_string_lossy(), sampling.to_string().replace('=', "_")));
    let run = Command::new(env!("RWCLIP_PYTHON")).arg(REFERENCE).arg(path).arg(sampling.to_string()).arg(&out).output().expect("the reference venv's python (make bootstrap)");
    assert!(run.status.success(), "PyAV reference failed: {}", String::from_utf8_lossy(&run.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(format!("{}.json", out.display())).unwrap()).unwrap();
    (rows, std::fs::read(format!("{}.rgb", out.display())).unwrap())
}

fn assert_equal_to_pyav(path: &Path, sampling: Sampling, dir: &Path) -> Vec<Frame> {
    let (frames, decoded) = rust_frames(path, sampling);
    let (rows, rgb) = pyav_frames(path, sampling, dir);
    let name = format!("{} {sampling}", path.display());
    assert_eq!(decoded.ending, Ending::Complete, "{name}");
    assert_eq!(frames.len(), rows.len(), "{name}: frames kept");
    assert_eq!(decoded.sampled as usize, frames.len());
    let mut offset = 0;
    for (f, r) in frames.iter().zip(&rows) {
        assert_eq!(f.index, r["index"].as_u64().unwrap(), "{name}: index");
        assert!((f.pts_s - r["pts_s"].as_f64().unwrap()).abs() < 1e-9, "{name}: frame {} at {} s, PyAV {}", f.index, f.pts_s, r["pts_s"]);
        assert_eq!(f.target_s, r["target_s"].as_f64(), "{name}: frame {} target", f.index);
        assert_eq!((f.width, f.height), (r["width"].as_u64().unwrap() as u32, r["height"].as_u64().unwrap() as u32));
        let reference = &rgb[offset..offset + f.rgb.len()];
        offset += f.rgb.len();
        if f.rgb != reference {
            let differ = f.rgb.iter().zip(reference).filter(|(a, b)| a != b).count();
            let worst = f.rgb.iter().zip(reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            panic!("{name}: frame {} differs from PyAV's in {differ} of {} bytes (by up to {worst})", f.index, f.rgb.len());
        }
    }
    assert_eq!(offset, rgb.len());
    frames
}

#[test]
fn frames_equal_pyav_for_mpeg2_h264_mpeg4_and_wmv2() {
    let dir = tempfile::tempdir().unwrap();
    let videos = [
        make_video(dir.path(), "pipe.mpg", 6, &["-c:v", "mpeg2video", "-q:v", "4", "-bf", "2"]),
        make_video(dir.path(), "pipe.mp4", 6, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50", "-sc_threshold", "0"]),
        make_video(dir.path(), "pipe.avi", 6, &["-c:v", "mpeg4", "-q:v", "4"]),
        make_video(dir.path(), "pipe.wmv", 6, &["-c:v", "wmv2", "-q:v", "4"]),
        make_video(dir.path(), "pipe.mkv", 3, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        make_video(dir.path(), "pipe.mov", 3, &["-c:v", "mpeg4"]),
        // Tagged BT.709 full range: PyAV converts with the frame's own tags.
        make_video(dir.path(), "tagged.mp4", 3, &["-c:v", "libx264", "-pix_fmt", "yuvj420p", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]),
    ];
    for (v, seconds) in videos.iter().zip([6, 6, 6, 6, 3, 3, 3]) {
        let frames = assert_equal_to_pyav(v, Sampling::Fps(1.0), dir.path());
        // 25 fps at 1 fps: frames 0, 25, 50, … exactly at whole seconds.
        assert_eq!(frames.iter().map(|f| f.index).collect::<Vec<_>>(), (0..seconds).map(|s| s * 25).collect::<Vec<_>>(), "{}", v.display());
        for f in &frames {
            assert!((f.pts_s - f.index as f64 / 25.0).abs() < 1e-6 && f.target_s == Some((f.index / 25) as f64), "{}: {} at {}", v.display(), f.index, f.pts_s);
        }
    }
    // Frames missing from the stream (variable frame rate): the decoder,
    // which leaves non-reference frames between ticks undecoded, sees a gap
    // it cannot account for and starts over decoding everything; the frames
    // are still PyAV's.
    let gappy = make_video(dir.path(), "gappy.mp4", 6, &["-vf", "select='not(between(n\\,20\\,34))'", "-vsync", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let frames = assert_equal_to_pyav(&gappy, Sampling::Fps(1.0), dir.path());
    let at: Vec<(u64, f64)> = frames.iter().map(|f| (f.index, f.pts_s)).collect();
    assert_eq!(at, vec![(0, 0.0), (20, 1.4), (35, 2.0), (60, 3.0), (85, 4.0), (110, 5.0)], "frames 20–34 are missing: the first frame after 1 s is at 1.4 s");
    // The same gap in the other containers, B-frames on: each is read again
    // from its start in its own way (by byte, or through its index).
    for (name, codec) in [("gappy.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"][..]), ("gappy.mpg", &["-c:v", "mpeg2video", "-bf", "2"][..]), ("gappy.avi", &["-c:v", "mpeg4", "-bf", "2"][..])] {
        let args: Vec<&str> = ["-vf", "select='not(between(n\\,20\\,34))'", "-vsync", "vfr"].iter().copied().chain(codec.iter().copied()).collect();
        let v = make_video(dir.path(), name, 6, &args);
        let frames = assert_equal_to_pyav(&v, Sampling::Fps(1.0), dir.path());
        assert!(frames.len() >= 5, "{name}: {} frames", frames.len());
    }
    let every = assert_equal_to_pyav(&videos[1], Sampling::EveryNth(7), dir.path());
    assert_eq!(every.len(), 150usize.div_ceil(7));
    let keys = assert_equal_to_pyav(&videos[1], Sampling::Keyframes, dir.path());
    assert_eq!(keys.iter().map(|f| f.index).collect::<Vec<_>>(), vec![0, 50, 100], "x264 with -g 50 and no scene cuts");
    assert_equal_to_pyav(&videos[0], Sampling::Fps(2.5), dir.path());
}

/// A long video cut into shards of sampled frames: each shard seeks before
/// its first tick and decodes forward, and together they give exactly the
/// frames of one pass over the whole video.
#[test]
fn shards_of_a_video_together_equal_one_whole_pass() {
    use rwclip_video::Segment;
    let dir = tempfile::tempdir().unwrap();
    let videos = [
        make_video(dir.path(), "long.mpg", 31, &["-c:v", "mpeg2video", "-q:v", "6", "-bf", "2"]),
        make_video(dir.path(), "long.mp4", 31, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "250"]),
        make_video(dir.path(), "long.avi", 31, &["-c:v", "mpeg4", "-q:v", "6"]),
        make_video(dir.path(), "long.wmv", 31, &["-c:v", "wmv2", "-q:v", "6"]),
        make_video(dir.path(), "long.mkv", 31, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ];
    for v in &videos {
        let (whole, _) = rust_frames(v, Sampling::Fps(1.0));
        assert_eq!(whole.len(), 31, "{}", v.display());
        let mut pieces = Vec::new();
        for segment in [Segment { first_tick: 0, end_tick: Some(7) }, Segment { first_tick: 7, end_tick: Some(14) }, Segment { first_tick: 14, end_tick: Some(29) }, Segment { first_tick: 29, end_tick: None }] {
            let file = std::fs::File::open(v).unwrap();
            let size = file.metadata().unwrap().len();
            let mut frames = Vec::new();
            let d = decode(file, size, &v.display().to_string(), &DecodeOptions { sampling: Sampling::Fps(1.0), threads: 2, segment: Some(segment) }, |_| {}, |f| frames.push(f)).unwrap();
            assert_eq!(d.ending, Ending::Complete, "{} {segment:?}", v.display());
            let ticks: Vec<u64> = frames.iter().map(|f| f.target_s.unwrap() as u64).collect();
            let expected: Vec<u64> = (segment.first_tick..segment.end_tick.unwrap_or(31)).collect();
            assert_eq!(ticks, expected, "{} {segment:?}", v.display());
            pieces.extend(frames);
        }
        assert_eq!(pieces.len(), whole.len());
        for (a, b) in pieces.iter().zip(&whole) {
            assert!(a == b, "{}: frame {} (at {} s) differs between the shard and the whole pass", v.display(), b.index, b.pts_s);
        }
    }
}

/// every_nth and keyframes cut into shards of whole seconds: together the
/// shards give exactly the frames of one pass, each once.
#[test]
fn shards_of_seconds_give_every_nth_and_keyframes_of_one_whole_pass() {
    use rwclip_video::Segment;
    let dir = tempfile::tempdir().unwrap();
    let videos = [
        make_video(dir.path(), "long.mpg", 31, &["-c:v", "mpeg2video", "-q:v", "6", "-bf", "2", "-g", "25"]),
        make_video(dir.path(), "long.mp4", 31, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50"]),
        make_video(dir.path(), "long.avi", 31, &["-c:v", "mpeg4", "-q:v", "6", "-g", "30"]),
        make_video(dir.path(), "long.mkv", 31, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "40"]),
    ];
    for v in &videos {
        for sampling in [Sampling::EveryNth(7), Sampling::Keyframes] {
            let (whole, _) = rust_frames(v, sampling);
            assert!(whole.len() > 3, "{} {sampling}: {} frames", v.display(), whole.len());
            let mut pieces = Vec::new();
            for segment in [Segment { first_tick: 0, end_tick: Some(7) }, Segment { first_tick: 7, end_tick: Some(14) }, Segment { first_tick: 14, end_tick: Some(29) }, Segment { first_tick: 29, end_tick: None }] {
                let file = std::fs::File::open(v).unwrap();
                let size = file.metadata().unwrap().len();
                let mut frames = Vec::new();
                let d = decode(file, size, &v.display().to_string(), &DecodeOptions { sampling, threads: 2, segment: Some(segment) }, |_| {}, |f| frames.push(f)).unwrap();
                assert_eq!(d.ending, Ending::Complete, "{} {sampling} {segment:?}", v.display());
                for f in &frames {
                    let second = f.pts_s.floor() as u64;
                    assert!(second >= segment.first_tick && segment.end_tick.is_none_or(|e| second < e), "{} {sampling} {segment:?}: a frame at {} s", v.display(), f.pts_s);
                }
                pieces.extend(frames);
            }
            let at = |fs: &[rwclip_video::Frame]| fs.iter().map(|f| (f.index, f.pts_s)).collect::<Vec<_>>();
            assert_eq!(at(&pieces), at(&whole), "{} {sampling}: the shards' frames", v.display());
            for (a, b) in pieces.iter().zip(&whole) {
                assert!(a == b, "{} {sampling}: frame {} differs between the shard and the whole pass", v.display(), b.index);
            }
        }
    }
}
