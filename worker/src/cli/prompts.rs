//! `rwclip prompts`: the random-word prompt pairs of one seed.

use std::io::Write;

use clap::Args;
use rwclip_job::prompts::PromptGenerator;

use rwclip_engine::blocking_store::BlockingStore;
use crate::error::{EngineError, Result};
use rwclip_engine::pipeline::prompt_rows;

#[derive(Debug, Args)]
pub struct PromptsArgs {
    #[arg(long)]
    pub seed: u64,
    /// Number of pairs.
    #[arg(long)]
    pub pairs: u64,
    /// First pair id (pair i under a seed is the same whatever the range).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    #[arg(long, default_value = "a")]
    pub normal: String,
    #[arg(long, default_value = "a damaged")]
    pub anomaly: String,
    #[arg(long, default_value_t = 5)]
    pub min_len: usize,
    #[arg(long, default_value_t = 10)]
    pub max_len: usize,
    /// Write Parquet here (local path or s3://) instead of TSV on stdout.
    #[arg(long)]
    pub out: Option<String>,
}

pub fn run(a: PromptsArgs) -> Result<()> {
    let spec = PromptGenerator {
        seed: a.seed,
        normal_word: a.normal,
        anomaly_word: a.anomaly,
        min_len: a.min_len,
        max_len: a.max_len,
    };
    spec.validate()?;
    let pairs = spec.pairs(a.start, a.pairs);
    match a.out {
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            let io = |e| EngineError::io("stdout", e);
            writeln!(w, "pair_id\tnormal\tanomaly").map_err(io)?;
            for p in &pairs {
                writeln!(w, "{}\t{}\t{}", p.pair_id, p.normal, p.anomaly).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        Some(out) => {
            let rows = prompt_rows(a.seed, &pairs);
            let (store, key) = BlockingStore::open_file(&out)?;
            store.write_rows(&key, &rows)?;
            eprintln!("rwclip: wrote {} prompts to {}", rows.len(), store.describe(&key));
        }
    }
    Ok(())
}
