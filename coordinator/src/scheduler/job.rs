//! One job's shards and their progress through the DAG.

use std::collections::{HashMap, HashSet};

use rwclip_report::aggregate::PublishedResults;
use rwclip_core::failure::{FailureClass, ShardFailure};
use rwclip_plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};

use super::SchedulerError;
use crate::failure::{verdict, Verdict};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPhase {
    /// `missing` dependencies are not committed yet.
    Waiting { missing: usize },
    Ready,
    Running { attempt: AttemptId },
    Committed,
    Failed,
}

#[derive(Debug, Clone)]
pub struct ShardState {
    pub phase: ShardPhase,
    /// Counted attempts (worker loss does not count).
    pub attempts: u32,
    pub last_reason: Option<String>,
    pub last_class: Option<FailureClass>,
    pub progress: (u64, u64),
    /// Every attempt ever leased (counted or not), so the losers' parts can
    /// be garbage-collected once one of them commits.
    pub attempt_history: Vec<AttemptId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    Failed(String),
    Cancelled,
}

/// Publishing a finished job's results to its output location. A job whose
/// shards all committed is reported succeeded only once this is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsState {
    /// No aggregate shard or no output location (hand-built plans).
    NotNeeded,
    Pending,
    Publishing,
    Published(PublishedResults),
    Failed(String),
}

/// Shards per phase of one shard kind, kept as phases change so that a
/// job's progress costs nothing to read however many shards it has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseTally {
    pub total: usize,
    pub waiting: usize,
    pub ready: usize,
    pub running: usize,
    pub committed: usize,
    pub failed: usize,
    /// Items (images, frames, prompts) the running and committed shards
    /// reported done since the job was loaded.
    pub items_done: u64,
}

impl PhaseTally {
    fn slot(&mut self, phase: &ShardPhase) -> &mut usize {
        match phase {
            ShardPhase::Waiting { .. } => &mut self.waiting,
            ShardPhase::Ready => &mut self.ready,
            ShardPhase::Running { .. } => &mut self.running,
            ShardPhase::Committed => &mut self.committed,
            ShardPhase::Failed => &mut self.failed,
        }
    }

    fn add(&mut self, other: &PhaseTally) {
        self.total += other.total;
        self.waiting += other.waiting;
        self.ready += other.ready;
        self.running += other.running;
        self.committed += other.committed;
        self.failed += other.failed;
        self.items_done += other.items_done;
    }
}

#[derive(Debug)]
pub struct ScheduledJob {
    pub id: JobId,
    /// The job file's `name` and output URI ("" when unknown).
    pub name: String,
    pub output_uri: String,
    pub results: ResultsState,
    pub shards: Vec<PlannedShard>,
    pub state: Vec<ShardState>,
    /// For each shard, the shards that depend on it.
    pub dependents: Vec<Vec<usize>>,
    pub outcome: Option<JobOutcome>,
    pub submitted_at: tokio::time::Instant,
    /// Per shard kind present in the plan, in pipeline order.
    tallies: std::collections::BTreeMap<ShardKind, PhaseTally>,
    /// Shards that failed for good.
    failed: std::collections::BTreeSet<usize>,
    /// Shard id to its index in `shards`.
    index: HashMap<ShardId, usize>,
}

