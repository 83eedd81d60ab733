//! A video's length as its container states it, read by the planner with a
//! few ranged reads and no decoder: MP4/QuickTime `mvhd`, AVI `avih`,
//! Matroska `Info/Duration`, ASF `File Properties`, and an MPEG program
//! stream's first and last pack clock. The plan cuts a long video into
//! shards of sampled frames by it; the last shard is open-ended, so a
//! wrong or missing length costs balance, never frames.
//!
//! Every value here comes from a file anyone may have written: reads are
//! bounded ([`MAX_READ_BYTES`] in all), offsets use checked arithmetic, and
//! a length is only ever a finite, positive number of seconds. Whether the
//! length is believable for the file's size is the planner's question
//! ([`super::video_cut`]).

use std::future::Future;
use std::ops::Range;

use bytes::Bytes;

use rwclip_store::{Store, StoreError};

/// Bytes read from each end of a file whose length is found by scanning.
const SCAN_BYTES: u64 = 256 << 10;
/// Boxes walked at the top of an MP4 before giving up.
const MAX_TOP_BOXES: usize = 64;
/// The most bytes one probe reads: the head, the tail or `moov`, and one
/// 16-byte header per top-level box.
pub const MAX_READ_BYTES: u64 = 2 * SCAN_BYTES + 16 * MAX_TOP_BOXES as u64;

/// Where a video's bytes are read from: a store object, or bytes in memory.
pub trait ByteSource {
    fn size(&self) -> u64;
    /// `range`, already clipped to [`ByteSource::size`].
    fn range(&self, range: Range<u64>) -> impl Future<Output = Result<Bytes, StoreError>> + Send;
}

/// One object of a store, `size` bytes long.
pub struct StoreObject<'a> {
    pub store: &'a Store,
    pub key: &'a str,
    pub size: u64,
}

impl ByteSource for StoreObject<'_> {
    fn size(&self) -> u64 {
        self.size
    }
    fn range(&self, range: Range<u64>) -> impl Future<Output = Result<Bytes, StoreError>> + Send {
        self.store.get_range(self.key, range)
    }
}

impl ByteSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn range(&self, range: Range<u64>) -> impl Future<Output = Result<Bytes, StoreError>> + Send {
        let bytes = Bytes::copy_from_slice(&self[range.start as usize..range.end as usize]);
        std::future::ready(Ok(bytes))
    }
}

/// Seconds, or `None` when the container does not say (or is not one of
/// the kinds read here).
pub async fn video_seconds(store: &Store, key: &str, size: u64) -> Result<Option<f64>, StoreError> {
    stated_seconds(&StoreObject { store, key, size }).await
}

/// [`video_seconds`] of any byte source: at most [`MAX_READ_BYTES`] read,
/// never a panic, and a length that is finite and positive or none.
pub async fn stated_seconds<S: ByteSource + ?Sized>(source: &S) -> Result<Option<f64>, StoreError> {
    let size = source.size();
    if size < 16 {
        return Ok(None);
    }
    let head = source.range(0..size.min(SCAN_BYTES)).await?;
    let seconds = if [b"ftyp", b"moov", b"mdat", b"wide"].iter().any(|m| head.get(4..8) == Some(&m[..])) {
        mp4_seconds(source, &head).await?
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"AVI ") {
        avi_seconds(&head)
    } else if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        matroska_seconds(&head)
    } else if head.starts_with(&ASF_HEADER) {
        asf_seconds(&head)
    } else if head.starts_with(&[0, 0, 1, 0xBA]) {
        let tail = if size > SCAN_BYTES { source.range(size - SCAN_BYTES..size).await? } else { head.clone() };
        mpeg_ps_seconds(&head, &tail)
    } else {
        None
    };
    Ok(seconds.filter(|s| s.is_finite() && *s > 0.0))
}

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_be_bytes)
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}

