//! Frames sampled from a video with FFmpeg's libraries (Debian's system
//! FFmpeg through ffmpeg-next). A video is read from any `Read + Seek`
//! source, decoded forward from its first packet, sampled as the job asks,
//! and each kept frame converted to packed RGB24 exactly as PyAV's
//! `frame.to_ndarray(format="rgb24")` converts it.
//!
//! Broken footage never panics here and never loops without bound: every
//! read, send and receive is counted, a pixel format is checked before a
//! scaler is built, and how the stream ended is reported. What libav can
//! still do to a process is contained by running this in `rwclip-decode`,
//! a child of the worker under a watchdog.

mod convert;
mod decode;

pub use decode::decode;
