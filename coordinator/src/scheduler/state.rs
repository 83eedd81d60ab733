//! The scheduler's state and its transitions. Pure: no I/O, time passed in,
//! so every rule is unit-testable; the event loop wraps it with the store.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use rwclip_common::aggregate::PublishedResults;
use rwclip_common::plan::{manifest_key, AttemptId, JobId, PlannedShard, ShardId, ShardKind};
use tokio::time::Instant;

use super::job::{Job, JobOutcome, ResultsState, ShardPhase};
use super::{PlannedJob, SchedulerError};
use crate::failure::{verdict, Failure, Verdict};

/// Worker ids are issued by the coordinator at registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub String);

impl WorkerId {
    /// The coordinator itself, holding the leases of the shards it runs
    /// (aggregates). Issued ids start with "w", so this one never clashes.
    pub fn coordinator() -> WorkerId {
        WorkerId("coordinator".to_string())
    }
}

/// A shard the coordinator runs itself (never leased to a worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWork {
    pub job: JobId,
    pub shard: ShardId,
    pub attempt: AttemptId,
    pub spec_json: String,
    /// Counted attempts so far (for backing off before a retry).
    pub attempts: u32,
}

/// A job whose shards all committed and whose results must be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishWork {
    pub job: JobId,
    pub aggregate: ShardId,
    pub output_uri: String,
}

/// One shard kind's progress within a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageView {
    pub kind: ShardKind,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failed: usize,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat_interval: Duration,
    pub lease_timeout: Duration,
    pub worker_grace: Duration,
    pub max_attempts: u32,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub protocol_version: u32,
    pub name: String,
    pub device: String,
    pub capacity: u32,
    pub loaded_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    pub job: JobId,
    pub shard: ShardId,
    pub attempt: AttemptId,
    pub kind: ShardKind,
    pub spec_json: String,
    pub dep_manifest_keys: Vec<String>,
    pub model_key: Option<String>,
}

/// Whether a worker's report changed anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportAck {
    Accepted,
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFailureReport {
    pub shard: ShardId,
    pub kind: ShardKind,
    pub attempts: u32,
    pub last_reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub id: JobId,
    pub name: String,
    pub output_uri: String,
    /// As clients see it: succeeded only once the results are published.
    pub outcome: Option<JobOutcome>,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failures: Vec<ShardFailureReport>,
    /// Per shard kind present in the plan, in pipeline order.
    pub stages: Vec<StageView>,
    /// Set once the job succeeded.
    pub results: Option<PublishedResults>,
}

#[derive(Debug)]
struct Worker {
    capacity: usize,
    loaded_models: HashSet<String>,
    last_seen: Instant,
    running: BTreeSet<AttemptId>,
    /// Attempts to tell the worker to drop at its next heartbeat.
    abandon: Vec<AttemptId>,
}

#[derive(Debug)]
struct Lease {
    job: JobId,
    shard: usize,
    worker: WorkerId,
    granted_at: Instant,
}

#[derive(Debug)]
pub struct Scheduler {
    timing: Timing,
    jobs: BTreeMap<JobId, Job>,
    workers: BTreeMap<WorkerId, Worker>,
    leases: HashMap<AttemptId, Lease>,
    /// Runnable shards in submission order; entries go stale lazily.
    ready: VecDeque<(JobId, usize)>,
    /// Distinguishes ids issued by this incarnation from a restarted one's.
    boot: String,
    next_seq: u64,
    last_worker_seen: Instant,
    changed: BTreeSet<JobId>,
}

impl Scheduler {
    pub fn new(timing: Timing, boot: String, now: Instant) -> Scheduler {
        Scheduler {
            timing,
            jobs: BTreeMap::new(),
            workers: BTreeMap::new(),
            leases: HashMap::new(),
            ready: VecDeque::new(),
            boot,
            next_seq: 0,
            last_worker_seen: now,
            changed: BTreeSet::new(),
        }
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.next_seq += 1;
        format!("{prefix}{}-{}", self.boot, self.next_seq)
    }

