//! Committing a shard: the manifest's conditional put is the commit.

use bytes::Bytes;

use crate::Store;
use rwclip_core::{AttemptId, ShardId, ShardKind};

use super::error::ShardStoreError;
use super::keys::manifest_key;
use super::manifest::{Manifest, MANIFEST_VERSION};
use super::read::committed;

/// Commits `parts` (keys this attempt wrote) as `shard`'s outputs; the first
/// commit wins. When another attempt won, its manifest is returned and this
/// attempt's parts are garbage.
pub async fn commit(
    store: &Store,
    shard: &ShardId,
    kind: ShardKind,
    spec: serde_json::Value,
    attempt: &AttemptId,
    worker: &str,
    parts: Vec<String>,
) -> Result<Manifest, ShardStoreError> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        shard: shard.clone(),
        kind,
        attempt: attempt.clone(),
        worker: worker.to_string(),
        parts,
        spec,
    };
    // A manifest must never name a part the store does not hold: parts
    // written before a store outage that lost data (an S3 server restored
    // empty) are written again by a retry instead of being committed.
    for part in &manifest.parts {
        if !store.exists(part).await? {
            return Err(ShardStoreError::PartNotStored { shard: shard.clone(), uri: store.full_uri(part) });
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("manifests are plain data and always serialise");
    if store.put_if_absent(&manifest_key(shard), Bytes::from(json)).await? {
        return Ok(manifest);
    }
    committed(store, shard).await?.ok_or_else(|| ShardStoreError::UnreadableManifest {
        shard: shard.clone(),
        uri: store.full_uri(&manifest_key(shard)),
        message: "the conditional put lost but no manifest is readable".to_string(),
    })
}
