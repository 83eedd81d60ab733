//! What a decoding child process sends its parent on stdout: the video's
//! info, each kept frame, then how decoding ended. Frames travel as raw
//! RGB behind a fixed header; the rest as JSON.

use std::io::{Read, Write};

use crate::error::VideoError;
use crate::frames::{Decoded, Frame, VideoInfo};

const INFO: u8 = b'I';
const FRAME: u8 = b'F';
const END: u8 = b'E';
/// Frames larger than this are refused: 8K RGB is 100 MB.
pub const MAX_FRAME_BYTES: u64 = 128 << 20;
const MAX_JSON_BYTES: u32 = 1 << 20;

#[derive(Debug)]
pub enum Message {
    Info(VideoInfo),
    Frame(Frame),
    End(Result<Decoded, VideoError>),
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the decoder's output ended early")]
    Closed,
    #[error("the decoder's output is malformed: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn json<T: serde::Serialize>(out: &mut impl Write, tag: u8, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    out.write_all(&[tag])?;
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(&bytes)
}

impl Message {
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            Message::Info(info) => json(out, INFO, info),
            Message::End(end) => json(out, END, end),
            Message::Frame(f) => {
                out.write_all(&[FRAME])?;
                out.write_all(&f.index.to_le_bytes())?;
                out.write_all(&f.pts_s.to_le_bytes())?;
                out.write_all(&f.target_s.unwrap_or(f64::NAN).to_le_bytes())?;
                out.write_all(&f.width.to_le_bytes())?;
                out.write_all(&f.height.to_le_bytes())?;
                out.write_all(&f.rgb)
            }
        }
    }

    /// The next message; `Ok(None)` at a clean end of input.
    pub fn read(input: &mut impl Read) -> Result<Option<Message>, WireError> {
        let mut tag = [0u8; 1];
        match input.read(&mut tag)? {
            0 => return Ok(None),
            _ => {}
        }
        let mut exact = |n: usize| -> Result<Vec<u8>, WireError> {
            let mut buf = vec![0u8; n];
            input.read_exact(&mut buf).map_err(|e| if e.kind() == std::io::ErrorKind::UnexpectedEof { WireError::Closed } else { WireError::Io(e) })?;
            Ok(buf)
        };
        match tag[0] {
            INFO | END => {
                let len = u32::from_le_bytes(exact(4)?.try_into().expect("4 bytes"));
                if len > MAX_JSON_BYTES {
                    return Err(WireError::Malformed(format!("a {len}-byte message")));
                }
                let bytes = exact(len as usize)?;
                let bad = |e: serde_json::Error| WireError::Malformed(e.to_string());
                Ok(Some(if tag[0] == INFO { Message::Info(serde_json::from_slice(&bytes).map_err(bad)?) } else { Message::End(serde_json::from_slice(&bytes).map_err(bad)?) }))
            }
            FRAME => {
                let h = exact(8 + 8 + 8 + 4 + 4)?;
                let index = u64::from_le_bytes(h[0..8].try_into().expect("8"));
                let pts_s = f64::from_le_bytes(h[8..16].try_into().expect("8"));
                let target = f64::from_le_bytes(h[16..24].try_into().expect("8"));
                let width = u32::from_le_bytes(h[24..28].try_into().expect("4"));
                let height = u32::from_le_bytes(h[28..32].try_into().expect("4"));
                let bytes = u64::from(width) * u64::from(height) * 3;
                if bytes > MAX_FRAME_BYTES {
                    return Err(WireError::Malformed(format!("a {width}×{height} frame")));
                }
                let rgb = exact(bytes as usize)?;
                Ok(Some(Message::Frame(Frame { index, pts_s, target_s: (!target.is_nan()).then_some(target), width, height, rgb })))
            }
            other => Err(WireError::Malformed(format!("unknown message tag {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Ending;

    #[test]
    fn messages_round_trip() {
        let info = VideoInfo { codec: "h264".into(), width: 2, height: 1, duration_s: Some(3.5), fps: Some(25.0) };
        let frame = Frame { index: 25, pts_s: 1.0, target_s: Some(1.0), width: 2, height: 1, rgb: vec![1, 2, 3, 4, 5, 6] };
        let keyframe = Frame { target_s: None, ..frame.clone() };
        let end = Decoded { info: info.clone(), decoded: 80, sampled: 3, corrupt: 1, ending: Ending::Truncated { at_s: 3.2, of_s: 30.0 } };
        let mut buf = Vec::new();
        Message::Info(info.clone()).write(&mut buf).unwrap();
        let info_len = buf.len();
        buf.clear();
        for m in [Message::Info(info.clone()), Message::Frame(frame.clone()), Message::Frame(keyframe.clone()), Message::End(Ok(end.clone())), Message::End(Err(VideoError::Empty { video: "a.mpg".into() }))] {
            m.write(&mut buf).unwrap();
        }
        let mut r = &buf[..];
        assert!(matches!(Message::read(&mut r).unwrap(), Some(Message::Info(i)) if i == info));
        assert!(matches!(Message::read(&mut r).unwrap(), Some(Message::Frame(f)) if f == frame));
        assert!(matches!(Message::read(&mut r).unwrap(), Some(Message::Frame(f)) if f == keyframe));
        assert!(matches!(Message::read(&mut r).unwrap(), Some(Message::End(Ok(d))) if d == end));
        assert!(matches!(Message::read(&mut r).unwrap(), Some(Message::End(Err(VideoError::Empty { .. })))));
        assert!(Message::read(&mut r).unwrap().is_none());
        // Cut mid-frame: closed, not a hang or a panic.
        let mut cut = &buf[..info_len + 20];
        Message::read(&mut cut).unwrap();
        assert!(matches!(Message::read(&mut cut), Err(WireError::Closed)));
    }
}
