//! `/metrics` in Prometheus text format (version 0.0.4), names prefixed
//! `rwclip_`. Throughput is a counter (`rate(rwclip_images_total[1m])` is
//! images per second), as Prometheus expects.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::state_label;
use super::auth::{authorized, refused};
use super::HttpState;
use crate::scheduler::{MetricsSnapshot, SchedulerEvent};
use crate::metrics::RpcMetrics;

pub async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return refused(false);
    }
    match state.scheduler.ask(|reply| SchedulerEvent::Metrics { reply }).await {
        Ok(snapshot) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(&snapshot, &state.rpc)).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub fn render(s: &MetricsSnapshot, rpc: &RpcMetrics) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };

    family(&mut out, "rwclip_jobs", "gauge", "Jobs the coordinator knows, by state.");
    let mut by_state: BTreeMap<&str, usize> = ["running", "succeeded", "failed", "cancelled"].into_iter().map(|k| (k, 0)).collect();
    for j in &s.jobs {
        *by_state.entry(state_label(&j.outcome)).or_default() += 1;
    }
    for (state, n) in by_state {
        let _ = writeln!(out, "rwclip_jobs{{state=\"{state}\"}} {n}");
    }

    family(&mut out, "rwclip_shards", "gauge", "Shards of running jobs by stage and state (pending = waiting or ready).");
    let mut shards: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for j in s.jobs.iter().filter(|j| j.outcome.is_none()) {
        for st in &j.stages {
            let kind = st.kind.stage_name();
            *shards.entry((kind, "committed")).or_default() += st.committed;
            *shards.entry((kind, "running")).or_default() += st.running;
            *shards.entry((kind, "failed")).or_default() += st.failed;
            *shards.entry((kind, "pending")).or_default() += st.total - st.committed - st.running - st.failed;
        }
    }
    for ((stage, state), n) in shards {
        let _ = writeln!(out, "rwclip_shards{{stage=\"{stage}\",state=\"{state}\"}} {n}");
    }

    family(&mut out, "rwclip_job_shards", "gauge", "Each job's shards by state.");
    for j in &s.jobs {
        let pending = j.total - j.committed - j.running - j.failures.len();
        for (state, n) in [("committed", j.committed), ("running", j.running), ("failed", j.failures.len()), ("pending", pending)] {
            let _ = writeln!(out, "rwclip_job_shards{{job=\"{}\",name=\"{}\",state=\"{state}\"}} {n}", escape(&j.id.0), escape(&j.name));
        }
    }

    family(&mut out, "rwclip_workers_connected", "gauge", "Registered workers.");
    let _ = writeln!(out, "rwclip_workers_connected {}", s.workers.len());
    family(&mut out, "rwclip_worker_capacity", "gauge", "Shard slots of all registered workers.");
    let _ = writeln!(out, "rwclip_worker_capacity {}", s.workers.iter().map(|w| w.capacity).sum::<usize>());
    family(&mut out, "rwclip_worker_shards_held", "gauge", "Shards leased to registered workers.");
    let _ = writeln!(out, "rwclip_worker_shards_held {}", s.workers.iter().map(|w| w.shards.len()).sum::<usize>());

    family(&mut out, "rwclip_images_total", "counter", "Images encoded or scored by committed shards since the coordinator started.");
    let _ = writeln!(out, "rwclip_images_total {}", s.counters.images);
    family(&mut out, "rwclip_prompts_total", "counter", "Prompts encoded by committed text shards since the coordinator started.");
    let _ = writeln!(out, "rwclip_prompts_total {}", s.counters.prompts);
    family(&mut out, "rwclip_store_errors_total", "counter", "Store operations beside the scheduler loop that failed.");
    let _ = writeln!(out, "rwclip_store_errors_total {}", s.counters.store_errors);

    // Store calls retried and given up, by process, operation and cause:
    // this coordinator's own, and each worker's as its last heartbeat told.
    let own = rwclip_store::retry::health();
    let processes: Vec<(String, &rwclip_store::retry::StoreHealth)> =
        std::iter::once(("coordinator".to_string(), &own)).chain(s.workers.iter().map(|w| (format!("worker {}", w.name), &w.store))).collect();
    family(&mut out, "rwclip_store_retries_total", "counter", "Store calls retried after a transient failure (timeout, throttling, 5xx, a connection lost), by process, operation and cause.");
    for (process, h) in &processes {
        for ((operation, cause), n) in &h.retries {
            let _ = writeln!(out, "rwclip_store_retries_total{{process=\"{}\",operation=\"{}\",cause=\"{}\"}} {n}", escape(process), escape(operation), escape(cause));
        }
    }
    family(&mut out, "rwclip_store_gave_up_total", "counter", "Store calls that failed after retrying until their deadline, by process, operation and cause.");
    for (process, h) in &processes {
        for ((operation, cause), n) in &h.errors {
            let _ = writeln!(out, "rwclip_store_gave_up_total{{process=\"{}\",operation=\"{}\",cause=\"{}\"}} {n}", escape(process), escape(operation), escape(cause));
        }
    }
    family(&mut out, "rwclip_store_failing_calls", "gauge", "Store calls retrying right now, by process.");
    for (process, h) in &processes {
        let _ = writeln!(out, "rwclip_store_failing_calls{{process=\"{}\"}} {}", escape(process), h.failing_calls);
    }
    family(&mut out, "rwclip_store_failing_seconds", "gauge", "How long the oldest store call still retrying has been, by process (0 when none).");
    for (process, h) in &processes {
        let _ = writeln!(out, "rwclip_store_failing_seconds{{process=\"{}\"}} {:.3}", escape(process), h.failing_for.map_or(0.0, |d| d.as_secs_f64()));
    }

    rpc.lease.render("rwclip_lease_seconds", "Time to answer LeaseShard.", &mut out);
    rpc.complete.render("rwclip_complete_seconds", "Time to answer CompleteShard / CompleteShards (the store check included).", &mut out);
    out
}
