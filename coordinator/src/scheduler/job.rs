//! One job's shards and their progress through the DAG.

use std::collections::{HashMap, HashSet};

use rwclip_common::aggregate::PublishedResults;
use rwclip_common::failure::{FailureClass, ShardFailure};
use rwclip_common::plan::{AttemptId, JobId, PlannedShard, ShardId, ShardKind};

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
        let state = shards
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
        })
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

    pub fn count(&self, pred: impl Fn(&ShardPhase) -> bool) -> usize {
        self.state.iter().filter(|s| pred(&s.phase)).count()
    }

    /// Shard `i` runs as `attempt`.
    pub fn start(&mut self, i: usize, attempt: AttemptId) {
        let state = &mut self.state[i];
        state.phase = ShardPhase::Running { attempt: attempt.clone() };
        state.attempt_history.push(attempt);
        state.progress = (0, 0);
    }

    /// Shard `i` lost its lease through no fault of its own: ready again.
    pub fn requeue(&mut self, i: usize) {
        self.state[i].phase = ShardPhase::Ready;
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
                state.phase = ShardPhase::Ready;
                true
            }
            Verdict::Fail(reason) => {
                state.phase = ShardPhase::Failed;
                state.last_reason = Some(reason);
                state.last_class = Some(failure.class);
                self.settle();
                false
            }
        }
    }

    /// The index of shard `id`.
    pub fn index_of(&self, id: &ShardId) -> Option<usize> {
        self.shards.iter().position(|s| &s.id == id)
    }

    /// Marks shard `i` committed; returns dependents that became ready.
    pub fn commit(&mut self, i: usize) -> Vec<usize> {
        self.state[i].phase = ShardPhase::Committed;
        let mut ready = Vec::new();
        for &d in &self.dependents[i] {
            if let ShardPhase::Waiting { missing } = &mut self.state[d].phase {
                *missing -= 1;
                if *missing == 0 {
                    self.state[d].phase = ShardPhase::Ready;
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
        for &d in &self.dependents[i] {
            match &mut self.state[d].phase {
                ShardPhase::Waiting { missing } => *missing += 1,
                phase @ ShardPhase::Ready => *phase = ShardPhase::Waiting { missing: 1 },
                _ => {}
            }
        }
        let missing = self.shards[i]
            .deps
            .iter()
            .filter(|dep| {
                self.shards
                    .iter()
                    .position(|s| &s.id == *dep)
                    .is_some_and(|j| self.state[j].phase != ShardPhase::Committed)
            })
            .count();
        self.state[i].phase = if missing == 0 { ShardPhase::Ready } else { ShardPhase::Waiting { missing } };
        missing == 0
    }

    /// Decides the outcome once nothing can progress: all committed, or no
    /// shard running or ready (the rest wait behind failed shards).
    pub fn settle(&mut self) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        let committed = self.count(|p| *p == ShardPhase::Committed);
        if committed == self.shards.len() {
            self.outcome = Some(JobOutcome::Succeeded);
            return true;
        }
        let active = self.count(|p| matches!(p, ShardPhase::Ready | ShardPhase::Running { .. }));
        if active > 0 {
            return false;
        }
        let failed = self.count(|p| *p == ShardPhase::Failed);
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
