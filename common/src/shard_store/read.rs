//! Reading committed shards.

use std::collections::HashSet;

use crate::artifacts::{ParquetRow, Store, StoreError};
use crate::plan::ShardId;

use super::error::ShardStoreError;
use super::keys::{manifest_key, shard_of_manifest_key, SHARDS_PREFIX};
use super::manifest::Manifest;

/// The committed manifest of `shard`, `None` when it has not committed.
pub async fn committed(store: &Store, shard: &ShardId) -> Result<Option<Manifest>, ShardStoreError> {
    let key = manifest_key(shard);
    let bytes = match store.get(&key).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| ShardStoreError::UnreadableManifest {
        shard: shard.clone(),
        uri: store.full_uri(&key),
        message: e.to_string(),
    })
}

/// Every shard with a committed manifest in `store`, found by listing the
/// shards prefix (a page of keys per request) rather than asking per shard.
pub async fn committed_shards(store: &Store) -> Result<HashSet<ShardId>, StoreError> {
    let mut committed = HashSet::new();
    store
        .for_each_key(SHARDS_PREFIX, |key| {
            if let Some(shard) = shard_of_manifest_key(key) {
                committed.insert(shard);
            }
        })
        .await?;
    Ok(committed)
}

/// The key of the part of `manifest` named `name`.
pub fn part_key(store: &Store, manifest: &Manifest, name: &str) -> Result<String, ShardStoreError> {
    manifest
        .parts
        .iter()
        .find(|p| p.rsplit('/').next() == Some(name))
        .cloned()
        .ok_or_else(|| ShardStoreError::MissingPart {
            shard: manifest.shard.clone(),
            uri: store.full_uri(&manifest_key(&manifest.shard)),
            part: name.to_string(),
        })
}

/// The rows of the part of a committed `manifest` named `name`.
pub async fn read_part<R: ParquetRow>(store: &Store, manifest: &Manifest, name: &str) -> Result<Vec<R>, ShardStoreError> {
    let key = part_key(store, manifest, name)?;
    let bytes = store.get(&key).await?;
    R::from_parquet(&bytes).map_err(|source| ShardStoreError::CorruptPart { uri: store.full_uri(&key), source })
}

/// The rows of part `name` of `dep`, which `reader` depends on.
pub async fn read_dependency_part<R: ParquetRow>(store: &Store, reader: &ShardId, dep: &ShardId, name: &str) -> Result<Vec<R>, ShardStoreError> {
    let manifest = committed(store, dep)
        .await?
        .ok_or_else(|| ShardStoreError::MissingDependency { reader: reader.clone(), dep: dep.clone() })?;
    read_part(store, &manifest, name).await
}
