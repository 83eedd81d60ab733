//! `/api/...`: the JSON the dashboard is drawn from, for scripts too.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rwclip_artifacts::Store;
use rwclip_plan::JobId;
use serde_json::{json, Value};

use super::auth::{authorized, refused};
use super::HttpState;
use crate::scheduler::{JobOutcome, JobView, SchedulerError, SchedulerEvent, WorkerView};

pub fn state_label(outcome: &Option<JobOutcome>) -> &'static str {
    match outcome {
        None => "running",
        Some(JobOutcome::Succeeded) => "succeeded",
        Some(JobOutcome::Failed(_)) => "failed",
        Some(JobOutcome::Cancelled) => "cancelled",
    }
}

/// One job as JSON; `detail` adds failures and the results' markdown.
pub fn job_json(v: &JobView, detail: bool) -> Value {
    let mut out = json!({
        "id": v.id.0,
        "name": v.name,
        "state": state_label(&v.outcome),
        "reason": match &v.outcome { Some(JobOutcome::Failed(r)) => r.clone(), _ => String::new() },
        "output": v.output_uri,
        "store": v.store,
        "shards": { "total": v.total, "committed": v.committed, "running": v.running, "failed": v.failures.len() },
        "stages": v.stages.iter().map(|s| json!({
            "kind": s.kind.stage_name(), "total": s.total, "committed": s.committed, "running": s.running, "failed": s.failed,
            "items_done": s.items_done,
        })).collect::<Vec<_>>(),
    });
    if detail {
        out["failures"] = v
            .failures
            .iter()
            .map(|f| json!({
                "shard": f.shard.0, "kind": f.kind.stage_name(), "attempts": f.attempts, "reason": f.last_reason,
                "class": f.class.map(|c| c.label()),
            }))
            .collect();
        out["results"] = match &v.results {
            Some(r) => json!({ "uri": r.uri, "markdown": r.markdown, "plots": r.plots }),
            None => Value::Null,
        };
    }
    out
}

pub fn worker_json(w: &WorkerView) -> Value {
    json!({
        "id": w.id.0, "name": w.name, "device": w.device, "capacity": w.capacity,
        "shards": w.shards.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        "last_heartbeat_s": w.since_heartbeat.as_secs_f64(), "loaded_models": w.loaded_models,
    })
}

fn error(e: SchedulerError) -> Response {
    let status = match e {
        SchedulerError::UnknownJob(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

pub async fn jobs(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return refused(false);
    }
    match state.scheduler.ask(|reply| SchedulerEvent::ListJobs { reply }).await {
        Ok(views) => Json(json!({ "jobs": views.iter().map(|v| job_json(v, false)).collect::<Vec<_>>() })).into_response(),
        Err(e) => error(e),
    }
}

pub async fn job(State(state): State<HttpState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&state, &headers) {
        return refused(false);
    }
    let job = JobId(id);
    match state.scheduler.ask(|reply| SchedulerEvent::GetJob { job, reply }).await {
        Ok(view) => Json(job_json(&view, true)).into_response(),
        Err(e) => error(e),
    }
}

/// A figure a finished job published (only those its results list), read
/// from the job's output location.
pub async fn figure(State(state): State<HttpState>, headers: HeaderMap, Path((id, name)): Path<(String, String)>) -> Response {
    if !authorized(&state, &headers) {
        return refused(false);
    }
    let job = JobId(id);
    let view = match state.scheduler.ask(|reply| SchedulerEvent::GetJob { job, reply }).await {
        Ok(view) => view,
        Err(e) => return error(e),
    };
    let Some(results) = view.results.as_ref().filter(|r| r.plots.contains(&name)) else {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("job {} published no figure {name:?}", view.id) }))).into_response();
    };
    let bytes = match Store::open(&results.uri) {
        Ok(store) => store.get(&name).await,
        Err(e) => Err(e),
    };
    match bytes {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], bytes).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

pub async fn workers(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return refused(false);
    }
    match state.scheduler.ask(|reply| SchedulerEvent::ListWorkers { reply }).await {
        Ok(workers) => Json(json!({ "workers": workers.iter().map(worker_json).collect::<Vec<_>>() })).into_response(),
        Err(e) => error(e),
    }
}
