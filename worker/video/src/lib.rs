//! Frames sampled from a video with FFmpeg's libraries.
//!
//! A video is read from any `Read + Seek` source (the worker gives it a
//! ranged reader over the object store), decoded forward from its first
//! packet and sampled as the job asks ([`Sampling`]); each kept frame is
//! converted to packed RGB24 exactly as PyAV's
//! `frame.to_ndarray(format="rgb24")` converts it.
//!
//! Broken footage never panics here and never loops without bound: every
//! read, send and receive is counted, a pixel format is checked before a
//! scaler is built, and how the stream ended is reported ([`Ending`]).
//! What libav can still do to a process (abort, hang) is contained by
//! running [`decode`] in a child process under a watchdog ([`child`]).

pub mod child;
mod convert;
mod decode;
mod error;
mod sampling;
mod wire;

pub use decode::{decode, DecodeOptions, Decoded, Ending, Frame, VideoInfo};
pub use error::VideoError;
pub use sampling::{Sampler, Sampling, SamplingParseError};
pub use wire::{Message, WireError};
