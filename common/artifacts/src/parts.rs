//! A committed shard's Parquet parts, read and decoded through its manifest
//! (the commit protocol itself is `rwclip-store`'s).

use rwclip_core::ShardId;
use rwclip_store::shard_store::{committed, part_key, Manifest, ShardStoreError};
use rwclip_store::Store;

use crate::ParquetRow;


/// The rows of the part of a committed `manifest` named `name`.
pub async fn read_part<R: ParquetRow>(store: &Store, manifest: &Manifest, name: &str) -> Result<Vec<R>, ShardStoreError> {
    let key = part_key(store, manifest, name)?;
    let bytes = store.get(&key).await?;
    R::from_parquet(&bytes).map_err(|source| ShardStoreError::CorruptPart { uri: store.full_uri(&key), source: Box::new(source) })
}

/// The rows of part `name` of `dep`, which `reader` depends on.
pub async fn read_dependency_part<R: ParquetRow>(store: &Store, reader: &ShardId, dep: &ShardId, name: &str) -> Result<Vec<R>, ShardStoreError> {
    let manifest = committed(store, dep)
        .await?
        .ok_or_else(|| ShardStoreError::MissingDependency { reader: reader.clone(), dep: dep.clone() })?;
    read_part(store, &manifest, name).await
}
