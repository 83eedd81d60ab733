//! The coordinator end to end over gRPC on loopback: a temporary local store,
//! a hand-built planner, and fake workers that "execute" a shard by committing
//! its manifest (no libtorch). Timeouts are short so the suite runs in seconds;
//! every test is bounded by `tokio::time::timeout` so none can hang.

use crate::common;
use common::*;

#[tokio::test]
async fn a_job_runs_to_success_in_dependency_order_and_is_watched_to_the_end() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let submitted = submit(&mut client, "diamond a").await;
        assert_eq!((submitted.shards_total, submitted.shards_already_committed), (4, 0));

        let mut watch = client
            .watch_job(pb::WatchJobRequest { job_id: submitted.job_id.clone() })
            .await
            .expect("watch starts")
            .into_inner();
        let watcher = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(status) = watch.message().await.expect("watch stream healthy") {
                seen.push(status);
            }
            seen
        });

        let mut worker = FakeWorker::register(connect(&coordinator, None).await, &dir, "w1").await;
        let store = worker.store.clone();
        let mut order = Vec::new();
        while let Some(lease) = worker.lease().await {
            // Every dependency must already be committed when a shard is leased.
            for key in &lease.dep_manifest_keys {
                assert!(store.exists(key).await.expect("store readable"), "{} leased before dep {key}", lease.shard_id);
            }
            assert_eq!(lease.spec_json, r#"{"noop":true}"#);
            assert!(worker.complete(&lease).await.accepted);
            order.push(lease.shard_id);
        }
        assert_eq!(order.len(), 4, "capacity 1 still reaches every shard: {order:?}");
        assert_eq!(order[0], "trial-a-a");
        assert_eq!(order[3], "trial-a-d");

        let results = client
            .get_results(pb::GetResultsRequest { job_id: submitted.job_id.clone() })
            .await
            .expect("results")
            .into_inner();
        let status = results.status.expect("status present");
        assert_eq!(status.state, pb::JobState::Succeeded as i32);
        assert_eq!((status.shards_committed, status.shards_failed), (4, 0));
        let listed: BTreeSet<(String, String)> =
            results.committed.into_iter().map(|c| (c.shard_id, c.manifest_key)).collect();
        let expected: BTreeSet<(String, String)> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| format!("trial-a-{s}"))
            .map(|id| (id.clone(), manifest_key(&ShardId(id))))
            .collect();
        assert_eq!(listed, expected);

        let seen = watcher.await.expect("watcher task");
        let last = seen.last().expect("at least one snapshot");
        assert_eq!(last.state, pb::JobState::Succeeded as i32, "the stream ends on the final state");
        assert_eq!(last.shards_committed, 4);
        assert!(seen.windows(2).all(|w| w[0].shards_committed <= w[1].shards_committed), "progress never goes back");
        assert!(seen.len() >= 2, "progress was streamed, not just the end: {} snapshots", seen.len());
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn rpcs_need_the_configured_bearer_token() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, Some("s3cret")).await;
        let list = pb::ListJobsRequest {};

        let mut anonymous = connect(&coordinator, None).await;
        let err = anonymous.list_jobs(list).await.expect_err("no token is refused");
        assert_eq!(err.code(), Code::Unauthenticated, "{err}");
        let err = anonymous.register_worker(registration("w", PROTOCOL_VERSION)).await.expect_err("worker RPCs too");
        assert_eq!(err.code(), Code::Unauthenticated, "{err}");

        let mut wrong = connect(&coordinator, Some("guess")).await;
        let err = wrong.list_jobs(list).await.expect_err("a wrong token is refused");
        assert_eq!(err.code(), Code::Unauthenticated, "{err}");

        let mut right = connect(&coordinator, Some("s3cret")).await;
        right.list_jobs(list).await.expect("the right token works");
        let submitted = submit(&mut right, "independent auth 1").await;
        let mut worker = FakeWorker::register(right.clone(), &dir, "w").await;
        worker.run_until_finished(&submitted.job_id).await;
        assert_eq!(job_state(&mut right, &submitted.job_id).await.state, pb::JobState::Succeeded as i32);
        drop((anonymous, wrong, right, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_worker_speaking_another_protocol_version_is_refused() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let err = client
            .register_worker(registration("old", PROTOCOL_VERSION + 1))
            .await
            .expect_err("mismatched version refused");
        assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
        let message = err.message();
        assert!(message.contains("old"), "names the worker: {message}");
        assert!(message.contains(&(PROTOCOL_VERSION + 1).to_string()), "names its version: {message}");
        assert!(message.contains(&PROTOCOL_VERSION.to_string()), "names ours: {message}");
        drop(client);
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_silent_worker_loses_its_lease_and_its_late_completion_is_ignored() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent stale 1").await.job_id;

        let mut stale = FakeWorker::register(connect(&coordinator, None).await, &dir, "stale").await;
        let mut live = FakeWorker::register(connect(&coordinator, None).await, &dir, "live").await;
        let first = stale.lease().await.expect("the shard is leased");
        let leased_at = tokio::time::Instant::now();

        // The live worker heartbeats and polls; the shard comes back only once
        // the stale worker has been silent for the lease timeout.
        let second = loop {
            live.heartbeat(&[]).await.expect("live heartbeat");
            if let Some(lease) = live.lease().await {
                break lease;
            }
            tokio::time::sleep(HEARTBEAT / 2).await;
        };
        let waited = leased_at.elapsed();
        assert!(waited >= LEASE_TIMEOUT, "re-leased after {waited:?}, before the {LEASE_TIMEOUT:?} timeout");
        assert_eq!(second.shard_id, first.shard_id);
        assert_ne!(second.attempt_id, first.attempt_id, "a new attempt");

        assert!(live.complete(&second).await.accepted);
        let late = stale.complete(&first).await;
        assert!(!late.accepted, "the stale completion must be ignored");
        assert!(!late.note.is_empty(), "and say why");
        let err = stale.heartbeat(&[&first]).await.expect_err("an expired worker is unknown");
        assert_eq!(err.code(), Code::NotFound, "{err}");

        let status = job_state(&mut client, &job).await;
        assert_eq!(status.state, pb::JobState::Succeeded as i32);
        assert_eq!(status.shards_committed, 1);
        drop((client, stale, live));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn retryable_failures_give_up_after_four_attempts() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent flaky 1").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;

        for attempt in 1..=4 {
            let status = job_state(&mut client, &job).await;
            assert_eq!(status.state, pb::JobState::Running as i32, "still running before attempt {attempt}");
            let lease = worker.lease().await.unwrap_or_else(|| panic!("attempt {attempt} is leased"));
            let reason = format!("disk full #{attempt}");
            assert!(worker.fail(&lease, pb::FailureClass::Retryable, &reason).await.accepted);
        }
        assert!(worker.lease().await.is_none(), "no fifth attempt");
        let status = job_state(&mut client, &job).await;
        assert_eq!(status.state, pb::JobState::Failed as i32);
        assert_eq!(status.shards_failed, 1);
        let report = &status.failures[0];
        assert_eq!((report.shard_id.as_str(), report.attempts), ("trial-flaky-0", 4));
        assert!(report.last_reason.contains("disk full #4"), "last reason kept: {}", report.last_reason);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_fatal_failure_fails_the_job_at_once() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "diamond fatal").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;

        let lease = worker.lease().await.expect("root shard leased");
        assert!(worker.fail(&lease, pb::FailureClass::BadInput, "corrupt image x.png").await.accepted);
        assert!(worker.lease().await.is_none(), "nothing runs behind a fatal failure");

        let status = job_state(&mut client, &job).await;
        assert_eq!(status.state, pb::JobState::Failed as i32);
        assert_eq!(status.failures.len(), 1);
        let report = &status.failures[0];
        assert_eq!((report.shard_id.as_str(), report.attempts), ("trial-fatal-a", 1));
        assert!(report.last_reason.contains("corrupt image x.png"), "{}", report.last_reason);
        assert_eq!(report.failure_class, pb::FailureClass::BadInput as i32, "the class travels typed");
        assert!(!status.reason.is_empty(), "the job says why it failed");
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_restarted_coordinator_rebuilds_the_job_and_skips_committed_shards() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent restart 6").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "before").await;
        let mut committed_before = BTreeSet::new();
        for _ in 0..3 {
            let lease = worker.lease().await.expect("shard leased");
            assert!(worker.complete(&lease).await.accepted);
            committed_before.insert(lease.shard_id);
        }
        // Leased but never completed: the restart must run it again.
        let in_flight = worker.lease().await.expect("a fourth shard leased").shard_id;
        drop((client, worker));
        stop(coordinator).await;

        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let status = job_state(&mut client, &job).await;
        assert_eq!(status.state, pb::JobState::Running as i32, "job rebuilt from the store without resubmission");
        assert_eq!((status.shards_total, status.shards_committed), (6, 3));

        let mut worker = FakeWorker::register(client.clone(), &dir, "after").await;
        let ran: BTreeSet<String> = worker.run_until_finished(&job).await.into_iter().collect();
        assert_eq!(ran.len(), 3, "exactly the uncommitted shards ran: {ran:?}");
        assert!(ran.is_disjoint(&committed_before), "committed shards were leased again: {ran:?}");
        assert!(ran.contains(&in_flight), "the in-flight shard {in_flight} ran again");
        assert_eq!(job_state(&mut client, &job).await.state, pb::JobState::Succeeded as i32);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn resubmitting_a_finished_job_runs_nothing() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "diamond again").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        assert_eq!(worker.run_until_finished(&job).await.len(), 4);

        // Same coordinator: the job is known and finished.
        let again = submit(&mut client, "diamond again").await;
        assert_eq!((again.job_id.as_str(), again.shards_total, again.shards_already_committed), (job.as_str(), 4, 4));
        assert!(worker.lease().await.is_none(), "nothing to run");
        drop((client, worker));
        stop(coordinator).await;

        // A fresh coordinator over the same store: the manifests are found.
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let again = submit(&mut client, "diamond again").await;
        assert_eq!((again.shards_total, again.shards_already_committed), (4, 4));
        assert_eq!(job_state(&mut client, &job).await.state, pb::JobState::Succeeded as i32);
        let mut worker = FakeWorker::register(client.clone(), &dir, "w2").await;
        assert!(worker.lease().await.is_none(), "nothing re-runs after a restart either");
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn an_http_store_is_refused_at_startup() {
    within(async {
        let config = config("http://localhost:9000/bucket", None);
        match start_coordinator(config, fake_planner()).await {
            Err(CoordinatorError::NoConditionalPut { uri }) => assert_eq!(uri, "http://localhost:9000/bucket"),
            Err(other) => panic!("wrong error for an http store: {other}"),
            Ok(handle) => {
                stop(handle).await;
                panic!("an http:// store was accepted");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_worker_leases_and_completes_several_shards_per_call_and_is_listed_with_them() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let submitted = submit(&mut client, "independent wide 5").await;
        let mut worker = FakeWorker::register_with_capacity(connect(&coordinator, None).await, &dir, "wide", 4).await;

        let leases = worker.lease_many(10).await;
        assert_eq!(leases.len(), 4, "a call asking for 10 gets the worker's capacity of 4");
        let listed = client.list_workers(pb::ListWorkersRequest {}).await.expect("list workers").into_inner().workers;
        assert_eq!(listed.len(), 1);
        let w = &listed[0];
        assert_eq!((w.name.as_str(), w.device.as_str(), w.capacity), ("wide", "cpu", 4));
        let mut held = w.shards.clone();
        held.sort();
        let mut leased: Vec<String> = leases.iter().map(|l| l.shard_id.clone()).collect();
        leased.sort();
        assert_eq!(held, leased, "ListWorkers names the shards the worker holds");
        assert!(w.last_heartbeat_ms_ago < 10_000);

        // One CompleteShards: four acks, all accepted; a repeat is ignored, not counted.
        let acks = worker.complete_many(&leases).await.expect("complete shards");
        assert_eq!(acks.len(), 4);
        assert!(acks.iter().all(|a| a.accepted), "{acks:?}");
        let again = worker.complete_many(&leases[..1]).await.expect("a repeat is answered");
        assert!(!again[0].accepted, "a repeated completion is acknowledged as stale");

        let last = worker.lease_many(10).await;
        assert_eq!(last.len(), 1, "one shard was left");
        assert!(worker.complete_many(&last).await.expect("complete").iter().all(|a| a.accepted));
        assert!(worker.lease_many(10).await.is_empty());
        assert_eq!(job_state(&mut client, &submitted.job_id).await.state, pb::JobState::Succeeded as i32);
        let listed = client.list_workers(pb::ListWorkersRequest {}).await.expect("list workers").into_inner().workers;
        assert!(listed[0].shards.is_empty(), "nothing held once all completed");
        stop(coordinator).await;
    })
    .await;
}
