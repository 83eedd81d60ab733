//! The planner's video lengths, read from container headers without a
//! decoder, agree with ffprobe's on every container a sewer archive holds,
//! locally and through the same ranged reads an S3 store gets.

use std::process::Command;

use rwclip_common::artifacts::Store;
use rwclip_common::scoring::video_length::video_seconds;

fn ffmpeg(path: &std::path::Path, codec: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "13"])
        .args(codec)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): install Debian's ffmpeg (make test's bootstrap does)"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn ffprobe(path: &std::path::Path) -> f64 {
    let out = Command::new("ffprobe").args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]).arg(path).output().expect("ffprobe (Debian's ffmpeg)");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn container_lengths_agree_with_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 7] = [
        ("a.mpg", &["-c:v", "mpeg2video"]),
        ("b.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ("c.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]),
        ("d.mov", &["-c:v", "mpeg4"]),
        ("e.avi", &["-c:v", "mpeg4"]),
        ("f.wmv", &["-c:v", "wmv2"]),
        ("g.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    for (name, codec) in cases {
        let path = dir.path().join(name);
        ffmpeg(&path, codec);
        let size = std::fs::metadata(&path).unwrap().len();
        let ours = rt.block_on(video_seconds(&store, name, size)).unwrap().unwrap_or_else(|| panic!("{name}: no length read"));
        let reference = ffprobe(&path);
        assert!((ours - reference).abs() < 0.5, "{name}: {ours} s, ffprobe {reference} s");
    }
    // Not a container this reads: no length, not an error.
    std::fs::write(dir.path().join("x.mp4"), b"0123456789abcdefghijklmnop").unwrap();
    assert_eq!(rt.block_on(video_seconds(&store, "x.mp4", 26)).unwrap(), None);
}
