//! The planner: a validated job → its shard DAG.
//!
//! Text shards cover fixed, aligned blocks of absolute pair ids
//! (`[k·S, (k+1)·S)`), always whole, and a trial reads the first Np pairs of
//! its blocks. So every Np of one seed and word pair shares the same shards
//! (Np = 1000 and Np = 10000 both use block 0), and a prompt is always
//! embedded in the same batch whatever the Np.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::clip_config::ClipConfig;
use crate::dataset::{mvtec, DatasetError, ImageRecord};
use crate::job::{Job, JobSpec, WordPair};

use super::hash::content_hash;
use super::spec::{AggregateSpec, ImageShardSpec, ModelRef, ShardSpec, TextShardSpec, TrialSpec};
use super::types::{JobId, PlannedShard, ShardId};

/// Shard sizes. Both are rounded up to whole encoder batches so batches
/// never straddle a shard boundary (which is what keeps embeddings
/// bit-identical across shard sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    pub text_shard_pairs: u64,
    pub image_shard_images: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            text_shard_pairs: 2048,
            image_shard_images: 256,
        }
    }
}

/// A job's shards in topological order (every shard after its deps).
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    pub job: JobId,
    pub shards: Vec<PlannedShard>,
    /// The last shard: results of the whole job.
    pub aggregate: ShardId,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("job {}: `model.preset`: {message}", .job.display())]
    Preset { job: PathBuf, message: String },
    #[error("job {}: cannot list the dataset: {source}", .job.display())]
    Dataset { job: PathBuf, source: DatasetError },
    #[error("job {}: dataset root {} has no test images", .job.display(), .root.display())]
    NoImages { job: PathBuf, root: PathBuf },
    #[error("plan option `{key}` must be at least 1")]
    Options { key: &'static str },
}

pub fn plan(job: &Job) -> Result<JobPlan, PlanError> {
    plan_with(job, &PlanOptions::default())
}

pub fn plan_with(job: &Job, options: &PlanOptions) -> Result<JobPlan, PlanError> {
    if options.text_shard_pairs == 0 {
        return Err(PlanError::Options { key: "text_shard_pairs" });
    }
    if options.image_shard_images == 0 {
        return Err(PlanError::Options { key: "image_shard_images" });
    }
    let spec = &job.spec;
    let cfg = ClipConfig::preset(&spec.model.preset).map_err(|e| PlanError::Preset {
        job: job.path.clone(),
        message: e.to_string(),
    })?;
    let model = ModelRef {
        preset: spec.model.preset.clone(),
        weights: weights_identity(job),
    };
    let mut shards = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |s: ShardSpec, shards: &mut Vec<PlannedShard>| -> ShardId {
        let id = s.id();
        if seen.insert(id.clone()) {
            shards.push(PlannedShard {
                id: id.clone(),
                kind: s.kind(),
                deps: s.deps(),
                model_key: s.model().map(ModelRef::key),
                spec_json: s.to_json(),
            });
        }
        id
    };

    // Image shards: shared by every trial; corner views only when some grid
    // point uses multi-crop.
    let records = dataset_records(job)?;
    let image_batch = spec.model.image_batch_size as u64;
    let image_step = round_up(options.image_shard_images, image_batch) as usize;
    let root = absolute(&job.dataset_root());
    let crops = spec.scoring.multi_crop.values();
    let mut image_shards_of = |corners: bool, shards: &mut Vec<PlannedShard>| -> Vec<ShardId> {
        records
            .chunks(image_step)
            .enumerate()
            .map(|(k, images)| {
                let s = ShardSpec::ImageEmbedding(ImageShardSpec {
                    model: model.clone(),
                    image_size: cfg.vision.image_size as u32,
                    dataset_root: root.clone(),
                    first_image: (k * image_step) as u64,
                    images: images.to_vec(),
                    batch_size: spec.model.image_batch_size,
                    corners,
                });
                push(s, shards)
            })
            .collect()
    };
    let image_shards = image_shards_of(false, &mut shards);
    let corner_shards = if crops.contains(&true) { image_shards_of(true, &mut shards) } else { Vec::new() };

    // Text shards, then one trial per grid point × seed.
    let text_batch = spec.model.text_batch_size as u64;
    // 2 prompts per pair: a block of S pairs must hold whole batches.
    let pair_unit = if text_batch % 2 == 0 { text_batch / 2 } else { text_batch };
    let counts = spec.prompts.pair_counts();
    // A job whose largest Np is below the block size would otherwise encode
    // a whole block of prompts it never reads.
    let largest_np = counts.iter().copied().max().unwrap_or(1);
    let block = round_up(options.text_shard_pairs.min(largest_np), pair_unit);
    let words = spec.prompts.word_pairs();
    let single_point = counts.len() == 1 && words.len() == 1;
    let mut trials = Vec::new();
    for (&np, w, &multi_crop) in grid(&counts, &words, &crops) {
        let mut config = if single_point { String::new() } else { config_label(np, w) };
        if multi_crop {
            config = format!("{config} {MULTI_CROP_LABEL}").trim_start().to_string();
        }
        for &seed in &spec.training.seeds {
            let text_shards: Vec<ShardId> = (0..np.div_ceil(block))
                .map(|k| {
                    let s = ShardSpec::TextEmbedding(TextShardSpec {
                        model: model.clone(),
                        seed,
                        words: w.clone(),
                        min_len: spec.prompts.min_len,
                        max_len: spec.prompts.max_len,
                        first_pair: k * block,
                        pairs: block,
                        batch_size: spec.model.text_batch_size,
                    });
                    push(s, &mut shards)
                })
                .collect();
            let trial = ShardSpec::Trial(TrialSpec {
                model: model.clone(),
                config: config.clone(),
                seed,
                pairs: np,
                words: w.clone(),
                text_shards,
                image_shards: image_shards.clone(),
                corner_shards: if multi_crop { corner_shards.clone() } else { Vec::new() },
                fnn: spec.training.fnn.clone(),
                temperature: spec.scoring.temperature,
                setups: spec.scoring.setups.clone(),
                object_word: spec.scoring.object_word.clone(),
            });
            trials.push(trial);
        }
    }
    // Trials after every text shard, so the order is topological.
    let trial_ids: Vec<ShardId> = trials.into_iter().map(|t| push(t, &mut shards)).collect();
    let aggregate = push(
        ShardSpec::Aggregate(AggregateSpec {
            title: title(job, &cfg.name, &counts, &words, &crops),
            trials: trial_ids,
        }),
        &mut shards,
    );
    Ok(JobPlan {
        job: job_id(job),
        shards,
        aggregate,
    })
}