    /// Jobs whose status changed since the last call (for watchers and persistence).
    pub fn take_changed(&mut self) -> Vec<JobId> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    pub fn has_job(&self, id: &JobId) -> bool {
        self.jobs.contains_key(id)
    }

    /// Adds a planned job; resubmitting a known job id is a no-op.
    pub fn add_job(
        &mut self,
        id: JobId,
        shards: Vec<PlannedShard>,
        committed: &HashSet<ShardId>,
        now: Instant,
    ) -> Result<JobView, SchedulerError> {
        if !self.jobs.contains_key(&id) {
            let mut job = Job::new(id.clone(), shards, committed, now)?;
            for (i, s) in job.state.iter().enumerate() {
                if s.phase == ShardPhase::Ready {
                    self.ready.push_back((id.clone(), i));
                }
            }
            job.settle();
            self.jobs.insert(id.clone(), job);
            self.changed.insert(id.clone());
        }
        self.view(&id)
    }

    /// Adds a job from the planner, keeping its name and output location.
    pub fn add_planned(&mut self, planned: PlannedJob, committed: &HashSet<ShardId>, now: Instant) -> Result<JobView, SchedulerError> {
        let id = planned.id.clone();
        let known = self.jobs.contains_key(&id);
        self.add_job(id.clone(), planned.shards, committed, now)?;
        if !known {
            if let Some(job) = self.jobs.get_mut(&id) {
                job.name = planned.name;
                if planned.output_uri.is_empty() {
                    job.results = ResultsState::NotNeeded;
                }
                job.output_uri = planned.output_uri;
            }
        }
        self.view(&id)
    }

    /// Re-adds a job finished before a restart, as recorded: nothing of it
    /// runs again.
    pub fn restore_finished(
        &mut self,
        planned: PlannedJob,
        committed: &HashSet<ShardId>,
        outcome: JobOutcome,
        results: Option<PublishedResults>,
        now: Instant,
    ) -> Result<JobView, SchedulerError> {
        let id = planned.id.clone();
        let mut job = Job::new(id.clone(), planned.shards, committed, now)?;
        job.name = planned.name;
        job.output_uri = planned.output_uri;
        job.results = match results {
            Some(r) => ResultsState::Published(r),
            None => ResultsState::NotNeeded,
        };
        job.outcome = Some(outcome);
        self.jobs.insert(id.clone(), job);
        self.view(&id)
    }

    pub fn register(&mut self, reg: Registration, now: Instant) -> Result<WorkerId, SchedulerError> {
        if reg.protocol_version != rwclip_proto::PROTOCOL_VERSION {
            return Err(SchedulerError::ProtocolMismatch {
                worker: reg.name,
                got: reg.protocol_version,
                want: rwclip_proto::PROTOCOL_VERSION,
            });
        }
        if reg.capacity == 0 {
            return Err(SchedulerError::InvalidRequest(format!(
                "worker {} ({}) registered with capacity 0",
                reg.name, reg.device
            )));
        }
        let id = WorkerId(self.next_id("w"));
        self.workers.insert(
            id.clone(),
            Worker {
                capacity: reg.capacity as usize,
                loaded_models: reg.loaded_models.into_iter().collect(),
                last_seen: now,
                running: BTreeSet::new(),
                abandon: Vec::new(),
            },
        );
        self.last_worker_seen = now;
        Ok(id)
    }

