//! The worker's one async loop: connection and registration, heartbeats,
//! leasing while a slot is free, reports, and the SIGTERM drain. All RPCs
//! are made from here, in order; the executor threads only compute.

use std::collections::HashMap;
use std::time::Duration;

use rwclip_plan::AttemptId;
use rwclip_proto::v1 as pb;
use rwclip_core::failure::ShardFailure;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::{sleep_until, Instant};

use super::link::Link;
use super::reports::{batch_len, send_front, Outbox, Report};
use super::session::{disposition, register, Disposition, Identity, Session};
use super::signals::Signals;
use super::slots::{Outcome, SlotConfig, SlotEvent, Slots, Task};
use super::{device_label, WorkerOptions};
use crate::error::{usage, EngineError, Result};
use crate::remote::{connect, RemoteError};

/// Lease polling backs off between these while nothing is runnable.
const LEASE_POLL_MIN: Duration = Duration::from_millis(200);
const LEASE_POLL_MAX: Duration = Duration::from_secs(1);
/// While unreachable, one line every this many failed reconnects.
const RECONNECT_LOG_EVERY: u32 = 20;

/// Runs until drained (SIGTERM/SIGINT), idle past `--exit-when-idle`, or a
/// fatal error (bad token, refused protocol version, unusable store).
pub async fn run_worker(options: WorkerOptions) -> Result<()> {
    let mut signals = Signals::install().map_err(|source| EngineError::Io { path: "signal handlers".to_string(), source })?;
    let (events_tx, events) = unbounded_channel();
    Worker::new(options, events_tx).run(&mut signals, events).await
}

/// One leased attempt a slot is working on.
struct Attempt {
    /// The registration it was leased under.
    generation: u64,
    shard: String,
    /// The coordinator told us to stop (cancelled job, lease lost): its
    /// result is not reported.
    abandoned: bool,
}

struct Worker {
    options: WorkerOptions,
    identity: Identity,
    events_tx: UnboundedSender<SlotEvent>,
    slots: Option<Slots>,
    link: Link,
    /// Registrations so far.
    generation: u64,
    running: HashMap<AttemptId, Attempt>,
    outbox: Outbox,
    /// Each slot's loaded model keys.
    loaded: Vec<Vec<String>>,
    next_heartbeat: Instant,
    next_lease: Instant,
    lease_backoff: Duration,
    drain_deadline: Option<Instant>,
    idle_since: Instant,
}

impl Worker {
    fn new(options: WorkerOptions, events_tx: UnboundedSender<SlotEvent>) -> Worker {
        let now = Instant::now();
        let identity = Identity {
            name: options.name.clone(),
            device: device_label(options.device),
            capacity: options.capacity as u32,
        };
        Worker {
            loaded: vec![Vec::new(); options.capacity],
            options,
            identity,
            events_tx,
            slots: None,
            link: Link::start(),
            generation: 0,
            running: HashMap::new(),
            outbox: Outbox::default(),
            next_heartbeat: now,
            next_lease: now,
            lease_backoff: LEASE_POLL_MIN,
            drain_deadline: None,
            idle_since: now,
        }
    }

    async fn run(mut self, signals: &mut Signals, mut events: UnboundedReceiver<SlotEvent>) -> Result<()> {
        loop {
            if self.drain_deadline.is_some() && self.reportable().is_empty() && self.outbox.is_empty() {
                self.log("drained; exiting");
                return Ok(());
            }
            let far = Instant::now() + Duration::from_secs(24 * 3600);
            let connected = self.connected();
            let connect_at = self.link.connect_at();
            let can_lease = connected && self.can_lease();
            let drain_deadline = self.drain_deadline;
            let idle_deadline = self.idle_deadline();
            tokio::select! {
                Some(event) = events.recv() => self.on_slot_event(event).await?,
                _ = sleep_until(connect_at.unwrap_or(far)), if connect_at.is_some() => self.connect().await?,
                _ = sleep_until(self.next_heartbeat), if connected => self.heartbeat().await?,
                _ = sleep_until(self.next_lease), if can_lease => self.lease().await?,
                name = signals.recv() => self.on_signal(name),
                _ = sleep_until(drain_deadline.unwrap_or(far)), if drain_deadline.is_some() => {
                    self.hand_back().await;
                    return Ok(());
                }
                _ = sleep_until(idle_deadline.unwrap_or(far)), if idle_deadline.is_some() => {
                    self.log(&format!("idle for {:?}; exiting (--exit-when-idle)", self.options.exit_when_idle.unwrap_or_default()));
                    return Ok(());
                }
            }
            if self.connected() {
                self.flush().await?;
            }
        }
    }