impl ScheduledJob {
    /// Checks the plan is a DAG over known, unique ids; `committed` shards
    /// count as done already (their manifests exist in the store).
    pub fn new(
        id: JobId,
        shards: Vec<PlannedShard>,
        committed: &HashSet<ShardId>,
        now: tokio::time::Instant,
    ) -> Result<ScheduledJob, SchedulerError> {
        let mut index = HashMap::with_capacity(shards.len());
        for (i, shard) in shards.iter().enumerate() {
            if index.insert(shard.id.clone(), i).is_some() {
                return Err(SchedulerError::InvalidPlan(format!(
                    "job {id}: shard {} appears twice",
                    shard.id
                )));
            }
        }
        let mut dependents = vec![Vec::new(); shards.len()];
        for (i, shard) in shards.iter().enumerate() {
            for dep in &shard.deps {
                let Some(&d) = index.get(dep) else {
                    return Err(SchedulerError::InvalidPlan(format!(
                        "job {id}: shard {} depends on unknown shard {dep}",
                        shard.id
                    )));
                };
                dependents[d].push(i);
            }
        }
        check_acyclic(&id, &shards, &index, &dependents)?;
        let state: Vec<ShardState> = shards
            .iter()
            .map(|shard| {
                let phase = if committed.contains(&shard.id) {
                    ShardPhase::Committed
                } else {
                    let missing = shard.deps.iter().filter(|d| !committed.contains(*d)).count();
                    if missing == 0 {
                        ShardPhase::Ready
                    } else {
                        ShardPhase::Waiting { missing }
                    }
                };
                ShardState {
                    phase,
                    attempts: 0,
                    last_reason: None,
                    last_class: None,
                    progress: (0, 0),
                    attempt_history: Vec::new(),
                }
            })
            .collect();
        let results = if shards.iter().any(|s| s.kind == ShardKind::Aggregate) {
            ResultsState::Pending
        } else {
            ResultsState::NotNeeded
        };
        let mut tallies = std::collections::BTreeMap::<ShardKind, PhaseTally>::new();
        for (shard, s) in shards.iter().zip(&state) {
            let tally = tallies.entry(shard.kind).or_default();
            tally.total += 1;
            *tally.slot(&s.phase) += 1;
        }
        Ok(ScheduledJob {
            id,
            name: String::new(),
            output_uri: String::new(),
            results,
            shards,
            state,
            dependents,
            outcome: None,
            submitted_at: now,
            tallies,
            failed: std::collections::BTreeSet::new(),
            index,
        })
    }

    /// The one way a shard's phase changes, keeping the tallies.
    fn set_phase(&mut self, i: usize, phase: ShardPhase) {
        let tally = self.tallies.get_mut(&self.shards[i].kind).expect("every kind is tallied");
        *tally.slot(&self.state[i].phase) -= 1;
        *tally.slot(&phase) += 1;
        // Work counts while it runs and once committed; a lost or undone
        // attempt's does not.
        if !matches!(phase, ShardPhase::Running { .. } | ShardPhase::Committed) {
            tally.items_done -= self.state[i].progress.0;
            self.state[i].progress = (0, 0);
        }
        if phase == ShardPhase::Failed {
            self.failed.insert(i);
        } else {
            self.failed.remove(&i);
        }
        self.state[i].phase = phase;
    }

    /// Per shard kind, in pipeline order.
    pub fn tallies(&self) -> &std::collections::BTreeMap<ShardKind, PhaseTally> {
        &self.tallies
    }

    /// Every kind together.
    pub fn tally(&self) -> PhaseTally {
        let mut all = PhaseTally::default();
        for t in self.tallies.values() {
            all.add(t);
        }
        all
    }

