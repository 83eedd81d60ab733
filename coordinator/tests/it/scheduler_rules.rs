//! Scheduling rules on the pure state machine, with time passed explicitly.

use std::collections::HashSet;
use std::time::Duration;

use rwclip_plan::{JobId, PlannedShard, ShardId, ShardKind};
use rwclip_core::failure::ShardFailure;
use rwclip_coordinator::scheduler::{JobOutcome, WorkerRegistration, ReportAck, Scheduler, SchedulerError, Timing, WorkerId};
use tokio::time::Instant;

fn shard(id: &str, deps: &[&str], model: Option<&str>) -> PlannedShard {
    PlannedShard {
        id: ShardId(id.to_string()),
        kind: ShardKind::Trial,
        deps: deps.iter().map(|d| ShardId(d.to_string())).collect(),
        model_key: model.map(str::to_string),
        spec_json: format!("{{\"shard\":\"{id}\"}}"),
    }
}

fn timing() -> Timing {
    Timing {
        heartbeat_interval: Duration::from_secs(5),
        lease_timeout: Duration::from_secs(30),
        worker_grace: Duration::from_secs(60),
        max_attempts: 4,
    }
}

fn worker(s: &mut Scheduler, name: &str, models: &[&str], now: Instant) -> WorkerId {
    s.register(
        WorkerRegistration {
            protocol_version: rwclip_proto::PROTOCOL_VERSION,
            name: name.into(),
            device: "cpu".into(),
            capacity: 1,
            loaded_models: models.iter().map(|m| m.to_string()).collect(),
        },
        now,
    )
    .expect("registration")
}

fn job(s: &mut Scheduler, shards: Vec<PlannedShard>, now: Instant) -> JobId {
    let id = JobId("job".into());
    s.add_job(id.clone(), shards, &HashSet::new(), now).expect("valid plan");
    id
}

#[test]
fn dependents_wait_for_commits() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None), shard("b", &["a"], None)], t0);
    let w = worker(&mut s, "w", &[], t0);
    let a = s.lease(&w, t0).unwrap().expect("a is ready");
    assert_eq!(a.shard.0, "a");
    assert_eq!(s.lease(&w, t0).unwrap(), None, "capacity 1 and b waits for a");
    assert_eq!(s.complete(&w, &a.attempt), ReportAck::Accepted);
    let b = s.lease(&w, t0).unwrap().expect("b ready once a committed");
    assert_eq!(b.dep_manifest_keys, vec!["shards/a/manifest.json".to_string()]);
    s.complete(&w, &b.attempt);
    assert_eq!(s.view(&j).unwrap().outcome, Some(JobOutcome::Succeeded));
}

#[test]
fn committed_shards_are_not_run_again() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let committed: HashSet<ShardId> = [ShardId("a".into())].into();
    let j = JobId("j".into());
    s.add_job(j.clone(), vec![shard("a", &[], None), shard("b", &["a"], None)], &committed, t0).unwrap();
    let w = worker(&mut s, "w", &[], t0);
    assert_eq!(s.lease(&w, t0).unwrap().unwrap().shard.0, "b");
}

#[test]
fn cycles_and_unknown_deps_are_refused() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let err = s.add_job(JobId("c".into()), vec![shard("a", &["b"], None), shard("b", &["a"], None)], &HashSet::new(), t0);
    assert!(matches!(err, Err(SchedulerError::InvalidPlan(m)) if m.contains("cycle")));
    let err = s.add_job(JobId("u".into()), vec![shard("a", &["zz"], None)], &HashSet::new(), t0);
    assert!(matches!(err, Err(SchedulerError::InvalidPlan(m)) if m.contains("unknown shard zz")));
}

#[test]
fn retryable_failures_stop_after_four_counted_attempts() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None), shard("b", &["a"], None)], t0);
    let w = worker(&mut s, "w", &[], t0);
    for attempt in 1..=4 {
        let l = s.lease(&w, t0).unwrap().expect("a is retried");
        assert_eq!(s.fail(&w, &l.attempt, &ShardFailure::retryable(format!("io error {attempt}"))), ReportAck::Accepted);
    }
    assert_eq!(s.lease(&w, t0).unwrap(), None);
    let view = s.view(&j).unwrap();
    assert!(matches!(view.outcome, Some(JobOutcome::Failed(ref r)) if r.contains("1 shard(s) blocked")));
    assert_eq!(view.failures.len(), 1);
    assert_eq!(view.failures[0].attempts, 4);
    assert!(view.failures[0].last_reason.contains("io error 4"), "{:?}", view.failures[0]);
}

