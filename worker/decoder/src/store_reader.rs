//! `Read + Seek` over one object of the store in ranged reads of a block,
//! a few blocks cached: a 10 GB video on S3 is decoded with no mount, no
//! temporary file and a few megabytes of memory.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use rwclip_common::artifacts::Store;
use rwclip_video::VideoError;

const BLOCK: u64 = 1 << 20;
const CACHED_BLOCKS: usize = 4;

pub struct StoreReader {
    store: Store,
    key: String,
    size: u64,
    pos: u64,
    /// Most recently used last.
    blocks: Vec<(u64, Bytes)>,
    rt: tokio::runtime::Runtime,
}

impl StoreReader {
    pub fn open(root: &str, key: &str) -> Result<StoreReader, VideoError> {
        let video = format!("{}/{key}", root.trim_end_matches('/'));
        let io = |reason: String| VideoError::Io { video: video.clone(), reason };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| io(e.to_string()))?;
        let store = Store::open(root).map_err(|e| io(e.to_string()))?;
        let size = rt.block_on(store.size(key)).map_err(|e| io(e.to_string()))?;
        Ok(StoreReader { store, key: key.to_string(), size, pos: 0, blocks: Vec::new(), rt })
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
        let bytes = self.rt.block_on(self.store.get_range(&self.key, start..end)).map_err(std::io::Error::other)?;
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
