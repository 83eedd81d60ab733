//! The planner: a validated job → its shard DAG.
//!
//! Text shards cover fixed, aligned blocks of absolute pair ids
//! (`[k·S, (k+1)·S)`), always whole, and a trial reads the first Np pairs of
//! its blocks. So every Np of one seed and word pair shares the same shards
//! (Np = 1000 and Np = 10000 both use block 0), and a prompt is always
//! embedded in the same batch whatever the Np.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use rwclip_job::clip_config::ClipConfig;
use rwclip_datasets::ImageRecord;
use rwclip_job::{Job, JobSpec, WordPair};

use rwclip_datasets::listed::{canonical, draw_references, list_datasets_blocking, ListError, ListedDataset};
use rwclip_core::hash::content_hash;
use super::spec::{AggregateSpec, DatasetMaps, ImageShardSpec, LayerMapsSpec, ModelRef, ReferenceDraw, ShardSpec, TextShardSpec, TrialDataset, TrialSpec, WindowShardSpec, LAYER_MAP_PAIRS};
use rwclip_job::map_method::{MapMethod, WINDOW_SCALES};
use rwclip_core::{JobId, PlannedShard, ShardId};

/// Shard sizes. Both are rounded up to whole encoder batches so batches
/// never straddle a shard boundary (which is what keeps embeddings
/// bit-identical across shard sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    pub text_shard_pairs: u64,
    pub image_shard_images: u64,
    /// The most shards one job may plan; a larger job is refused before
    /// anything is built, naming the key that makes it large.
    pub max_shards: u64,
}