#[test]
fn a_fatal_failure_fails_the_shard_at_once() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None)], t0);
    let w = worker(&mut s, "w", &[], t0);
    let l = s.lease(&w, t0).unwrap().unwrap();
    s.fail(&w, &l.attempt, &ShardFailure::bad_input("corrupt image x.jpg"));
    let view = s.view(&j).unwrap();
    assert!(matches!(view.outcome, Some(JobOutcome::Failed(_))));
    assert_eq!(view.failures[0].attempts, 1);
    assert!(view.failures[0].last_reason.contains("corrupt image x.jpg"));
}

#[test]
fn a_silent_worker_loses_its_lease_without_counting_an_attempt() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None)], t0);
    let dead = worker(&mut s, "dead", &[], t0);
    let l = s.lease(&dead, t0).unwrap().unwrap();
    let t1 = t0 + Duration::from_secs(20);
    let alive = worker(&mut s, "alive", &[], t1);
    s.tick(t0 + Duration::from_secs(31));
    let again = s.lease(&alive, t0 + Duration::from_secs(31)).unwrap().expect("re-queued");
    assert_eq!(again.shard.0, "a");
    assert_ne!(again.attempt, l.attempt);
    // The dead worker's late reports are stale and ignored.
    assert!(matches!(s.complete(&dead, &l.attempt), ReportAck::Ignored(_)));
    s.fail(&alive, &again.attempt, &ShardFailure::bad_input("x"));
    assert_eq!(s.view(&j).unwrap().failures[0].attempts, 1, "the lost lease was not counted");
}

#[test]
fn jobs_fail_when_no_worker_shows_up_within_the_grace_period() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None)], t0);
    s.tick(t0 + Duration::from_secs(59));
    assert_eq!(s.view(&j).unwrap().outcome, None);
    s.tick(t0 + Duration::from_secs(61));
    assert!(matches!(s.view(&j).unwrap().outcome, Some(JobOutcome::Failed(r)) if r.contains("no worker registered")));
}

#[test]
fn shards_prefer_workers_holding_their_model() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    job(&mut s, vec![shard("vit-b", &[], Some("B")), shard("vit-l", &[], Some("L"))], t0);
    let holds_l = worker(&mut s, "l", &["L"], t0);
    let holds_b = worker(&mut s, "b", &["B"], t0);
    assert_eq!(s.lease(&holds_l, t0).unwrap().unwrap().shard.0, "vit-l");
    assert_eq!(s.lease(&holds_b, t0).unwrap().unwrap().shard.0, "vit-b");
}

#[test]
fn cancel_abandons_running_attempts_via_heartbeat() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None), shard("b", &[], None)], t0);
    let w = worker(&mut s, "w", &[], t0);
    let l = s.lease(&w, t0).unwrap().unwrap();
    assert_eq!(s.cancel(&j).unwrap().outcome, Some(JobOutcome::Cancelled));
    let abandon = s.heartbeat(&w, std::slice::from_ref(&l.attempt), vec![], Default::default(), t0).unwrap();
    assert_eq!(abandon, vec![l.attempt.clone()]);
    assert_eq!(s.lease(&w, t0).unwrap(), None, "no leases for a cancelled job");
    assert!(matches!(s.complete(&w, &l.attempt), ReportAck::Ignored(_)));
}

#[test]
fn an_old_protocol_version_is_refused() {
    let mut s = Scheduler::new(timing(), "t".into(), Instant::now());
    let err = s.register(
        WorkerRegistration { protocol_version: 0, name: "old".into(), device: "cpu".into(), capacity: 1, loaded_models: vec![] },
        Instant::now(),
    );
    assert!(matches!(err, Err(SchedulerError::ProtocolMismatch { got: 0, .. })));
}

fn aggregate(id: &str, deps: &[&str]) -> PlannedShard {
    PlannedShard { kind: ShardKind::Aggregate, ..shard(id, deps, None) }
}

