//! Store keys of shards: `shards/<id>/manifest.json` once committed, and
//! `shards/<id>/attempts/<attempt>/<part>` for what an attempt writes.

use rwclip_core::{AttemptId, ShardId};

/// Every shard's objects live below this prefix.
pub const SHARDS_PREFIX: &str = "shards";
const MANIFEST_FILE: &str = "manifest.json";

/// Where a shard's manifest is committed.
pub fn manifest_key(shard: &ShardId) -> String {
    format!("{SHARDS_PREFIX}/{shard}/{MANIFEST_FILE}")
}

/// The shard whose manifest is at `key`; `None` for any other key (parts,
/// attempts, foreign objects).
pub fn shard_of_manifest_key(key: &str) -> Option<ShardId> {
    let id = key.strip_prefix(SHARDS_PREFIX)?.strip_prefix('/')?.strip_suffix(MANIFEST_FILE)?.strip_suffix('/')?;
    (!id.is_empty() && !id.contains('/')).then(|| ShardId(id.to_string()))
}

/// Where one attempt of a shard writes its parts before committing.
pub fn attempt_prefix(shard: &ShardId, attempt: &AttemptId) -> String {
    format!("{SHARDS_PREFIX}/{shard}/attempts/{attempt}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys_name_their_shard_and_nothing_else_does() {
        let shard = ShardId("trial-0abc".to_string());
        assert_eq!(shard_of_manifest_key(&manifest_key(&shard)), Some(shard.clone()));
        let part = format!("{}metrics.parquet", attempt_prefix(&shard, &AttemptId("a1".to_string())));
        assert_eq!(shard_of_manifest_key(&part), None);
        assert_eq!(shard_of_manifest_key("shards/x/attempts/a/manifest.json"), None);
        assert_eq!(shard_of_manifest_key("shards//manifest.json"), None);
        assert_eq!(shard_of_manifest_key("jobs/x/manifest.json"), None);
    }
}
