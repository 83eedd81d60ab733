//! Ids and shards as the scheduler sees them (their commit records are
//! `rwclip-store`'s shard store).

use serde::{Deserialize, Serialize};

/// A job's id (content hash of its validated spec, so resubmitting the same
/// file names the same job).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

/// A shard's content-addressed id, `<kind>-<hex>`: equal inputs, equal id,
/// across jobs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub String);

/// One execution attempt of a shard; unique per lease, so two workers racing
/// on the same shard never write the same part keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for AttemptId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a shard computes, in pipeline order (stages are listed in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardKind {
    /// CLIP text embeddings of one seed × word pair × pair range.
    TextEmbedding,
    /// CLIP image embeddings of one dataset × image range (per model + crop).
    ImageEmbedding,
    /// FNN training and scoring of one config × seed.
    Trial,
    /// A detector's scores of one row range of an archive.
    Score,
    /// Thumbnails of a scoring job's best-scored images on one sheet: run by
    /// a worker, which has the image codecs.
    ContactSheet,
    /// Mean ± std over a job's trials, or a scoring job's summary: run by
    /// the coordinator, which needs no libtorch.
    Aggregate,
}

impl ShardKind {
    /// The stage's name as users see it (CLI, dashboard, metric labels).
    pub fn stage_name(self) -> &'static str {
        match self {
            ShardKind::TextEmbedding => "text",
            ShardKind::ImageEmbedding => "image",
            ShardKind::Trial => "trial",
            ShardKind::Score => "score",
            ShardKind::ContactSheet => "contact-sheet",
            ShardKind::Aggregate => "aggregate",
        }
    }
}

/// A shard as the coordinator schedules it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    pub id: ShardId,
    pub kind: ShardKind,
    /// Shards whose manifests must be committed before this one can run.
    pub deps: Vec<ShardId>,
    /// Which loaded model the shard needs (`preset` + weights URI), so the
    /// coordinator can prefer a worker that already holds it; `None` for
    /// shards that need no CLIP model.
    pub model_key: Option<String>,
    /// The executor's input, opaque to the scheduler (a serialised
    /// `ShardSpec`, see the worker's executors).
    pub spec_json: String,
}