    /// Records liveness; returns attempts the worker must abandon.
    pub fn heartbeat(
        &mut self,
        id: &WorkerId,
        running: &[AttemptId],
        loaded_models: Vec<String>,
        now: Instant,
    ) -> Result<Vec<AttemptId>, SchedulerError> {
        let worker = self.workers.get_mut(id).ok_or_else(|| unknown_worker(id))?;
        worker.last_seen = now;
        worker.loaded_models = loaded_models.into_iter().collect();
        let mut abandon = std::mem::take(&mut worker.abandon);
        for attempt in running {
            let current = self.leases.get(attempt).is_some_and(|l| &l.worker == id);
            if !current && !abandon.contains(attempt) {
                abandon.push(attempt.clone());
            }
        }
        // A lease the worker does not know about (its reply was lost) would
        // otherwise hold the shard forever: hand it back, uncounted.
        let lost: Vec<AttemptId> = worker
            .running
            .iter()
            .filter(|a| !running.contains(a))
            .filter(|a| {
                self.leases
                    .get(*a)
                    .is_some_and(|l| now.duration_since(l.granted_at) > self.timing.lease_timeout)
            })
            .cloned()
            .collect();
        for attempt in lost {
            self.requeue(&attempt);
        }
        Ok(abandon)
    }

    /// Picks a runnable shard for the worker, preferring one whose model the
    /// worker holds and leaving shards to idle workers that hold theirs.
    pub fn lease(&mut self, id: &WorkerId, now: Instant) -> Result<Option<LeaseGrant>, SchedulerError> {
        let worker = self.workers.get(id).ok_or_else(|| unknown_worker(id))?;
        if worker.running.len() >= worker.capacity {
            return Ok(None);
        }
        self.ready.retain(|(job, i)| {
            self.jobs
                .get(job)
                .is_some_and(|j| j.outcome.is_none() && j.state[*i].phase == ShardPhase::Ready)
        });
        // Aggregates are the coordinator's own work (see `take_local_work`).
        let leasable = |job: &JobId, i: usize| self.jobs[job].shards[i].kind != ShardKind::Aggregate;
        let model_of = |job: &JobId, i: usize| self.jobs[job].shards[i].model_key.clone();
        let holds = |w: &Worker, key: &Option<String>| key.as_ref().is_none_or(|k| w.loaded_models.contains(k));
        let held_by_other_idle = |key: &Option<String>| {
            self.workers.iter().any(|(other, w)| {
                other != id && w.running.len() < w.capacity && key.as_ref().is_some_and(|k| w.loaded_models.contains(k))
            })
        };
        let pick = self
            .ready
            .iter()
            .position(|(job, i)| leasable(job, *i) && holds(worker, &model_of(job, *i)))
            .or_else(|| {
                self.ready
                    .iter()
                    .position(|(job, i)| leasable(job, *i) && !held_by_other_idle(&model_of(job, *i)))
            });
        let Some(pos) = pick else { return Ok(None) };
        let Some((job_id, i)) = self.ready.remove(pos) else { return Ok(None) };
        let attempt = AttemptId(self.next_id("a"));
        let job = self.jobs.get_mut(&job_id).ok_or_else(|| unknown_job(&job_id))?;
        job.state[i].phase = ShardPhase::Running { attempt: attempt.clone() };
        job.state[i].attempt_history.push(attempt.clone());
        job.state[i].progress = (0, 0);
        let shard = &job.shards[i];
        let grant = LeaseGrant {
            job: job_id.clone(),
            shard: shard.id.clone(),
            attempt: attempt.clone(),
            kind: shard.kind,
            spec_json: shard.spec_json.clone(),
            dep_manifest_keys: shard.deps.iter().map(manifest_key).collect(),
            model_key: shard.model_key.clone(),
        };
        if let Some(w) = self.workers.get_mut(id) {
            w.running.insert(attempt.clone());
        }
        self.leases.insert(
            attempt,
            Lease {
                job: job_id.clone(),
                shard: i,
                worker: id.clone(),
                granted_at: now,
            },
        );
        self.changed.insert(job_id);
        Ok(Some(grant))
    }

    /// The shard a report is about, if `attempt` is `worker`'s current lease.
    pub fn current(&self, worker: &WorkerId, attempt: &AttemptId) -> Result<(JobId, ShardId), ReportAck> {
        match self.leases.get(attempt) {
            Some(l) if &l.worker == worker => Ok((l.job.clone(), self.jobs[&l.job].shards[l.shard].id.clone())),
            Some(_) => Err(ReportAck::Ignored(format!("attempt {attempt} is leased to another worker"))),
            None => Err(ReportAck::Ignored(format!("attempt {attempt} is not a current lease"))),
        }
    }

