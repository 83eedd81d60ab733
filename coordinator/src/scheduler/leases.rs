//! The lease book: which attempt of which shard each holder runs.

use std::collections::HashMap;

use rwclip_plan::{AttemptId, JobId};
use tokio::time::Instant;

use super::workers::WorkerId;

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Running,
    /// Reported complete; its commit is being checked in the store. The
    /// holder no longer lists it as running, which is not a lost lease.
    Verifying,
}

#[derive(Debug)]
pub struct Lease {
    pub job: JobId,
    /// The shard's index in its job.
    pub shard: usize,
    pub holder: WorkerId,
    pub granted_at: Instant,
    pub state: LeaseState,
}

#[derive(Debug, Default)]
pub struct LeaseBook {
    leases: HashMap<AttemptId, Lease>,
}

impl LeaseBook {
    pub fn insert(&mut self, attempt: AttemptId, lease: Lease) {
        self.leases.insert(attempt, lease);
    }

    pub fn get(&self, attempt: &AttemptId) -> Option<&Lease> {
        self.leases.get(attempt)
    }

    pub fn get_mut(&mut self, attempt: &AttemptId) -> Option<&mut Lease> {
        self.leases.get_mut(attempt)
    }

    pub fn remove(&mut self, attempt: &AttemptId) -> Option<Lease> {
        self.leases.remove(attempt)
    }

    /// Whether `attempt` is a lease held by `holder`.
    pub fn is_held_by(&self, attempt: &AttemptId, holder: &WorkerId) -> bool {
        self.leases.get(attempt).is_some_and(|l| &l.holder == holder)
    }

    /// Every attempt leased for job `job`.
    pub fn of_job(&self, job: &JobId) -> Vec<AttemptId> {
        self.leases.iter().filter(|(_, l)| &l.job == job).map(|(a, _)| a.clone()).collect()
    }
}
