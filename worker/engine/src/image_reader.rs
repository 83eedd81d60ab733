//! Image bytes read through the object store: a local dataset root and an
//! `s3://` prefix are the same code. Reads run with bounded concurrency,
//! retried by the store itself; a missing image is an error naming it.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rwclip_artifacts::{Store, StoreError};

use crate::blocking_store::BlockingStore;

/// Reads in flight at once: enough to hide S3 latency, few enough not to be
/// throttled or to hold more than a batch or two of encoded images.
pub const READ_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    /// Fails the same way on every worker.
    #[error("image {uri} not found")]
    Missing { uri: String },
    #[error("reading image {uri}: {source}")]
    Store { uri: String, source: StoreError },
}

/// Reads the images of a dataset: paths relative to the dataset's store,
/// or themselves absolute paths or URLs (manifests may name either).
pub struct ImageReader {
    root: BlockingStore,
    /// Stores of absolute image locations, by parent URI.
    others: Mutex<HashMap<String, Store>>,
}

impl ImageReader {
    pub fn open(root_uri: &str) -> Result<ImageReader, StoreError> {
        Ok(ImageReader { root: BlockingStore::open(root_uri)?, others: Mutex::new(HashMap::new()) })
    }

    /// The store and key an image path names.
    fn locate(&self, path: &str) -> Result<(Store, String), StoreError> {
        if !path.contains("://") && !path.starts_with('/') {
            return Ok((self.root.store().clone(), path.to_string()));
        }
        let (parent, name) = rwclip_core::split_file_uri(path);
        let mut others = self.others.lock().expect("image store cache poisoned");
        if let Some(store) = others.get(&parent) {
            return Ok((store.clone(), name));
        }
        let store = Store::open(&parent)?;
        others.insert(parent, store.clone());
        Ok((store, name))
    }

    /// The bytes of every path, in order, each read on its own: a missing
    /// or unreadable image is that item's error; a store that keeps failing
    /// transiently (after retries) fails them all, to be retried later.
    pub fn read_each(&self, paths: &[String]) -> Result<Vec<Result<Bytes, ImageReadError>>, ImageReadError> {
        let located: Vec<Result<(Store, String), ImageReadError>> =
            paths.iter().map(|p| self.locate(p).map_err(|source| ImageReadError::Store { uri: p.clone(), source })).collect();
        let results: Vec<Result<Bytes, ImageReadError>> = self.root.block_on(async {
            futures::stream::iter(located)
                .map(|l| async move {
                    let (store, key) = l?;
                    read_one(&store, &key).await
                })
                .buffered(READ_CONCURRENCY)
                .collect()
                .await
        });
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Err(ImageReadError::Store { uri, source }) if source.is_transient() => return Err(ImageReadError::Store { uri, source }),
                other => out.push(other),
            }
        }
        Ok(out)
    }

    /// The bytes of every path, in order; the first failure (in order) wins.
    pub fn read_all(&self, paths: &[String]) -> Result<Vec<(String, Bytes)>, ImageReadError> {
        let located: Vec<(String, Store, String)> = paths
            .iter()
            .map(|p| {
                self.locate(p)
                    .map(|(store, key)| (p.clone(), store, key))
                    .map_err(|source| ImageReadError::Store { uri: p.clone(), source })
            })
            .collect::<Result<_, _>>()?;
        self.root.block_on(async {
            futures::stream::iter(located)
                .map(|(path, store, key)| async move {
                    let bytes = read_one(&store, &key).await?;
                    Ok::<_, ImageReadError>((path, bytes))
                })
                .buffered(READ_CONCURRENCY)
                .try_collect()
                .await
        })
    }
}

/// One image's bytes. The store retries every call through outages and
/// throttling up to its deadline ([`rwclip_store::retry`]);
/// a second loop here would multiply that deadline.
async fn read_one(store: &Store, key: &str) -> Result<Bytes, ImageReadError> {
    match store.get(key).await {
        Ok(bytes) => Ok(bytes),
        Err(StoreError::NotFound { .. }) => Err(ImageReadError::Missing { uri: store.full_uri(key) }),
        Err(source) => Err(ImageReadError::Store { uri: store.full_uri(key), source }),
    }
}
