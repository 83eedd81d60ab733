//! The best-scored rows of a scoring job, ranked the same way by its
//! summary and its contact sheet.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rwclip_artifacts::ImageScoreRow;
use rwclip_core::ShardId;
use rwclip_store::shard_store::{self, manifest_key, part, Manifest, ShardStoreError};
use rwclip_store::Store;

/// Why the shards a reader depends on could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    /// A shard the reader depends on has no committed manifest.
    #[error("{reader}: shard {shard} has not committed (no {key})")]
    Missing { reader: ShardId, shard: ShardId, key: String },
    #[error(transparent)]
    Shard(#[from] ShardStoreError),
}

/// A candidate for `top_k.csv`: higher scores first, then input order.
#[derive(Debug, Clone, PartialEq)]
struct Ranked {
    score: f64,
    row: u64,
    r: ImageScoreRow,
}

impl Eq for Ranked {}
impl Ord for Ranked {
    /// The heap keeps the k best; its top is the worst of them.
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then(self.row.cmp(&other.row))
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `k` best-scored rows of a job, in `top_k.csv`'s order: higher scores
/// first, ties in input order. Holds at most `k` rows however many are
/// offered; the summary and the contact sheet both rank with it.
#[derive(Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK { k, heap: BinaryHeap::new() }
    }

    /// Offers row `row` (its index in the whole input) scored `score`.
    pub fn offer(&mut self, row: u64, score: f64, r: ImageScoreRow) {
        self.heap.push(Ranked { score, row, r });
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    /// The kept rows, best first.
    pub fn into_ranked(self) -> Vec<ImageScoreRow> {
        let mut top = self.heap.into_vec();
        top.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        top.into_iter().map(|t| t.r).collect()
    }
}

/// The committed manifest of every shard of `shards` (score shards, in
/// input order, or the contact sheet) that `reader` depends on.
pub async fn committed_deps(store: &Store, reader: &ShardId, shards: &[ShardId]) -> Result<Vec<Manifest>, DepsError> {
    let mut out = Vec::with_capacity(shards.len());
    for shard in shards {
        let m = shard_store::committed(store, shard).await?.ok_or_else(|| DepsError::Missing {
            reader: reader.clone(),
            shard: shard.clone(),
            key: store.full_uri(&manifest_key(shard)),
        })?;
        out.push(m);
    }
    Ok(out)
}

/// The `k` best-scored rows over `shards` (score shards in input order),
/// read one shard at a time.
pub async fn rank_top_k(store: &Store, reader: &ShardId, shards: &[ShardId], k: usize) -> Result<Vec<ImageScoreRow>, DepsError> {
    let mut top = TopK::new(k);
    let mut row = 0u64;
    for m in committed_deps(store, reader, shards).await? {
        for r in rwclip_artifacts::read_part::<ImageScoreRow>(store, &m, part::IMAGE_SCORES).await? {
            if let Some(score) = r.score {
                top.offer(row, score, r);
            }
            row += 1;
        }
    }
    Ok(top.into_ranked())
}

