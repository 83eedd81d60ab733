//! The scheduler's state and its transitions. Pure: no I/O, time passed in,
//! so every rule is unit-testable; the event loop runs the store work these
//! transitions call for beside it.
//!
//! The state is split by concern: the job table (each [`ScheduledJob`] owns its
//! shards' phase changes), the [`WorkerRegistry`], the [`LeaseBook`] and the
//! ready queue. Leasing to a worker and to the coordinator itself (for
//! aggregates) go through one grant path.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use rwclip_report::aggregate::PublishedResults;
use rwclip_store::retry::StoreHealth;
use rwclip_core::failure::ShardFailure;
use rwclip_plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};
use rwclip_store::shard_store::manifest_key;
use tokio::time::Instant;

use super::job::{ScheduledJob, JobOutcome, ResultsState, ShardPhase};
use super::leases::{Lease, LeaseBook, LeaseState};
use super::counters::Counters;
use super::view::{JobView, WorkerView};
use super::workers::{WorkerRegistration, WorkerId, WorkerRegistry};
use super::{PlannedJob, SchedulerError};

/// How recently a worker holding a shard's model must have asked for work
/// for the shard to be left to it (idle workers ask every second or so).
const HOLDER_RECENT: Duration = Duration::from_secs(3);

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
#[derive(Debug, Clone, PartialEq)]
pub struct PublishWork {
    pub job: JobId,
    pub aggregate: ShardId,
    pub output_uri: String,
    /// Since the job was submitted (to this coordinator incarnation).
    pub wall_s: f64,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat_interval: Duration,
    pub lease_timeout: Duration,
    pub worker_grace: Duration,
    pub max_attempts: u32,
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

#[derive(Debug)]
pub struct Scheduler {
    timing: Timing,
    jobs: BTreeMap<JobId, ScheduledJob>,
    workers: WorkerRegistry,
    leases: LeaseBook,
    /// Runnable worker shards in submission order; entries go stale lazily.
    ready: VecDeque<(JobId, usize)>,
    /// Runnable aggregates, the coordinator's own work, apart so that
    /// finding them after every event does not walk the worker queue.
    local_ready: VecDeque<(JobId, usize)>,
    /// Distinguishes ids issued by this incarnation from a restarted one's.
    boot: String,
    next_seq: u64,
    last_worker_seen: Instant,
    changed: BTreeSet<JobId>,
    counters: Counters,
}

impl Scheduler {
    pub fn new(timing: Timing, boot: String, now: Instant) -> Scheduler {
        Scheduler {
            timing,
            jobs: BTreeMap::new(),
            workers: WorkerRegistry::default(),
            leases: LeaseBook::default(),
            ready: VecDeque::new(),
            local_ready: VecDeque::new(),
            boot,
            next_seq: 0,
            last_worker_seen: now,
            changed: BTreeSet::new(),
            counters: Counters::default(),
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
    pub fn add_job(&mut self, id: JobId, shards: Vec<PlannedShard>, committed: &HashSet<ShardId>, now: Instant) -> Result<JobView, SchedulerError> {
        if !self.jobs.contains_key(&id) {
            let mut job = ScheduledJob::new(id.clone(), shards, committed, now)?;
            let ready: Vec<usize> = (0..job.state.len()).filter(|&i| job.state[i].phase == ShardPhase::Ready).collect();
            job.settle();
            self.jobs.insert(id.clone(), job);
            for i in ready {
                self.enqueue(id.clone(), i);
            }
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
        let mut job = ScheduledJob::new(id.clone(), planned.shards, committed, now)?;
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

    pub fn register(&mut self, reg: WorkerRegistration, now: Instant) -> Result<WorkerId, SchedulerError> {
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
        self.workers.insert(id.clone(), reg, now);
        self.last_worker_seen = now;
        Ok(id)
    }

    /// Records liveness; returns attempts the worker must abandon.
    pub fn heartbeat(&mut self, id: &WorkerId, running: &[AttemptId], loaded_models: Vec<String>, store: StoreHealth, now: Instant) -> Result<Vec<AttemptId>, SchedulerError> {
        let worker = self.workers.get_mut(id).ok_or_else(|| unknown_worker(id))?;
        worker.last_seen = now;
        worker.store = store;
        worker.loaded_models = loaded_models.into_iter().collect();
        let mut abandon = std::mem::take(&mut worker.abandon);
        for attempt in running {
            if !self.leases.is_held_by(attempt, id) && !abandon.contains(attempt) {
                abandon.push(attempt.clone());
            }
        }
        // A lease the worker does not know about (its reply was lost) would
        // otherwise hold the shard forever: hand it back, uncounted. One
        // whose completion is being verified is known, just finished.
        let lost: Vec<AttemptId> = worker
            .running
            .iter()
            .filter(|a| !running.contains(a))
            .filter(|a| {
                self.leases.get(a).is_some_and(|l| {
                    l.state == LeaseState::Running && now.duration_since(l.granted_at) > self.timing.lease_timeout
                })
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
        Ok(self.lease_many(id, 1, now)?.pop())
    }

    /// Up to `max` shards for the worker (never more than its free capacity),
    /// each picked as [`Scheduler::lease`] picks one.
    pub fn lease_many(&mut self, id: &WorkerId, max: usize, now: Instant) -> Result<Vec<LeaseGrant>, SchedulerError> {
        let worker = self.workers.get_mut(id).ok_or_else(|| unknown_worker(id))?;
        // Asking for work is as good a sign of life as a heartbeat.
        worker.last_seen = now;
        let room = worker.capacity.saturating_sub(worker.running.len()).min(max);
        let mut grants = Vec::with_capacity(room);
        while grants.len() < room {
            let Some((job, i)) = self.pick_for(id, now) else { break };
            let attempt = AttemptId(self.next_id("a"));
            if let Some(w) = self.workers.get_mut(id) {
                w.running.insert(attempt.clone());
            }
            grants.push(self.grant(job, i, attempt, id.clone(), now));
        }
        Ok(grants)
    }

    /// Removes and returns the ready entry `worker` should run next. Stale
    /// entries at the front are dropped here and skipped elsewhere (the
    /// tick drops the rest), so a lease costs the distance to the entry
    /// taken, not the length of the queue.
    fn pick_for(&mut self, id: &WorkerId, now: Instant) -> Option<(JobId, usize)> {
        while self.ready.front().is_some_and(|e| !self.is_ready(e)) {
            self.ready.pop_front();
        }
        let worker = self.workers.get(id)?;
        let shard = |(job, i): &(JobId, usize)| &self.jobs[job].shards[*i];
        let leasable = |e: &(JobId, usize)| self.is_ready(e);
        let pos = self
            .ready
            .iter()
            .position(|e| leasable(e) && worker.holds(shard(e).model_key.as_deref()))
            .or_else(|| {
                self.ready
                    .iter()
                    .position(|e| leasable(e) && !self.workers.idle_other_holds(id, shard(e).model_key.as_deref(), now, HOLDER_RECENT))
            })?;
        self.ready.remove(pos)
    }

    /// Queues a shard that became runnable: aggregates for the coordinator,
    /// everything else for workers.
    fn enqueue(&mut self, job: JobId, i: usize) {
        if self.jobs.get(&job).is_some_and(|j| j.shards[i].kind == ShardKind::Aggregate) {
            self.local_ready.push_back((job, i));
        } else {
            self.ready.push_back((job, i));
        }
    }

    fn is_ready(&self, (job, i): &(JobId, usize)) -> bool {
        self.jobs.get(job).is_some_and(|j| j.outcome.is_none() && j.state[*i].phase == ShardPhase::Ready)
    }

    /// The one grant path: shard `i` of `job` runs as `attempt`, held by `holder`.
    fn grant(&mut self, job_id: JobId, i: usize, attempt: AttemptId, holder: WorkerId, now: Instant) -> LeaseGrant {
        let job = self.jobs.get_mut(&job_id).expect("granted shards belong to known jobs");
        job.start(i, attempt.clone());
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
        self.leases.insert(attempt, Lease { job: job_id.clone(), shard: i, holder, granted_at: now, state: LeaseState::Running });
        self.changed.insert(job_id);
        grant
    }

    /// Forgets ready entries whose job finished or whose shard moved on.
    fn drop_stale_ready(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        self.ready = ready.into_iter().filter(|e| self.is_ready(e)).collect();
    }

    /// The shard a report is about, if `attempt` is `worker`'s current lease.
    pub fn current(&self, worker: &WorkerId, attempt: &AttemptId) -> Result<(JobId, ShardId), ReportAck> {
        match self.leases.get(attempt) {
            Some(l) if &l.holder == worker => Ok((l.job.clone(), self.jobs[&l.job].shards[l.shard].id.clone())),
            Some(_) => Err(ReportAck::Ignored(format!("attempt {attempt} is leased to another worker"))),
            None => Err(ReportAck::Ignored(format!("attempt {attempt} is not a current lease"))),
        }
    }

    pub fn progress(&mut self, worker: &WorkerId, attempt: &AttemptId, done: u64, total: u64) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = self.leases.get(attempt).expect("checked by current");
        if let Some(job) = self.jobs.get_mut(&lease.job) {
            job.report_progress(lease.shard, done, total);
            self.changed.insert(lease.job.clone());
        }
        ReportAck::Accepted
    }

    /// A completion was reported for `attempt` and is being checked in the
    /// store (`verifying`), or the check found nothing and it runs on.
    pub fn set_verifying(&mut self, attempt: &AttemptId, verifying: bool) {
        if let Some(lease) = self.leases.get_mut(attempt) {
            lease.state = if verifying { LeaseState::Verifying } else { LeaseState::Running };
        }
    }

    /// Records a commit the caller verified in the store.
    pub fn complete(&mut self, worker: &WorkerId, attempt: &AttemptId) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = self.release(attempt);
        let job = self.jobs.get_mut(&lease.job).expect("leases point at known jobs");
        let shard = &job.shards[lease.shard];
        if matches!(shard.kind, ShardKind::TextEmbedding | ShardKind::ImageEmbedding | ShardKind::Score) {
            if let Ok(spec) = rwclip_plan::ShardSpec::from_json(&shard.spec_json) {
                let items = spec.items();
                self.counters.prompts += items.prompts;
                self.counters.images += items.images;
            }
        }
        let ready = job.commit(lease.shard);
        job.settle();
        for i in ready {
            self.enqueue(lease.job.clone(), i);
        }
        self.changed.insert(lease.job);
        ReportAck::Accepted
    }

    pub fn fail(&mut self, worker: &WorkerId, attempt: &AttemptId, failure: &ShardFailure) -> ReportAck {
        if let Err(ack) = self.current(worker, attempt) {
            return ack;
        }
        let lease = self.release(attempt);
        let job = self.jobs.get_mut(&lease.job).expect("leases point at known jobs");
        if job.fail(lease.shard, failure, self.timing.max_attempts) {
            self.enqueue(lease.job.clone(), lease.shard);
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
        if let Some(r) = job.index_of(reporter) {
            let state = &mut job.state[r];
            state.attempts = state.attempts.saturating_sub(1);
        }
        let indices: Vec<usize> = lost.iter().filter_map(|id| job.index_of(id)).collect();
        let again: Vec<usize> = indices.into_iter().filter(|&i| job.uncommit(i)).collect();
        for i in again {
            self.enqueue(job_id.clone(), i);
        }
        self.changed.insert(job_id.clone());
    }

    /// Releases every lease of job `id`; their workers are told at their
    /// next heartbeat to drop the attempts without reporting.
    fn abandon_leases(&mut self, id: &JobId) {
        for attempt in self.leases.of_job(id) {
            let lease = self.release(&attempt);
            if let Some(w) = self.workers.get_mut(&lease.holder) {
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
        self.drop_stale_ready();
        for worker in self.workers.expire(now, self.timing.lease_timeout) {
            for attempt in worker.running {
                self.requeue(&attempt);
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
                let pending = job.shards.len() - job.tally().committed;
                job.outcome = Some(JobOutcome::Failed(format!(
                    "no worker registered for {grace:?}; {pending} shard(s) never ran"
                )));
                self.changed.insert(job.id.clone());
            }
        }
    }

    pub fn view(&self, id: &JobId) -> Result<JobView, SchedulerError> {
        let store = self.store_trouble();
        self.jobs.get(id).map(|j| JobView::of(j, store)).ok_or_else(|| unknown_job(id))
    }

    /// What is failing at the store right now, if anything.
    pub fn store_trouble(&self) -> Option<String> {
        super::view::store_trouble(self.workers.iter().map(|(_, w)| w))
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A store operation beside the loop failed.
    pub fn store_error(&mut self) {
        self.counters.store_errors += 1;
    }

    /// Every registered worker, with the shards its attempts are running.
    pub fn worker_views(&self, now: Instant) -> Vec<WorkerView> {
        let shard_of = |a: &AttemptId| self.leases.get(a).map(|l| self.jobs[&l.job].shards[l.shard].id.clone());
        self.workers.iter().map(|(id, w)| WorkerView::of(id, w, w.running.iter().filter_map(shard_of).collect(), now)).collect()
    }

    pub fn views(&self) -> Vec<JobView> {
        let store = self.store_trouble();
        self.jobs.values().map(|j| JobView::of(j, store.clone())).collect()
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
        self.local_ready.retain(|(job, _)| job != id);
        self.jobs.remove(id);
    }

    /// Ready aggregate shards, now leased to the coordinator itself.
    pub fn take_local_work(&mut self, now: Instant) -> Vec<LocalWork> {
        let local: Vec<(JobId, usize)> = std::mem::take(&mut self.local_ready).into_iter().filter(|e| self.is_ready(e)).collect();
        let mut work = Vec::new();
        for (job, i) in local {
            let attempt = AttemptId(self.next_id("c"));
            let grant = self.grant(job, i, attempt, WorkerId::coordinator(), now);
            let attempts = self.jobs[&grant.job].state[i].attempts;
            work.push(LocalWork { job: grant.job, shard: grant.shard, attempt: grant.attempt, spec_json: grant.spec_json, attempts });
        }
        work
    }

    /// Jobs whose shards all committed and whose results are not published
    /// yet; marks them as being published.
    pub fn take_publish_work(&mut self, now: Instant) -> Vec<PublishWork> {
        let mut work = Vec::new();
        for job in self.jobs.values_mut() {
            if job.outcome != Some(JobOutcome::Succeeded) || job.results != ResultsState::Pending {
                continue;
            }
            let Some(aggregate) = job.shards.iter().find(|s| s.kind == ShardKind::Aggregate) else { continue };
            let wall_s = now.saturating_duration_since(job.submitted_at).as_secs_f64();
            work.push(PublishWork { job: job.id.clone(), aggregate: aggregate.id.clone(), output_uri: job.output_uri.clone(), wall_s });
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
            .and_then(|j| j.index_of(shard).map(|i| j.state[i].attempt_history.clone()))
            .unwrap_or_default()
    }

    /// Removes a lease from the books (the shard's phase is the caller's job).
    fn release(&mut self, attempt: &AttemptId) -> Lease {
        let lease = self.leases.remove(attempt).expect("caller checked the lease");
        if let Some(w) = self.workers.get_mut(&lease.holder) {
            w.running.remove(attempt);
        }
        lease
    }

    /// Puts a leased shard back in the queue without counting an attempt.
    fn requeue(&mut self, attempt: &AttemptId) {
        let Some(lease) = self.leases.remove(attempt) else { return };
        if let Some(w) = self.workers.get_mut(&lease.holder) {
            w.running.remove(attempt);
        }
        if let Some(job) = self.jobs.get_mut(&lease.job) {
            job.requeue(lease.shard);
            self.enqueue(lease.job.clone(), lease.shard);
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
