//! A video told by its first bytes when its name does not say it is one:
//! archives hold `.vob`, `.ts`, `.dat` and extensionless recordings. The
//! planner reads the head of a file whose extension is neither an image's
//! nor a video's (sidecar files such as `.txt` or `.xml` are never read);
//! the worker names the container of a still that turns out to be a video.

use rwclip_core::media::{is_image_file, is_video_file};

/// Bytes read to sniff (an MPEG transport stream needs two 188-byte packets).
pub const SNIFF_BYTES: u64 = 512;

/// Extensions of files that sit beside footage and are never videos.
const SIDECAR_EXTENSIONS: &[&str] = &[
    "txt", "csv", "tsv", "json", "jsonl", "xml", "html", "htm", "md", "log", "toml", "yaml", "yml", "ini", "parquet", "pdf", "doc", "docx", "xls", "xlsx",
    "zip", "gz", "tar", "7z", "db", "mdb", "sqlite", "srt", "vtt", "sub", "idx", "nfo", "ds_store", "ifo", "bup", "exe", "dll", "py", "sh",
];

/// Whether the planner should read `key`'s head to learn if it is a video.
pub fn worth_sniffing(key: &str) -> bool {
    if is_image_file(key) || is_video_file(key) {
        return false;
    }
    let name = key.rsplit('/').next().unwrap_or(key);
    // Dotfiles (`.DS_Store`, `.keep`) are the file system's, not footage.
    if name.starts_with('.') && !name[1..].contains('.') {
        return false;
    }
    match name.rsplit_once('.') {
        Some((_, ext)) => !SIDECAR_EXTENSIONS.iter().any(|s| ext.eq_ignore_ascii_case(s)),
        None => true,
    }
}

/// The container `head` (a file's first bytes) starts, if it is a video
/// container FFmpeg reads.
pub fn video_container(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, magic: &[u8]| head.get(i..i + magic.len()) == Some(magic);
    if [b"ftyp", b"moov", b"mdat", b"wide", b"free"].iter().any(|m| at(4, *m)) {
        return Some("MP4/QuickTime");
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some("AVI");
    }
    if at(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        return Some("ASF/WMV");
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some("Matroska");
    }
    if at(0, &[0, 0, 1, 0xBA]) {
        return Some("MPEG program stream");
    }
    if at(0, &[0, 0, 1, 0xB3]) {
        return Some("MPEG video");
    }
    if head.len() > 376 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47 {
        return Some("MPEG transport stream");
    }
    if at(0, b"FLV\x01") {
        return Some("FLV");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_of_video_containers_are_told_apart_from_images_and_text() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom");
        assert_eq!(video_container(&mp4), Some("MP4/QuickTime"));
        assert_eq!(video_container(b"RIFF\x10\0\0\0AVI LIST"), Some("AVI"));
        assert_eq!(video_container(b"RIFF\x10\0\0\0WAVEfmt "), None, "a WAV is no video");
        assert_eq!(video_container(&[0, 0, 1, 0xBA, 0x44]), Some("MPEG program stream"));
        let mut ts = vec![0u8; 400];
        ts[0] = 0x47;
        ts[188] = 0x47;
        ts[376] = 0x47;
        assert_eq!(video_container(&ts), Some("MPEG transport stream"));
        assert_eq!(video_container(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(video_container(b"\xFF\xD8\xFF\xE0"), None);
        assert_eq!(video_container(b"hello"), None);
        assert_eq!(video_container(b""), None);
    }

    #[test]
    fn only_files_of_no_known_kind_are_sniffed() {
        assert!(worth_sniffing("site/run_0001"));
        assert!(worth_sniffing("site/VTS_01_1.VOB"));
        assert!(worth_sniffing("cam.dat"));
        assert!(!worth_sniffing("a.png"));
        assert!(!worth_sniffing("b.MPG"));
        assert!(!worth_sniffing("notes.txt"));
        assert!(!worth_sniffing("index.XML"));
        assert!(!worth_sniffing("x/.DS_Store"));
        assert!(!worth_sniffing("x/.hidden"));
    }
}
