//! Reading committed shards.

use std::collections::HashSet;

use crate::{Store, StoreError};
use rwclip_core::ShardId;

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
