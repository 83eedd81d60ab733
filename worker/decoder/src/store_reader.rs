//! `Read + Seek` over one object of the store in ranged reads of a block,
//! a few blocks cached: a 10 GB video on S3 is decoded with no mount, no
//! temporary file and a few megabytes of memory.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use rwclip_store::Store;
use rwclip_video::VideoError;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rwclip_video::child::WAITING_FOR_STORE;

const BLOCK: u64 = 1 << 20;

/// When the store read in progress began (ms after `EPOCH`, 0: none).
static WAITING_SINCE_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// A store read in progress, for [`tell_while_waiting`].
struct StoreWait;

impl StoreWait {
    fn begin() -> StoreWait {
        let epoch = EPOCH.get_or_init(Instant::now);
        WAITING_SINCE_MS.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Release);
        StoreWait
    }
}

impl Drop for StoreWait {
    fn drop(&mut self) {
        WAITING_SINCE_MS.store(0, Ordering::Release);
    }
}

/// Says on stderr, once each `every` that a store read has been retrying,
/// how long it has: the worker's watchdog takes a decoder waiting on a
/// store in an outage for alive, and one hung inside libav for hung. The
/// wait is looked at twenty times an interval, so a read that waits
/// `every` is told within a twentieth of it.
pub fn tell_while_waiting(every: Duration) {
    std::thread::spawn(move || {
        let every_ms = every.as_millis().max(1) as u64;
        let mut told_ms = 0u64;
        loop {
            std::thread::sleep(every / 20);
            let since = WAITING_SINCE_MS.load(Ordering::Acquire);
            let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64;
            if since != 0 && now.saturating_sub(since) >= every_ms && now.saturating_sub(told_ms) >= every_ms {
                eprintln!("{WAITING_FOR_STORE} for {} s", (now - since) / 1000);
                told_ms = now;
            }
        }
    });
}
const CACHED_BLOCKS: usize = 4;

pub struct StoreReader {
    store: Store,
    key: String,
    size: u64,
    pos: u64,
    /// Most recently used last.
    blocks: Vec<(u64, Bytes)>,
    rt: tokio::runtime::Runtime,
    outage: StoreOutage,
}

/// The store error that ended a read past its retries, if one did: libav
/// sees only "Input/output error", and the video is not at fault.
#[derive(Clone, Default)]
pub struct StoreOutage(Arc<Mutex<Option<String>>>);

impl StoreOutage {
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
    fn record(&self, e: &rwclip_store::StoreError) {
        if e.is_retryable() {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
        }
    }
}

impl StoreReader {
    pub fn open(root: &str, key: &str) -> Result<StoreReader, VideoError> {
        let video = format!("{}/{key}", root.trim_end_matches('/'));
        let io = |reason: String| VideoError::Io { video: video.clone(), reason };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| io(e.to_string()))?;
        let store = Store::open(root).map_err(|e| io(e.to_string()))?;
        let waiting = StoreWait::begin();
        let size = rt.block_on(store.size(key)).map_err(|e| if e.is_retryable() { VideoError::StoreUnavailable { video: video.clone(), reason: e.to_string() } } else { io(e.to_string()) })?;
        drop(waiting);
        Ok(StoreReader { store, key: key.to_string(), size, pos: 0, blocks: Vec::new(), rt, outage: StoreOutage::default() })
    }

    /// Where a read that failed for the store's sake is recorded.
    pub fn outage(&self) -> StoreOutage {
        self.outage.clone()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    fn block(&mut self, index: u64) -> std::io::Result<Bytes> {
        if let Some(i) = self.blocks.iter().position(|(b, _)| *b == index) {
            let hit = self.blocks.remove(i);
            self.blocks.push(hit.clone());
            return Ok(hit.1);
        }
        let start = index * BLOCK;
        let end = (start + BLOCK).min(self.size);
        let waiting = StoreWait::begin();
        let bytes = self.rt.block_on(self.store.get_range(&self.key, start..end)).map_err(|e| {
            self.outage.record(&e);
            std::io::Error::other(e)
        })?;
        drop(waiting);
        if self.blocks.len() == CACHED_BLOCKS {
            self.blocks.remove(0);
        }
        self.blocks.push((index, bytes.clone()));
        Ok(bytes)
    }
}

impl Read for StoreReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let block = self.block(self.pos / BLOCK)?;
        let offset = (self.pos % BLOCK) as usize;
        let n = buf.len().min(block.len().saturating_sub(offset));
        buf[..n].copy_from_slice(&block[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for StoreReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
