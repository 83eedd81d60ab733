//! Reading dependencies through committed manifests, and committing.

use bytes::Bytes;
use rwclip_common::artifacts::ParquetRow;
use rwclip_common::plan::{manifest_key, AttemptId, Manifest, ShardId, ShardKind, MANIFEST_VERSION};

use super::error::ShardError;
use crate::blocking_store::BlockingStore;
use crate::error::RwclipError;

/// The committed manifest of `shard`, `None` when it has not committed.
pub fn committed(store: &BlockingStore, shard: &ShardId) -> Result<Option<Manifest>, ShardError> {
    let key = manifest_key(shard);
    let bytes = match store.get(&key) {
        Ok(b) => b,
        Err(rwclip_common::artifacts::StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(ShardError::run(shard)(RwclipError::Store(e))),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| ShardError::Manifest {
        shard: shard.clone(),
        key,
        message: e.to_string(),
    })
}

/// Rows of the part of `dep` whose key ends with `name`; `reader` is the
/// shard reading it (for messages).
pub fn read_dep_part<R: ParquetRow>(
    store: &BlockingStore,
    reader: &ShardId,
    dep: &ShardId,
    name: &str,
) -> Result<Vec<R>, ShardError> {
    let manifest = committed(store, dep)?.ok_or_else(|| ShardError::MissingDep {
        shard: reader.clone(),
        dep: dep.clone(),
    })?;
    let part = manifest
        .parts
        .iter()
        .find(|p| p.ends_with(&format!("/{name}")))
        .ok_or_else(|| ShardError::Manifest {
            shard: dep.clone(),
            key: manifest_key(dep),
            message: format!("lists no part named {name}"),
        })?;
    store.read_rows(part).map_err(ShardError::run(reader))
}

/// Commits the manifest; the first commit wins. When another attempt won,
/// its manifest is returned and this attempt's parts are garbage.
pub fn commit(
    store: &BlockingStore,
    shard: &ShardId,
    kind: ShardKind,
    attempt: &AttemptId,
    worker: &str,
    parts: Vec<String>,
) -> Result<Manifest, ShardError> {
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        shard: shard.clone(),
        kind,
        attempt: attempt.clone(),
        worker: worker.to_string(),
        parts,
    };
    // A manifest must never name a part the store does not hold: parts
    // written before a store outage that lost data (an S3 server restored
    // empty) are written again by a retry instead of being committed.
    for part in &manifest.parts {
        let present = store.exists(part).map_err(|e| ShardError::run(shard)(RwclipError::Store(e)))?;
        if !present {
            return Err(ShardError::run(shard)(RwclipError::Store(rwclip_common::artifacts::StoreError::NotFound {
                uri: store.describe(part),
            })));
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("manifests are plain data and always serialise");
    let won = store
        .put_if_absent(&manifest_key(shard), Bytes::from(json))
        .map_err(|e| ShardError::run(shard)(RwclipError::Store(e)))?;
    if won {
        return Ok(manifest);
    }
    committed(store, shard)?.ok_or_else(|| ShardError::Manifest {
        shard: shard.clone(),
        key: manifest_key(shard),
        message: "conditional put lost but no manifest is readable".to_string(),
    })
}
