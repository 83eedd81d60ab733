//! The job file: one TOML document that declares a whole rwclip run.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) so a typo such as
//! `pair = 1000` is an error naming the key instead of a silently ignored
//! setting, and [`Job::validate`] checks every value before any work
//! starts. The spec is pure data with no libtorch, so the coordinator can
//! validate jobs too.

//!
//! - [`schema`]: the tables and keys, with defaults.
//! - [`validate`]: every value checked, errors naming the key.
//! - [`location`]: path-like values (`output`, `dataset.root`,
//!   `model.weights`) parsed once into a local path or a URL.

mod location;
mod schema;
mod validate;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use location::Location;
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
        key: &'static str,
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
        location::resolve_path(&self.base_dir, Path::new(p))
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

    pub fn dataset_root(&self) -> PathBuf {
        self.resolve(&self.spec.dataset.root)
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
        spec.dataset.root = absolute(Location::Local(self.dataset_root()));
        spec.model.weights = self.weights().map(absolute);
        toml::to_string(&spec).map_err(|e| JobError::Parse {
            path: self.path.clone(),
            message: format!("cannot serialise the resolved job: {e}"),
        })
    }

    /// Parses a job received from a client (see [`Job::to_submitted_toml`]):
    /// a relative path is an error naming its key, because there is no job
    /// file directory to resolve it against.
    pub fn parse_submitted(text: &str, checks: PathChecks) -> Result<Job, JobError> {
        let job = Job::parse_with(text, Path::new("/submitted-job.toml"), checks)?;
        let relative = |p: &str| Location::parse(p).is_relative();
        let s = &job.spec;
        let bad = [
            ("output", Some(s.output.as_str())),
            ("dataset.root", Some(s.dataset.root.as_str())),
            ("model.weights", s.model.weights.as_deref()),
        ]
        .into_iter()
        .find(|(_, p)| p.is_some_and(relative));
        if let Some((key, Some(p))) = bad {
            return Err(job.invalid(
                key,
                format!("is the relative path {p:?}; submitted jobs need absolute paths (`rwclip submit` resolves them)"),
            ));
        }
        Ok(job)
    }

}
