//! The single task that owns the [`Scheduler`] and the store side effects.
//! Slow work (aggregating, publishing results, garbage collection) runs in
//! spawned tasks that report back as events, so the loop never blocks on it
//! and remains the only owner of scheduling state.

use std::collections::HashMap;
use std::time::Duration;

use rwclip_common::aggregate::{self, committed_manifest, run_aggregate, AggregateError, PublishedResults};
use rwclip_common::artifacts::Store;
use rwclip_common::plan::{attempt_prefix, manifest_key, AttemptId, JobId, Manifest, ShardId, ShardSpec};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::events::{SchedulerEvent, SubmitOutcome};
use super::job::JobOutcome;
use super::persist::{self, committed_shards, persist_job, persist_outcome};
use super::state::{JobView, LocalWork, PublishWork, ReportAck, Scheduler, Timing, WorkerId};
use super::{PlannedJob, SchedulerError};
use crate::failure::Failure;

/// Cheap to clone; sends events to the loop.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<SchedulerEvent>,
    timing: std::sync::Arc<Timing>,
}

impl SchedulerHandle {
    /// Sends an event built around a fresh reply channel and awaits the reply.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, SchedulerError>>) -> SchedulerEvent,
    ) -> Result<T, SchedulerError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| SchedulerError::Stopped)?;
        rx.await.map_err(|_| SchedulerError::Stopped)?
    }

    /// The timing settings, fixed at start (so handlers need no round-trip).
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    pub async fn tick(&self) {
        let _ = self.tx.send(SchedulerEvent::Tick).await;
    }
}

/// How often publishing results is tried before the job fails.
const PUBLISH_TRIES: u32 = 3;
/// The name aggregate manifests give as their producer.
const COORDINATOR_NAME: &str = "coordinator";

struct EventLoop {
    scheduler: Scheduler,
    store: Store,
    watchers: HashMap<JobId, Vec<mpsc::Sender<JobView>>>,
    /// For spawned tasks to report back; weak, so the loop still ends when
    /// every handle is dropped.
    events: mpsc::WeakSender<SchedulerEvent>,
    /// Job files submitted to this process: publishing uses them even when
    /// the store lost its copy (jobs restored at start read the store's).
    job_tomls: HashMap<JobId, String>,
}

/// Starts the loop; it ends when every handle is dropped.
pub fn spawn_scheduler(scheduler: Scheduler, store: Store) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let timing = std::sync::Arc::new(scheduler.timing().clone());
    let mut state = EventLoop {
        scheduler,
        store,
        watchers: HashMap::new(),
        events: tx.downgrade(),
        job_tomls: HashMap::new(),
    };
    let task = tokio::spawn(async move {
        // Jobs restored at start may have aggregates or results due.
        state.dispatch();
        state.publish().await;
        while let Some(event) = rx.recv().await {
            state.handle(event).await;
            state.dispatch();
            state.publish().await;
        }
    });
    (SchedulerHandle { tx, timing }, task)
}