    /// Indices of the shards that failed for good, in plan order.
    pub fn failed_shards(&self) -> impl Iterator<Item = usize> + '_ {
        self.failed.iter().copied()
    }

    /// The outcome clients see: a job whose shards all committed is still
    /// running until its results are published.
    pub fn visible_outcome(&self) -> Option<JobOutcome> {
        match (&self.outcome, &self.results) {
            (Some(JobOutcome::Succeeded), ResultsState::Pending | ResultsState::Publishing) => None,
            (Some(JobOutcome::Succeeded), ResultsState::Failed(reason)) => Some(JobOutcome::Failed(reason.clone())),
            (outcome, _) => outcome.clone(),
        }
    }

    /// Shard `i` runs as `attempt`.
    pub fn start(&mut self, i: usize, attempt: AttemptId) {
        self.set_phase(i, ShardPhase::Running { attempt: attempt.clone() });
        let state = &mut self.state[i];
        state.attempt_history.push(attempt);
    }

    /// The running shard `i` has done `done` of `total` items.
    pub fn report_progress(&mut self, i: usize, done: u64, total: u64) {
        if !matches!(self.state[i].phase, ShardPhase::Running { .. }) {
            return;
        }
        let tally = self.tallies.get_mut(&self.shards[i].kind).expect("every kind is tallied");
        tally.items_done = tally.items_done - self.state[i].progress.0 + done;
        self.state[i].progress = (done, total);
    }

    /// Shard `i` lost its lease through no fault of its own: ready again.
    pub fn requeue(&mut self, i: usize) {
        self.set_phase(i, ShardPhase::Ready);
    }

    /// Shard `i`'s attempt failed; returns true when it is ready to run again.
    pub fn fail(&mut self, i: usize, failure: &ShardFailure, max_attempts: u32) -> bool {
        let state = &mut self.state[i];
        if failure.class.is_counted() {
            state.attempts += 1;
            state.last_reason = Some(failure.reason.clone());
            state.last_class = Some(failure.class);
        }
        match verdict(failure, state.attempts, max_attempts) {
            Verdict::Retry | Verdict::Requeue => {
                self.set_phase(i, ShardPhase::Ready);
                true
            }
            Verdict::Fail(reason) => {
                state.last_reason = Some(reason);
                state.last_class = Some(failure.class);
                self.set_phase(i, ShardPhase::Failed);
                self.settle();
                false
            }
        }
    }

    /// The index of shard `id`.
    pub fn index_of(&self, id: &ShardId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Marks shard `i` committed; returns dependents that became ready.
    pub fn commit(&mut self, i: usize) -> Vec<usize> {
        self.set_phase(i, ShardPhase::Committed);
        let mut ready = Vec::new();
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            if let ShardPhase::Waiting { missing } = &mut self.state[d].phase {
                *missing -= 1;
                if *missing == 0 {
                    self.set_phase(d, ShardPhase::Ready);
                    ready.push(d);
                }
            }
        }
        ready
    }

    /// Shard `i`'s committed output is gone from the store: it runs again,
    /// and dependents not yet running wait for it again. Returns true when
    /// it became ready to run.
    pub fn uncommit(&mut self, i: usize) -> bool {
        if self.state[i].phase != ShardPhase::Committed {
            return false;
        }
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            match &mut self.state[d].phase {
                ShardPhase::Waiting { missing } => *missing += 1,
                ShardPhase::Ready => self.set_phase(d, ShardPhase::Waiting { missing: 1 }),
                _ => {}
            }
        }
        let missing = self.shards[i]
            .deps
            .iter()
            .filter(|dep| self.index_of(dep).is_some_and(|j| self.state[j].phase != ShardPhase::Committed))
            .count();
        self.set_phase(i, if missing == 0 { ShardPhase::Ready } else { ShardPhase::Waiting { missing } });
        missing == 0
    }

    /// Decides the outcome once nothing can progress: all committed, or no
    /// shard running or ready (the rest wait behind failed shards).
    pub fn settle(&mut self) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        let tally = self.tally();
        let committed = tally.committed;
        if committed == self.shards.len() {
            self.outcome = Some(JobOutcome::Succeeded);
            return true;
        }
        if tally.ready + tally.running > 0 {
            return false;
        }
        let failed = tally.failed;
        let blocked = self.shards.len() - committed - failed;
        self.outcome = Some(JobOutcome::Failed(format!(
            "{failed} shard(s) failed; {blocked} shard(s) blocked behind them"
        )));
        true
    }
}

/// Kahn's algorithm: a plan whose shards cannot all be ordered has a cycle
/// and would wait forever.
fn check_acyclic(
    id: &JobId,
    shards: &[PlannedShard],
    index: &HashMap<ShardId, usize>,
    dependents: &[Vec<usize>],
) -> Result<(), SchedulerError> {
    let mut indegree: Vec<usize> = shards.iter().map(|s| s.deps.len()).collect();
    let mut queue: Vec<usize> = (0..shards.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                queue.push(d);
            }
        }
    }
    if seen == shards.len() {
        return Ok(());
    }
    let stuck = (0..shards.len()).find(|&i| indegree[i] > 0).map(|i| &shards[i].id);
    debug_assert!(stuck.is_some_and(|s| index.contains_key(s)));
    Err(SchedulerError::InvalidPlan(format!(
        "job {id}: dependency cycle through shard {}",
        stuck.map(|s| s.0.as_str()).unwrap_or("?")
    )))
}
