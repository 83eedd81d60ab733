/// Why a video gave no frames at all. Each names the video; the caller
/// records it as the video's row, never as a failed job.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum VideoError {
    #[error("{video}: empty file (0 bytes)")]
    Empty { video: String },
    #[error("{video}: not a readable video ({reason})")]
    Unreadable { video: String, reason: String },
    #[error("{video}: has no video stream")]
    NoVideoStream { video: String },
    #[error("{video}: unsupported codec {codec}")]
    UnsupportedCodec { video: String, codec: String },
    #[error("{video}: the video stream has no pixel format")]
    NoPixelFormat { video: String },
    #[error("{video}: cannot read it: {reason}")]
    Io { video: String, reason: String },
    /// The store failed to serve the video's bytes past its retries: not
    /// the video's fault, so the shard is retried rather than recorded.
    #[error("{video}: the store did not answer: {reason}")]
    StoreUnavailable { video: String, reason: String },
}
