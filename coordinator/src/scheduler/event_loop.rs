//! The single task that owns the [`Scheduler`]. It never awaits the store:
//! store work (recording submissions, checking commits, aggregating,
//! publishing, garbage collection) is spawned beside it and reports back as
//! events, so heartbeats and leases are answered while a large job is
//! submitted.

use std::collections::HashMap;

use rwclip_artifacts::Store;
use rwclip_core::failure::{FailureClass, ShardFailure};
use rwclip_plan::{AttemptId, JobId, ShardId};
use rwclip_store::shard_store::{manifest_key, Manifest};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::effects::{self, spawn_record_writer, RecordWrite};
use super::events::{MetricsSnapshot, Reply, SchedulerEvent, SubmitOutcome};
use super::job::JobOutcome;
use super::state::{ReportAck, Scheduler, Timing};
use super::view::JobView;
use super::workers::WorkerId;
use super::{PlannedJob, SchedulerError};

/// Cheap to clone; sends events to the loop.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::Sender<SchedulerEvent>,
    timing: std::sync::Arc<Timing>,
}

impl SchedulerHandle {
    /// Sends an event built around a fresh reply channel and awaits the reply.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, SchedulerError>>) -> SchedulerEvent) -> Result<T, SchedulerError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| SchedulerError::Stopped)?;
        rx.await.map_err(|_| SchedulerError::Stopped)?
    }

    /// Sends an event whose reply the caller awaits itself (several in flight at once).
    pub async fn send(&self, event: SchedulerEvent) -> Result<(), SchedulerError> {
        self.tx.send(event).await.map_err(|_| SchedulerError::Stopped)
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
    watchers: HashMap<JobId, Vec<mpsc::Sender<JobView>>>,
    /// For spawned tasks to report back; weak, so the loop still ends when
    /// every handle is dropped.
    events: mpsc::WeakSender<SchedulerEvent>,
    records: mpsc::UnboundedSender<RecordWrite>,
    /// Submitters waiting for a job's record to be written.
    submitting: HashMap<JobId, Vec<Reply<SubmitOutcome>>>,
    /// Job files submitted to this process: publishing uses them even when
    /// the store lost its copy (jobs restored at start read the store's).
    job_tomls: HashMap<JobId, String>,
}

/// Starts the loop; it ends when every handle is dropped.
pub fn spawn_scheduler(scheduler: Scheduler, store: Store) -> (SchedulerHandle, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let timing = std::sync::Arc::new(scheduler.timing().clone());
    let events = tx.downgrade();
    let mut state = EventLoop {
        scheduler,
        records: spawn_record_writer(store.clone(), events.clone()),
        store,
        watchers: HashMap::new(),
        events,
        submitting: HashMap::new(),
        job_tomls: HashMap::new(),
    };
    let task = tokio::spawn(async move {
        // Jobs restored at start may have aggregates or results due.
        state.dispatch();
        state.publish();
        while let Some(event) = rx.recv().await {
            state.handle(event);
            state.dispatch();
            state.publish();
        }
    });
    (SchedulerHandle { tx, timing }, task)
}

