//! The scheduler's state and its transitions. Pure: no I/O, time passed in,
//! so every rule is unit-testable; the event loop wraps it with the store.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use rwclip_common::plan::{manifest_key, AttemptId, JobId, PlannedShard, ShardId, ShardKind};
use tokio::time::Instant;

use super::job::{Job, JobOutcome, ShardPhase};
use super::SchedulerError;
use crate::failure::{verdict, Failure, Verdict};

/// Worker ids are issued by the coordinator at registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub String);

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
    pub outcome: Option<JobOutcome>,
    pub total: usize,
    pub committed: usize,
    pub running: usize,
    pub failures: Vec<ShardFailureReport>,
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
            .position(|(job, i)| holds(worker, &model_of(job, *i)))
            .or_else(|| {
                self.ready
                    .iter()
                    .position(|(job, i)| !held_by_other_idle(&model_of(job, *i)))
            });
        let Some(pos) = pick else { return Ok(None) };
        let Some((job_id, i)) = self.ready.remove(pos) else { return Ok(None) };
        let attempt = AttemptId(self.next_id("a"));
        let job = self.jobs.get_mut(&job_id).ok_or_else(|| unknown_job(&job_id))?;
        job.state[i].phase = ShardPhase::Running { attempt: attempt.clone() };
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
        state.attempts += 1;
        state.last_reason = Some(match &failure {
            Failure::Retryable(r) | Failure::Fatal(r) => r.clone(),
        });
        match verdict(&failure, state.attempts, max) {
            Verdict::Retry => {
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

    pub fn cancel(&mut self, id: &JobId) -> Result<JobView, SchedulerError> {
        let job = self.jobs.get_mut(id).ok_or_else(|| unknown_job(id))?;
        if job.outcome.is_none() {
            job.outcome = Some(JobOutcome::Cancelled);
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
            if job.outcome.is_none() && now.duration_since(since) > grace {
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
        Ok(JobView {
            id: id.clone(),
            outcome: job.outcome.clone(),
            total: job.shards.len(),
            committed: job.count(|p| *p == ShardPhase::Committed),
            running: job.count(|p| matches!(p, ShardPhase::Running { .. })),
            failures,
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
