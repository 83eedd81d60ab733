//! A job as a DAG of shards: the unit the coordinator schedules and a worker
//! executes.
//!
//! - [`datasets`]: every dataset listed through the store; the few-shot draw.
//! - [`expand`]: the planner (job → shards in topological order).
//! - [`spec`]: what each shard computes (`ShardSpec`, hashed into its id).
//! - [`hash`]: the stable content hash of ids.
//! - [`types`]: ids and the scheduler's view of a shard. The coordinator
//!   needs nothing else: a shard's executor input travels as opaque JSON
//!   (`spec_json`). Commit manifests and store keys are [`crate::shard_store`]'s.
//!
//! Content addressing: a shard's id is a hash of everything its output
//! depends on, so a resubmitted job (or tonight's regeneration) finds
//! committed manifests and recomputes nothing.

pub mod datasets;
pub mod expand;
pub mod hash;
pub mod spec;
pub mod types;

pub use expand::{config_label, plan, plan_listed, plan_with, text_block_pairs, text_sort_window, MAX_PLAN_SHARDS, TEXT_SORT_BATCHES, JobPlan, PlanError, PlanOptions, MULTI_CROP_LABEL};
pub use datasets::{draw_references, list_datasets, list_datasets_blocking, ListedDataset};
pub use spec::{AggregateSpec, DatasetMaps, ImageShardSpec, WindowShardSpec, LayerMapsSpec, ModelRef, Precision, ShardItems, LAYER_MAP_PAIRS, ReferenceDraw, ScoreShardSpec, ScoreSummarySpec, ContactSheetSpec, ShardSpec, TextShardSpec, TrialDataset, TrialSpec};
pub use types::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
