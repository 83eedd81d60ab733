//! The gRPC service: converts messages and sends scheduler events; no
//! scheduling logic lives here.

use std::pin::Pin;

use rwclip_proto::v1 as pb;
use rwclip_proto::v1::coordinator_server::Coordinator;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::metrics::RpcMetrics;
use crate::scheduler::{Planner, SchedulerError, SchedulerEvent, SchedulerHandle};

/// Shards one LeaseShard or CompleteShards call may carry: a worker's
/// request never makes the loop do unbounded work in one event.
pub const MAX_SHARDS_PER_CALL: usize = 256;

pub struct CoordinatorService {
    scheduler: SchedulerHandle,
    /// Told to workers at registration, so the store is configured once.
    store_uri: String,
    planner: Planner,
    rpc: std::sync::Arc<RpcMetrics>,
}

impl CoordinatorService {
    pub fn new(scheduler: SchedulerHandle, store_uri: String, planner: Planner, rpc: std::sync::Arc<RpcMetrics>) -> CoordinatorService {
        CoordinatorService { scheduler, store_uri, planner, rpc }
    }
}

type StatusStream = Pin<Box<dyn Stream<Item = Result<pb::JobStatus, Status>> + Send>>;

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    async fn submit_job(&self, r: Request<pb::SubmitJobRequest>) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let job_toml = r.into_inner().job_toml;
        // Planning lists the dataset: off the scheduler loop and the async threads.
        let planner = self.planner.clone();
        let text = job_toml.clone();
        let planned = tokio::task::spawn_blocking(move || planner(&text))
            .await
            .map_err(|e| Status::internal(format!("the job planner panicked: {e}")))?
            .map_err(SchedulerError::InvalidJob)?;
        let out = self
            .scheduler
            .ask(|reply| SchedulerEvent::JobSubmitted { job_toml, planned, reply })
            .await?;
        Ok(Response::new(pb::SubmitJobResponse {
            job_id: out.view.id.0.clone(),
            shards_total: out.view.total as u32,
            shards_already_committed: out.already_committed as u32,
        }))
    }

    async fn get_job(&self, r: Request<pb::GetJobRequest>) -> Result<Response<pb::JobStatus>, Status> {
        let job = convert::job_id("job_id", &r.into_inner().job_id)?;
        let view = self.scheduler.ask(|reply| SchedulerEvent::GetJob { job, reply }).await?;
        Ok(Response::new(convert::job_status(&view)))
    }

    async fn list_jobs(&self, _: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        let views = self.scheduler.ask(|reply| SchedulerEvent::ListJobs { reply }).await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: views.iter().map(convert::job_status).collect(),
        }))
    }

    type WatchJobStream = StatusStream;

    async fn watch_job(&self, r: Request<pb::WatchJobRequest>) -> Result<Response<StatusStream>, Status> {
        let job = convert::job_id("job_id", &r.into_inner().job_id)?;
        let (updates, rx) = tokio::sync::mpsc::channel(64);
        self.scheduler.ask(|reply| SchedulerEvent::WatchJob { job, updates, reply }).await?;
        let stream = ReceiverStream::new(rx).map(|view| Ok(convert::job_status(&view)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn cancel_job(&self, r: Request<pb::CancelJobRequest>) -> Result<Response<pb::JobStatus>, Status> {
        let job = convert::job_id("job_id", &r.into_inner().job_id)?;
        let view = self.scheduler.ask(|reply| SchedulerEvent::Cancel { job, reply }).await?;
        Ok(Response::new(convert::job_status(&view)))
    }

    async fn get_results(&self, r: Request<pb::GetResultsRequest>) -> Result<Response<pb::GetResultsResponse>, Status> {
        let job = convert::job_id("job_id", &r.into_inner().job_id)?;
        let (view, committed) = self.scheduler.ask(|reply| SchedulerEvent::GetResults { job, reply }).await?;
        Ok(Response::new(pb::GetResultsResponse {
            status: Some(convert::job_status(&view)),
            committed: committed
                .into_iter()
                .map(|(shard, kind, key)| pb::CommittedShard {
                    shard_id: shard.0,
                    kind: convert::kind_to_proto(kind) as i32,
                    manifest_key: key,
                })
                .collect(),
            results_uri: view.results.as_ref().map(|r| r.uri.clone()).unwrap_or_default(),
            results_markdown: view.results.as_ref().map(|r| r.markdown.clone()).unwrap_or_default(),
        }))
    }

    async fn register_worker(&self, r: Request<pb::RegisterWorkerRequest>) -> Result<Response<pb::RegisterWorkerResponse>, Status> {
        let registration = r.into_inner().try_into()?;
        let id = self.scheduler.ask(|reply| SchedulerEvent::WorkerRegistered { registration, reply }).await?;
        let timing = self.scheduler.timing();
        Ok(Response::new(pb::RegisterWorkerResponse {
            worker_id: id.0,
            heartbeat_interval_ms: timing.heartbeat_interval.as_millis() as u64,
            lease_timeout_ms: timing.lease_timeout.as_millis() as u64,
            store_uri: self.store_uri.clone(),
        }))
    }

    async fn heartbeat(&self, r: Request<pb::HeartbeatRequest>) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        let running = r
            .running_attempts
            .iter()
            .map(|a| convert::attempt_id("running_attempts", a))
            .collect::<Result<Vec<_>, _>>()?;
        let store = convert::store_health(&r);
        let loaded_models = r.loaded_models;
        let abandon = self
            .scheduler
            .ask(|reply| SchedulerEvent::Heartbeat { worker, running, loaded_models, store, reply })
            .await?;
        Ok(Response::new(pb::HeartbeatResponse {
            abandon_attempts: abandon.into_iter().map(|a| a.0).collect(),
        }))
    }

    async fn lease_shard(&self, r: Request<pb::LeaseShardRequest>) -> Result<Response<pb::LeaseShardResponse>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        let max = (r.max_shards as usize).clamp(1, MAX_SHARDS_PER_CALL);
        let started = std::time::Instant::now();
        let grants = self.scheduler.ask(|reply| SchedulerEvent::LeaseRequested { worker, max, reply }).await?;
        self.rpc.lease.observe(started.elapsed());
        Ok(Response::new(pb::LeaseShardResponse { leases: grants.into_iter().map(convert::lease).collect() }))
    }

    async fn list_workers(&self, _: Request<pb::ListWorkersRequest>) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self.scheduler.ask(|reply| SchedulerEvent::ListWorkers { reply }).await?;
        Ok(Response::new(pb::ListWorkersResponse { workers: workers.iter().map(convert::worker_status).collect() }))
    }

    async fn report_progress(&self, r: Request<pb::ReportProgressRequest>) -> Result<Response<pb::ReportAck>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        let attempt = convert::attempt_id("attempt_id", &r.attempt_id)?;
        let (done, total) = (r.done, r.total);
        let ack = self
            .scheduler
            .ask(|reply| SchedulerEvent::Progress { worker, attempt, done, total, reply })
            .await?;
        Ok(Response::new(convert::ack(ack)))
    }

    async fn complete_shard(&self, r: Request<pb::CompleteShardRequest>) -> Result<Response<pb::ReportAck>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        let attempt = convert::attempt_id("attempt_id", &r.attempt_id)?;
        let manifest = convert::manifest(&r.manifest_json)?;
        let started = std::time::Instant::now();
        let ack = self
            .scheduler
            .ask(|reply| SchedulerEvent::ShardCompleted { worker, attempt, manifest, reply })
            .await?;
        self.rpc.complete.observe(started.elapsed());
        Ok(Response::new(convert::ack(ack)))
    }

    /// Each completion is checked as `complete_shard` checks one; the first
    /// error fails the call, and a retry finds the accepted ones stale
    /// (acknowledged, ignored), so nothing counts twice.
    async fn complete_shards(&self, r: Request<pb::CompleteShardsRequest>) -> Result<Response<pb::CompleteShardsResponse>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        if r.completions.len() > MAX_SHARDS_PER_CALL {
            return Err(Status::invalid_argument(format!(
                "field `completions`: {} completions in one call, at most {MAX_SHARDS_PER_CALL}",
                r.completions.len()
            )));
        }
        let started = std::time::Instant::now();
        let mut pending = Vec::with_capacity(r.completions.len());
        for c in r.completions {
            let attempt = convert::attempt_id("completions.attempt_id", &c.attempt_id)?;
            let manifest = convert::manifest(&c.manifest_json)?;
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.scheduler.send(SchedulerEvent::ShardCompleted { worker: worker.clone(), attempt, manifest, reply }).await?;
            pending.push(rx);
        }
        let mut acks = Vec::with_capacity(pending.len());
        for rx in pending {
            let ack = rx.await.map_err(|_| SchedulerError::Stopped)??;
            acks.push(convert::ack(ack));
        }
        self.rpc.complete.observe(started.elapsed());
        Ok(Response::new(pb::CompleteShardsResponse { acks }))
    }

    async fn fail_shard(&self, r: Request<pb::FailShardRequest>) -> Result<Response<pb::ReportAck>, Status> {
        let r = r.into_inner();
        let worker = convert::worker_id(&r.worker_id)?;
        let attempt = convert::attempt_id("attempt_id", &r.attempt_id)?;
        let failure = convert::failure(r)?;
        let ack = self
            .scheduler
            .ask(|reply| SchedulerEvent::ShardFailed { worker, attempt, failure, reply })
            .await?;
        Ok(Response::new(convert::ack(ack)))
    }
}
