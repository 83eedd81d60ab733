//! What a file name says a file holds: an image, a video, or neither.

/// File extensions (lower-cased) read as images: MVTec uses PNG, VisA JPEG.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp"];

/// Containers read as videos by a scoring job: what sewer-inspection
/// deliveries use (MPEG-2 program streams, MP4/QuickTime, AVI, ASF, Matroska).
const VIDEO_EXTENSIONS: &[&str] = &["mpg", "mpeg", "mp4", "m4v", "mov", "avi", "wmv", "mkv"];

fn has_extension(name: &str, extensions: &[&str]) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| extensions.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Whether a file name says image.
pub fn is_image_file(name: &str) -> bool {
    has_extension(name, IMAGE_EXTENSIONS)
}

/// Whether a file name says video.
pub fn is_video_file(name: &str) -> bool {
    has_extension(name, VIDEO_EXTENSIONS)
}

/// What a scoring job over a folder or prefix scores: images and videos.
pub fn is_scored_file(name: &str) -> bool {
    is_image_file(name) || is_video_file(name)
}

