//! `rwclip dataset synth`: a small synthetic dataset in the exact MVTec-AD
//! layout, for tests and the demo (no real dataset can be downloaded here).
//! `rwclip dataset inspect`: what a job would evaluate, listed through the
//! store (a local root or `s3://`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rwclip_inputs::synth;
use rwclip_job::SynthOptions;

use rwclip_artifacts::Store;
use rwclip_datasets::source::{self, ListOptions, DatasetKind};

use crate::error::{usage, EngineError, Result};

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Write a synthetic dataset in the exact MVTec-AD, VisA or Sewer-ML layout (with drawn, labelled defects).
    Synth(SynthArgs),
    /// Print the images a job would evaluate, per category and label, and the few-shot reference pool.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Layout: mvtec, visa, sewer-ml or manifest.
    #[arg(long)]
    pub kind: String,
    /// Dataset root (a local path or s3://bucket/prefix); for a manifest, the CSV or Parquet file.
    #[arg(long)]
    pub root: String,
    /// Split to evaluate (default: test; val for sewer-ml).
    #[arg(long)]
    pub split: Option<String>,
    /// Comma-separated categories (default: all).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<String>>,
    /// Sewer-ML: the folder below the root holding the images (default: the root).
    #[arg(long)]
    pub images: Option<String>,
    /// Print JSON: {"kind", "split", "images", "categories": {NAME: {"normal", "anomaly"}}, "references"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Layout: mvtec (default), visa or sewer-ml.
    #[arg(long, default_value = "mvtec")]
    pub kind: String,
    /// Output root directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Comma-separated category names (default: the built-in set).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<String>>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Normal test images per category.
    #[arg(long)]
    pub test_good: Option<usize>,
    /// Defective test images per category.
    #[arg(long)]
    pub test_defective: Option<usize>,
}

pub fn run(cmd: DatasetCommand) -> Result<()> {
    match cmd {
        DatasetCommand::Synth(a) => {
            let spec = SynthOptions {
                categories: a.categories,
                seed: a.seed,
                test_good: a.test_good,
                test_defective: a.test_defective,
                ..SynthOptions::default()
            }
            .to_spec();
            let written = DatasetKind::parse(&a.kind).and_then(|kind| synth::write_kind(kind, &a.out, &spec));
            let Some(written) = written else {
                return Err(usage(format!("--kind {:?}: synth writes mvtec, visa or sewer-ml", a.kind)));
            };
            let summary = written?;
            eprintln!("rwclip: wrote a synthetic {} dataset to {}: {summary:?}", a.kind, a.out.display());
            Ok(())
        }
        DatasetCommand::Inspect(a) => inspect(a),
    }
}

fn inspect(a: InspectArgs) -> Result<()> {
    let kind = DatasetKind::parse(&a.kind).ok_or_else(|| usage(format!("--kind {:?}: expected mvtec, visa, sewer-ml or manifest", a.kind)))?;
    // A manifest is a file: its folder is the store its relative URIs are keys of.
    let (root, file) = match kind {
        DatasetKind::Manifest => {
            let (folder, name) = rwclip_core::split_file_uri(&a.root);
            (folder, Some(name))
        }
        _ => (a.root.clone(), None),
    };
    let store = Store::open(&root)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| EngineError::Io { path: "tokio runtime".to_string(), source })?;
    let options = ListOptions { split: a.split.as_deref(), categories: a.categories.as_deref(), images: a.images.as_deref(), file: file.as_deref() };
    let listing = runtime.block_on(source::list(&store, kind, &options))?;
    if a.json {
        println!("{}", listing.to_json());
        return Ok(());
    }
    println!("{} at {}, split {}: {} images, {} few-shot references", kind.name(), a.root, listing.split, listing.images.len(), listing.references.len());
    println!("{:<24} {:>8} {:>8}", "category", "normal", "anomaly");
    for (category, (normal, anomaly)) in listing.counts() {
        println!("{category:<24} {normal:>8} {anomaly:>8}");
    }
    Ok(())
}