/// [`PlanOptions::max_shards`] by default: what a coordinator holds per job.
pub const MAX_PLAN_SHARDS: u64 = 200_000;

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            text_shard_pairs: 2048,
            image_shard_images: 256,
            max_shards: MAX_PLAN_SHARDS,
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
    #[error("job {}: dataset {dataset:?}, category {category:?}: {setup} needs {needed} normal reference images, the pool has {available}", .job.display())]
    TooFewReferences { job: PathBuf, dataset: String, category: String, setup: String, needed: u32, available: usize },
    #[error("job {}: would plan {count} shards ({text} text, {images} image, {trials} trial), more than the limit of {max}; lower `{key}`", .job.display())]
    TooManyShards { job: PathBuf, count: u64, text: u64, images: u64, trials: u64, max: u64, key: &'static str },
    /// The datasets could not be listed (each names the job and dataset).
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Job(#[from] rwclip_job::JobError),
    #[error("plan option `{key}` must be at least 1")]
    Options { key: &'static str },
}

/// Lists the job's datasets through the store and plans it.
pub fn plan(job: &Job) -> Result<JobPlan, PlanError> {
    plan_with(job, &PlanOptions::default())
}

pub fn plan_with(job: &Job, options: &PlanOptions) -> Result<JobPlan, PlanError> {
    // Refused before the datasets are listed when the prompt grid alone is too large.
    check_size(job, &[], options)?;
    let datasets = list_datasets_blocking(job)?;
    plan_listed(job, &datasets, options)
}

/// Counts the shards `job` would plan, by arithmetic, and refuses it when
/// they exceed `options.max_shards`, so a job file asking for a billion
/// prompt pairs never makes the coordinator build a billion shards.
fn check_size(job: &Job, datasets: &[ListedDataset], options: &PlanOptions) -> Result<(), PlanError> {
    let spec = &job.spec;
    let counts = spec.prompts.pair_counts();
    let largest_np = counts.iter().copied().max().unwrap_or(1);
    let block = text_block_pairs(largest_np, spec.model.text_batch_size, options.text_shard_pairs.max(1));
    let seeds = spec.training.seeds.len() as u64;
    let words = spec.prompts.word_pairs().len() as u64;
    let crops = spec.scoring.multi_crop.values();
    let text = seeds.saturating_mul(words).saturating_mul(largest_np.div_ceil(block.max(1)));
    let trials = (counts.len() as u64).saturating_mul(words).saturating_mul(crops.len() as u64).saturating_mul(seeds);
    let step = round_up(options.image_shard_images.max(1), spec.model.image_batch_size as u64);
    let views = if crops.contains(&true) { 2 } else { 1 };
    let window_step = window_shard_images(options, spec.model.image_batch_size);
    let windows = if spec.scoring.maps.is_empty() { 0 } else { 1 };
    let images: u64 = datasets
        .iter()
        .map(|d| {
            let (tests, references) = (d.listing.images.len() as u64, d.listing.references.len() as u64);
            tests.div_ceil(step) * views + references.div_ceil(step) + windows * (tests + references).div_ceil(window_step)
        })
        .sum();
    let count = text.saturating_add(trials).saturating_add(images).saturating_add(1);
    if count <= options.max_shards {
        return Ok(());
    }
    let key = if text >= trials && text >= images {
        "prompts.pairs"
    } else if trials >= images {
        "training.seeds"
    } else {
        "datasets"
    };
    Err(PlanError::TooManyShards { job: job.path.clone(), count, text, images, trials, max: options.max_shards, key })
}

/// Plans a job whose datasets are already listed (pure: no I/O).
pub fn plan_listed(job: &Job, datasets: &[ListedDataset], options: &PlanOptions) -> Result<JobPlan, PlanError> {
    check_size(job, datasets, options)?;
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
    let model = ModelRef { precision: spec.model.precision, ..ModelRef::new(spec.model.preset.clone(), weights_identity(job)) };
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
    // point uses multi-crop; few-shot references are image shards too.
    let image_batch = spec.model.image_batch_size as u64;
    let image_step = round_up(options.image_shard_images, image_batch) as usize;
    let crops = spec.scoring.multi_crop.values();
    let image_specs = |d: &ListedDataset, records: &[ImageRecord], corners: bool| -> Vec<ShardSpec> {
        records
            .chunks(image_step)
            .enumerate()
            .map(|(k, images)| {
                ShardSpec::ImageEmbedding(ImageShardSpec {
                    model: model.clone(),
                    image_size: cfg.vision.image_size as u32,
                    dataset_root: d.store_uri.clone(),
                    first_image: (k * image_step) as u64,
                    images: images.to_vec(),
                    batch_size: spec.model.image_batch_size,
                    corners,
                })
            })
            .collect()
    };
    // Window shards are smaller: an image's windows are hundreds of embeddings.
    let window_step = window_shard_images(options, spec.model.image_batch_size) as usize;
    let window_specs = |d: &ListedDataset, records: &[ImageRecord], patch_tokens: bool| -> Vec<ShardSpec> {
        records
            .chunks(window_step)
            .enumerate()
            .map(|(k, images)| {
                ShardSpec::WindowEmbedding(WindowShardSpec {
                    model: model.clone(),
                    image_size: cfg.vision.image_size as u32,
                    dataset_root: d.store_uri.clone(),
                    first_image: (k * window_step) as u64,
                    images: images.to_vec(),
                    batch_size: spec.model.image_batch_size,
                    scales: WINDOW_SCALES.to_vec(),
                    patch_tokens,
                })
            })
            .collect()
    };
    let mut push_all = |specs: Vec<ShardSpec>, shards: &mut Vec<PlannedShard>| -> Vec<ShardId> { specs.into_iter().map(|s| push(s, shards)).collect() };
    let mut per_dataset = Vec::new();
    for d in datasets {
        let image_shards = push_all(image_specs(d, &d.listing.images, false), &mut shards);
        let corner_shards = if crops.contains(&true) { push_all(image_specs(d, &d.listing.images, true), &mut shards) } else { Vec::new() };
        let draws = reference_draws(job, d)?;
        // Every reference any trial draws, in pool order, embedded once.
        let drawn: BTreeSet<&str> = draws.values().flatten().flat_map(|r| r.paths.iter().map(String::as_str)).collect();
        let pool: Vec<ImageRecord> = d.listing.references.iter().filter(|r| drawn.contains(r.path.as_str())).cloned().collect();
        let reference_shards = push_all(image_specs(d, &pool, false), &mut shards);
        let maps = if spec.scoring.maps.is_empty() {
            None
        } else {
            // WinCLIP's few-shot memory is the only user of patch tokens and reference windows.
            let few_shot_winclip = spec.scoring.maps.contains(&MapMethod::WinClip) && d.setups.iter().any(|s| s.shots().is_some());
            Some(DatasetMaps {
                root: d.store_uri.clone(),
                window_shards: push_all(window_specs(d, &d.listing.images, few_shot_winclip), &mut shards),
                reference_window_shards: if few_shot_winclip { push_all(window_specs(d, &pool, true), &mut shards) } else { Vec::new() },
            })
        };
        per_dataset.push((d, image_shards, corner_shards, reference_shards, draws, maps));
    }

    let sentences = job.sentences()?;
    // Text shards, then one trial per grid point × seed.
    let counts = spec.prompts.pair_counts();
    let largest_np = counts.iter().copied().max().unwrap_or(1);
    let block = text_block_pairs(largest_np, spec.model.text_batch_size, options.text_shard_pairs);
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
                        sort_window: text_sort_window(spec.model.text_batch_size),
                    });
                    push(s, &mut shards)
                })
                .collect();
            let trial_datasets = per_dataset
                .iter()
                .map(|(d, image_shards, corner_shards, reference_shards, draws, maps)| TrialDataset {
                    name: d.name.clone(),
                    setups: d.setups.clone(),
                    image_shards: image_shards.clone(),
                    corner_shards: if multi_crop { corner_shards.clone() } else { Vec::new() },
                    reference_shards: reference_shards.clone(),
                    references: draws.get(&seed).cloned().unwrap_or_default(),
                    maps: maps.clone(),
                })
                .collect();
            let trial = ShardSpec::Trial(TrialSpec {
                model: model.clone(),
                config: config.clone(),
                seed,
                pairs: np,
                words: w.clone(),
                text_shards,
                datasets: trial_datasets,
                fnn: spec.training.fnn.clone(),
                temperature: spec.scoring.temperature,
                object_word: spec.scoring.object_word.clone(),
                layer_maps: trials.is_empty().then(|| LayerMapsSpec { pairs: np.min(LAYER_MAP_PAIRS), sentences: sentences.clone() }),
                maps: spec.scoring.maps.clone(),
            });
            trials.push(trial);
        }
    }
    // Trials after every text shard, so the order is topological.
    let trial_ids: Vec<ShardId> = trials.into_iter().map(|t| push(t, &mut shards)).collect();
    let aggregate = push(
        ShardSpec::Aggregate(AggregateSpec {
            title: title(job, &cfg.name, datasets, &counts, &words, &crops),
            trials: trial_ids,
            datasets: datasets.iter().map(|d| crate::DatasetColumn { name: d.name.clone(), kind: d.listing.kind }).collect(),
            maps: !spec.scoring.maps.is_empty(),
        }),
        &mut shards,
    );
    Ok(JobPlan {
        job: job_id(job),
        shards,
        aggregate,
    })
}

