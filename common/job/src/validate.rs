//! Every value of a job checked before any work starts; each error names
//! the file and the key.

use std::collections::BTreeSet;

use crate::clip_config::ClipConfig;

use rwclip_core::Location;
use super::{parse_device_name, DatasetKind, Job, JobError, PathChecks, Setup};

impl Job {
    pub(super) fn invalid(&self, key: impl Into<String>, problem: impl Into<String>) -> JobError {
        JobError::Invalid {
            path: self.path.clone(),
            key: key.into(),
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
        if check_paths || s.plots.sentences.is_none() {
            self.sentences()?;
        }
        if s.plots.sentences.is_some() && !s.plots.sentence_lines.is_empty() {
            return Err(self.invalid("plots.sentence_lines", "is written by `rwclip submit` from `plots.sentences`; give one of them"));
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

        self.validate_datasets(check_paths)?;

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
        self.validate_setups("scoring.setups".to_string(), &sc.setups)?;
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
        if let Some(d) = first_duplicate(&sc.maps) {
            return Err(self.invalid("scoring.maps", format!("lists {d} twice")));
        }
        Ok(())
    }
}

impl Job {
    fn validate_setups(&self, key: String, setups: &[Setup]) -> Result<(), JobError> {
        if setups.is_empty() {
            return Err(self.invalid(key, "must list at least one of \"unknown\", \"known\", \"<k>-shot\""));
        }
        if let Some(d) = first_duplicate(setups) {
            return Err(self.invalid(key, format!("lists {} twice", d.label())));
        }
        Ok(())
    }

    /// One `[dataset]` or a non-empty `[[datasets]]` with unique names; each
    /// entry has the keys its kind needs and no others, and local roots
    /// exist unless they are to be synthesised.
    fn validate_datasets(&self, check_paths: bool) -> Result<(), JobError> {
        let s = &self.spec;
        match (&s.dataset, s.datasets.is_empty()) {
            (Some(_), false) => return Err(self.invalid("datasets", "cannot be combined with [dataset] (list every dataset in [[datasets]])")),
            (None, true) => return Err(self.invalid("datasets", "is missing: declare at least one [[datasets]] (or a single [dataset])")),
            _ => {}
        }
        let mut names = BTreeSet::new();
        for d in self.datasets() {
            let key = |k: &str| format!("{}.{k}", d.key);
            let name = d.name();
            if name.trim().is_empty() {
                return Err(self.invalid(key("name"), "must not be empty"));
            }
            if !names.insert(name.clone()) {
                return Err(self.invalid(key("name"), format!("{name:?} is used by two datasets; give each its own `name`")));
            }
            let spec = d.spec;
            let manifest = spec.kind == DatasetKind::Manifest;
            match (manifest, &d.root, &d.file) {
                (true, _, None) => return Err(self.invalid(key("file"), "is required for kind = \"manifest\" (the CSV or Parquet file listing the images)")),
                (true, Some(_), _) => return Err(self.invalid(key("root"), "is not used by kind = \"manifest\" (relative uris are relative to `file`)")),
                (false, None, _) => return Err(self.invalid(key("root"), format!("is required for kind = {:?}", spec.kind.name()))),
                (false, _, Some(_)) => return Err(self.invalid(key("file"), format!("is only for kind = \"manifest\", not {:?}", spec.kind.name()))),
                _ => {}
            }
            if spec.images.is_some() && spec.kind != DatasetKind::SewerMl {
                return Err(self.invalid(key("images"), "is only for kind = \"sewer-ml\""));
            }
            let location = d.root.as_ref().or(d.file.as_ref()).expect("checked above");
            let location_key = key(if manifest { "file" } else { "root" });
            if let Some(scheme) = location.scheme() {
                if scheme != "s3" && scheme != "file" {
                    return Err(self.invalid(location_key, format!("has unsupported scheme `{scheme}://` (use a local path or s3://bucket/prefix)")));
                }
            }
            if spec.synth.is_some() && manifest {
                return Err(self.invalid(key("synth"), "needs a `root` of kind mvtec, visa or sewer-ml to write to"));
            }
            if check_paths && spec.synth.is_none() {
                if let Some(local) = location.local() {
                    let ok = if manifest { local.is_file() } else { local.is_dir() };
                    if !ok {
                        let what = if manifest { "a readable file" } else { "a directory (add a synth table to synthesise one)" };
                        return Err(self.invalid(location_key, format!("{} is not {what}", local.display())));
                    }
                }
            }
            if let Some(split) = &spec.split {
                let known: &[&str] = match spec.kind {
                    DatasetKind::Mvtec => &["test"],
                    DatasetKind::Visa => &["test", "train"],
                    DatasetKind::SewerMl => &["val", "train"],
                    DatasetKind::Manifest => &[],
                };
                if !known.is_empty() && !known.contains(&split.as_str()) {
                    return Err(self.invalid(key("split"), format!("is {split:?}; {} has the splits {}", spec.kind.name(), known.join(", "))));
                }
            }
            let mut seen = BTreeSet::new();
            for c in &spec.categories {
                if c.trim().is_empty() || c.contains('/') {
                    return Err(self.invalid(key("categories"), format!("has an invalid category name {c:?}")));
                }
                if !seen.insert(c) {
                    return Err(self.invalid(key("categories"), format!("lists {c:?} twice")));
                }
            }
            if let Some(setups) = &spec.setups {
                self.validate_setups(key("setups"), setups)?;
            }
            let setups = spec.setups.as_ref().unwrap_or(&s.scoring.setups);
            let few_shot = setups.iter().find(|x| x.shots().is_some());
            if let (Some(k), DatasetKind::SewerMl | DatasetKind::Manifest) = (few_shot, spec.kind) {
                return Err(self.invalid(
                    key("setups"),
                    format!("{} needs normal reference images, which {} datasets do not have; set this dataset's `setups` without it", k.label(), spec.kind.name()),
                ));
            }
        }
        Ok(())
    }
}

/// The first value that occurs twice, for "lists X twice" messages.
fn first_duplicate<T: Ord>(values: &[T]) -> Option<&T> {
    let mut seen = BTreeSet::new();
    values.iter().find(|v| !seen.insert(*v))
}
