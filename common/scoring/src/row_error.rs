//! What went wrong with a scored row, in a few words.

/// The kind of a row's error, for the counts in `summary.json` (and the
/// contact sheet's empty cells).
pub fn error_kind(error: &str) -> &'static str {
    if error.starts_with("truncated at ") {
        "truncated video"
    } else if error.contains("the decoder crashed") {
        "decoder crashed"
    } else if error.contains("the decoder hung") {
        "decoder hung"
    } else if error.contains("decoding stopped at") {
        "damaged video"
    } else if error.contains("unsupported codec") || error.contains("has no video stream") || error.contains("has no pixel format") {
        "unsupported video"
    } else if error.contains("not a readable video") {
        "undecodable"
    } else if error.contains("empty file") {
        "empty"
    } else if error.contains("not found") {
        "missing"
    } else if error.contains("is empty") {
        "empty"
    } else if error.contains("cannot decode") {
        "undecodable"
    } else if error.contains("no uri") {
        "no uri"
    } else {
        "unreadable"
    }
}
