//! Prost messages <-> domain types, at the edge; errors name the field.

use rwclip_store::retry::StoreHealth;
use rwclip_core::failure::{FailureClass, ShardFailure};
use rwclip_plan::{AttemptId, JobId, ShardId, ShardKind};
use rwclip_store::shard_store::Manifest;
use rwclip_proto::v1 as pb;
use tonic::Status;

use crate::scheduler::{JobOutcome, JobView, LeaseGrant, WorkerRegistration, ReportAck, SchedulerError, WorkerId, WorkerView};

pub fn kind_to_proto(kind: ShardKind) -> pb::ShardKind {
    match kind {
        ShardKind::TextEmbedding => pb::ShardKind::TextEmbedding,
        ShardKind::ImageEmbedding => pb::ShardKind::ImageEmbedding,
        ShardKind::Trial => pb::ShardKind::Trial,
        ShardKind::Aggregate => pb::ShardKind::Aggregate,
        ShardKind::Score => pb::ShardKind::Score,
        ShardKind::ContactSheet => pb::ShardKind::ContactSheet,
    }
}

pub fn kind_from_proto(value: i32) -> Result<ShardKind, Status> {
    match pb::ShardKind::try_from(value) {
        Ok(pb::ShardKind::TextEmbedding) => Ok(ShardKind::TextEmbedding),
        Ok(pb::ShardKind::ImageEmbedding) => Ok(ShardKind::ImageEmbedding),
        Ok(pb::ShardKind::Trial) => Ok(ShardKind::Trial),
        Ok(pb::ShardKind::Aggregate) => Ok(ShardKind::Aggregate),
        Ok(pb::ShardKind::Score) => Ok(ShardKind::Score),
        Ok(pb::ShardKind::ContactSheet) => Ok(ShardKind::ContactSheet),
        _ => Err(Status::invalid_argument(format!("field `kind`: unknown shard kind {value}"))),
    }
}

fn non_empty<'a>(field: &str, value: &'a str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("field `{field}` is empty")))
    } else {
        Ok(value)
    }
}

pub fn job_id(field: &str, value: &str) -> Result<JobId, Status> {
    non_empty(field, value).map(|v| JobId(v.to_string()))
}

pub fn worker_id(value: &str) -> Result<WorkerId, Status> {
    non_empty("worker_id", value).map(|v| WorkerId(v.to_string()))
}

pub fn attempt_id(field: &str, value: &str) -> Result<AttemptId, Status> {
    non_empty(field, value).map(|v| AttemptId(v.to_string()))
}

impl TryFrom<pb::RegisterWorkerRequest> for WorkerRegistration {
    type Error = Status;
    fn try_from(r: pb::RegisterWorkerRequest) -> Result<Self, Status> {
        Ok(WorkerRegistration {
            protocol_version: r.protocol_version,
            name: non_empty("worker_name", &r.worker_name)?.to_string(),
            device: non_empty("device", &r.device)?.to_string(),
            capacity: r.capacity,
            loaded_models: r.loaded_models,
        })
    }
}

pub fn class_to_proto(class: FailureClass) -> pb::FailureClass {
    match class {
        FailureClass::Retryable => pb::FailureClass::Retryable,
        FailureClass::BadInput => pb::FailureClass::BadInput,
        FailureClass::LostDependency => pb::FailureClass::LostDependency,
        FailureClass::HandedBack => pb::FailureClass::HandedBack,
        FailureClass::Internal => pb::FailureClass::Internal,
    }
}

pub fn failure(r: pb::FailShardRequest) -> Result<ShardFailure, Status> {
    let class = match pb::FailureClass::try_from(r.failure_class) {
        Ok(pb::FailureClass::Retryable) => FailureClass::Retryable,
        Ok(pb::FailureClass::BadInput) => FailureClass::BadInput,
        Ok(pb::FailureClass::LostDependency) => FailureClass::LostDependency,
        Ok(pb::FailureClass::HandedBack) => FailureClass::HandedBack,
        Ok(pb::FailureClass::Internal) => FailureClass::Internal,
        Ok(pb::FailureClass::Unspecified) | Err(_) => {
            return Err(Status::invalid_argument(format!(
                "field `failure_class`: {} is not a failure class (retryable, bad input, lost dependency, handed back, internal)",
                r.failure_class
            )))
        }
    };
    let missing_dependencies = r.missing_dependencies.into_iter().map(ShardId).collect();
    Ok(ShardFailure { class, reason: r.reason, missing_dependencies })
}