/// Images per window shard: a quarter of an image shard's (rounded up to
/// whole batches), as an image's windows and patch tokens are some hundred
/// embeddings where the image itself is one.
fn window_shard_images(options: &PlanOptions, image_batch_size: usize) -> u64 {
    round_up(options.image_shard_images.div_ceil(4).max(1), image_batch_size as u64)
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

fn title(job: &Job, preset: &str, datasets: &[ListedDataset], counts: &[u64], words: &[WordPair], crops: &[bool]) -> String {
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
    let names = datasets.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ");
    format!("{}: {names}; {preset}{random}, Np={np}, {w}{crop}, {} seeds", spec.name, spec.training.seeds.len())
}

/// Few-shot references of every seed: seed → one draw per (k, category).
fn reference_draws(job: &Job, d: &ListedDataset) -> Result<BTreeMap<u64, Vec<ReferenceDraw>>, PlanError> {
    let mut draws: BTreeMap<u64, Vec<ReferenceDraw>> = BTreeMap::new();
    let shots: Vec<u32> = d.setups.iter().filter_map(|s| s.shots()).collect();
    if shots.is_empty() {
        return Ok(draws);
    }
    let mut categories: Vec<&str> = d.listing.images.iter().map(|r| r.category.as_str()).collect();
    categories.dedup();
    for &seed in &job.spec.training.seeds {
        for &k in &shots {
            for &category in &categories {
                let chosen = draw_references(&d.listing.references, seed, &d.name, category, k).map_err(|available| PlanError::TooFewReferences {
                    job: job.path.clone(),
                    dataset: d.name.clone(),
                    category: category.to_string(),
                    setup: format!("{k}-shot"),
                    needed: k,
                    available,
                })?;
                draws.entry(seed).or_default().push(ReferenceDraw {
                    shots: k,
                    category: category.to_string(),
                    paths: chosen.iter().map(|r| r.path.clone()).collect(),
                });
            }
        }
    }
    Ok(draws)
}

/// Hash of the spec with paths made absolute, so the same file planned from
/// two working directories is the same job.
fn job_id(job: &Job) -> JobId {
    #[derive(Serialize)]
    struct Normalised<'a> {
        spec: &'a JobSpec,
        output: String,
        datasets: Vec<(Option<String>, Option<String>)>,
        weights: Option<String>,
    }
    let location = |l: &rwclip_core::Location| match l.local() {
        Some(p) => canonical(p),
        None => l.to_uri(),
    };
    let n = Normalised {
        spec: &job.spec,
        output: job.output_uri(),
        datasets: job.datasets().iter().map(|d| (d.root.as_ref().map(location), d.file.as_ref().map(location))).collect(),
        weights: weights_identity(job),
    };
    let json = serde_json::to_string(&n).expect("job specs are plain data and always serialise");
    JobId(format!("job-{}", content_hash(json.as_bytes())))
}

