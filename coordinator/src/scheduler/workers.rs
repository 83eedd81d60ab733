//! The worker registry: who is connected, what each holds and can take.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rwclip_store::retry::StoreHealth;
use rwclip_plan::AttemptId;
use tokio::time::Instant;

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

/// What a worker says about itself when it registers.
#[derive(Debug, Clone)]
pub struct WorkerRegistration {
    pub protocol_version: u32,
    pub name: String,
    pub device: String,
    pub capacity: u32,
    pub loaded_models: Vec<String>,
}

#[derive(Debug)]
pub struct Worker {
    pub name: String,
    pub device: String,
    pub capacity: usize,
    pub loaded_models: HashSet<String>,
    pub last_seen: Instant,
    pub running: BTreeSet<AttemptId>,
    /// Attempts to tell the worker to drop at its next heartbeat.
    pub abandon: Vec<AttemptId>,
    /// Its store calls as its last heartbeat told.
    pub store: StoreHealth,
}

impl Worker {
    pub fn has_room(&self) -> bool {
        self.running.len() < self.capacity
    }

    /// Whether the worker holds the model a shard needs (or it needs none).
    pub fn holds(&self, model_key: Option<&str>) -> bool {
        model_key.is_none_or(|k| self.loaded_models.contains(k))
    }
}

#[derive(Debug, Default)]
pub struct WorkerRegistry {
    workers: BTreeMap<WorkerId, Worker>,
}

impl WorkerRegistry {
    pub fn insert(&mut self, id: WorkerId, registration: WorkerRegistration, now: Instant) {
        self.workers.insert(
            id,
            Worker {
                name: registration.name,
                device: registration.device,
                capacity: registration.capacity as usize,
                loaded_models: registration.loaded_models.into_iter().collect(),
                last_seen: now,
                running: BTreeSet::new(),
                abandon: Vec::new(),
                store: StoreHealth::default(),
            },
        );
    }

    pub fn get(&self, id: &WorkerId) -> Option<&Worker> {
        self.workers.get(id)
    }

    pub fn get_mut(&mut self, id: &WorkerId) -> Option<&mut Worker> {
        self.workers.get_mut(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&WorkerId, &Worker)> {
        self.workers.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Whether a worker other than `except` has room, holds `model_key` and
    /// asked for work within `recent` (a shard of that model is better left
    /// to it). An idle worker asks every second or so; one that went away
    /// without a word must not hold shards back until its lease expires.
    pub fn idle_other_holds(&self, except: &WorkerId, model_key: Option<&str>, now: Instant, recent: std::time::Duration) -> bool {
        let Some(key) = model_key else { return false };
        self.workers
            .iter()
            .any(|(id, w)| id != except && w.has_room() && w.loaded_models.contains(key) && now.duration_since(w.last_seen) <= recent)
    }

    /// Removes workers silent for longer than `timeout`; returns them.
    pub fn expire(&mut self, now: Instant, timeout: std::time::Duration) -> Vec<Worker> {
        let dead: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        dead.iter().filter_map(|id| self.workers.remove(id)).collect()
    }
}
