//! What pyarrow sees in a store, for tests that compare runs bit for bit
//! and check that nothing was lost or duplicated.

use std::collections::{BTreeMap, BTreeSet};

/// What pyarrow sees in a store (or a job's output): every file, every
/// Parquet file read in full, every committed shard manifest and the
/// per-seed metric rows of the committed trial shards.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSnapshot {
    /// Keys relative to the store root, sorted.
    pub files: Vec<String>,
    /// SHA-256 of every file, by key.
    pub sha256: BTreeMap<String, String>,
    /// Rows of every `.parquet` file, by key (pyarrow read each one).
    pub parquet_rows: BTreeMap<String, u64>,
    /// Committed manifests by shard id.
    pub manifests: BTreeMap<String, ManifestView>,
    /// Every committed trial's metric rows, one canonical JSON object per
    /// row (floats as exact hex), sorted.
    pub trial_rows: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManifestView {
    pub kind: String,
    pub worker: String,
    pub attempt: String,
    pub parts: Vec<String>,
}

/// The pyarrow side of [`StoreSnapshot::take`]: prints the snapshot as JSON.
const SNAPSHOT_PY: &str = include_str!("../python/store_snapshot.py");

impl StoreSnapshot {
    /// Reads `uri` (a local directory or `s3://bucket/prefix`; `endpoint` is
    /// the S3 server, ignored for local stores) with pyarrow.
    pub fn read(uri: &str, endpoint: &str) -> StoreSnapshot {
        let text = crate::python::run(SNAPSHOT_PY, &[uri, endpoint]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("snapshot of {uri} is not JSON: {e}"));
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_string()).collect()
        };
        let manifests = v["manifests"]
            .as_object()
            .expect("manifests object")
            .iter()
            .map(|(id, m)| {
                let view = ManifestView {
                    kind: m["kind"].as_str().expect("kind").to_string(),
                    worker: m["worker"].as_str().expect("worker").to_string(),
                    attempt: m["attempt"].as_str().expect("attempt").to_string(),
                    parts: strings(&m["parts"]),
                };
                (id.clone(), view)
            })
            .collect();
        StoreSnapshot {
            files: strings(&v["files"]),
            sha256: v["sha256"]
                .as_object()
                .expect("sha256 object")
                .iter()
                .map(|(k, h)| (k.clone(), h.as_str().expect("hash").to_string()))
                .collect(),
            parquet_rows: v["parquet_rows"]
                .as_object()
                .expect("parquet_rows object")
                .iter()
                .map(|(k, n)| (k.clone(), n.as_u64().expect("row count")))
                .collect(),
            manifests,
            trial_rows: strings(&v["trial_rows"]),
        }
    }

    /// Attempt ids that wrote parts for `shard` (committed or not).
    pub fn attempts_of(&self, shard: &str) -> BTreeSet<String> {
        let prefix = format!("shards/{shard}/attempts/");
        self.files
            .iter()
            .filter_map(|f| f.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(str::to_string)
            .collect()
    }

    /// Committed manifests of `kind` (`text_embedding`, `trial`, ...).
    pub fn count(&self, kind: &str) -> usize {
        self.manifests.values().filter(|m| m.kind == kind).count()
    }

    /// Panics unless the committed trials hold exactly `trials` distinct
    /// (config, seed) pairs and no (config, seed, category, score) row twice:
    /// nothing lost, nothing duplicated.
    pub fn assert_trial_rows_complete(&self, trials: usize) {
        let mut keys = BTreeSet::new();
        let mut runs = BTreeSet::new();
        for row in &self.trial_rows {
            let v: serde_json::Value = serde_json::from_str(row).expect("row is JSON");
            let key = (v["config"].to_string(), v["seed"].to_string(), v["category"].to_string(), v["score"].to_string());
            runs.insert((key.0.clone(), key.1.clone()));
            assert!(keys.insert(key.clone()), "metric row {key:?} appears twice: {row}");
        }
        assert_eq!(runs.len(), trials, "expected {trials} (config, seed) trials with metrics, found {runs:?}");
        assert_eq!(self.count("trial"), trials, "committed trial shards");
    }

    /// Panics unless every committed manifest's parts exist in the store.
    pub fn assert_parts_present(&self) {
        for (id, m) in &self.manifests {
            for p in &m.parts {
                assert!(self.sha256.contains_key(p), "shard {id}: committed part {p} is missing from the store");
            }
        }
    }
}
