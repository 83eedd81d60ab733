//! Videos as a scoring job sees them, without linking FFmpeg: what a
//! decoder reports ([`frames`]), how its frames travel between processes
//! ([`wire`]), and running the decoder (`rwclip-decode`, the only binary
//! that links FFmpeg) as a child under a watchdog ([`child`]) — libav can
//! abort the whole process or spin on a broken stream, and neither may
//! take a worker's other videos with it.

pub mod child;
mod error;
mod frames;
pub mod wire;

pub use error::VideoError;
pub use frames::{DecodeOptions, Decoded, Ending, Frame, Segment, VideoInfo};
pub use rwclip_job::sampling::{Sampler, Sampling, SamplingParseError};
pub use wire::{Message, WireError};
