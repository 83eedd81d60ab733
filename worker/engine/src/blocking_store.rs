//! A synchronous face over the async artifact [`Store`]: the compute path is
//! plain blocking libtorch code, so it drives store I/O on a small runtime of
//! its own instead of threading async through every model call.

use std::sync::Arc;

use bytes::Bytes;
use rwclip_artifacts::{ArtifactError, ParquetRow, Store, StoreError};

#[derive(Clone)]
pub struct BlockingStore {
    store: Store,
    rt: Arc<tokio::runtime::Runtime>,
}

impl BlockingStore {
    pub fn open(uri: &str) -> Result<BlockingStore, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread tokio runtime always builds");
        Ok(BlockingStore {
            store: Store::open(uri)?,
            rt: Arc::new(rt),
        })
    }

    /// Splits a file URI (`dir/f.parquet`, `s3://bucket/prefix/f.parquet`)
    /// into the store of its parent and the file's key.
    pub fn open_file(uri: &str) -> Result<(BlockingStore, String), StoreError> {
        let (parent, name) = rwclip_core::split_file_uri(uri);
        Ok((BlockingStore::open(&parent)?, name))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs async store code (e.g. an aggregate, in local mode) to completion.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    pub fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.rt.block_on(self.store.put(key, bytes))
    }

    pub fn put_file(&self, key: &str, file: &std::path::Path) -> Result<(), StoreError> {
        self.block_on(self.store.put_file(key, file))
    }

    pub fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.rt.block_on(self.store.get(key))
    }

    /// Writes only if `key` does not exist yet; `false` when it did (the
    /// commit primitive of shard manifests).
    pub fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StoreError> {
        self.rt.block_on(self.store.put_if_absent(key, bytes))
    }

    pub fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.rt.block_on(self.store.exists(key))
    }

    pub fn write_rows<R: ParquetRow>(&self, key: &str, rows: &[R]) -> Result<(), crate::error::EngineError> {
        let bytes = R::to_parquet(rows)?;
        self.put(key, bytes)?;
        Ok(())
    }

    pub fn read_rows<R: ParquetRow>(&self, key: &str) -> Result<Vec<R>, crate::error::EngineError> {
        let bytes = self.get(key)?;
        Ok(R::from_parquet(&bytes).map_err(|e: ArtifactError| e)?)
    }

    /// Where a key lives, for messages: a local path when the store is local.
    pub fn describe(&self, key: &str) -> String {
        match self.store.local_path(key) {
            Some(p) => p.display().to_string(),
            None => format!("{}/{}", self.store.uri().trim_end_matches('/'), key),
        }
    }
}
