//! The executor threads of a worker: one std thread per slot (`--capacity`),
//! each owning its libtorch models (an [`ExecContext`] is not `Send`) and a
//! [`BlockingStore`] (which blocks, so it must never run on the async
//! runtime). Leases come in over a shared queue; outcomes and progress go
//! back to the async side over a channel.

use std::cell::Cell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rwclip_artifacts::StoreError;
use rwclip_core::failure::ShardFailure;
use rwclip_plan::{AttemptId, ShardSpec};
use rwclip_store::shard_store::Manifest;
use tokio::sync::mpsc::UnboundedSender;

use rwclip_engine::blocking_store::BlockingStore;
use rwclip_engine::shard::{committed, execute, ExecContext, ShardError};

/// Progress reports of one attempt are sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// One leased attempt for a slot to run.
#[derive(Debug)]
pub struct Task {
    pub attempt: AttemptId,
    pub spec_json: String,
}

/// How an attempt ended, classified for `FailShard`.
#[derive(Debug)]
pub enum Outcome {
    /// The shard's committed manifest (ours, or an earlier attempt's).
    Committed(Manifest),
    /// Classified; the reason names the file, key or spec at fault.
    Failed(ShardFailure),
}

#[derive(Debug)]
pub enum SlotEvent {
    Progress { attempt: AttemptId, done: u64, total: u64 },
    Finished {
        slot: usize,
        attempt: AttemptId,
        outcome: Outcome,
        /// The slot's loaded model keys after the attempt.
        loaded_models: Vec<String>,
    },
    /// The slot could not open the store; the worker cannot run anything.
    StoreUnusable(StoreError),
}

/// The sending side of the slots' shared queue. Dropping it ends the
/// threads once they finish their current attempt.
pub struct Slots {
    queue: mpsc::Sender<Task>,
}

/// What every slot thread is configured with.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    pub device: tch::Device,
    pub model_cache: usize,
    pub store_uri: String,
    /// Recorded in the manifests this worker commits.
    pub worker_name: String,
}

impl Slots {
    pub fn spawn(count: usize, config: SlotConfig, events: UnboundedSender<SlotEvent>) -> std::io::Result<Slots> {
        let (queue, tasks) = mpsc::channel::<Task>();
        let tasks = Arc::new(Mutex::new(tasks));
        for slot in 0..count {
            let (config, tasks, events) = (config.clone(), tasks.clone(), events.clone());
            std::thread::Builder::new()
                .name(format!("rwclip-slot-{slot}"))
                .spawn(move || slot_thread(slot, config, tasks, events))?;
        }
        Ok(Slots { queue })
    }

    /// Queues an attempt; a free slot picks it up.
    pub fn submit(&self, task: Task) {
        // The threads only stop when `self` is dropped, so the queue is open.
        let _ = self.queue.send(task);
    }
}

fn slot_thread(slot: usize, config: SlotConfig, tasks: Arc<Mutex<mpsc::Receiver<Task>>>, events: UnboundedSender<SlotEvent>) {
    let store = match BlockingStore::open(&config.store_uri) {
        Ok(s) => s,
        Err(e) => {
            let _ = events.send(SlotEvent::StoreUnusable(e));
            return;
        }
    };
    let mut ctx = ExecContext::new(config.device, config.model_cache);
    loop {
        // Holding the lock while waiting is fine: an idle slot waiting here
        // is exactly the one that should take the next task.
        let task = match tasks.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else { return };
        let outcome = run_attempt(&task, &mut ctx, &store, &config.worker_name, &events);
        let loaded_models = ctx.loaded().into_iter().map(str::to_string).collect();
        let finished = SlotEvent::Finished { slot, attempt: task.attempt, outcome, loaded_models };
        if events.send(finished).is_err() {
            return;
        }
    }
}

/// Reuses the shard's committed manifest when there is one (an earlier
/// attempt committed, e.g. under a previous registration), else executes it.
fn run_attempt(task: &Task, ctx: &mut ExecContext, store: &BlockingStore, worker: &str, events: &UnboundedSender<SlotEvent>) -> Outcome {
    let last_sent = Cell::new(None::<Instant>);
    let progress = |done: u64, total: u64| {
        let due = last_sent.get().is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || done == total;
        if due {
            last_sent.set(Some(Instant::now()));
            let _ = events.send(SlotEvent::Progress { attempt: task.attempt.clone(), done, total });
        }
    };
    let result = ShardSpec::from_json(&task.spec_json)
        .map_err(ShardError::from)
        .and_then(|spec| match committed(store, &spec.id())? {
            Some(manifest) => Ok(manifest),
            None => execute(&spec, ctx, store, &task.attempt, worker, &progress),
        });
    match result {
        Ok(manifest) => Outcome::Committed(manifest),
        Err(e) => Outcome::Failed(ShardFailure::from(&e)),
    }
}