#[test]
fn aggregates_are_never_leased_but_run_by_the_coordinator() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("t", &[], None), aggregate("agg", &["t"])], t0);
    let w = worker(&mut s, "w", &[], t0);
    let t = s.lease(&w, t0).unwrap().expect("the trial");
    assert!(s.take_local_work(t0).is_empty(), "the aggregate waits for its trial");
    s.complete(&w, &t.attempt);
    assert_eq!(s.lease(&w, t0).unwrap(), None, "a ready aggregate is not leased to workers");
    let local = s.take_local_work(t0);
    assert_eq!(local.len(), 1);
    assert_eq!(local[0].shard.0, "agg");
    let stages = s.view(&j).unwrap().stages;
    assert_eq!((stages[1].kind, stages[1].running), (ShardKind::Aggregate, 1));
    assert_eq!(s.complete(&WorkerId::coordinator(), &local[0].attempt), ReportAck::Accepted);
    // All committed, but the job succeeds only once its results are published.
    assert_eq!(s.view(&j).unwrap().outcome, None);
    let publish = s.take_publish_work(Instant::now());
    assert_eq!(publish.len(), 1);
    s.results_published(&j, Err("output unreachable".into()));
    assert!(matches!(s.view(&j).unwrap().outcome, Some(JobOutcome::Failed(r)) if r.contains("output unreachable")));
}

#[test]
fn handed_back_attempts_are_not_counted() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    let j = job(&mut s, vec![shard("a", &[], None)], t0);
    let w = worker(&mut s, "w", &[], t0);
    for _ in 0..10 {
        let l = s.lease(&w, t0).unwrap().expect("leasable again");
        s.fail(&w, &l.attempt, &ShardFailure::handed_back("drain"));
    }
    let l = s.lease(&w, t0).unwrap().expect("still leasable");
    assert_eq!(s.attempts_of(&j, &l.shard).len(), 11, "every attempt is remembered for garbage collection");
    s.fail(&w, &l.attempt, &ShardFailure::bad_input("x"));
    let view = s.view(&j).unwrap();
    assert_eq!(view.failures[0].attempts, 1, "only the fatal attempt counted");
}

#[test]
fn one_lease_call_fills_the_free_capacity_and_no_more() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    job(&mut s, (0..5).map(|i| shard(&format!("s{i}"), &[], None)).collect(), t0);
    let w = s
        .register(
            WorkerRegistration {
                protocol_version: rwclip_proto::PROTOCOL_VERSION,
                name: "big".into(),
                device: "cpu".into(),
                capacity: 3,
                loaded_models: vec![],
            },
            t0,
        )
        .expect("registration");
    let first = s.lease_many(&w, 10, t0).unwrap();
    let shards: Vec<&str> = first.iter().map(|g| g.shard.0.as_str()).collect();
    assert_eq!(shards, ["s0", "s1", "s2"], "capacity 3 bounds a call asking for 10, in queue order");
    assert!(s.lease_many(&w, 10, t0).unwrap().is_empty(), "no room left");
    s.complete(&w, &first[1].attempt);
    let next = s.lease_many(&w, 10, t0).unwrap();
    assert_eq!(next.iter().map(|g| g.shard.0.as_str()).collect::<Vec<_>>(), ["s3"], "one slot freed, one shard");
    let views = s.worker_views(t0);
    assert_eq!(views.len(), 1);
    let held: Vec<&str> = views[0].shards.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(held, ["s0", "s2", "s3"], "the workers view lists the shards held");
    assert_eq!((views[0].name.as_str(), views[0].capacity), ("big", 3));
}

#[test]
fn a_silent_holder_of_the_model_does_not_hold_its_shards_back() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(timing(), "t".into(), t0);
    job(&mut s, vec![shard("vit-b", &[], Some("B"))], t0);
    let holder = worker(&mut s, "holder", &["B"], t0);
    let fresh = worker(&mut s, "fresh", &[], t0);
    assert_eq!(s.lease(&fresh, t0).unwrap(), None, "left to the idle holder that just registered");
    // The holder went away without a word (an idle exit); 4 s later the
    // shard goes to the worker that is asking, long before the holder's
    // 30 s lease timeout.
    let later = t0 + Duration::from_secs(4);
    assert_eq!(s.lease(&fresh, later).unwrap().expect("leased").shard.0, "vit-b");
    let _ = holder;
}