    pub fn progress(&mut self, worker: &WorkerId, attempt: &AttemptId, done: u64, total: u64) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = &self.leases[attempt];
        if let Some(job) = self.jobs.get_mut(&lease.job) {
            job.state[lease.shard].progress = (done, total);
            self.changed.insert(lease.job.clone());
        }
        ReportAck::Accepted
    }

    /// Records a commit the caller verified in the store.
    pub fn complete(&mut self, worker: &WorkerId, attempt: &AttemptId) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = self.release(attempt);
        let job = self.jobs.get_mut(&lease.job).expect("leases point at known jobs");
        for ready in job.commit(lease.shard) {
            self.ready.push_back((lease.job.clone(), ready));
        }
        job.settle();
        self.changed.insert(lease.job);
        ReportAck::Accepted
    }

    pub fn fail(&mut self, worker: &WorkerId, attempt: &AttemptId, failure: Failure) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = self.release(attempt);
        let max = self.timing.max_attempts;
        let job = self.jobs.get_mut(&lease.job).expect("leases point at known jobs");
        let state = &mut job.state[lease.shard];
        if failure.is_counted() {
            state.attempts += 1;
            state.last_reason = Some(failure.reason().to_string());
        }
        match verdict(&failure, state.attempts, max) {
            Verdict::Retry | Verdict::Requeue => {
                state.phase = ShardPhase::Ready;
                self.ready.push_back((lease.job.clone(), lease.shard));
            }
            Verdict::Fail(reason) => {
                state.phase = ShardPhase::Failed;
                state.last_reason = Some(reason);
                job.settle();
            }
        }
        self.changed.insert(lease.job);
        ReportAck::Accepted
    }

    /// The store lost the outputs of `lost` (committed shards of `job`):
    /// they run again, and `reporter`, which failed for want of them, gets
    /// its attempt back (the failure was not its own).
    pub fn recompute_lost(&mut self, job_id: &JobId, reporter: &ShardId, lost: &[ShardId]) {
        let Some(job) = self.jobs.get_mut(job_id) else { return };
        if job.outcome.is_some() {
            return;
        }
        let index = |job: &super::job::Job, id: &ShardId| job.shards.iter().position(|s| &s.id == id);
        if let Some(r) = index(job, reporter) {
            let state = &mut job.state[r];
            state.attempts = state.attempts.saturating_sub(1);
        }
        for id in lost {
            let Some(i) = index(job, id) else { continue };
            if job.uncommit(i) {
                self.ready.push_back((job_id.clone(), i));
            }
        }
        self.changed.insert(job_id.clone());
    }

    /// Releases every lease of job `id`; their workers are told at their
    /// next heartbeat to drop the attempts without reporting.
    fn abandon_leases(&mut self, id: &JobId) {
        let attempts: Vec<AttemptId> = self
            .leases
            .iter()
            .filter(|(_, l)| &l.job == id)
            .map(|(a, _)| a.clone())
            .collect();
        for attempt in attempts {
            let lease = self.release(&attempt);
            if let Some(w) = self.workers.get_mut(&lease.worker) {
                w.abandon.push(attempt);
            }
        }
    }

    pub fn cancel(&mut self, id: &JobId) -> Result<JobView, SchedulerError> {
        let job = self.jobs.get_mut(id).ok_or_else(|| unknown_job(id))?;
        if job.outcome.is_none() {
            job.outcome = Some(JobOutcome::Cancelled);
            self.abandon_leases(id);
            self.changed.insert(id.clone());
        }
        self.view(id)
    }

    /// Expires silent workers (their shards re-queued, uncounted) and fails
    /// jobs that have had no worker for longer than the grace period.
    pub fn tick(&mut self, now: Instant) {
        let timeout = self.timing.lease_timeout;
        let dead: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            if let Some(worker) = self.workers.remove(&id) {
                for attempt in worker.running {
                    self.requeue(&attempt);
                }
            }
        }
        if !self.workers.is_empty() {
            self.last_worker_seen = now;
            return;
        }
        let grace = self.timing.worker_grace;
        for job in self.jobs.values_mut() {
            let since = job.submitted_at.max(self.last_worker_seen);
            let needs_workers = job
                .shards
                .iter()
                .zip(&job.state)
                .any(|(shard, s)| shard.kind != ShardKind::Aggregate && s.phase != ShardPhase::Committed);
            if job.outcome.is_none() && needs_workers && now.duration_since(since) > grace {
                let pending = job.shards.len() - job.count(|p| *p == ShardPhase::Committed);
                job.outcome = Some(JobOutcome::Failed(format!(
                    "no worker registered for {grace:?}; {pending} shard(s) never ran"
                )));
                self.changed.insert(job.id.clone());
            }
        }
    }

    pub fn view(&self, id: &JobId) -> Result<JobView, SchedulerError> {
        let job = self.jobs.get(id).ok_or_else(|| unknown_job(id))?;
        let failures = job
            .state
            .iter()
            .zip(&job.shards)
            .filter(|(s, _)| s.phase == ShardPhase::Failed)
            .map(|(s, shard)| ShardFailureReport {
                shard: shard.id.clone(),
                kind: shard.kind,
                attempts: s.attempts,
                last_reason: s.last_reason.clone().unwrap_or_default(),
            })
            .collect();
        let mut stages: Vec<StageView> = Vec::new();
        for (shard, s) in job.shards.iter().zip(&job.state) {
            let stage = match stages.iter_mut().position(|st| st.kind == shard.kind) {
                Some(k) => &mut stages[k],
                None => {
                    stages.push(StageView { kind: shard.kind, total: 0, committed: 0, running: 0, failed: 0 });
                    stages.last_mut().expect("just pushed")
                }
            };
            stage.total += 1;
            match s.phase {
                ShardPhase::Committed => stage.committed += 1,
                ShardPhase::Running { .. } => stage.running += 1,
                ShardPhase::Failed => stage.failed += 1,
                ShardPhase::Waiting { .. } | ShardPhase::Ready => {}
            }
        }
        // ShardKind's order is the pipeline's: embeddings, trials, aggregate.
        stages.sort_by_key(|st| st.kind);
        Ok(JobView {
            id: id.clone(),
            name: job.name.clone(),
            output_uri: job.output_uri.clone(),
            outcome: job.visible_outcome(),
            total: job.shards.len(),
            committed: job.count(|p| *p == ShardPhase::Committed),
            running: job.count(|p| matches!(p, ShardPhase::Running { .. })),
            failures,
            stages,
            results: match &job.results {
                ResultsState::Published(r) => Some(r.clone()),
                _ => None,
            },
        })
    }

    pub fn views(&self) -> Vec<JobView> {
        self.jobs.keys().filter_map(|id| self.view(id).ok()).collect()
    }

    /// Committed shards of a job, with their manifest keys.
    pub fn committed(&self, id: &JobId) -> Result<Vec<(ShardId, ShardKind, String)>, SchedulerError> {
        let job = self.jobs.get(id).ok_or_else(|| unknown_job(id))?;
        Ok(job
            .shards
            .iter()
            .zip(&job.state)
            .filter(|(_, s)| s.phase == ShardPhase::Committed)
            .map(|(shard, _)| (shard.id.clone(), shard.kind, manifest_key(&shard.id)))
            .collect())
    }

    /// Forgets a finished job that is being submitted again; leases still
    /// pointing at it are dropped (their workers told to abandon them).
    pub fn remove_job(&mut self, id: &JobId) {
        self.abandon_leases(id);
        self.ready.retain(|(job, _)| job != id);
        self.jobs.remove(id);
    }

    /// Ready aggregate shards, now leased to the coordinator itself.
    pub fn take_local_work(&mut self, now: Instant) -> Vec<LocalWork> {
        let (local, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.ready).into_iter().partition(|(job, i)| {
            self.jobs
                .get(job)
                .is_some_and(|j| j.shards[*i].kind == ShardKind::Aggregate)
        });
        self.ready = rest;
        let mut work = Vec::new();
        for (job_id, i) in local {
            let attempt = AttemptId(self.next_id("c"));
            let Some(job) = self.jobs.get_mut(&job_id) else { continue };
            if job.outcome.is_some() || job.state[i].phase != ShardPhase::Ready {
                continue;
            }
            job.state[i].phase = ShardPhase::Running { attempt: attempt.clone() };
            job.state[i].attempt_history.push(attempt.clone());
            work.push(LocalWork {
                job: job_id.clone(),
                shard: job.shards[i].id.clone(),
                attempt: attempt.clone(),
                spec_json: job.shards[i].spec_json.clone(),
                attempts: job.state[i].attempts,
            });
            self.leases.insert(
                attempt,
                Lease { job: job_id.clone(), shard: i, worker: WorkerId::coordinator(), granted_at: now },
            );
            self.changed.insert(job_id);
        }
        work
    }

    /// Jobs whose shards all committed and whose results are not published
    /// yet; marks them as being published.
    pub fn take_publish_work(&mut self) -> Vec<PublishWork> {
        let mut work = Vec::new();
        for job in self.jobs.values_mut() {
            if job.outcome != Some(JobOutcome::Succeeded) || job.results != ResultsState::Pending {
                continue;
            }
            let Some(aggregate) = job.shards.iter().find(|s| s.kind == ShardKind::Aggregate) else { continue };
            work.push(PublishWork { job: job.id.clone(), aggregate: aggregate.id.clone(), output_uri: job.output_uri.clone() });
            job.results = ResultsState::Publishing;
        }
        work
    }

    /// Records where a job's results went (or why they could not be written).
    pub fn results_published(&mut self, id: &JobId, result: Result<PublishedResults, String>) {
        if let Some(job) = self.jobs.get_mut(id) {
            job.results = match result {
                Ok(r) => ResultsState::Published(r),
                Err(reason) => ResultsState::Failed(format!("publishing the results to {}: {reason}", job.output_uri)),
            };
            self.changed.insert(id.clone());
        }
    }

    /// Every attempt leased for `shard` of `job` so far.
    pub fn attempts_of(&self, job: &JobId, shard: &ShardId) -> Vec<AttemptId> {
        self.jobs
            .get(job)
            .and_then(|j| j.shards.iter().position(|s| &s.id == shard).map(|i| j.state[i].attempt_history.clone()))
            .unwrap_or_default()
    }

    /// Removes a lease from the books (the shard's phase is the caller's job).
    fn release(&mut self, attempt: &AttemptId) -> Lease {
        let lease = self.leases.remove(attempt).expect("caller checked the lease");
        if let Some(w) = self.workers.get_mut(&lease.worker) {
            w.running.remove(attempt);
        }
        lease
    }

    /// Puts a leased shard back in the queue without counting an attempt.
    fn requeue(&mut self, attempt: &AttemptId) {
        let Some(lease) = self.leases.remove(attempt) else { return };
        if let Some(w) = self.workers.get_mut(&lease.worker) {
            w.running.remove(attempt);
        }
        if let Some(job) = self.jobs.get_mut(&lease.job) {
            job.state[lease.shard].phase = ShardPhase::Ready;
            self.ready.push_back((lease.job.clone(), lease.shard));
            self.changed.insert(lease.job);
        }
    }
}

fn unknown_worker(id: &WorkerId) -> SchedulerError {
    SchedulerError::UnknownWorker(id.0.clone())
}

fn unknown_job(id: &JobId) -> SchedulerError {
    SchedulerError::UnknownJob(id.0.clone())
}
