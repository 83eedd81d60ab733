//! Training one detector outside a sweep, bit for bit as a sweep trial
//! trains it: the same prompt blocks encoded in the same batches, the same
//! FNN training on one intra-op thread.

use rwclip_job::detector::{DetectorInfo, ScoreKind, DETECTOR_FORMAT};
use rwclip_job::fnn_config::FnnConfig;
use rwclip_job::WordPair;
use rwclip_plan::{text_block_pairs, text_sort_window, ModelRef, PlanOptions};
use rwclip_job::prompts::PromptGenerator;

use crate::embed::{embed_prompt_range, rows_of, tensor_of};
use crate::error::{EngineError, Result};
use crate::fnn::Fnn;
use crate::pipeline::{use_default_threads, with_intra_op_threads};
use crate::shard::ExecContext;

/// What `rwclip train` trains; the defaults are a sweep's.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub model: ModelRef,
    pub pairs: u64,
    pub seed: u64,
    pub words: WordPair,
    pub min_len: usize,
    pub max_len: usize,
    pub fnn: FnnConfig,
    pub text_batch_size: usize,
    pub object_word: String,
    pub temperature: f64,
    pub score: ScoreKind,
    pub multi_crop: bool,
}

/// Trains the FNN of `spec` and returns the detector file's bytes.
pub fn train_detector(spec: &TrainSpec, ctx: &mut ExecContext) -> Result<Vec<u8>> {
    let generator = PromptGenerator {
        seed: spec.seed,
        normal_word: spec.words.normal.clone(),
        anomaly_word: spec.words.anomaly.clone(),
        min_len: spec.min_len,
        max_len: spec.max_len,
    };
    generator.validate().map_err(|e| EngineError::Usage(e.to_string()))?;
    if spec.pairs == 0 {
        return Err(EngineError::Usage("--pairs must be at least 1".to_string()));
    }
    spec.fnn.validate().map_err(|e| EngineError::Usage(e.to_string()))?;
    // Whole text-shard blocks, as a sweep of this Np encodes them: batches
    // then start at the same absolute prompts.
    let block = text_block_pairs(spec.pairs, spec.text_batch_size, PlanOptions::default().text_shard_pairs);
    let encoded = spec.pairs.div_ceil(block) * block;
    let pairs = generator.pairs(0, encoded);
    let texts: Vec<String> = pairs.iter().flat_map(|p| [p.normal.clone(), p.anomaly.clone()]).collect();
    let model = ctx.model(&spec.model)?;
    let tokenizer = ctx.tokenizer()?;
    use_default_threads();
    // One text shard's range at a time, so the sort windows are a sweep's.
    let block_texts = 2 * block as usize;
    let window = text_sort_window(spec.text_batch_size);
    let mut rows = Vec::with_capacity(texts.len());
    for (k, range) in texts.chunks(block_texts).enumerate() {
        let first = (k * block_texts) as u64;
        rows.extend(rows_of(&embed_prompt_range(&model, &tokenizer, range, first, spec.text_batch_size, window)?));
    }
    let np = spec.pairs as usize;
    let normal: Vec<Vec<f32>> = rows.iter().step_by(2).take(np).cloned().collect();
    let anomaly: Vec<Vec<f32>> = rows.iter().skip(1).step_by(2).take(np).cloned().collect();
    let dim = model.cfg.embed_dim;
    let (fnn, _report) = with_intra_op_threads(1, || Fnn::train(&tensor_of(&normal, dim), &tensor_of(&anomaly, dim), &spec.fnn, spec.seed, ctx.device))?;
    let info = DetectorInfo {
        format: DETECTOR_FORMAT,
        clip_preset: spec.model.preset.clone(),
        clip_weights_digest: ctx.weights_digest(&spec.model)?,
        normal_word: spec.words.normal.clone(),
        anomaly_word: spec.words.anomaly.clone(),
        object_word: spec.object_word.clone(),
        temperature: spec.temperature,
        score: spec.score,
        multi_crop: spec.multi_crop,
        seed: spec.seed,
        pairs: spec.pairs,
    };
    Ok(fnn.to_detector(&info)?)
}
