//! The job driver behind `rwclip run`.

use std::time::Instant;

use bytes::Bytes;
use rwclip_common::artifacts::{ImageEmbeddingRow, PromptRow, ScoreRow, TextEmbeddingRow};
use rwclip_common::clip_config::ClipConfig;
use rwclip_common::dataset::{mvtec, synth, ImageRecord};
use rwclip_common::job::{Job, WordPair};
use rwclip_common::preprocess::Preprocess;
use rwclip_common::prompts::PromptPair;
use rwclip_common::tokenizer::ClipTokenizer;

use super::guides::{objects_for, Guides};
use super::report;
use super::summary::{summarise, trial_metrics, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS};
use super::keys;
use crate::blocking_store::BlockingStore;
use crate::clip::ClipModel;
use crate::device::select_device;
use crate::embed::{embed_image_files, embed_texts, rows_of};
use crate::error::{Result, RwclipError};
use crate::fnn::{Fnn, FnnConfig};
use crate::progress::bar;

pub struct RunOutcome {
    pub summary: Vec<rwclip_common::artifacts::SummaryRow>,
    /// Table 1 layout, ready to print.
    pub table: String,
    /// Where the artifacts went.
    pub output: String,
}

/// Runs a validated job end to end and writes every artifact to its output.
pub fn run_job(job: &Job) -> Result<RunOutcome> {
    let spec = &job.spec;
    let started = Instant::now();
    let store = BlockingStore::open(&job.output_uri())?;
    store.put(
        keys::JOB,
        Bytes::from(toml::to_string(spec).expect("a parsed job serialises back to TOML")),
    )?;

    let records = load_dataset(job)?;
    let categories = distinct_categories(&records);
    stage(&format!(
        "dataset: {} test images in {} categories from {}",
        records.len(),
        categories.len(),
        job.dataset_root().display()
    ));

    let cfg = ClipConfig::preset(&spec.model.preset).map_err(|e| RwclipError::Usage(e.to_string()))?;
    let device = select_device(&spec.model.device)?;
    let weights = job.weights_path();
    let model = ClipModel::load(&cfg, weights.as_deref(), device)?;
    match &weights {
        Some(w) => stage(&format!("model: {} from {} on {device:?}", cfg.name, w.display())),
        None => warn_random_init(&cfg.name),
    }
    let tokenizer = ClipTokenizer::new()?;

    // Image embeddings: computed once, shared by every seed and setup.
    let preprocess = Preprocess::openai(cfg.vision.image_size as u32);
    let paths: Vec<_> = records.iter().map(|r| job.dataset_root().join(&r.path)).collect();
    let pb = bar(paths.len() as u64, "images");
    let image_emb = embed_image_files(&model, &preprocess, &paths, spec.model.image_batch_size, Some(&pb))?;
    pb.finish_and_clear();
    let image_rows: Vec<ImageEmbeddingRow> = records
        .iter()
        .zip(rows_of(&image_emb))
        .map(|(r, embedding)| ImageEmbeddingRow {
            path: r.path.clone(),
            category: r.category.clone(),
            label: Some(r.label),
            defect: r.defect.clone(),
            embedding,
        })
        .collect();
    store.write_rows(keys::IMAGE_EMBEDDINGS, &image_rows)?;
    stage(&format!("image embeddings: {}", store.describe(keys::IMAGE_EMBEDDINGS)));

    // Guide prompts and s_pr, which no seed changes.
    let sc = &spec.scoring;
    let objects = objects_for(&sc.setups, &sc.object_word, &categories);
    let words = single_word_pair(job)?;
    let guides = Guides::embed(&model, &tokenizer, &words.normal, &words.anomaly, &objects)?;
    store.write_rows(keys::GUIDE_EMBEDDINGS, &guides.rows)?;
    let s_pr: Vec<_> = sc
        .setups
        .iter()
        .map(|&setup| (setup, guides.prompt_scores(setup, &sc.object_word, &records, &image_emb, sc.temperature)))
        .collect();

    let fnn_cfg = &spec.training.fnn;
    let mut metric_rows = Vec::new();
    for &seed in &spec.training.seeds {
        let t0 = Instant::now();
        let fnn = train_trial(job, &store, &model, &tokenizer, fnn_cfg, seed, device)?;
        let s_fnn = Vec::<f64>::try_from(fnn.score(&image_emb).to_kind(tch::Kind::Double)).expect("score vector");
        for (setup, pr) in &s_pr {
            let config = setup.label();
            let combined: Vec<f64> = pr.iter().zip(&s_fnn).map(|(a, b)| a + b).collect();
            let rows: Vec<ScoreRow> = records
                .iter()
                .enumerate()
                .map(|(i, r)| ScoreRow {
                    path: r.path.clone(),
                    category: r.category.clone(),
                    label: r.label,
                    seed,
                    s_pr: pr[i],
                    s_fnn: s_fnn[i],
                    s_combined: combined[i],
                })
                .collect();
            store.write_rows(&keys::scores(seed, config), &rows)?;
            metric_rows.extend(trial_metrics(config, seed, SCORE_CLIP, &records, pr)?);
            metric_rows.extend(trial_metrics(config, seed, SCORE_OURS, &records, &s_fnn)?);
            metric_rows.extend(trial_metrics(config, seed, SCORE_COMBINED, &records, &combined)?);
        }
        stage(&format!("seed {seed}: trained and scored in {:.1}s", t0.elapsed().as_secs_f64()));
    }

    store.write_rows(keys::METRICS, &metric_rows)?;
    let summary = summarise(&metric_rows);
    store.write_rows(keys::SUMMARY, &summary)?;
    let title = format!(
        "{}: {}{}, Np={}, \"{}\" / \"{}\", {} seeds",
        spec.name,
        cfg.name,
        if weights.is_none() { " (random init)" } else { "" },
        single_pair_count(job)?,
        words.normal,
        words.anomaly,
        spec.training.seeds.len()
    );
    store.put(keys::SUMMARY_MD, Bytes::from(report::markdown(&title, &summary)))?;
    stage(&format!("done in {:.1}s", started.elapsed().as_secs_f64()));
    Ok(RunOutcome {
        table: format!("{title}\n\n{}", report::table1(&summary)),
        summary,
        output: store.describe(""),
    })
}