impl EventLoop {
    async fn handle(&mut self, event: SchedulerEvent) {
        let now = Instant::now();
        let s = &mut self.scheduler;
        // Replies are best effort: a client that went away needs no answer.
        match event {
            SchedulerEvent::JobSubmitted { job_toml, planned, reply } => {
                let _ = reply.send(self.submit(&job_toml, planned, now).await);
            }
            SchedulerEvent::GetJob { job, reply } => {
                let _ = reply.send(s.view(&job));
            }
            SchedulerEvent::ListJobs { reply } => {
                let _ = reply.send(Ok(s.views()));
            }
            SchedulerEvent::WatchJob { job, updates, reply } => match s.view(&job) {
                Ok(view) => {
                    let finished = view.outcome.is_some();
                    let _ = updates.send(view).await;
                    // Dropping the sender of a finished job ends the stream.
                    if !finished {
                        self.watchers.entry(job).or_default().push(updates);
                    }
                    let _ = reply.send(Ok(()));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            SchedulerEvent::Cancel { job, reply } => {
                let _ = reply.send(s.cancel(&job));
            }
            SchedulerEvent::GetResults { job, reply } => {
                let _ = reply.send(s.view(&job).and_then(|v| Ok((v, s.committed(&job)?))));
            }
            SchedulerEvent::WorkerRegistered { registration, reply } => {
                let _ = reply.send(s.register(registration, now));
            }
            SchedulerEvent::Heartbeat { worker, running, loaded_models, reply } => {
                let _ = reply.send(s.heartbeat(&worker, &running, loaded_models, now));
            }
            SchedulerEvent::LeaseRequested { worker, reply } => {
                let _ = reply.send(s.lease(&worker, now));
            }
            SchedulerEvent::Progress { worker, attempt, done, total, reply } => {
                let _ = reply.send(Ok(s.progress(&worker, &attempt, done, total)));
            }
            SchedulerEvent::ShardCompleted { worker, attempt, manifest, reply } => {
                let _ = reply.send(self.complete(&worker, &attempt, &manifest).await);
            }
            SchedulerEvent::ShardFailed { worker, attempt, failure, missing, reply } => {
                let reporter = s.current(&worker, &attempt).ok();
                let _ = reply.send(Ok(s.fail(&worker, &attempt, failure)));
                if let Some((job, shard)) = reporter {
                    self.check_lost_dependencies(job, shard, missing);
                }
            }
            SchedulerEvent::DependenciesLost { job, reporter, lost } => s.recompute_lost(&job, &reporter, &lost),
            SchedulerEvent::Tick => s.tick(now),
            SchedulerEvent::LocalShardFinished { attempt, result } => {
                let coordinator = WorkerId::coordinator();
                match result {
                    // A cancelled job's late result is ignored like any stale report.
                    Ok(manifest) => {
                        let _ = self.complete(&coordinator, &attempt, &manifest).await;
                    }
                    Err((failure, missing)) => {
                        let reporter = s.current(&coordinator, &attempt).ok();
                        s.fail(&coordinator, &attempt, failure);
                        if let Some((job, shard)) = reporter {
                            self.check_lost_dependencies(job, shard, missing);
                        }
                    }
                }
            }
            SchedulerEvent::ResultsPublished { job, result } => s.results_published(&job, result),
        }
    }

    async fn submit(&mut self, job_toml: &str, planned: PlannedJob, now: Instant) -> Result<SubmitOutcome, SchedulerError> {
        let id = planned.id.clone();
        let store_err = |e: crate::error::CoordinatorError| SchedulerError::Store(e.to_string());
        if self.scheduler.has_job(&id) {
            let view = self.scheduler.view(&id)?;
            match view.outcome {
                // A failed or cancelled job submitted again runs again (its
                // committed shards are kept).
                Some(JobOutcome::Failed(_) | JobOutcome::Cancelled) => {
                    self.scheduler.remove_job(&id);
                    self.store
                        .delete(&persist::key(&id, "outcome.json"))
                        .await
                        .map_err(|e| SchedulerError::Store(e.to_string()))?;
                }
                // Running or succeeded: whatever it has committed counts as done.
                _ => {
                    let already_committed = view.committed;
                    return Ok(SubmitOutcome { view, already_committed });
                }
            }
        }
        let committed = committed_shards(&self.store, &planned.shards).await.map_err(store_err)?;
        persist_job(&self.store, &planned, job_toml).await.map_err(store_err)?;
        self.job_tomls.insert(planned.id.clone(), job_toml.to_string());
        let view = self.scheduler.add_planned(planned, &committed, now)?;
        Ok(SubmitOutcome { view, already_committed: committed.len() })
    }

    /// Accepts a completion only once a manifest for the shard is in the
    /// store: the worker's conditional put is the commit, this is the check.
    /// The stored manifest names the winning attempt; every other attempt of
    /// the shard (this one if it lost, failed, handed back or abandoned
    /// ones) is garbage and its parts are deleted.
    async fn complete(&mut self, worker: &WorkerId, attempt: &AttemptId, manifest: &Manifest) -> Result<ReportAck, SchedulerError> {
        let (job, shard) = match self.scheduler.current(worker, attempt) {
            Ok(current) => current,
            Err(ack) => return Ok(ack),
        };
        if manifest.shard != shard {
            return Err(SchedulerError::InvalidRequest(format!(
                "attempt {attempt} is for shard {shard} but its manifest names shard {}",
                manifest.shard
            )));
        }
        let stored = committed_manifest(&self.store, &shard).await.map_err(|e| SchedulerError::Store(e.to_string()))?;
        let Some(stored) = stored else {
            return Err(SchedulerError::InvalidRequest(format!(
                "shard {shard} reported complete but {} does not exist",
                self.store.full_uri(&rwclip_common::plan::manifest_key(&shard))
            )));
        };
        let mut losers = self.scheduler.attempts_of(&job, &shard);
        if !losers.contains(attempt) {
            losers.push(attempt.clone());
        }
        losers.retain(|a| *a != stored.attempt);
        let ack = self.scheduler.complete(worker, attempt);
        self.collect_garbage(shard, losers);
        Ok(ack)
    }

    /// Deletes the parts of attempts that did not commit.
    fn collect_garbage(&self, shard: ShardId, attempts: Vec<AttemptId>) {
        if attempts.is_empty() {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            for attempt in attempts {
                let prefix = attempt_prefix(&shard, &attempt);
                // Best effort: what is left is unreferenced, never read.
                let Ok(keys) = store.list(prefix.trim_end_matches('/')).await else { continue };
                for key in keys {
                    let _ = store.delete(&key).await;
                }
            }
        });
    }

    /// Starts the work the coordinator does itself.
    fn dispatch(&mut self) {
        for work in self.scheduler.take_local_work(Instant::now()) {
            self.run_local(work);
        }
        for work in self.scheduler.take_publish_work() {
            self.publish_results(work);
        }
    }

    fn report(events: &mpsc::WeakSender<SchedulerEvent>, event: SchedulerEvent) -> impl std::future::Future<Output = ()> {
        let tx = events.upgrade();
        async move {
            if let Some(tx) = tx {
                let _ = tx.send(event).await;
            }
        }
    }

    /// Checks, off the loop, whether the dependencies a shard found missing
    /// really have no manifest; those are recomputed (their outputs were lost).
    fn check_lost_dependencies(&self, job: JobId, reporter: ShardId, missing: Vec<ShardId>) {
        if missing.is_empty() {
            return;
        }
        let store = self.store.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut lost = Vec::new();
            for dep in missing {
                // A store error proves nothing: only a clean "absent" counts.
                if let Ok(false) = store.exists(&manifest_key(&dep)).await {
                    lost.push(dep);
                }
            }
            if !lost.is_empty() {
                Self::report(&events, SchedulerEvent::DependenciesLost { job, reporter, lost }).await;
            }
        });
    }

    /// Runs an aggregate shard and reports its commit or failure.
    fn run_local(&self, work: LocalWork) {
        let store = self.store.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            // A retry after store trouble waits a little for it to pass.
            if work.attempts > 0 {
                tokio::time::sleep(Duration::from_secs(u64::from(work.attempts.min(5)))).await;
            }
            let result = aggregate_shard(&store, &work).await;
            Self::report(&events, SchedulerEvent::LocalShardFinished { attempt: work.attempt, result }).await;
        });
    }

    fn publish_results(&self, work: PublishWork) {
        let store = self.store.clone();
        let events = self.events.clone();
        let job_toml = self.job_tomls.get(&work.job).cloned();
        tokio::spawn(async move {
            let mut result = publish(&store, &work, job_toml.as_deref()).await;
            for tries in 1..PUBLISH_TRIES {
                if result.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(u64::from(tries))).await;
                result = publish(&store, &work, job_toml.as_deref()).await;
            }
            Self::report(&events, SchedulerEvent::ResultsPublished { job: work.job, result }).await;
        });
    }

    /// Pushes changed job views to watchers and records finished jobs.
    async fn publish(&mut self) {
        for id in self.scheduler.take_changed() {
            let Ok(view) = self.scheduler.view(&id) else { continue };
            if let Some(outcome) = &view.outcome {
                // A failed write only means a restart resumes the job, whose
                // committed shards are skipped; not worth failing the loop for.
                let _ = persist_outcome(&self.store, &id, outcome, view.results.as_ref()).await;
            }
            if let Some(list) = self.watchers.get_mut(&id) {
                list.retain(|tx| tx.try_send(view.clone()).is_ok() || !tx.is_closed());
                if view.outcome.is_some() {
                    self.watchers.remove(&id);
                }
            }
        }
    }
}

