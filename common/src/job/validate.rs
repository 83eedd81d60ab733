//! Every value of a job checked before any work starts; each error names
//! the file and the key.

use std::collections::BTreeSet;

use crate::clip_config::ClipConfig;

use super::location::Location;
use super::{parse_device_name, Job, JobError, PathChecks};

impl Job {
    pub(super) fn invalid(&self, key: &'static str, problem: impl Into<String>) -> JobError {
        JobError::Invalid {
            path: self.path.clone(),
            key,
            problem: problem.into(),
        }
    }

    /// The sweep grids of `[prompts]`: non-empty, no zero Np, no duplicates,
    /// one way of giving the words.
    fn validate_prompts(&self) -> Result<(), JobError> {
        let p = &self.spec.prompts;
        let counts = p.pair_counts();
        if counts.is_empty() {
            return Err(self.invalid("prompts.pairs", "must list at least one prompt-pair count"));
        }
        if counts.contains(&0) {
            return Err(self.invalid("prompts.pairs", "must be at least 1"));
        }
        if let Some(d) = first_duplicate(&counts) {
            return Err(self.invalid("prompts.pairs", format!("lists {d} twice")));
        }
        if p.word_pairs.is_some() && (p.normal_word.is_some() || p.anomaly_word.is_some()) {
            return Err(self.invalid(
                "prompts.word_pairs",
                "cannot be combined with normal_word / anomaly_word (put every pair in word_pairs)",
            ));
        }
        let words = p.word_pairs();
        if words.is_empty() {
            return Err(self.invalid("prompts.word_pairs", "must list at least one [normal, anomaly] pair"));
        }
        if let Some(d) = first_duplicate(&words) {
            return Err(self.invalid(
                "prompts.word_pairs",
                format!("lists [{:?}, {:?}] twice", d.normal, d.anomaly),
            ));
        }
        let key = if p.word_pairs.is_some() { "prompts.word_pairs" } else { "prompts" };
        for w in &words {
            p.generator(0, w).validate().map_err(|e| self.invalid(key, e.to_string()))?;
        }
        Ok(())
    }

    /// Checks every value that can be checked without doing the work.
    pub fn validate(&self) -> Result<(), JobError> {
        self.validate_with(PathChecks::Check)
    }

    pub fn validate_with(&self, checks: PathChecks) -> Result<(), JobError> {
        let s = &self.spec;
        let check_paths = checks == PathChecks::Check;
        if s.name.trim().is_empty() {
            return Err(self.invalid("name", "must not be empty"));
        }
        if s.output.trim().is_empty() {
            return Err(self.invalid("output", "must not be empty"));
        }
        if let Some(scheme) = Location::parse(&s.output).scheme() {
            if scheme != "s3" && scheme != "file" {
                return Err(self.invalid(
                    "output",
                    format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/prefix)"),
                ));
            }
        }

        ClipConfig::preset(&s.model.preset).map_err(|e| self.invalid("model.preset", e.to_string()))?;
        if let Some(scheme) = self.weights().as_ref().and_then(Location::scheme) {
            if scheme != "s3" {
                return Err(self.invalid(
                    "model.weights",
                    format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/key)"),
                ));
            }
        }
        if let Some(w) = self.weights_path().filter(|_| check_paths) {
            if !w.is_file() {
                return Err(self.invalid(
                    "model.weights",
                    format!("points to {} which is not a readable file", w.display()),
                ));
            }
        }
        parse_device_name(&s.model.device).map_err(|p| self.invalid("model.device", p))?;
        if s.model.text_batch_size == 0 {
            return Err(self.invalid("model.text_batch_size", "must be at least 1"));
        }
        if s.model.image_batch_size == 0 {
            return Err(self.invalid("model.image_batch_size", "must be at least 1"));
        }

        let root = self.dataset_root();
        if check_paths && s.dataset.synth.is_none() && !root.is_dir() {
            return Err(self.invalid(
                "dataset.root",
                format!("{} is not a directory (add [dataset.synth] to synthesise one)", root.display()),
            ));
        }
        let mut seen = BTreeSet::new();
        for c in &s.dataset.categories {
            if c.trim().is_empty() || c.contains('/') {
                return Err(self.invalid("dataset.categories", format!("has an invalid category name {c:?}")));
            }
            if !seen.insert(c) {
                return Err(self.invalid("dataset.categories", format!("lists {c:?} twice")));
            }
        }

        self.validate_prompts()?;

        let t = &s.training;
        if t.seeds.is_empty() {
            return Err(self.invalid("training.seeds", "must list at least one seed"));
        }
        let unique: BTreeSet<_> = t.seeds.iter().collect();
        if unique.len() != t.seeds.len() {
            return Err(self.invalid("training.seeds", "lists a seed twice"));
        }
        t.fnn.validate().map_err(|e| self.invalid("training.fnn", e.to_string()))?;

        let sc = &s.scoring;
        if !(sc.temperature > 0.0 && sc.temperature.is_finite()) {
            return Err(self.invalid("scoring.temperature", "must be a positive number"));
        }
        if sc.setups.is_empty() {
            return Err(self.invalid("scoring.setups", "must list at least one of \"unknown\", \"known\""));
        }
        if let Some(d) = first_duplicate(&sc.setups) {
            return Err(self.invalid("scoring.setups", format!("lists {} twice", d.label())));
        }
        let crops = sc.multi_crop.values();
        if crops.is_empty() {
            return Err(self.invalid("scoring.multi_crop", "must be true, false or a non-empty list of them"));
        }
        if let Some(d) = first_duplicate(&crops) {
            return Err(self.invalid("scoring.multi_crop", format!("lists {d} twice")));
        }
        if sc.object_word.trim().is_empty() {
            return Err(self.invalid("scoring.object_word", "must not be empty"));
        }
        Ok(())
    }
}

/// The first value that occurs twice, for "lists X twice" messages.
fn first_duplicate<T: Ord>(values: &[T]) -> Option<&T> {
    let mut seen = BTreeSet::new();
    values.iter().find(|v| !seen.insert(*v))
}