    fn log(&self, message: &str) {
        tracing::info!(worker = %self.options.name, "{message}");
    }

    fn warn(&self, message: &str) {
        tracing::warn!(worker = %self.options.name, "{message}");
    }

    fn connected(&self) -> bool {
        self.link.is_registered()
    }

    fn current_generation(&self) -> Option<u64> {
        self.link.registration().map(|r| r.generation)
    }

    /// Attempts whose outcome the current registration will report.
    fn reportable(&self) -> Vec<AttemptId> {
        let generation = self.current_generation();
        self.running
            .iter()
            .filter(|(_, a)| Some(a.generation) == generation && !a.abandoned)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn can_lease(&self) -> bool {
        self.drain_deadline.is_none() && self.slots.is_some() && self.running.len() < self.options.capacity
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let after = self.options.exit_when_idle?;
        (self.running.is_empty() && self.outbox.is_empty()).then_some(self.idle_since + after)
    }

    fn loaded_models(&self) -> Vec<String> {
        let mut all: Vec<String> = self.loaded.iter().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// Decides what a failed RPC means for the connection; `Err` only for
    /// failures that end the worker.
    fn on_rpc_error(&mut self, e: RemoteError) -> Result<()> {
        match disposition(e, &self.options.connect.url, &self.options.token_source) {
            Disposition::Reconnect(e) => {
                self.warn(&format!("{e}; reconnecting"));
                self.link.lost_channel();
            }
            Disposition::Reregister(e) => {
                self.warn(&format!("{e}; registering again"));
                self.link.forgotten();
            }
            Disposition::Fatal(e) => return Err(e.into()),
            Disposition::Drop(e) => self.warn(&format!("{e} (ignored)")),
        }
        Ok(())
    }

    /// Connects when down, and registers when connected. A reconnect keeps
    /// the registration: only the coordinator saying it does not know us
    /// (NotFound) makes us register again, so a network blip loses no reports.
    async fn connect(&mut self) -> Result<()> {
        if let Link::Down { .. } = self.link {
            let client = match connect(&self.options.connect).await {
                Ok(client) => client,
                Err(e) => return self.on_connect_failure(e),
            };
            match std::mem::replace(&mut self.link, Link::start()) {
                Link::Down { kept: Some(registration), .. } => {
                    self.link = Link::Registered { client, registration };
                    self.log("reconnected");
                    // Heartbeat at once: tells the coordinator we are alive,
                    // and tells us whether it still knows us.
                    self.next_heartbeat = Instant::now();
                    return Ok(());
                }
                _ => self.link = Link::Connected { client },
            }
        }
        let loaded = self.loaded_models();
        let Link::Connected { client } = &mut self.link else { return Ok(()) };
        match register(client, &self.identity, loaded, self.generation + 1).await {
            Ok(registration) => self.on_registered(registration),
            Err(e) => self.on_connect_failure(e),
        }
    }

    /// Retries with backoff while the coordinator is unreachable; any other
    /// refusal (bad token, protocol version, bad registration) is final.
    fn on_connect_failure(&mut self, e: RemoteError) -> Result<()> {
        if !e.is_transient() {
            return match disposition(e, &self.options.connect.url, &self.options.token_source) {
                Disposition::Fatal(e) | Disposition::Drop(e) | Disposition::Reconnect(e) | Disposition::Reregister(e) => Err(e.into()),
            };
        }
        if self.link.attempt_failed() % RECONNECT_LOG_EVERY == 0 {
            self.warn(&format!("{e}; retrying"));
        }
        Ok(())
    }

    fn on_registered(&mut self, registration: Session) -> Result<()> {
        self.generation = registration.generation;
        let dropped = self.outbox.clear();
        let stale = self.running.len();
        let mut line = format!(
            "registered as {} with {} (device {}, capacity {})",
            registration.worker_id, self.options.connect.url, self.identity.device, self.identity.capacity
        );
        if registration.generation > 1 {
            line.push_str(&format!(
                "; {dropped} unsent report(s) and {stale} running attempt(s) of the previous registration are dropped (the coordinator re-leases them)"
            ));
        }
        self.log(&line);
        if self.slots.is_none() {
            let store_uri = match (&self.options.store, registration.store_uri.is_empty()) {
                (Some(store), _) => store.clone(),
                (None, false) => registration.store_uri.clone(),
                (None, true) => {
                    return Err(usage(format!(
                        "the coordinator at {} did not say which store to use; pass --store URI",
                        self.options.connect.url
                    )))
                }
            };
            let config = SlotConfig {
                device: self.options.device,
                model_cache: self.options.model_cache,
                store_uri,
                worker_name: self.options.name.clone(),
            };
            let slots = Slots::spawn(self.options.capacity, config, self.events_tx.clone())
                .map_err(|source| EngineError::Io { path: "executor thread".to_string(), source })?;
            self.slots = Some(slots);
        }
        let now = Instant::now();
        self.next_heartbeat = now + registration.heartbeat_interval;
        self.next_lease = now;
        if let Link::Connected { client } = std::mem::replace(&mut self.link, Link::start()) {
            self.link = Link::Registered { client, registration };
        }
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<()> {
        let running_attempts = self.reportable().into_iter().map(|a| a.0).collect();
        let loaded_models = self.loaded_models();
        let Some((client, registration)) = self.link.registered() else { return Ok(()) };
        self.next_heartbeat = Instant::now() + registration.heartbeat_interval;
        let store = rwclip_store::retry::health();
        let calls = |list: &[((String, String), u64)]| list.iter().map(|((operation, cause), count)| pb::StoreCalls { operation: operation.clone(), cause: cause.clone(), count: *count }).collect();
        let request = pb::HeartbeatRequest {
            worker_id: registration.worker_id.clone(),
            running_attempts,
            loaded_models,
            store_retries: calls(&store.retries),
            store_gave_up: calls(&store.errors),
            store_failing_calls: store.failing_calls,
            store_failing_ms: store.failing_for.map_or(0, |d| d.as_millis() as u64),
        };
        match client.heartbeat(request).await {
            Ok(response) => {
                for id in response.into_inner().abandon_attempts.into_iter().map(AttemptId) {
                    if let Some(attempt) = self.running.get_mut(&id) {
                        attempt.abandoned = true;
                        let shard = attempt.shard.clone();
                        self.log(&format!("abandoning attempt {id} of shard {shard} (coordinator's request); its result will not be reported"));
                    }
                }
                Ok(())
            }
            Err(status) => self.on_rpc_error(RemoteError::rpc("Heartbeat")(status)),
        }
    }

    async fn lease(&mut self) -> Result<()> {
        let (Some((client, registration)), Some(slots)) = (self.link.registered(), self.slots.as_ref()) else {
            return Ok(());
        };
        // Every free slot is filled in one round trip.
        let free = self.options.capacity.saturating_sub(self.running.len()).max(1);
        let request = pb::LeaseShardRequest { worker_id: registration.worker_id.clone(), max_shards: free as u32 };
        let generation = registration.generation;
        match client.lease_shard(request).await {
            Ok(response) => {
                let leases = response.into_inner().leases;
                if leases.is_empty() {
                    self.next_lease = Instant::now() + self.lease_backoff;
                    self.lease_backoff = (self.lease_backoff * 2).min(LEASE_POLL_MAX);
                    return Ok(());
                }
                for lease in leases {
                    slots.submit(Task { attempt: AttemptId(lease.attempt_id.clone()), spec_json: lease.spec_json });
                    self.log(&format!("running shard {} (attempt {})", lease.shard_id, lease.attempt_id));
                    self.running.insert(AttemptId(lease.attempt_id), Attempt { generation, shard: lease.shard_id, abandoned: false });
                }
                let now = Instant::now();
                self.idle_since = now;
                self.lease_backoff = LEASE_POLL_MIN;
                self.next_lease = now;
                Ok(())
            }
            Err(status) => {
                self.next_lease = Instant::now() + self.lease_backoff;
                self.on_rpc_error(RemoteError::rpc("LeaseShard")(status))
            }
        }
    }

    async fn on_slot_event(&mut self, event: SlotEvent) -> Result<()> {
        match event {
            SlotEvent::Progress { attempt, done, total } => self.report_progress(attempt, done, total).await,
            SlotEvent::Finished { slot, attempt, outcome, loaded_models } => {
                if let Some(models) = self.loaded.get_mut(slot) {
                    *models = loaded_models;
                }
                self.on_finished(attempt, outcome);
                Ok(())
            }
            SlotEvent::StoreUnusable(e) => Err(EngineError::Store(e).into()),
        }
    }

    async fn report_progress(&mut self, attempt: AttemptId, done: u64, total: u64) -> Result<()> {
        if !self.reportable().contains(&attempt) {
            return Ok(());
        }
        let Some((client, registration)) = self.link.registered() else { return Ok(()) };
        let request = pb::ReportProgressRequest { worker_id: registration.worker_id.clone(), attempt_id: attempt.0, done, total };
        match client.report_progress(request).await {
            Ok(_) => Ok(()),
            Err(status) => self.on_rpc_error(RemoteError::rpc("ReportProgress")(status)),
        }
    }

    fn on_finished(&mut self, attempt: AttemptId, outcome: Outcome) {
        let now = Instant::now();
        self.idle_since = now;
        self.next_lease = now;
        let Some(state) = self.running.remove(&attempt) else { return };
        let id = attempt;
        if Some(state.generation) != self.current_generation() {
            self.log(&format!("attempt {id} of shard {} belongs to an earlier registration; its result is dropped", state.shard));
            return;
        }
        if state.abandoned {
            return;
        }
        let report = match outcome {
            Outcome::Committed(manifest) => match serde_json::to_string(&manifest) {
                Ok(manifest_json) => {
                    self.log(&format!("shard {} committed (attempt {})", state.shard, manifest.attempt));
                    Report::Complete { attempt: id, manifest_json }
                }
                Err(e) => Report::Fail {
                    attempt: id,
                    failure: ShardFailure::retryable(format!("cannot serialise the manifest of shard {}: {e}", state.shard)),
                },
            },
            Outcome::Failed(failure) => {
                self.warn(&format!("shard {} failed ({}): {}", state.shard, failure.class.label(), failure.reason));
                Report::Fail { attempt: id, failure }
            }
        };
        self.outbox.push(report);
    }

    /// Sends queued reports in order; stops at the first that cannot be sent.
    async fn flush(&mut self) -> Result<()> {
        while !self.outbox.is_empty() {
            let Some((client, registration)) = self.link.registered() else { break };
            let worker_id = registration.worker_id.clone();
            let reports = self.outbox.front_run();
            let sent = batch_len(reports);
            match send_front(reports, client, &worker_id).await {
                Ok(notes) => {
                    let ignored: Vec<String> = self
                        .outbox
                        .front_run()
                        .iter()
                        .zip(&notes)
                        .filter_map(|(report, note)| note.as_ref().map(|n| format!("the coordinator ignored the report of attempt {}: {n}", report.attempt())))
                        .collect();
                    for line in ignored {
                        self.warn(&line);
                    }
                    self.outbox.pop(sent);
                }
                Err(e) => {
                    let retry_later = e.is_transient() || matches!(&e, RemoteError::Rpc { status, .. } if status.code() == tonic::Code::NotFound);
                    if !retry_later {
                        self.outbox.pop(sent);
                    }
                    return self.on_rpc_error(e);
                }
            }
        }
        Ok(())
    }

    fn on_signal(&mut self, name: &str) {
        let now = Instant::now();
        match self.drain_deadline {
            None => {
                self.drain_deadline = Some(now + self.options.drain_timeout);
                self.log(&format!(
                    "{name}: draining: leasing no more shards; waiting up to {:?} for {} running",
                    self.options.drain_timeout,
                    self.reportable().len()
                ));
            }
            Some(_) => {
                self.drain_deadline = Some(now);
                self.log(&format!("{name} again: handing back running shards now"));
            }
        }
    }

    /// At the drain deadline: reports what finished, then gives the
    /// coordinator back what is still running (re-queued, not counted).
    async fn hand_back(&mut self) {
        if self.connected() {
            if let Err(e) = self.flush().await {
                self.warn(&format!("{e}"));
            }
        }
        let still_running = self.reportable();
        if still_running.is_empty() {
            return;
        }
        let Some((client, registration)) = self.link.registered() else {
            self.log(&format!(
                "cannot hand back {} running shard(s): not connected; the coordinator re-queues them when this worker's lease times out",
                still_running.len()
            ));
            return;
        };
        let reason = format!("worker {} shut down; drain timeout of {:?} reached", self.options.name, self.options.drain_timeout);
        let mut handed = 0;
        for attempt in &still_running {
            let report = Report::Fail { attempt: attempt.clone(), failure: ShardFailure::handed_back(reason.clone()) };
            match send_front(std::slice::from_ref(&report), client, &registration.worker_id).await {
                Ok(_) => handed += 1,
                Err(e) => tracing::warn!(worker = %self.options.name, "handing back attempt {attempt}: {e}"),
            }
        }
        self.log(&format!("handed back {handed} of {} running shard(s); exiting", still_running.len()));
    }
}
