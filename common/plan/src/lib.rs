//! A job as a DAG of shards: the unit the coordinator schedules and a worker
//! executes.
//!
//! - [`expand`]: the planner (job → shards in topological order), from
//!   listings made by `rwclip-datasets` and passed in.
//! - [`spec`]: what each shard computes (`ShardSpec`, hashed into its id).
//! - [`score_input`], [`pipe_span`]: the rows a scoring shard covers
//!   (`rwclip-scoring` cuts archives into them).
//! - Ids and the scheduler's view of a shard are `rwclip-core`'s, named here
//!   too. The coordinator needs nothing else: a shard's executor input
//!   travels as opaque JSON (`spec_json`). Commit manifests and store keys
//!   are `rwclip-store`'s.
//!
//! Does not belong here: I/O of any kind (listing, probing videos, reading
//! parts), executing a shard (the worker's engine) or aggregating results
//! (`rwclip-report`).
//!
//! Content addressing: a shard's id is a hash of everything its output
//! depends on, so a resubmitted job (or tonight's regeneration) finds
//! committed manifests and recomputes nothing.

pub mod expand;
pub mod pipe_span;
pub mod score_input;
pub mod spec;

pub use expand::{config_label, plan, plan_listed, plan_with, text_block_pairs, text_sort_window, JobPlan, PlanError, PlanOptions, MAX_PLAN_SHARDS, MULTI_CROP_LABEL, TEXT_SORT_BATCHES};
pub use rwclip_core::ids::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
pub use spec::{AggregateSpec, ContactSheetSpec, DatasetColumn, DatasetMaps, ImageShardSpec, LayerMapsSpec, ModelRef, ReferenceDraw, ScoreShardSpec, ScoreSummarySpec, ShardItems, ShardSpec, TextShardSpec, TrialDataset, TrialSpec, WindowShardSpec, LAYER_MAP_PAIRS};