impl EventLoop {
    fn handle(&mut self, event: SchedulerEvent) {
        let now = Instant::now();
        let s = &mut self.scheduler;
        // Replies are best effort: a client that went away needs no answer.
        match event {
            SchedulerEvent::JobSubmitted { job_toml, planned, reply } => self.submit(job_toml, planned, reply),
            SchedulerEvent::SubmissionRecorded { planned, job_toml, committed } => self.submission_recorded(planned, job_toml, committed, now),
            SchedulerEvent::GetJob { job, reply } => {
                let _ = reply.send(s.view(&job));
            }
            SchedulerEvent::ListJobs { reply } => {
                let _ = reply.send(Ok(s.views()));
            }
            SchedulerEvent::WatchJob { job, updates, reply } => match s.view(&job) {
                Ok(view) => {
                    let finished = view.outcome.is_some();
                    // The channel is new, so the first snapshot always fits.
                    let _ = updates.try_send(view);
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
                let (name, device) = (registration.name.clone(), registration.device.clone());
                let result = s.register(registration, now);
                match &result {
                    Ok(id) => tracing::info!(worker = %id.0, name = %name, device = %device, "worker registered"),
                    Err(e) => tracing::warn!(name = %name, "registration refused: {e}"),
                }
                let _ = reply.send(result);
            }
            SchedulerEvent::Heartbeat { worker, running, loaded_models, store, reply } => {
                let _ = reply.send(s.heartbeat(&worker, &running, loaded_models, store, now));
            }
            SchedulerEvent::LeaseRequested { worker, max, reply } => {
                let _ = reply.send(s.lease_many(&worker, max, now));
            }
            SchedulerEvent::ListWorkers { reply } => {
                let _ = reply.send(Ok(s.worker_views(now)));
            }
            SchedulerEvent::Metrics { reply } => {
                let _ = reply.send(Ok(MetricsSnapshot { jobs: s.views(), workers: s.worker_views(now), counters: s.counters() }));
            }
            SchedulerEvent::Progress { worker, attempt, done, total, reply } => {
                let _ = reply.send(Ok(s.progress(&worker, &attempt, done, total)));
            }
            SchedulerEvent::ShardCompleted { worker, attempt, manifest, reply } => self.check_completion(worker, attempt, manifest, reply),
            SchedulerEvent::CompletionChecked { worker, attempt, stored, reply } => {
                let _ = reply.send(self.completion_checked(&worker, &attempt, stored));
            }
            SchedulerEvent::ShardFailed { worker, attempt, failure, reply } => {
                let _ = reply.send(Ok(self.fail(&worker, &attempt, failure)));
            }
            SchedulerEvent::DependenciesLost { job, reporter, lost } => s.recompute_lost(&job, &reporter, &lost),
            SchedulerEvent::Tick => s.tick(now),
            SchedulerEvent::LocalShardFinished { attempt, result } => {
                let coordinator = WorkerId::coordinator();
                match result {
                    // run_aggregate returns the manifest that won the commit.
                    Ok(stored) => {
                        let _ = self.commit_verified(&coordinator, &attempt, &stored);
                    }
                    Err(failure) => {
                        self.fail(&coordinator, &attempt, failure);
                    }
                }
            }
            SchedulerEvent::ResultsPublished { job, result } => {
                if result.is_err() {
                    s.store_error();
                }
                s.results_published(&job, result)
            }
        }
    }

    /// A known running or succeeded job answers at once; anything else has
    /// its record written (and its committed shards found) beside the loop.
    fn submit(&mut self, job_toml: String, planned: PlannedJob, reply: Reply<SubmitOutcome>) {
        let id = planned.id.clone();
        let mut resubmitted = false;
        if let Ok(view) = self.scheduler.view(&id) {
            match view.outcome {
                // A failed or cancelled job submitted again runs again (its
                // committed shards are kept).
                Some(JobOutcome::Failed(_) | JobOutcome::Cancelled) => resubmitted = true,
                // Running or succeeded: whatever it has committed counts as done.
                _ => {
                    let already_committed = view.committed;
                    let _ = reply.send(Ok(SubmitOutcome { view, already_committed }));
                    return;
                }
            }
        }
        let waiting = self.submitting.entry(id).or_default();
        waiting.push(reply);
        if waiting.len() == 1 {
            let _ = self.records.send(RecordWrite::Submission { planned, job_toml, resubmitted });
        }
    }

    fn submission_recorded(&mut self, planned: PlannedJob, job_toml: String, committed: Result<std::collections::HashSet<ShardId>, String>, now: Instant) {
        let id = planned.id.clone();
        let waiting = self.submitting.remove(&id).unwrap_or_default();
        if committed.is_err() {
            self.scheduler.store_error();
        }
        let result = committed.map_err(SchedulerError::Store).and_then(|committed| {
            let finished = self.scheduler.view(&id).is_ok_and(|v| v.outcome.is_some());
            if finished {
                self.scheduler.remove_job(&id);
            }
            self.job_tomls.insert(id.clone(), job_toml);
            let view = self.scheduler.add_planned(planned, &committed, now)?;
            Ok(SubmitOutcome { view, already_committed: committed.len() })
        });
        match &result {
            Ok(o) => tracing::info!(job = %id, shards = o.view.total, already_committed = o.already_committed, "job submitted"),
            Err(e) => tracing::warn!(job = %id, "submission not recorded: {e}"),
        }
        for reply in waiting {
            let _ = reply.send(result.clone());
        }
    }

    /// Accepts a completion only once a manifest for the shard is in the
    /// store: the worker's conditional put is the commit, this checks it.
    fn check_completion(&mut self, worker: WorkerId, attempt: AttemptId, manifest: Manifest, reply: Reply<ReportAck>) {
        let shard = match self.scheduler.current(&worker, &attempt) {
            Ok((_, shard)) => shard,
            Err(ack) => {
                let _ = reply.send(Ok(ack));
                return;
            }
        };
        if manifest.shard != shard {
            let _ = reply.send(Err(SchedulerError::InvalidRequest(format!(
                "attempt {attempt} is for shard {shard} but its manifest names shard {}",
                manifest.shard
            ))));
            return;
        }
        self.scheduler.set_verifying(&attempt, true);
        tokio::spawn(effects::check_completion(self.store.clone(), self.events.clone(), worker, attempt, shard, reply));
    }

    fn completion_checked(&mut self, worker: &WorkerId, attempt: &AttemptId, stored: Result<Option<Manifest>, String>) -> Result<ReportAck, SchedulerError> {
        let shard = match self.scheduler.current(worker, attempt) {
            Ok((_, shard)) => shard,
            // Cancelled or expired while the store was asked.
            Err(ack) => return Ok(ack),
        };
        let stored = match stored {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                self.scheduler.set_verifying(attempt, false);
                return Err(SchedulerError::InvalidRequest(format!(
                    "shard {shard} reported complete but {} does not exist",
                    self.store.full_uri(&manifest_key(&shard))
                )));
            }
            Err(e) => {
                self.scheduler.set_verifying(attempt, false);
                self.scheduler.store_error();
                return Err(SchedulerError::Store(e));
            }
        };
        Ok(self.commit_verified(worker, attempt, &stored))
    }

