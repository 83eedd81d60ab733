//! `rwclip embed text|images`: one CLIP tower over a list of inputs.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rwclip_artifacts::{ImageEmbeddingRow, TextEmbeddingRow};
use rwclip_job::clip_config::ClipConfig;
use rwclip_datasets::{mvtec, ImageRecord};
use rwclip_inputs::preprocess::Preprocess;
use rwclip_inputs::tokenizer::ClipTokenizer;

use super::ModelArgs;
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::clip::{ClipModel, Towers};
use rwclip_engine::device::select_device;
use rwclip_engine::embed::{embed_image_files, embed_texts, rows_of};
use crate::error::{usage, EngineError, Result};
use rwclip_engine::progress::bar;

#[derive(Debug, Subcommand)]
pub enum EmbedCommand {
    /// Prompts from a text file, one per line (blank lines are skipped).
    Text(EmbedTextArgs),
    /// Images under a directory: an MVTec-layout root (labels from the
    /// layout) or any folder of images (searched recursively, unlabelled).
    Images(EmbedImagesArgs),
}

#[derive(Debug, Args)]
pub struct EmbedTextArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub input: PathBuf,
    /// Output Parquet (local path or s3://).
    #[arg(long)]
    pub out: String,
}

#[derive(Debug, Args)]
pub struct EmbedImagesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub out: String,
}

pub fn run(cmd: EmbedCommand) -> Result<()> {
    match cmd {
        EmbedCommand::Text(a) => embed_text(a),
        EmbedCommand::Images(a) => embed_images(a),
    }
}

/// The one tower a command uses, in memory alone.
fn load_model(m: &ModelArgs, towers: Towers) -> Result<ClipModel> {
    let cfg = ClipConfig::preset(&m.model).map_err(|e| EngineError::Usage(e.to_string()))?;
    if m.batch_size == 0 {
        return Err(usage("--batch-size must be at least 1"));
    }
    let device = select_device(&m.device)?;
    if m.weights.is_none() {
        eprintln!("rwclip: WARNING: no --weights given: {} is RANDOMLY INITIALISED (embeddings carry no meaning)", cfg.name);
    }
    Ok(ClipModel::load_towers(&cfg, m.weights.as_deref(), device, towers)?)
}

fn embed_text(a: EmbedTextArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.input).map_err(|e| EngineError::io(a.input.display(), e))?;
    let lines: Vec<(u64, String)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i as u64, l.to_string()))
        .collect();
    if lines.is_empty() {
        return Err(usage(format!("{} holds no prompts", a.input.display())));
    }
    let (store, key) = BlockingStore::open_file(&a.out)?;
    let model = load_model(&a.model, Towers::Text)?;
    let tokenizer = ClipTokenizer::new()?;
    let texts: Vec<String> = lines.iter().map(|(_, l)| l.clone()).collect();
    let pb = bar(texts.len() as u64, "text");
    let emb = embed_texts(&model, &tokenizer, &texts, a.model.batch_size, Some(&pb))?;
    pb.finish_and_clear();
    // Free-form prompts carry no pair or label: pair_id is the 0-based line
    // number, label and seed are null.
    let rows: Vec<TextEmbeddingRow> = lines
        .into_iter()
        .zip(rows_of(&emb))
        .map(|((line, text), embedding)| TextEmbeddingRow {
            pair_id: line,
            seed: None,
            label: None,
            text,
            embedding,
        })
        .collect();
    store.write_rows(&key, &rows)?;
    eprintln!("rwclip: wrote {} text embeddings to {}", rows.len(), store.describe(&key));
    Ok(())
}

fn embed_images(a: EmbedImagesArgs) -> Result<()> {
    let root = &a.input;
    if !root.is_dir() {
        return Err(usage(format!("--input {} is not a directory", root.display())));
    }
    let (store, key) = BlockingStore::open_file(&a.out)?;
    let records = image_records(root)?;
    let model = load_model(&a.model, Towers::Vision)?;
    let preprocess = Preprocess::openai(model.cfg.vision.image_size as u32);
    let paths: Vec<PathBuf> = records.iter().map(|r| root.join(&r.0.path)).collect();
    let pb = bar(paths.len() as u64, "images");
    let emb = embed_image_files(&model, &preprocess, &paths, a.model.batch_size, Some(&pb))?;
    pb.finish_and_clear();
    let rows: Vec<ImageEmbeddingRow> = records
        .into_iter()
        .zip(rows_of(&emb))
        .map(|((r, labelled), embedding)| ImageEmbeddingRow {
            path: r.path,
            category: r.category,
            label: labelled.then_some(r.label),
            defect: r.defect,
            embedding,
        })
        .collect();
    store.write_rows(&key, &rows)?;
    eprintln!("rwclip: wrote {} image embeddings to {}", rows.len(), store.describe(&key));
    Ok(())
}

/// MVTec-layout roots give labelled test images; any other folder gives
/// every image file below it, unlabelled, with its parent folder as category.
fn image_records(root: &Path) -> Result<Vec<(ImageRecord, bool)>> {
    if let Ok(records) = mvtec::read_test(root, None) {
        if !records.is_empty() {
            return Ok(records.into_iter().map(|r| (r, true)).collect());
        }
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(usage(format!("no images (.png, .jpg, .jpeg, .bmp) under {}", root.display())));
    }
    Ok(files
        .into_iter()
        .map(|rel| {
            let category = Path::new(&rel)
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let r = ImageRecord {
                path: rel,
                category,
                label: 0,
                defect: String::new(),
                mask: None,
            };
            (r, false)
        })
        .collect())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| EngineError::io(dir.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io(dir.display(), e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if is_image(&path) {
            let rel = path.strip_prefix(root).expect("walked below root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "bmp"))
}
