//! The job file: one TOML document that declares a whole rwclip run.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) so a typo such as
//! `pair = 1000` is an error naming the key instead of a silently ignored
//! setting, and [`Job::validate`] checks every value before any work
//! starts. The spec is pure data with no libtorch, so the coordinator can
//! validate jobs too.

//!
//! Holds what a job says and how it is checked: the sweep job file
//! ([`schema`], [`validate`]), the scoring job file ([`score_job`]) and its
//! frame [`sampling`], the model and FNN settings ([`clip_config`],
//! [`fnn_config`], [`Precision`]), the prompt generator ([`prompts`]), map
//! methods, detectors' metadata, the dataset layouts a job can name and the
//! synthetic-data spec.
//!
//! Does not belong here: anything that reads a store or a dataset
//! (`rwclip-datasets`), turns a job into shards (`rwclip-plan`) or runs one.
//! This crate links no async runtime and no object store, so every layer
//! (and the coordinator) can parse and validate jobs; a layering check in
//! `make test` keeps it so.

pub mod clip_config;
mod dataset_kind;
mod dataset_spec;
pub mod detector;
pub mod fnn_config;
pub mod map_method;
mod precision;
pub mod prompts;
pub mod sampling;
mod schema;
pub mod score_job;
mod setup;
pub mod synth;
mod validate;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use dataset_kind::DatasetKind;
pub use precision::Precision;
pub use rwclip_core::location::{resolve_path, split_file_uri, Location};
pub use score_job::{declared_kind, ScoreJob, ScoreJobSpec, MAX_SCORE_SHARDS};
pub use schema::*;

/// Why a job file was rejected. Every variant names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read job file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("job file {path} is not a valid job: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("job file {path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

/// Whether validation checks that the files a job names exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathChecks {
    Check,
    Skip,
}

/// A validated job plus the directory its relative paths are resolved from.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: JobSpec,
    pub path: PathBuf,
    pub base_dir: PathBuf,
}