pub fn manifest(json: &str) -> Result<Manifest, Status> {
    serde_json::from_str(json)
        .map_err(|e| Status::invalid_argument(format!("field `manifest_json`: {e}")))
}

pub fn job_status(view: &JobView) -> pb::JobStatus {
    let (state, reason) = match &view.outcome {
        None => (pb::JobState::Running, String::new()),
        Some(JobOutcome::Succeeded) => (pb::JobState::Succeeded, String::new()),
        Some(JobOutcome::Failed(r)) => (pb::JobState::Failed, r.clone()),
        Some(JobOutcome::Cancelled) => (pb::JobState::Cancelled, "cancelled".to_string()),
    };
    pb::JobStatus {
        job_id: view.id.0.clone(),
        state: state as i32,
        shards_total: view.total as u32,
        shards_committed: view.committed as u32,
        shards_running: view.running as u32,
        shards_failed: view.failures.len() as u32,
        failures: view
            .failures
            .iter()
            .map(|f| pb::ShardReport {
                shard_id: f.shard.0.clone(),
                kind: kind_to_proto(f.kind) as i32,
                attempts: f.attempts,
                last_reason: f.last_reason.clone(),
                failure_class: f.class.map_or(pb::FailureClass::Unspecified, class_to_proto) as i32,
            })
            .collect(),
        reason,
        stages: view
            .stages
            .iter()
            .map(|s| pb::StageProgress {
                kind: kind_to_proto(s.kind) as i32,
                total: s.total as u32,
                committed: s.committed as u32,
                running: s.running as u32,
                failed: s.failed as u32,
                items_done: s.items_done,
            })
            .collect(),
        name: view.name.clone(),
        output_uri: view.output_uri.clone(),
        store: view.store.clone().unwrap_or_default(),
    }
}

/// A worker's store calls as its heartbeat tells them.
pub fn store_health(r: &pb::HeartbeatRequest) -> StoreHealth {
    let calls = |list: &[pb::StoreCalls]| list.iter().map(|c| ((c.operation.clone(), c.cause.clone()), c.count)).collect();
    StoreHealth {
        retries: calls(&r.store_retries),
        errors: calls(&r.store_gave_up),
        failing_calls: r.store_failing_calls,
        failing_for: (r.store_failing_calls > 0).then(|| std::time::Duration::from_millis(r.store_failing_ms)),
    }
}

pub fn lease(grant: LeaseGrant) -> pb::Lease {
    pb::Lease {
        job_id: grant.job.0,
        shard_id: grant.shard.0,
        attempt_id: grant.attempt.0,
        kind: kind_to_proto(grant.kind) as i32,
        spec_json: grant.spec_json,
        dep_manifest_keys: grant.dep_manifest_keys,
        model_key: grant.model_key,
    }
}

pub fn worker_status(w: &WorkerView) -> pb::WorkerStatus {
    pb::WorkerStatus {
        worker_id: w.id.0.clone(),
        name: w.name.clone(),
        device: w.device.clone(),
        capacity: w.capacity as u32,
        shards: w.shards.iter().map(|s| s.0.clone()).collect(),
        last_heartbeat_ms_ago: w.since_heartbeat.as_millis() as u64,
        loaded_models: w.loaded_models.clone(),
    }
}

pub fn ack(ack: ReportAck) -> pb::ReportAck {
    match ack {
        ReportAck::Accepted => pb::ReportAck { accepted: true, note: String::new() },
        ReportAck::Ignored(note) => pb::ReportAck { accepted: false, note },
    }
}

impl From<SchedulerError> for Status {
    fn from(e: SchedulerError) -> Status {
        let msg = e.to_string();
        match e {
            SchedulerError::ProtocolMismatch { .. } => Status::failed_precondition(msg),
            SchedulerError::UnknownWorker(_) | SchedulerError::UnknownJob(_) => Status::not_found(msg),
            SchedulerError::InvalidPlan(_) | SchedulerError::InvalidJob(_) | SchedulerError::InvalidRequest(_) => {
                Status::invalid_argument(msg)
            }
            SchedulerError::Store(_) | SchedulerError::Stopped => Status::unavailable(msg),
        }
    }
}
