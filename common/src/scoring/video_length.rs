//! A video's length as its container states it, read by the planner with a
//! few ranged reads and no decoder: MP4/QuickTime `mvhd`, AVI `avih`,
//! Matroska `Info/Duration`, ASF `File Properties`, and an MPEG program
//! stream's first and last pack clock. The plan cuts a long video into
//! shards of sampled frames by it; the last shard is open-ended, so a
//! wrong or missing length costs balance, never frames.

use crate::artifacts::{Store, StoreError};

/// Bytes read from each end of a file whose length is found by scanning.
const SCAN_BYTES: u64 = 256 << 10;
/// Boxes walked at the top of an MP4 before giving up.
const MAX_TOP_BOXES: usize = 64;

/// Seconds, or `None` when the container does not say (or is not one of
/// the kinds read here).
pub async fn video_seconds(store: &Store, key: &str, size: u64) -> Result<Option<f64>, StoreError> {
    if size < 16 {
        return Ok(None);
    }
    let head = store.get_range(key, 0..size.min(SCAN_BYTES)).await?;
    if head.get(4..8) == Some(b"ftyp") || head.get(4..8) == Some(b"moov") || head.get(4..8) == Some(b"mdat") || head.get(4..8) == Some(b"wide") {
        return mp4_seconds(store, key, size, &head).await;
    }
    if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"AVI ") {
        return Ok(avi_seconds(&head));
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok(matroska_seconds(&head));
    }
    if head.starts_with(&ASF_HEADER) {
        return Ok(asf_seconds(&head));
    }
    if head.starts_with(&[0, 0, 1, 0xBA]) {
        let tail = if size > SCAN_BYTES { store.get_range(key, size - SCAN_BYTES..size).await? } else { head.clone() };
        return Ok(mpeg_ps_seconds(&head, &tail));
    }
    Ok(None)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Walks the top-level boxes (each header one ranged read, the `mdat`
/// skipped by its size) to `moov`, then reads `mvhd` in it.
async fn mp4_seconds(store: &Store, key: &str, size: u64, head: &[u8]) -> Result<Option<f64>, StoreError> {
    let mut at = 0u64;
    for _ in 0..MAX_TOP_BOXES {
        if at + 8 > size {
            return Ok(None);
        }
        let header = if at + 16 <= head.len() as u64 { bytes::Bytes::copy_from_slice(&head[at as usize..at as usize + 16]) } else { store.get_range(key, at..(at + 16).min(size)).await? };
        let Some(small) = be32(&header, 0) else { return Ok(None) };
        let len = match small {
            1 => be64(&header, 8).unwrap_or(0),
            0 => size - at,
            n => u64::from(n),
        };
        if &header[4..8] == b"moov" {
            let moov = store.get_range(key, at..(at + len).min(at + SCAN_BYTES).min(size)).await?;
            return Ok(mvhd_seconds(&moov));
        }
        if len < 8 {
            return Ok(None);
        }
        at += len;
    }
    Ok(None)
}

fn mvhd_seconds(moov: &[u8]) -> Option<f64> {
    let at = moov.windows(4).position(|w| w == b"mvhd")?;
    let version = *moov.get(at + 4)?;
    let (scale, duration) = if version == 1 { (be32(moov, at + 24)?, be64(moov, at + 28)?) } else { (be32(moov, at + 16)?, u64::from(be32(moov, at + 20)?)) };
    (scale > 0 && duration > 0 && duration != u64::from(u32::MAX)).then(|| duration as f64 / f64::from(scale))
}

/// `avih`: microseconds per frame × total frames (of the first RIFF; an
/// OpenDML file's `dmlh` holds the whole count).
fn avi_seconds(head: &[u8]) -> Option<f64> {
    let at = head.windows(4).position(|w| w == b"avih")? + 8;
    let usec = le32(head, at)?;
    let dmlh = head.windows(4).position(|w| w == b"dmlh").and_then(|d| le32(head, d + 8)).unwrap_or(0);
    let frames = le32(head, at + 16)?.max(dmlh);
    (usec > 0 && frames > 0).then(|| f64::from(frames) * f64::from(usec) / 1e6)
}

/// Matroska `Info`: `Duration` (a float in `TimecodeScale` units, 1 ms by
/// default).
fn matroska_seconds(head: &[u8]) -> Option<f64> {
    let info = head.windows(4).position(|w| w == [0x15, 0x49, 0xA9, 0x66])?;
    let region = &head[info..head.len().min(info + 4096)];
    let scale = region.windows(3).position(|w| w == [0x2A, 0xD7, 0xB1]).and_then(|p| {
        let size = usize::from(*region.get(p + 3)? & 0x7F);
        (1..=8).contains(&size).then(|| region.get(p + 4..p + 4 + size).map(|b| b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))))?
    });
    let p = region.windows(2).position(|w| w == [0x44, 0x89])?;
    let value = match *region.get(p + 2)? {
        0x84 => f64::from(f32::from_be_bytes(region.get(p + 3..p + 7)?.try_into().ok()?)),
        0x88 => f64::from_be_bytes(region.get(p + 3..p + 11)?.try_into().ok()?),
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