/// Walks the top-level boxes (each header one ranged read unless the head
/// holds it, the `mdat` skipped by its size) to `moov`, then reads `mvhd`
/// in it. A box whose size runs past the file, or wraps, ends the walk.
async fn mp4_seconds<S: ByteSource + ?Sized>(source: &S, head: &[u8]) -> Result<Option<f64>, StoreError> {
    let size = source.size();
    let mut at = 0u64;
    for _ in 0..MAX_TOP_BOXES {
        let Some(header_end) = at.checked_add(16) else { return Ok(None) };
        if at.checked_add(8).is_none_or(|end| end > size) {
            return Ok(None);
        }
        let header = match (usize::try_from(at), usize::try_from(header_end)) {
            (Ok(from), Ok(to)) if to <= head.len() => Bytes::copy_from_slice(&head[from..to]),
            _ => source.range(at..header_end.min(size)).await?,
        };
        let (Some(small), Some(kind)) = (be32(&header, 0), header.get(4..8)) else { return Ok(None) };
        let len = match small {
            1 => be64(&header, 8).unwrap_or(0),
            0 => size - at,
            n => u64::from(n),
        };
        if kind == b"moov" {
            let end = at.saturating_add(len).min(at.saturating_add(SCAN_BYTES)).min(size);
            let moov = source.range(at..end).await?;
            return Ok(mvhd_seconds(&moov));
        }
        if len < 8 {
            return Ok(None);
        }
        match at.checked_add(len) {
            Some(next) if next <= size => at = next,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

fn mvhd_seconds(moov: &[u8]) -> Option<f64> {
    let at = moov.windows(4).position(|w| w == b"mvhd")?;
    let version = *moov.get(at + 4)?;
    let (scale, duration) = if version == 1 { (be32(moov, at + 24)?, be64(moov, at + 28)?) } else { (be32(moov, at + 16)?, u64::from(be32(moov, at + 20)?)) };
    (scale > 0 && duration > 0 && duration != u64::from(u32::MAX) && duration != u64::MAX).then(|| duration as f64 / f64::from(scale))
}

/// `avih`: microseconds per frame × total frames (of the first RIFF; an
/// OpenDML file's `dmlh` holds the whole count).
fn avi_seconds(head: &[u8]) -> Option<f64> {
    let at = head.windows(4).position(|w| w == b"avih")?.checked_add(8)?;
    let usec = le32(head, at)?;
    let dmlh = head.windows(4).position(|w| w == b"dmlh").and_then(|d| le32(head, d.checked_add(8)?)).unwrap_or(0);
    let frames = le32(head, at.checked_add(16)?)?.max(dmlh);
    (usec > 0 && frames > 0).then(|| f64::from(frames) * f64::from(usec) / 1e6)
}

/// Matroska `Info`: `Duration` (a float in `TimecodeScale` units, 1 ms by
/// default).
fn matroska_seconds(head: &[u8]) -> Option<f64> {
    let info = head.windows(4).position(|w| w == [0x15, 0x49, 0xA9, 0x66])?;
    let region = &head[info..head.len().min(info.saturating_add(4096))];
    let scale = region.windows(3).position(|w| w == [0x2A, 0xD7, 0xB1]).and_then(|p| {
        let size = usize::from(*region.get(p + 3)? & 0x7F);
        (1..=8).contains(&size).then(|| region.get(p + 4..p + 4 + size).map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))))?
    });
    let p = region.windows(2).position(|w| w == [0x44, 0x89])?;
    let value = match *region.get(p + 2)? {
        0x84 => f64::from(f32::from_be_bytes(array(region, p + 3)?)),
        0x88 => f64::from_be_bytes(array(region, p + 3)?),
        _ => return None,
    };
    let seconds = value * scale.unwrap_or(1_000_000) as f64 / 1e9;
    (seconds.is_finite() && seconds > 0.0).then_some(seconds)
}

const ASF_HEADER: [u8; 16] = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C];
const ASF_FILE_PROPERTIES: [u8; 16] = [0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11, 0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20, 0x53, 0x65];

/// ASF `File Properties`: play duration (100 ns units) less the preroll (ms).
fn asf_seconds(head: &[u8]) -> Option<f64> {
    let at = head.windows(16).position(|w| w == ASF_FILE_PROPERTIES)?;
    let play = le64(head, at + 64)?;
    let preroll = le64(head, at + 80)?;
    let seconds = play as f64 / 1e7 - preroll as f64 / 1e3;
    (seconds > 0.0).then_some(seconds)
}

/// The system clock reference (90 kHz) of every pack header in `bytes`,
/// MPEG-2 (`01` prefix) or MPEG-1 (`0010` prefix) program streams alike.
fn pack_clocks(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.windows(10).filter(|w| w[..4] == [0, 0, 1, 0xBA]).filter_map(|w| {
        let b = |i: usize| u64::from(w[i]);
        if w[4] & 0xC0 == 0x40 {
            Some(((b(4) & 0x38) >> 3) << 30 | (b(4) & 0x03) << 28 | b(5) << 20 | ((b(6) & 0xF8) >> 3) << 15 | (b(6) & 0x03) << 13 | b(7) << 5 | (b(8) & 0xF8) >> 3)
        } else if w[4] & 0xF0 == 0x20 {
            Some(((b(4) & 0x0E) >> 1) << 30 | b(5) << 22 | (b(6) >> 1) << 15 | b(7) << 7 | b(8) >> 1)
        } else {
            None
        }
    })
}

/// A program stream's span: its last pack clock less its first (90 kHz).
fn mpeg_ps_seconds(head: &[u8], tail: &[u8]) -> Option<f64> {
    let first = pack_clocks(head).next()?;
    let last = pack_clocks(tail).last()?;
    (last > first).then(|| (last - first) as f64 / 90_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(bytes: &[u8]) -> Option<f64> {
        futures::executor::block_on(stated_seconds(bytes)).unwrap()
    }

    #[test]
    fn an_mp4_box_size_that_wraps_the_offset_ends_the_walk() {
        // ftyp (24 bytes), then a box of 64-bit size 2^64 - 32: the next
        // offset is 2^64 - 8, and reading its header once sliced the head
        // from there (the planner's panic).
        let mut mp4 = vec![0, 0, 0, 24];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0isomiso2");
        mp4.extend_from_slice(&[0, 0, 0, 1]);
        mp4.extend_from_slice(b"mdat");
        mp4.extend_from_slice(&(u64::MAX - 31).to_be_bytes());
        mp4.resize(4136, 0);
        assert_eq!(seconds(&mp4), None);
        // One past the file's end is refused the same way.
        let at = 24 + 8;
        mp4[at..at + 8].copy_from_slice(&4200u64.to_be_bytes());
        assert_eq!(seconds(&mp4), None);
    }

    #[test]
    fn a_matroska_duration_of_1e300_is_a_number_not_an_overflow() {
        let mut mkv = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80];
        mkv.extend_from_slice(&[0x15, 0x49, 0xA9, 0x66, 0x8B, 0x44, 0x89, 0x88]);
        mkv.extend_from_slice(&1e300f64.to_be_bytes());
        mkv.resize(64, 0);
        assert_eq!(seconds(&mkv), Some(1e297));
        let at = mkv.len() - 64 + 13;
        mkv[at..at + 8].copy_from_slice(&f64::INFINITY.to_be_bytes());
        assert_eq!(seconds(&mkv), None, "infinity is no length");
    }
}