impl Job {
    /// Reads, parses and validates a job file.
    pub fn load(path: &Path) -> Result<Job, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Job::parse(&text, path)
    }

    /// Parses and validates job text; `path` is used for messages and for
    /// resolving relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Job, JobError> {
        Job::parse_with(text, path, PathChecks::Check)
    }

    /// [`Job::parse`], optionally without checking that the weights file and
    /// dataset root exist (planning a job for another machine, documentation
    /// examples such as `examples/paper.toml`).
    pub fn parse_with(text: &str, path: &Path, checks: PathChecks) -> Result<Job, JobError> {
        let spec: JobSpec = toml::from_str(text).map_err(|e| JobError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let job = Job {
            spec,
            path: path.to_path_buf(),
            base_dir,
        };
        job.validate_with(checks)?;
        Ok(job)
    }

    /// A path from the job file, resolved against the job file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        resolve_path(&self.base_dir, Path::new(p))
    }

    /// `output`, relative paths resolved against the job file's directory.
    pub fn output(&self) -> Location {
        Location::parse(&self.spec.output).resolved_against(&self.base_dir)
    }

    /// `model.weights` likewise; `None` for random init.
    pub fn weights(&self) -> Option<Location> {
        let w = self.spec.model.weights.as_deref()?;
        Some(Location::parse(w).resolved_against(&self.base_dir))
    }

    /// The output location as a store URI.
    pub fn output_uri(&self) -> String {
        self.output().to_uri()
    }

    /// The datasets, in file order: `[[datasets]]`, or the single
    /// `[dataset]` as a one-element list.
    pub fn datasets(&self) -> Vec<JobDataset<'_>> {
        let list: Vec<&DatasetSpec> = match &self.spec.dataset {
            Some(d) => vec![d],
            None => self.spec.datasets.iter().collect(),
        };
        let single = self.spec.dataset.is_some();
        list.into_iter()
            .enumerate()
            .map(|(index, spec)| JobDataset {
                key: if single { "dataset".to_string() } else { format!("datasets[{index}]") },
                root: spec.root.as_deref().map(|r| Location::parse(r).resolved_against(&self.base_dir)),
                file: spec.file.as_deref().map(|f| Location::parse(f).resolved_against(&self.base_dir)),
                spec,
            })
            .collect()
    }

    /// The weights as a local path; `None` for random init or an `s3://` URI.
    pub fn weights_path(&self) -> Option<PathBuf> {
        self.weights()?.local().map(Path::to_path_buf)
    }

    /// The weights as workers load them: an `s3://` URI as written (fetched
    /// through the store), a local path resolved; `None` for random init.
    pub fn weights_uri(&self) -> Option<String> {
        self.weights().map(|w| w.to_uri())
    }

    /// `[plots] sentences`: the file's non-empty lines, or the lines a
    /// submitted job carries. An error names the file and line at fault.
    pub fn sentences(&self) -> Result<Vec<String>, JobError> {
        let (key, origin, lines): (&str, String, Vec<String>) = match self.spec.plots.sentences.as_deref() {
            None => ("plots.sentence_lines", "sentence".to_string(), self.spec.plots.sentence_lines.clone()),
            Some(file) => {
                let location = Location::parse(file).resolved_against(&self.base_dir);
                let Some(path) = location.local() else {
                    return Err(self.invalid("plots.sentences", format!("is {file:?}; it must be a local file (it is read when the job is loaded)")));
                };
                let bytes = std::fs::read(path).map_err(|e| self.invalid("plots.sentences", format!("cannot read {}: {e}", path.display())))?;
                let text = String::from_utf8(bytes).map_err(|e| self.invalid("plots.sentences", format!("{} is not UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to())))?;
                ("plots.sentences", format!("{} line", path.display()), text.lines().map(str::to_string).collect())
            }
        };
        let mut kept = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.chars().count() > MAX_SENTENCE_CHARS {
                return Err(self.invalid(key, format!("{origin} {}: longer than {MAX_SENTENCE_CHARS} characters", n + 1)));
            }
            kept.push(line.to_string());
        }
        if kept.len() > MAX_SENTENCES {
            return Err(self.invalid(key, format!("{} sentences; at most {MAX_SENTENCES}", kept.len())));
        }
        Ok(kept)
    }

    /// The job as sent to a coordinator: the same spec with every path made
    /// absolute (resolved against the job file's directory and the current
    /// directory), so it means the same on every machine that shares those
    /// paths. Parse it back with [`Job::parse_submitted`].
    pub fn to_submitted_toml(&self) -> Result<String, JobError> {
        let cwd = std::env::current_dir().map_err(|source| JobError::Read {
            path: self.path.clone(),
            source,
        })?;
        // The job file's directory may itself be relative to the current one.
        let absolute = |l: Location| l.resolved_against(&cwd).to_uri();
        let mut spec = self.spec.clone();
        spec.output = absolute(self.output());
        let resolved: Vec<(Option<String>, Option<String>)> =
            self.datasets().iter().map(|d| (d.root.clone().map(absolute), d.file.clone().map(absolute))).collect();
        let specs: Vec<&mut DatasetSpec> = match &mut spec.dataset {
            Some(d) => vec![d],
            None => spec.datasets.iter_mut().collect(),
        };
        for (d, (root, file)) in specs.into_iter().zip(resolved) {
            d.root = root;
            d.file = file;
        }
        spec.model.weights = self.weights().map(absolute);
        if spec.plots.sentences.is_some() {
            spec.plots.sentence_lines = self.sentences()?;
            spec.plots.sentences = None;
        }
        toml::to_string(&spec).map_err(|e| JobError::Parse {
            path: self.path.clone(),
            message: format!("cannot serialise the resolved job: {e}"),
        })
    }

    /// Parses a job received from a client (see [`Job::to_submitted_toml`]):
    /// a relative path is an error naming its key, because there is no job
    /// file directory to resolve it against.
    pub fn parse_submitted(text: &str, checks: PathChecks) -> Result<Job, JobError> {
        let path = Path::new("/submitted-job.toml");
        // The coordinator never reads a file a client names (validation
        // would): sentences travel as lines.
        if toml::from_str::<JobSpec>(text).is_ok_and(|s| s.plots.sentences.is_some()) {
            return Err(JobError::Invalid {
                path: path.to_path_buf(),
                key: "plots.sentences".to_string(),
                problem: "is a file name; a submitted job carries its lines as `plots.sentence_lines` (`rwclip submit` reads the file)".to_string(),
            });
        }
        let job = Job::parse_with(text, path, checks)?;
        let relative = |p: &str| Location::parse(p).is_relative();
        let s = &job.spec;
        let mut paths = vec![("output".to_string(), Some(s.output.as_str())), ("model.weights".to_string(), s.model.weights.as_deref())];
        for d in job.datasets() {
            paths.push((format!("{}.root", d.key), d.spec.root.as_deref()));
            paths.push((format!("{}.file", d.key), d.spec.file.as_deref()));
        }
        let bad = paths.into_iter().find(|(_, p)| p.is_some_and(relative));
        if let Some((key, Some(p))) = bad {
            return Err(job.invalid(
                key,
                format!("is the relative path {p:?}; submitted jobs need absolute paths (`rwclip submit` resolves them)"),
            ));
        }
        Ok(job)
    }
}

/// One dataset of a job, its locations resolved against the job file's
/// directory.
#[derive(Debug, Clone)]
pub struct JobDataset<'a> {
    pub spec: &'a DatasetSpec,
    /// `dataset` or `datasets[i]`: the table errors name.
    pub key: String,
    pub root: Option<Location>,
    pub file: Option<Location>,
}

impl JobDataset<'_> {
    pub fn name(&self) -> String {
        self.spec.display_name()
    }

    /// The store the dataset is listed and read through, and for a manifest
    /// the manifest's key in it: the manifest's folder, so relative `uri`s
    /// are keys of the same store.
    pub fn store_uri_and_file(&self) -> (String, Option<String>) {
        match (&self.root, &self.file) {
            (_, Some(file)) => {
                let (folder, name) = split_file_uri(&file.to_uri());
                (folder, Some(name))
            }
            (Some(root), None) => (root.to_uri(), None),
            (None, None) => (".".to_string(), None),
        }
    }

    /// The local root, when the dataset is a local directory.
    pub fn local_root(&self) -> Option<&Path> {
        self.root.as_ref().and_then(Location::local)
    }
}
