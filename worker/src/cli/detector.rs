//! `rwclip train`: one detector, trained exactly as a sweep trial trains it.
//! `rwclip detector export|show`: a finished sweep trial's checkpoint as a
//! detector file, and what a detector holds.

use bytes::Bytes;
use clap::{Args, Subcommand};
use rwclip_job::detector::ScoreKind;
use rwclip_job::fnn_config::FnnConfig;
use rwclip_job::WordPair;
use rwclip_plan::{ModelRef, ShardId};
use rwclip_job::prompts::PromptGenerator;
use rwclip_store::shard_store::{self, part};
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::detector::{train_detector, TrainSpec};
use rwclip_engine::device::select_device;
use rwclip_engine::fnn::Fnn;
use rwclip_engine::shard::ExecContext;

use crate::error::{usage, EngineError, Result};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// open_clip architecture preset (e.g. ViT-B-16-plus-240, rwclip-tiny).
    #[arg(long)]
    pub model: String,
    /// Safetensors CLIP weights (a local path or s3://); absent = random init.
    #[arg(long)]
    pub weights: Option<String>,
    /// Np: prompt pairs to train on.
    #[arg(long, default_value_t = 10_000)]
    pub pairs: u64,
    /// Seeds prompt generation, FNN init, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The normal state word.
    #[arg(long, default_value = "a")]
    pub normal: String,
    /// The anomaly state word.
    #[arg(long, default_value = "a damaged")]
    pub anomaly: String,
    /// What the detector reports as `score`: fnn, pr or pr+fnn.
    #[arg(long, default_value = "pr+fnn")]
    pub score: String,
    /// Score with test-time multi-crop (five views).
    #[arg(long)]
    pub multi_crop: bool,
    /// The object word of s_pr's guide prompts.
    #[arg(long, default_value = "object")]
    pub object_word: String,
    /// s_pr's softmax temperature.
    #[arg(long, default_value_t = 0.01)]
    pub temperature: f64,
    /// Prompts per text-tower pass (a sweep's `model.text_batch_size`).
    #[arg(long, default_value_t = 256)]
    pub text_batch_size: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// The detector file to write (a local path or s3://bucket/key).
    #[arg(long)]
    pub out: String,
}

#[derive(Debug, Subcommand)]
pub enum DetectorCommand {
    /// Write a sweep trial's checkpoint as a detector file.
    Export(ExportArgs),
    /// Print a detector's metadata as JSON.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The sweep's store (its `output`, or the coordinator's --store).
    #[arg(long)]
    pub store: String,
    /// The trial shard id (`trial-…`, as in the job's shard list).
    #[arg(long)]
    pub trial: String,
    /// Override what the detector reports as `score`: fnn, pr or pr+fnn.
    #[arg(long)]
    pub score: Option<String>,
    #[arg(long)]
    pub out: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub detector: String,
}

fn parse_score(text: &str) -> Result<ScoreKind> {
    ScoreKind::parse(text).map_err(|e| usage(format!("--score: {e}")))
}

fn write(uri: &str, bytes: Vec<u8>) -> Result<()> {
    let (store, name) = BlockingStore::open_file(uri)?;
    store.put(&name, Bytes::from(bytes))?;
    Ok(())
}

fn read(uri: &str) -> Result<Bytes> {
    let (store, name) = BlockingStore::open_file(uri)?;
    Ok(store.get(&name)?)
}

pub fn train(a: TrainArgs) -> Result<()> {
    let base = PromptGenerator::default();
    let weights = a.weights.as_deref().map(|w| {
        if w.contains("://") {
            w.to_string()
        } else {
            std::fs::canonicalize(w).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| w.to_string())
        }
    });
    if weights.is_none() {
        eprintln!("rwclip: no --weights: training on a randomly initialised {} (its detector only matches random init)", a.model);
    }
    let spec = TrainSpec {
        model: ModelRef::new(a.model.clone(), weights),
        pairs: a.pairs,
        seed: a.seed,
        words: WordPair { normal: a.normal, anomaly: a.anomaly },
        min_len: base.min_len,
        max_len: base.max_len,
        fnn: FnnConfig::default(),
        text_batch_size: a.text_batch_size,
        object_word: a.object_word,
        temperature: a.temperature,
        score: parse_score(&a.score)?,
        multi_crop: a.multi_crop,
    };
    let mut ctx = ExecContext::new(select_device(&a.device)?, 1);
    let bytes = train_detector(&spec, &mut ctx)?;
    write(&a.out, bytes)?;
    eprintln!("rwclip: detector written to {}", a.out);
    Ok(())
}

pub fn run(cmd: DetectorCommand) -> Result<()> {
    match cmd {
        DetectorCommand::Export(a) => {
            let store = BlockingStore::open(&a.store)?;
            let trial = ShardId(a.trial.clone());
            let manifest = store
                .block_on(shard_store::committed(store.store(), &trial))
                .map_err(|e| usage(format!("--trial {}: {e}", a.trial)))?
                .ok_or_else(|| usage(format!("--trial {}: no committed manifest in {}", a.trial, a.store)))?;
            let key = shard_store::part_key(store.store(), &manifest, part::CHECKPOINT).map_err(|e| usage(format!("--trial {}: {e}", a.trial)))?;
            let bytes = store.get(&key)?;
            let bytes = match a.score.as_deref() {
                None => bytes.to_vec(),
                Some(score) => {
                    let mut info = Fnn::detector_info(&bytes)?.ok_or_else(|| usage(format!("--trial {}: its checkpoint has no detector metadata", a.trial)))?;
                    info.score = parse_score(score)?;
                    Fnn::from_safetensors(&bytes, tch::Device::Cpu)?.to_detector(&info)?
                }
            };
            if Fnn::detector_info(&bytes)?.is_none() {
                return Err(usage(format!("--trial {}: its checkpoint has no detector metadata (written before detectors existed)", a.trial)));
            }
            write(&a.out, bytes)?;
            eprintln!("rwclip: detector of {} written to {}", a.trial, a.out);
            Ok(())
        }
        DetectorCommand::Show(a) => {
            let bytes = read(&a.detector)?;
            let info = Fnn::detector_info(&bytes)?.ok_or_else(|| EngineError::Usage(format!("{} is an FNN checkpoint without detector metadata", a.detector)))?;
            println!("{}", serde_json::to_string_pretty(&info).expect("detector metadata serialises"));
            Ok(())
        }
    }
}