/// One trial: prompts under `seed` → text embeddings → trained FNN.
fn train_trial(
    job: &Job,
    store: &BlockingStore,
    model: &ClipModel,
    tokenizer: &ClipTokenizer,
    fnn_cfg: &FnnConfig,
    seed: u64,
    device: tch::Device,
) -> Result<Fnn> {
    let spec = &job.spec;
    let prompt_spec = spec.prompts.generator(seed, &single_word_pair(job)?);
    let pairs = prompt_spec.pairs(0, single_pair_count(job)?);
    // Interleaved normal/anomaly so pair i is rows 2i and 2i+1.
    let texts: Vec<String> = pairs
        .iter()
        .flat_map(|p| [p.normal.clone(), p.anomaly.clone()])
        .collect();
    let prompt_rows = prompt_rows(seed, &pairs);
    store.write_rows(&keys::prompts(seed), &prompt_rows)?;

    let pb = bar(texts.len() as u64, &format!("seed {seed} text"));
    let emb = embed_texts(model, tokenizer, &texts, spec.model.text_batch_size, Some(&pb))?;
    pb.finish_and_clear();
    let text_rows: Vec<TextEmbeddingRow> = prompt_rows
        .iter()
        .zip(rows_of(&emb))
        .map(|(p, embedding)| TextEmbeddingRow {
            pair_id: p.pair_id,
            label: Some(p.label),
            text: p.text.clone(),
            embedding,
        })
        .collect();
    store.write_rows(&keys::text_embeddings(seed), &text_rows)?;

    let n = pairs.len() as i64;
    let d = emb.size()[1];
    let paired = emb.view([n, 2, d]);
    let normal = paired.select(1, 0);
    let anomaly = paired.select(1, 1);
    let (fnn, _report) = with_intra_op_threads(1, || Fnn::train(&normal, &anomaly, fnn_cfg, seed, device))?;
    store.put(&keys::checkpoint(seed), Bytes::from(fnn.to_safetensors()?))?;
    Ok(fnn)
}

/// Two rows per pair (normal then anomaly), in pair order.
pub fn prompt_rows(seed: u64, pairs: &[PromptPair]) -> Vec<PromptRow> {
    pairs
        .iter()
        .flat_map(|p| {
            [(0u8, &p.normal), (1u8, &p.anomaly)].map(|(label, text)| PromptRow {
                pair_id: p.pair_id,
                seed,
                label,
                text: text.clone(),
            })
        })
        .collect()
}

/// This driver runs one grid point; sweeps go through the planner.
fn single_word_pair(job: &Job) -> Result<WordPair> {
    match job.spec.prompts.word_pairs().as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(RwclipError::Usage(format!(
            "{}: `prompts.word_pairs` lists several pairs; this driver runs one (plan the sweep instead)",
            job.path.display()
        ))),
    }
}

fn single_pair_count(job: &Job) -> Result<u64> {
    match job.spec.prompts.pair_counts().as_slice() {
        [one] => Ok(*one),
        _ => Err(RwclipError::Usage(format!(
            "{}: `prompts.pairs` lists several values; this driver runs one (plan the sweep instead)",
            job.path.display()
        ))),
    }
}

fn load_dataset(job: &Job) -> Result<Vec<ImageRecord>> {
    let spec = &job.spec.dataset;
    let root = job.dataset_root();
    if let Some(opts) = &spec.synth {
        if !root.exists() {
            synth::write(&root, &opts.to_spec())?;
            stage(&format!("dataset: synthesised MVTec-layout data at {}", root.display()));
        }
    }
    let categories = (!spec.categories.is_empty()).then_some(&spec.categories[..]);
    Ok(mvtec::read_test(&root, categories)?)
}

fn distinct_categories(records: &[ImageRecord]) -> Vec<String> {
    let mut c: Vec<String> = records.iter().map(|r| r.category.clone()).collect();
    c.dedup();
    c
}

/// Runs `f` with libtorch's intra-op thread count set to `n`, then restores
/// it. FNN training uses one thread: CPU reductions split by thread count, so
/// a fixed count is what makes a seed's checkpoint bit-identical on every
/// machine, and for a 0.3 M-parameter net one thread is also the fastest.
pub(crate) fn with_intra_op_threads<T>(n: i32, f: impl FnOnce() -> T) -> T {
    let before = tch::get_num_threads();
    tch::set_num_threads(n);
    let out = f();
    tch::set_num_threads(before);
    out
}

fn stage(msg: &str) {
    eprintln!("rwclip: {msg}");
}

fn warn_random_init(preset: &str) {
    eprintln!(
        "rwclip: WARNING: no weights configured: {preset} is RANDOMLY INITIALISED.\n\
         rwclip:          The pipeline runs for real, but every metric is at chance level.\n\
         rwclip:          Set [model] weights to a converted open_clip checkpoint (README: pretrained weights)."
    );
}