/// Appended to a grid point's config name when it uses multi-crop.
pub const MULTI_CROP_LABEL: &str = "multi-crop";

/// Np × word pairs × crop settings, in that nesting order.
fn grid<'a>(counts: &'a [u64], words: &'a [WordPair], crops: &'a [bool]) -> impl Iterator<Item = (&'a u64, &'a WordPair, &'a bool)> {
    counts.iter().flat_map(move |np| words.iter().flat_map(move |w| crops.iter().map(move |c| (np, w, c))))
}

/// The name of a sweep grid point in metric rows and tables.
pub fn config_label(np: u64, w: &WordPair) -> String {
    format!("Np={np} \"{}\"/\"{}\"", w.normal, w.anomaly)
}

fn title(job: &Job, preset: &str, counts: &[u64], words: &[WordPair], crops: &[bool]) -> String {
    let spec = &job.spec;
    let random = if spec.model.weights.is_none() { " (random init)" } else { "" };
    let np = counts.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let w = words
        .iter()
        .map(|w| format!("\"{}\" / \"{}\"", w.normal, w.anomaly))
        .collect::<Vec<_>>()
        .join(", ");
    let crop = match crops {
        [false] => "",
        [true] => ", multi-crop",
        _ => ", multi-crop off/on",
    };
    format!("{}: {preset}{random}, Np={np}, {w}{crop}, {} seeds", spec.name, spec.training.seeds.len())
}

fn dataset_records(job: &Job) -> Result<Vec<ImageRecord>, PlanError> {
    let root = job.dataset_root();
    let cats = &job.spec.dataset.categories;
    let records = mvtec::read_test(&root, (!cats.is_empty()).then_some(&cats[..])).map_err(|source| {
        PlanError::Dataset {
            job: job.path.clone(),
            source,
        }
    })?;
    if records.is_empty() {
        return Err(PlanError::NoImages {
            job: job.path.clone(),
            root,
        });
    }
    Ok(records)
}

/// Hash of the spec with paths made absolute, so the same file planned from
/// two working directories is the same job.
fn job_id(job: &Job) -> JobId {
    #[derive(Serialize)]
    struct Normalised<'a> {
        spec: &'a JobSpec,
        output: String,
        dataset_root: String,
        weights: Option<String>,
    }
    let n = Normalised {
        spec: &job.spec,
        output: job.output_uri(),
        dataset_root: absolute(&job.dataset_root()),
        weights: weights_identity(job),
    };
    let json = serde_json::to_string(&n).expect("job specs are plain data and always serialise");
    JobId(format!("job-{}", content_hash(json.as_bytes())))
}

/// Local weights by canonical path, remote ones by URI.
fn weights_identity(job: &Job) -> Option<String> {
    match job.weights_path() {
        Some(local) => Some(absolute(&local)),
        None => job.weights_uri(),
    }
}

/// The canonical path when it exists (ids independent of the working
/// directory), else the path as given.
fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

fn round_up(n: u64, unit: u64) -> u64 {
    n.div_ceil(unit.max(1)) * unit.max(1)
}
