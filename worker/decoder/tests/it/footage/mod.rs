//! Test footage made by Debian's `ffmpeg` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `seconds` of noisy 320×240 test pattern at 25 fps, made by the ffmpeg CLI.
pub fn make_video(dir: &Path, name: &str, seconds: u32, codec: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let source = "testsrc2=size=320x240:rate=25,noise=alls=12:allf=t";
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", &seconds.to_string()])
        .args(codec)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg ({e}): install Debian's ffmpeg (make test's bootstrap does)"));
    assert!(out.status.success(), "ffmpeg failed for {name}: {}", String::from_utf8_lossy(&out.stderr));
    path
}

