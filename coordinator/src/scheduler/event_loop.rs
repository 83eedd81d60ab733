//! The single task that owns the [`Scheduler`] and the store side effects.

use std::collections::HashMap;

use rwclip_common::artifacts::Store;
use rwclip_common::plan::{manifest_key, JobId, Manifest, ShardId};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::events::{SchedulerEvent, SubmitOutcome};
use super::persist::{committed_shards, persist_job, persist_outcome};
use super::state::{JobView, ReportAck, Scheduler, Timing, WorkerId};
use super::{Planner, SchedulerError};

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

struct EventLoop {
    scheduler: Scheduler,
    store: Store,
    planner: Planner,
    watchers: HashMap<JobId, Vec<mpsc::Sender<JobView>>>,
}

/// Starts the loop; it ends when every handle is dropped.
pub fn spawn_scheduler(scheduler: Scheduler, store: Store, planner: Planner) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let timing = std::sync::Arc::new(scheduler.timing().clone());
    let mut state = EventLoop {
        scheduler,
        store,
        planner,
        watchers: HashMap::new(),
    };
    let task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            state.handle(event).await;
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
            SchedulerEvent::JobSubmitted { job_toml, reply } => {
                let _ = reply.send(self.submit(&job_toml, now).await);
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
            SchedulerEvent::ShardFailed { worker, attempt, failure, reply } => {
                let _ = reply.send(Ok(s.fail(&worker, &attempt, failure)));
            }
            SchedulerEvent::Tick => s.tick(now),
        }
    }

    async fn submit(&mut self, job_toml: &str, now: Instant) -> Result<SubmitOutcome, SchedulerError> {
        let (id, plan) = (self.planner)(job_toml).map_err(SchedulerError::InvalidJob)?;
        if self.scheduler.has_job(&id) {
            // Known job: whatever it has committed so far counts as already done.
            let view = self.scheduler.view(&id)?;
            let already_committed = view.committed;
            return Ok(SubmitOutcome { view, already_committed });
        }
        let store_err = |e: crate::error::CoordinatorError| SchedulerError::Store(e.to_string());
        let committed = committed_shards(&self.store, &plan).await.map_err(store_err)?;
        persist_job(&self.store, &id, job_toml, &plan).await.map_err(store_err)?;
        let view = self.scheduler.add_job(id, plan, &committed, now)?;
        Ok(SubmitOutcome { view, already_committed: committed.len() })
    }

    /// Accepts a completion only once the manifest is in the store: the
    /// worker's conditional put is the commit, this is the check.
    async fn complete(&mut self, worker: &WorkerId, attempt: &rwclip_common::plan::AttemptId, manifest: &Manifest) -> Result<ReportAck, SchedulerError> {
        let shard: ShardId = match self.scheduler.current(worker, attempt) {
            Ok((_, shard)) => shard,
            Err(ack) => return Ok(ack),
        };
        if manifest.shard != shard {
            return Err(SchedulerError::InvalidRequest(format!(
                "attempt {attempt} is for shard {shard} but its manifest names shard {}",
                manifest.shard
            )));
        }
        let key = manifest_key(&shard);
        let exists = self.store.exists(&key).await.map_err(|e| SchedulerError::Store(e.to_string()))?;
        if !exists {
            return Err(SchedulerError::InvalidRequest(format!(
                "shard {shard} reported complete but {} does not exist",
                self.store.full_uri(&key)
            )));
        }
        Ok(self.scheduler.complete(worker, attempt))
    }

    /// Pushes changed job views to watchers and records finished jobs.
    async fn publish(&mut self) {
        for id in self.scheduler.take_changed() {
            let Ok(view) = self.scheduler.view(&id) else { continue };
            if let Some(outcome) = &view.outcome {
                // A failed write only means a restart re-runs the (committed,
                // hence skipped) job; not worth failing the loop for.
                let _ = persist_outcome(&self.store, &id, outcome).await;
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
