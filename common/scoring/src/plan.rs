//! A scoring job → its shards: one score shard per row range of the input
//! (see [`super::input`]), the contact sheet of the best-scored images (a
//! worker draws it: it decodes images), then the summary, which the
//! coordinator runs.

use std::collections::BTreeSet;

use serde::Serialize;

use rwclip_store::{Store, StoreError};
use rwclip_job::detector::DetectorInfo;
use rwclip_core::Location;
use rwclip_core::hash::content_hash;
use rwclip_plan::{ContactSheetSpec, JobId, ModelRef, PlannedShard, ScoreShardSpec, ScoreSummarySpec, ShardId, ShardSpec};

use crate::input::{split_csv, split_keys, split_parquet, InputError, InputShard, VideoCut};
use rwclip_job::score_job::{ScoreJob, MAX_SCORE_SHARDS};

#[derive(Debug, thiserror::Error)]
pub enum ScorePlanError {
    #[error("job {job}: `detector` {uri}: {message}")]
    Detector { job: String, uri: String, message: String },
    #[error("job {job}: `input`: {source}")]
    Input { job: String, source: InputError },
    #[error("job {job}: `input` {uri} does not exist")]
    MissingInput { job: String, uri: String },
    #[error("cannot start a runtime to plan: {message}")]
    Runtime { message: String },
}

/// A planned scoring job.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePlan {
    pub job: JobId,
    pub shards: Vec<PlannedShard>,
    pub rows: u64,
}

/// The detector metadata from a detector file's safetensors header (the
/// coordinator reads it without a tensor library).
pub fn read_detector_header(bytes: &[u8]) -> Result<DetectorInfo, String> {
    let len = bytes.get(..8).ok_or("shorter than a safetensors header")?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
    let header = bytes.get(8..8usize.saturating_add(len)).ok_or("its header is cut short")?;
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| format!("its header is not JSON: {e}"))?;
    let fnn = header["__metadata__"]["fnn"].as_str().ok_or("not an FNN checkpoint (no __metadata__.fnn)")?;
    let fnn: serde_json::Value = serde_json::from_str(fnn).map_err(|e| format!("__metadata__.fnn is not JSON: {e}"))?;
    let detector = fnn.get("detector").ok_or("an FNN checkpoint without detector metadata")?;
    serde_json::from_value(detector.clone()).map_err(|e| format!("its detector metadata is invalid: {e}"))
}

fn open_parent(uri: &str) -> Result<(Store, String), StoreError> {
    let (parent, name) = rwclip_core::split_file_uri(uri);
    Ok((Store::open(&parent)?, name))
}