/// Local weights by canonical path, remote ones by URI.
fn weights_identity(job: &Job) -> Option<String> {
    match job.weights_path() {
        Some(local) => Some(canonical(&local)),
        None => job.weights_uri(),
    }
}

/// Batches per text sort window: prompts are ordered by length within a
/// window before batching, so the more batches a window holds the less
/// padding a batch carries (8 × 256 prompts take well under a second).
pub const TEXT_SORT_BATCHES: usize = 8;

/// Prompts per text sort window for a text batch size.
pub fn text_sort_window(text_batch_size: usize) -> usize {
    TEXT_SORT_BATCHES * text_batch_size.max(1)
}

/// Pairs per text shard. Up to one sort window of pairs, the whole (batch-
/// rounded) largest Np in one shard; beyond, `text_shard_pairs` rounded up
/// to whole windows, so every shard holds whole windows at absolute
/// positions and the prompts' batches do not depend on `text_shard_pairs`.
/// A shard never encodes a whole block of prompts the job never reads.
/// `rwclip train` encodes the same blocks, so its embeddings are a sweep's.
pub fn text_block_pairs(largest_np: u64, text_batch_size: usize, text_shard_pairs: u64) -> u64 {
    let text_batch = text_batch_size as u64;
    let pair_unit = if text_batch % 2 == 0 { text_batch / 2 } else { text_batch };
    let window_pairs = round_up(text_sort_window(text_batch_size) as u64 / 2, pair_unit);
    let np = round_up(largest_np, pair_unit);
    if np <= window_pairs {
        return np;
    }
    round_up(text_shard_pairs.min(largest_np), window_pairs)
}

fn round_up(n: u64, unit: u64) -> u64 {
    n.div_ceil(unit.max(1)) * unit.max(1)
}
