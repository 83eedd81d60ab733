//! Broken footage ends in a reported ending or a named error, never a
//! panic, an abort or a loop: empty files, files that are not video, an
//! MP4 without its index, files cut mid-stream, flipped bytes, a codec
//! FFmpeg does not know, a stream without a pixel format.

use crate::footage;

use std::path::Path;

use footage::make_video;
use rwclip_decoder::decode;
use rwclip_video::{DecodeOptions, Decoded, Ending, Sampling, VideoError};

fn run(path: &Path) -> Result<(Decoded, usize), VideoError> {
    let bytes = std::fs::read(path).unwrap();
    let size = bytes.len() as u64;
    let mut frames = 0;
    decode(std::io::Cursor::new(bytes), size, &path.display().to_string(), &DecodeOptions { sampling: Sampling::Fps(1.0), threads: 1, segment: None }, |_| {}, |_| frames += 1).map(|d| (d, frames))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn every_hostile_file_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Index at the end (no +faststart) and at the front.
    let tail_index = make_video(d, "tail.mp4", 6, &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let front_index = make_video(d, "front.mp4", 6, &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]);
    let mpg = make_video(d, "whole.mpg", 6, &["-c:v", "mpeg2video", "-q:v", "4"]);
    let avi = make_video(d, "whole.avi", 4, &["-c:v", "mpeg4"]);

    let e = run(&write(d, "empty.mpg", b"")).unwrap_err();
    assert!(matches!(e, VideoError::Empty { .. }) && e.to_string().contains("empty.mpg"), "{e}");

    let e = run(&write(d, "notes.mp4", b"this is a text file that someone named .mp4\n")).unwrap_err();
    assert!(matches!(e, VideoError::Unreadable { .. }) && e.to_string().contains("notes.mp4"), "{e}");

    // moov at the end, file cut in half: no index at all.
    let bytes = std::fs::read(&tail_index).unwrap();
    let e = run(&write(d, "no-moov.mp4", &bytes[..bytes.len() / 2])).unwrap_err();
    assert!(e.to_string().contains("no-moov.mp4") && e.to_string().contains("moov"), "{e}");

    // Index in front, cut in half: frames up to the cut, then "truncated".
    let bytes = std::fs::read(&front_index).unwrap();
    let (decoded, frames) = run(&write(d, "cut.mp4", &bytes[..bytes.len() / 2])).unwrap();
    match decoded.ending {
        Ending::Truncated { at_s, of_s } => {
            assert_eq!(of_s, 6.0);
            assert!(at_s > 1.0 && at_s < 5.0, "{at_s}");
            assert_eq!(frames as u64, decoded.sampled);
            assert!(frames >= 1 && (frames as f64) <= at_s.ceil(), "{frames} frames up to {at_s} s");
            assert!(decoded.ending.describe().unwrap().starts_with(&format!("truncated at {at_s:.1} s of 6.0 s")));
        }
        other => panic!("cut.mp4: {other:?}"),
    }

    // An MPEG program stream cut in half announces no duration of its own
    // beyond what it holds: its frames decode, and nothing is invented.
    let bytes = std::fs::read(&mpg).unwrap();
    let (decoded, frames) = run(&write(d, "cut.mpg", &bytes[..bytes.len() / 2])).unwrap();
    assert!(frames >= 2 && frames <= 4, "{frames} {decoded:?}");
    assert_eq!(decoded.info.codec, "mpeg2video");

    // Flipped bytes in the middle of the stream: frames still come, the
    // damage is counted or decoded through, and the pass ends.
    let mut bytes = std::fs::read(&mpg).unwrap();
    let n = bytes.len();
    for i in (n / 3..n / 3 + 4000).step_by(7) {
        bytes[i] ^= 0x5a;
    }
    let (decoded, frames) = run(&write(d, "flipped.mpg", &bytes)).unwrap();
    assert!(frames >= 5, "{frames} frames of 6 s");
    assert_eq!(decoded.sampled as usize, frames);

    // An AVI whose codec tag FFmpeg does not know.
    let mut bytes = std::fs::read(&avi).unwrap();
    let tag = bytes.windows(4).position(|w| w == b"FMP4").expect("mpeg4 in AVI is tagged FMP4");
    for at in (0..bytes.len() - 4).filter(|&i| &bytes[i..i + 4] == b"FMP4").collect::<Vec<_>>() {
        bytes[at..at + 4].copy_from_slice(b"ZZ9Q");
    }
    assert!(tag > 0);
    let e = run(&write(d, "alien.avi", &bytes)).unwrap_err();
    assert!(matches!(e, VideoError::UnsupportedCodec { .. }) && e.to_string().contains("alien.avi"), "{e}");

    // Raw video whose header gives 7 bits per pixel: a stream without a
    // pixel format, refused before any scaler is built (building one
    // aborts the process).
    let raw = make_video(d, "raw.avi", 1, &["-c:v", "rawvideo", "-pix_fmt", "bgr24"]);
    let mut bytes = std::fs::read(&raw).unwrap();
    let strf = bytes.windows(4).position(|w| w == b"strf").expect("an AVI stream format chunk");
    // 'strf', its size, then BITMAPINFOHEADER's biSize, biWidth, biHeight, biPlanes, biBitCount.
    let bit_count = strf + 8 + 14;
    assert_eq!(&bytes[bit_count..bit_count + 2], &24u16.to_le_bytes());
    bytes[bit_count..bit_count + 2].copy_from_slice(&7u16.to_le_bytes());
    let e = run(&write(d, "no-pixel-format.avi", &bytes)).unwrap_err();
    assert!(matches!(e, VideoError::NoPixelFormat { .. }) && e.to_string().contains("no-pixel-format.avi"), "{e}");

    // A file that is only an audio stream has no video to score.
    let audio = d.join("audio.mkv");
    let out = std::process::Command::new("ffmpeg").args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1"]).arg(&audio).output().unwrap();
    assert!(out.status.success());
    let e = run(&audio).unwrap_err();
    assert!(matches!(e, VideoError::NoVideoStream { .. }), "{e}");
}

/// A frame larger than a frame may be (7000×7000 is 147 MB of RGB) ends
/// the video with that reason before any RGB buffer or scaler is made.
#[test]
fn a_frame_too_large_is_refused_before_it_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.avi");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=7000x7000:r=1", "-frames:v", "1", "-c:v", "mpeg4"])
        .arg(&huge)
        .output()
        .expect("ffmpeg (make test's bootstrap installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (decoded, frames) = run(&huge).unwrap();
    assert_eq!(frames, 0);
    match decoded.ending {
        Ending::Failed { reason, .. } => assert!(reason.contains("7000×7000") && reason.contains("larger than a frame may be"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