/// Plans `job`: reads the detector's header and streams the input once.
pub async fn plan_score_async(job: &ScoreJob) -> Result<ScorePlan, ScorePlanError> {
    let name = job.path.display().to_string();
    let detector_uri = job.detector().to_uri();
    let detector_error = |message: String| ScorePlanError::Detector { job: name.clone(), uri: detector_uri.clone(), message };
    let (store, file) = open_parent(&detector_uri).map_err(|e| detector_error(e.to_string()))?;
    let bytes = store.get(&file).await.map_err(|e| detector_error(e.to_string()))?;
    let info = read_detector_header(&bytes).map_err(detector_error)?;
    let detector_digest = content_hash(&bytes);
    let model = ModelRef { precision: job.precision(), ..ModelRef::new(info.clip_preset.clone(), job.weights().map(|w| w.to_uri())) };
    let batch = job.spec.model.image_batch_size as u64;
    // Shards hold whole batches, so a row's batch never depends on sharding.
    let per = job.spec.rows_per_shard.div_ceil(batch) * batch;
    let input = job.input();
    let mut inputs: Vec<InputShard> = Vec::new();
    let input_error = |source| ScorePlanError::Input { job: name.clone(), source };
    let lower = input.to_uri().to_ascii_lowercase();
    // A video's shards hold whole blocks of `batch` ticks, the frames' batches.
    let videos = VideoCut { sampling: job.spec.sampling, frames_per_shard: job.spec.frames_per_shard.div_ceil(batch) * batch };
    let rows = if lower.ends_with(".csv") || lower.ends_with(".parquet") {
        let (store, file) = open_parent(&input.to_uri()).map_err(|e| input_error(InputError::Store { uri: input.to_uri(), source: e }))?;
        if lower.ends_with(".csv") {
            split_csv(&store, &file, per, MAX_SCORE_SHARDS, videos, |s| inputs.push(s)).await.map_err(input_error)?
        } else {
            split_parquet(&store, &file, per, MAX_SCORE_SHARDS, videos, |s| inputs.push(s)).await.map_err(input_error)?
        }
    } else {
        if let Location::Local(p) = &input {
            if !p.is_dir() {
                return Err(ScorePlanError::MissingInput { job: name.clone(), uri: input.to_uri() });
            }
        }
        let store = Store::open(&input.to_uri()).map_err(|e| input_error(InputError::Store { uri: input.to_uri(), source: e }))?;
        split_keys(&store, per, MAX_SCORE_SHARDS, videos, |s| inputs.push(s)).await.map_err(input_error)?
    };
    let has_videos = inputs.iter().any(|i| matches!(i.range, crate::input::InputRange::Video { .. }));
    let mut shards = Vec::with_capacity(inputs.len() + 1);
    let mut seen = BTreeSet::new();
    let mut ids: Vec<ShardId> = Vec::with_capacity(inputs.len());
    let root = inputs.first().map(|i| i.range.root().to_string());
    for input in inputs {
        let spec = ShardSpec::Score(ScoreShardSpec {
            model: model.clone(),
            detector: detector_uri.clone(),
            detector_digest: detector_digest.clone(),
            input,
            batch_size: job.spec.model.image_batch_size,
            maps: job.spec.maps,
            sampling: job.spec.sampling,
        });
        let id = spec.id();
        if seen.insert(id.clone()) {
            shards.push(PlannedShard { id: id.clone(), kind: spec.kind(), deps: Vec::new(), model_key: Some(model.key()), spec_json: spec.to_json() });
        }
        ids.push(id);
    }
    let what = if has_videos { "images and videos" } else { "images" };
    let title = format!("{}: {} {what} of {} scored with {}", job.spec.name, rows, input.to_uri(), detector_uri);
    let images = job.spec.contact_sheet.min(job.spec.top_k);
    let contact_sheet = match root {
        Some(root) if images > 0 => {
            let sheet = ShardSpec::ContactSheet(ContactSheetSpec { title: title.clone(), shards: ids.clone(), root, images, sampling: job.spec.sampling });
            let id = sheet.id();
            shards.push(PlannedShard { id: id.clone(), kind: sheet.kind(), deps: sheet.deps(), model_key: None, spec_json: sheet.to_json() });
            Some(id)
        }
        _ => None,
    };
    let summary = ShardSpec::ScoreSummary(ScoreSummarySpec { title, shards: ids, top_k: job.spec.top_k, rows, contact_sheet });
    let summary_id = summary.id();
    shards.push(PlannedShard { id: summary_id.clone(), kind: summary.kind(), deps: summary.deps(), model_key: None, spec_json: summary.to_json() });
    // The summary's id covers every shard's digest: a changed archive at
    // the same URI is a new job.
    Ok(ScorePlan { job: job_id(job, &summary_id), shards, rows })
}

/// [`plan_score_async`] from synchronous code (the coordinator plans on a
/// blocking thread).
pub fn plan_score(job: &ScoreJob) -> Result<ScorePlan, ScorePlanError> {
    rwclip_store::block_on_here(plan_score_async(job)).map_err(|message| ScorePlanError::Runtime { message })?
}

fn job_id(job: &ScoreJob, summary: &ShardId) -> JobId {
    #[derive(Serialize)]
    struct Normalised<'a> {
        spec: &'a rwclip_job::score_job::ScoreJobSpec,
        output: String,
        detector: String,
        input: String,
        summary: &'a ShardId,
    }
    let n = Normalised { spec: &job.spec, output: job.output_uri(), detector: job.detector().to_uri(), input: job.input().to_uri(), summary };
    JobId(format!("job-{}", content_hash(serde_json::to_string(&n).expect("plain data").as_bytes())))
}
