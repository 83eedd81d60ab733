//! Turning a job file into a submission and sending it.

use std::path::Path;

use rwclip_job::DatasetKind;
use rwclip_job::synth::SynthSpec;
use rwclip_job::{Job, JobError, PathChecks};
use rwclip_job::score_job::{declared_kind, ScoreJob};
use rwclip_engine::blocking_store::BlockingStore;
use rwclip_inputs::synth;
use rwclip_proto::v1::{SubmitJobRequest, SubmitJobResponse};

use crate::error::{usage, EngineError, Result};
use crate::remote::{CoordinatorClient, RemoteError};

/// The text to submit for a validated job: each dataset is synthesised
/// first when the job asks for synthetic data and its root does not exist
/// yet (the coordinator's planner lists it), and every path is made
/// absolute so it means the same to the coordinator and the workers.
pub fn prepare_submission(job: &Job) -> Result<String> {
    for d in job.datasets() {
        let (Some(opts), Some(root)) = (&d.spec.synth, &d.root) else { continue };
        let spec = opts.to_spec();
        match root.local() {
            Some(local) if local.exists() => {}
            Some(local) => {
                synthesise(d.spec.kind, local, &spec)?;
                eprintln!("rwclip: dataset {:?}: synthesised {}-layout data at {}", d.name(), d.spec.kind.name(), local.display());
            }
            None => {
                if synthesise_into_store(d.spec.kind, &root.to_uri(), &spec)? {
                    eprintln!("rwclip: dataset {:?}: synthesised {}-layout data at {}", d.name(), d.spec.kind.name(), root.to_uri());
                }
            }
        }
    }
    Ok(job.to_submitted_toml()?)
}

fn synthesise(kind: DatasetKind, root: &Path, spec: &SynthSpec) -> Result<()> {
    match synth::write_kind(kind, root, spec) {
        Some(written) => Ok(written.map(drop)?),
        None => Err(usage(format!("a {} dataset cannot be synthesised", kind.name()))),
    }
}

/// Synthesises into an empty store prefix (written locally, then uploaded
/// through the store); `false` when the prefix already holds objects.
fn synthesise_into_store(kind: DatasetKind, uri: &str, spec: &SynthSpec) -> Result<bool> {
    let store = BlockingStore::open(uri)?;
    if !store.block_on(store.store().list(""))?.is_empty() {
        return Ok(false);
    }
    let staging = tempfile::tempdir().map_err(|e| EngineError::io("a temporary directory", e))?;
    synthesise(kind, staging.path(), spec)?;
    let mut files = Vec::new();
    collect_files(staging.path(), staging.path(), &mut files)?;
    for (key, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| EngineError::io(path.display(), e))?;
        store.put(&key, bytes.into())?;
    }
    Ok(true)
}

/// Every file under `dir` as (`/`-separated key below `base`, path), sorted.
fn collect_files(base: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| EngineError::io(dir.display(), e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| EngineError::io(dir.display(), e))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            let key = path.strip_prefix(base).expect("below base").iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((key, path));
        }
    }
    Ok(())
}

/// A job file ready to send: a sweep or a scoring job (`kind = "score"`).
pub enum Submission {
    Sweep(Job),
    Score(ScoreJob),
}

impl Submission {
    /// Reads and validates the job file at `path`, whichever kind it is.
    pub fn load(path: &Path) -> Result<Submission> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read { path: path.to_path_buf(), source })?;
        if declared_kind(&text).as_deref() == Some("score") {
            return Ok(Submission::Score(ScoreJob::parse_with(&text, path, PathChecks::Check)?));
        }
        Ok(Submission::Sweep(Job::parse(&text, path)?))
    }

    /// The text sent to the coordinator (datasets synthesised first).
    pub fn prepare(&self) -> Result<String> {
        match self {
            Submission::Sweep(job) => prepare_submission(job),
            Submission::Score(job) => Ok(job.to_submitted_toml()?),
        }
    }

    pub fn output_uri(&self) -> String {
        match self {
            Submission::Sweep(job) => job.output_uri(),
            Submission::Score(job) => job.output_uri(),
        }
    }

    pub fn device(&self) -> &str {
        match self {
            Submission::Sweep(job) => &job.spec.model.device,
            Submission::Score(job) => &job.spec.model.device,
        }
    }
}

/// Submits job text; the coordinator validates and plans it (a bad job comes
/// back as InvalidArgument naming the key).
pub async fn submit_job(client: &mut CoordinatorClient, job_toml: String) -> Result<SubmitJobResponse> {
    Ok(client
        .submit_job(SubmitJobRequest { job_toml })
        .await
        .map_err(RemoteError::rpc("SubmitJob"))?
        .into_inner())
}