    /// Records a commit found in the store. The stored manifest names the
    /// winning attempt; every other attempt of the shard (this one if it
    /// lost, failed, handed back or abandoned ones) is garbage.
    fn commit_verified(&mut self, worker: &WorkerId, attempt: &AttemptId, stored: &Manifest) -> ReportAck {
        let (job, shard) = match self.scheduler.current(worker, attempt) {
            Ok(current) => current,
            Err(ack) => return ack,
        };
        let mut losers = self.scheduler.attempts_of(&job, &shard);
        if !losers.contains(attempt) {
            losers.push(attempt.clone());
        }
        losers.retain(|a| *a != stored.attempt);
        let ack = self.scheduler.complete(worker, attempt);
        if !losers.is_empty() {
            tokio::spawn(effects::collect_garbage(self.store.clone(), shard, losers));
        }
        ack
    }

    fn fail(&mut self, worker: &WorkerId, attempt: &AttemptId, failure: ShardFailure) -> ReportAck {
        let reporter = self.scheduler.current(worker, attempt).ok();
        let ack = self.scheduler.fail(worker, attempt, &failure);
        if let (Some((job, shard)), FailureClass::LostDependency) = (reporter, failure.class) {
            if !failure.missing_dependencies.is_empty() {
                let store = self.store.clone();
                tokio::spawn(effects::check_lost_dependencies(store, self.events.clone(), job, shard, failure.missing_dependencies));
            }
        }
        ack
    }

    /// Starts the work the coordinator does itself.
    fn dispatch(&mut self) {
        for work in self.scheduler.take_local_work(Instant::now()) {
            tokio::spawn(effects::run_local(self.store.clone(), self.events.clone(), work));
        }
        for work in self.scheduler.take_publish_work(Instant::now()) {
            let job_toml = self.job_tomls.get(&work.job).cloned();
            tokio::spawn(effects::publish_results(self.store.clone(), self.events.clone(), work, job_toml));
        }
    }

    /// Pushes changed job views to watchers and records finished jobs.
    fn publish(&mut self) {
        for id in self.scheduler.take_changed() {
            let Ok(view) = self.scheduler.view(&id) else { continue };
            if let Some(outcome) = &view.outcome {
                match outcome {
                    JobOutcome::Succeeded => tracing::info!(job = %id, "job succeeded"),
                    JobOutcome::Failed(reason) => tracing::warn!(job = %id, failed_shards = view.failures.len(), "job failed: {reason}"),
                    JobOutcome::Cancelled => tracing::info!(job = %id, "job cancelled"),
                }
                let _ = self.records.send(RecordWrite::Outcome { job: id.clone(), outcome: outcome.clone(), results: view.results.clone() });
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