/// The aggregate of `work`, committed; failures classified for the scheduler.
async fn aggregate_shard(store: &Store, work: &LocalWork) -> Result<Manifest, (Failure, Vec<ShardId>)> {
    aggregate_shard_inner(store, work).await.map_err(|e| match e {
        // A trial manifest gone from the store: retryable, and checked.
        AggregateFailure::Missing(reason, trial) => (Failure::Retryable(reason), vec![trial]),
        AggregateFailure::Other(f) => (f, Vec::new()),
    })
}

enum AggregateFailure {
    Missing(String, ShardId),
    Other(Failure),
}

impl From<Failure> for AggregateFailure {
    fn from(f: Failure) -> Self {
        AggregateFailure::Other(f)
    }
}

async fn aggregate_shard_inner(store: &Store, work: &LocalWork) -> Result<Manifest, AggregateFailure> {
    let spec = match ShardSpec::from_json(&work.spec_json) {
        Ok(ShardSpec::Aggregate(spec)) => spec,
        Ok(other) => {
            return Err(Failure::Fatal(format!("shard {}: its spec is a {:?} shard, not an aggregate", work.shard, other.kind())).into())
        }
        Err(e) => return Err(Failure::Fatal(format!("shard {}: spec_json is not a shard spec: {e}", work.shard)).into()),
    };
    let id = ShardSpec::Aggregate(spec.clone()).id();
    if id != work.shard {
        return Err(Failure::Fatal(format!("shard {}: its spec hashes to {id}", work.shard)).into());
    }
    run_aggregate(store, &spec, &work.attempt, COORDINATOR_NAME).await.map_err(|e: AggregateError| match e {
        AggregateError::MissingTrial { ref trial, .. } => AggregateFailure::Missing(e.to_string(), trial.clone()),
        e if e.is_retryable() => Failure::Retryable(e.to_string()).into(),
        e => Failure::Fatal(e.to_string()).into(),
    })
}

async fn publish(store: &Store, work: &PublishWork, job_toml: Option<&str>) -> Result<PublishedResults, String> {
    let job_toml = match job_toml {
        Some(text) => text.to_string(),
        None => persist::job_toml(store, &work.job).await.map_err(|e| e.to_string())?,
    };
    let output = Store::open(&work.output_uri).map_err(|e| e.to_string())?;
    aggregate::publish_results(store, &work.aggregate, &output, &job_toml).await.map_err(|e| e.to_string())
}
