//! `rwclip dataset synth`: a small synthetic dataset in the exact MVTec-AD
//! layout, for tests and the demo (no real dataset can be downloaded here).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rwclip_inputs::synth;
use rwclip_common::job::SynthOptions;

use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Write a synthetic MVTec-layout dataset (PNG and JPEG, with masks).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
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
            let summary = synth::write(&a.out, &spec)?;
            eprintln!("rwclip: wrote synthetic MVTec-layout dataset to {}: {summary:?}", a.out.display());
            Ok(())
        }
    }
}
