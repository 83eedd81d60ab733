//! The small job every cluster test runs.

use std::path::{Path, PathBuf};

/// A small sweep job on the `rwclip-tiny` preset (random init) over a tiny
/// synthetic dataset: everything a cluster test needs, in seconds on a CPU.
#[derive(Debug, Clone)]
pub struct TinyJob {
    pub name: String,
    pub output: String,
    /// Absolute; synthesised by the submitting client when missing.
    pub dataset_root: PathBuf,
    pub pairs: Vec<u64>,
    pub word_pairs: Vec<(String, String)>,
    pub seeds: Vec<u64>,
    pub weights: Option<PathBuf>,
    /// Prompts per text-tower pass. Large, because a text shard always
    /// encodes a whole block of 2048 pairs (the planner's default) and the
    /// tiny text tower is much faster in large batches on a CPU.
    pub text_batch_size: usize,
}

impl TinyJob {
    /// 2 Np × 2 word pairs × 3 seeds.
    pub fn sweep(name: &str, output: &str, dataset_root: &Path) -> TinyJob {
        TinyJob {
            name: name.to_string(),
            output: output.to_string(),
            dataset_root: dataset_root.to_path_buf(),
            pairs: vec![64, 128],
            word_pairs: vec![("a".into(), "a damaged".into()), ("a good".into(), "a broken".into())],
            seeds: vec![0, 1, 2],
            weights: None,
            text_batch_size: 512,
        }
    }

    /// One grid point (Np 64, "a" / "a damaged") × 2 seeds: the smallest job
    /// with a text, an image, trial and aggregate stage, for chaos tests.
    pub fn small(name: &str, output: &str, dataset_root: &Path) -> TinyJob {
        TinyJob {
            pairs: vec![64],
            word_pairs: vec![("a".into(), "a damaged".into())],
            seeds: vec![0, 1],
            ..TinyJob::sweep(name, output, dataset_root)
        }
    }

    pub fn toml(&self) -> String {
        let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let words = self
            .word_pairs
            .iter()
            .map(|(n, a)| format!("[{n:?}, {a:?}]"))
            .collect::<Vec<_>>()
            .join(", ");
        let weights = match &self.weights {
            Some(w) => format!("weights = {:?}\n", w.to_str().expect("utf-8 weights path")),
            None => String::new(),
        };
        format!(
            r#"name = {name:?}
output = {output:?}

[model]
preset = "rwclip-tiny"
{weights}device = "cpu"
text_batch_size = {text_batch}
image_batch_size = 8

[dataset]
kind = "mvtec"
root = {root:?}
[dataset.synth]
categories = ["weave", "granite"]
train_good = 0
test_good = 3
test_defective = 2
image_size = 64
seed = 0

[prompts]
pairs = [{pairs}]
word_pairs = [{words}]
min_len = 5
max_len = 10

[training]
seeds = [{seeds}]

[training.fnn]
hidden = [16]
dropout = 0.5
epochs = 1
pairs_per_batch = 16
lr = 1e-3
weight_decay = 1e-4
lr_decay = 0.1
decay_after_epochs = 1

[scoring]
temperature = 0.01
setups = ["unknown"]
object_word = "object"
"#,
            name = self.name,
            output = self.output,
            root = self.dataset_root.to_str().expect("utf-8 dataset path"),
            pairs = list(&self.pairs),
            seeds = list(&self.seeds),
            text_batch = self.text_batch_size,
        )
    }

    /// Writes `<dir>/<name>.toml`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.toml", self.name));
        std::fs::write(&path, self.toml()).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}
