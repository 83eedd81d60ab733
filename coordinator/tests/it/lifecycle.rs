//! Issue-3 coordinator behaviour over real gRPC on loopback: aggregation by
//! the coordinator, hand-backs, cancellation, the no-worker grace period,
//! finished jobs after a restart, garbage collection of losing attempts and
//! per-stage progress.

use crate::common;
use common::*;

use rwclip_store::shard_store::part::{METRICS as TRIAL_METRICS_PART, RESULTS_CSV, RESULTS_MD, RESULTS_PARQUET};
use rwclip_artifacts::{MetricRow, ParquetRow, SummaryRow};
use rwclip_plan::{AggregateSpec, ShardSpec};
use rwclip_store::shard_store::attempt_prefix;

/// `aggregate <output dir> <trials>`: trials `trial-agg-<i>` (seed i) and the
/// real aggregate over them; anything else goes to the fake planner.
fn planner_with_aggregate() -> Planner {
    let fallback = fake_planner();
    Arc::new(move |text: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        let ["aggregate", output, n] = words.as_slice() else { return fallback(text) };
        let n: usize = n.parse().map_err(|e| format!("bad trial count {n}: {e}"))?;
        let trials: Vec<ShardId> = (0..n).map(|i| ShardId(format!("trial-agg-{i}"))).collect();
        let mut shards: Vec<PlannedShard> = trials.iter().map(|t| shard(&t.0, &[])).collect();
        let spec = ShardSpec::Aggregate(AggregateSpec { title: "aggregation test".into(), trials: trials.clone(), datasets: Vec::new(), maps: false });
        shards.push(PlannedShard {
            id: spec.id(),
            kind: ShardKind::Aggregate,
            deps: trials,
            model_key: None,
            spec_json: spec.to_json(),
        });
        Ok(PlannedJob { id: JobId("job-agg".into()), name: "agg".into(), output_uri: output.to_string(), shards })
    })
}

async fn start_with(dir: &tempfile::TempDir, planner: Planner, tune: impl FnOnce(&mut CoordinatorConfig)) -> CoordinatorHandle {
    let mut c = config(dir.path().to_str().expect("utf-8 temp dir"), None);
    tune(&mut c);
    start_coordinator(c, planner).await.expect("coordinator starts")
}

/// Per-seed metric rows of trial `seed`: "ours" AUROC 0.6 / 0.8, CLIP 0.9.
fn trial_rows(seed: u64) -> Vec<MetricRow> {
    let ours = [0.6, 0.8][seed as usize];
    [("clip", 0.9), ("ours", ours), ("clip+ours", ours + 0.1)]
        .into_iter()
        .map(|(score, v)| MetricRow {
            dataset: "MVTec-AD".into(),
            config: "object-unknown".into(),
            seed,
            category: "mean".into(),
            score: score.into(),
            auroc: v,
            aupr: v,
            average_precision: v,
            f1_max: v,
            pixel: Default::default(),
        })
        .collect()
}

/// Writes `rows` as the lease's metrics part and commits a manifest
/// listing it; returns whether this attempt's commit won.
async fn commit_with_metrics(w: &FakeWorker, lease: &pb::Lease, rows: &[MetricRow]) -> (bool, String) {
    let shard = ShardId(lease.shard_id.clone());
    let attempt = AttemptId(lease.attempt_id.clone());
    let part = format!("{}{TRIAL_METRICS_PART}", attempt_prefix(&shard, &attempt));
    w.store.put(&part, MetricRow::to_parquet(rows).expect("encode")).await.expect("part put");
    let manifest = Manifest { version: MANIFEST_VERSION, shard: shard.clone(), kind: ShardKind::Trial, attempt, worker: w.name.clone(), parts: vec![part], spec: serde_json::Value::Null };
    let json = serde_json::to_string(&manifest).expect("manifest serialises");
    let won = w.store.put_if_absent(&manifest_key(&shard), Bytes::from(json.clone())).await.expect("manifest put");
    (won, json)
}

async fn report_complete(w: &mut FakeWorker, lease: &pb::Lease, manifest_json: String) -> pb::ReportAck {
    let request = pb::CompleteShardRequest { worker_id: w.id.clone(), attempt_id: lease.attempt_id.clone(), manifest_json };
    w.client.complete_shard(request).await.expect("complete call").into_inner()
}

async fn wait_for_state(client: &mut Client, job: &str, state: pb::JobState) -> pb::JobStatus {
    loop {
        let status = job_state(client, job).await;
        if status.state == state as i32 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stage(status: &pb::JobStatus, kind: pb::ShardKind) -> (u32, u32, u32, u32) {
    let s = status.stages.iter().find(|s| s.kind == kind as i32).expect("stage present");
    (s.total, s.committed, s.running, s.failed)
}

#[tokio::test]
async fn the_coordinator_aggregates_trials_itself_and_publishes_results_to_the_output() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("output dir");
        let out_uri = out.path().to_str().expect("utf-8").to_string();
        let coordinator = start_with(&dir, planner_with_aggregate(), |_| {}).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, &format!("aggregate {out_uri} 2")).await.job_id;
        let status = job_state(&mut client, &job).await;
        assert_eq!((status.name.as_str(), status.output_uri.as_str()), ("agg", out_uri.as_str()));
        let kinds: Vec<i32> = status.stages.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [pb::ShardKind::Trial as i32, pb::ShardKind::Aggregate as i32], "pipeline order");
        assert_eq!(stage(&status, pb::ShardKind::Trial), (2, 0, 0, 0));

        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        let first = worker.lease().await.expect("trial leased");
        let second = worker.lease().await;
        assert!(second.is_none(), "capacity 1");
        let (won, json) = commit_with_metrics(&worker, &first, &trial_rows(0)).await;
        assert!(won && report_complete(&mut worker, &first, json).await.accepted);
        let mid = job_state(&mut client, &job).await;
        assert_eq!(stage(&mid, pb::ShardKind::Trial), (2, 1, 0, 0));
        let last = worker.lease().await.expect("second trial leased");
        let (_, json) = commit_with_metrics(&worker, &last, &trial_rows(1)).await;
        assert!(report_complete(&mut worker, &last, json).await.accepted);
        assert!(worker.lease().await.is_none(), "the aggregate is never leased to a worker");

        let done = wait_for_state(&mut client, &job, pb::JobState::Succeeded).await;
        assert_eq!(stage(&done, pb::ShardKind::Aggregate), (1, 1, 0, 0));
        let results = client.get_results(pb::GetResultsRequest { job_id: job.clone() }).await.expect("results").into_inner();
        assert_eq!(results.results_uri, out_uri);
        let md = &results.results_markdown;
        assert!(md.contains("| 0-shot, object unknown | CLIP | 90.0 | 90.0 | 90.0 |"), "{md}");
        assert!(md.contains("| 0-shot, object unknown | Ours | 70.0±10.0 | 70.0±10.0 | 70.0±10.0 |"), "{md}");
        assert!(md.contains("| 0-shot, object unknown | CLIP + ours | 80.0±10.0 |"), "{md}");

        let output = Store::open(&out_uri).expect("output store");
        assert_eq!(output.list("").await.expect("list"), ["job.toml", RESULTS_CSV, "results.html", RESULTS_MD, RESULTS_PARQUET]);
        let job_toml = output.get("job.toml").await.expect("job.toml");
        assert_eq!(&job_toml[..], format!("aggregate {out_uri} 2").as_bytes());
        let summary = SummaryRow::from_parquet(&output.get(RESULTS_PARQUET).await.expect("parquet")).expect("decodes");
        let ours = summary.iter().find(|r| r.score == "ours").expect("ours row");
        assert_eq!(ours.n_seeds, 2);
        assert!((ours.auroc_mean - 0.7).abs() < 1e-12 && (ours.auroc_std - 0.1).abs() < 1e-12, "{ours:?}");
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_trial_part_fails_the_aggregate_at_once_naming_the_part() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("output dir");
        let coordinator = start_with(&dir, planner_with_aggregate(), |_| {}).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, &format!("aggregate {} 1", out.path().display())).await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        let lease = worker.lease().await.expect("trial leased");
        let (_, json) = commit_with_metrics(&worker, &lease, &trial_rows(0)).await;
        let part = format!("{}{TRIAL_METRICS_PART}", attempt_prefix(&ShardId(lease.shard_id.clone()), &AttemptId(lease.attempt_id.clone())));
        worker.store.put(&part, Bytes::from_static(b"not parquet")).await.expect("overwrite");
        assert!(report_complete(&mut worker, &lease, json).await.accepted);
        let failed = wait_for_state(&mut client, &job, pb::JobState::Failed).await;
        assert_eq!(failed.failures.len(), 1, "{failed:?}");
        let report = &failed.failures[0];
        assert_eq!((report.kind, report.attempts), (pb::ShardKind::Aggregate as i32, 1), "fatal: one attempt");
        assert!(report.last_reason.contains(&part), "reason names the part: {}", report.last_reason);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn handed_back_shards_are_requeued_without_counting_an_attempt() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent handback 1").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "draining").await;
        // More hand-backs than the attempt limit (4): none of them count.
        for _ in 0..6 {
            let lease = worker.lease().await.expect("the shard is leasable again");
            let ack = worker.fail(&lease, pb::FailureClass::HandedBack, "SIGTERM drain").await;
            assert!(ack.accepted, "{ack:?}");
        }
        let status = job_state(&mut client, &job).await;
        assert_eq!(status.state, pb::JobState::Running as i32);
        // One counted failure now: had hand-backs counted, this would be the 7th.
        let lease = worker.lease().await.expect("leased");
        worker.fail(&lease, pb::FailureClass::Retryable, "io").await;
        let lease = worker.lease().await.expect("retried after one counted failure");
        assert!(worker.complete(&lease).await.accepted);
        assert_eq!(job_state(&mut client, &job).await.state, pb::JobState::Succeeded as i32);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

/// The items a stage reports done (a scoring job's images and frames):
/// running and committed shards count, a failed attempt's work does not.
#[tokio::test]
async fn items_done_count_running_and_committed_shards_never_a_lost_attempt() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent items 2").await.job_id;
        let mut worker = FakeWorker::register_with_capacity(client.clone(), &dir, "counting", 2).await;
        let items = |s: &pb::JobStatus| s.stages.iter().map(|s| s.items_done).sum::<u64>();
        let first = worker.lease().await.expect("leased");
        assert!(worker.progress(&first, 5, 10).await.accepted);
        assert_eq!(items(&job_state(&mut client, &job).await), 5);
        assert!(worker.progress(&first, 8, 10).await.accepted);
        assert_eq!(items(&job_state(&mut client, &job).await), 8, "a later report replaces the earlier");
        worker.fail(&first, pb::FailureClass::Retryable, "io").await;
        assert_eq!(items(&job_state(&mut client, &job).await), 0, "a failed attempt's items are gone");
        let again = worker.lease().await.expect("retried");
        let second = worker.lease().await.expect("the other shard");
        worker.progress(&again, 10, 10).await;
        assert!(worker.complete(&again).await.accepted);
        worker.progress(&second, 3, 4).await;
        assert_eq!(items(&job_state(&mut client, &job).await), 13, "committed and running together");
        assert!(!worker.progress(&again, 99, 99).await.accepted, "a finished attempt's report is ignored");
        worker.progress(&second, 4, 4).await;
        assert!(worker.complete(&second).await.accepted);
        let done = job_state(&mut client, &job).await;
        assert_eq!((done.state, items(&done)), (pb::JobState::Succeeded as i32, 14));
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn cancelling_a_job_tells_its_workers_to_abandon_and_ignores_late_reports() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent cancel 3").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        let lease = worker.lease().await.expect("leased");
        let cancelled = client.cancel_job(pb::CancelJobRequest { job_id: job.clone() }).await.expect("cancel").into_inner();
        assert_eq!((cancelled.state, cancelled.reason.as_str()), (pb::JobState::Cancelled as i32, "cancelled"));
        let abandon = worker.heartbeat(&[&lease]).await.expect("heartbeat");
        assert_eq!(abandon, [lease.attempt_id.clone()], "the running attempt is abandoned");
        assert!(!worker.complete(&lease).await.accepted, "a cancelled job's late completion is ignored");
        assert!(worker.lease().await.is_none(), "nothing of a cancelled job is leased");
        let mut watch = client.watch_job(pb::WatchJobRequest { job_id: job.clone() }).await.expect("watch").into_inner();
        let last = watch.message().await.expect("stream").expect("one snapshot");
        assert_eq!(last.state, pb::JobState::Cancelled as i32);
        assert!(watch.message().await.expect("stream").is_none(), "the watch of a finished job ends");
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_job_fails_when_no_worker_shows_up_within_the_grace_period() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start_with(&dir, fake_planner(), |c| c.worker_grace = Duration::from_millis(300)).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "independent lonely 2").await.job_id;
        let failed = wait_for_state(&mut client, &job, pb::JobState::Failed).await;
        assert!(failed.reason.contains("no worker registered") && failed.reason.contains("2 shard(s) never ran"), "{}", failed.reason);
        drop(client);
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn finished_jobs_are_reported_after_a_restart_with_their_results() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("output dir");
        let out_uri = out.path().to_str().expect("utf-8").to_string();
        let coordinator = start_with(&dir, planner_with_aggregate(), |_| {}).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, &format!("aggregate {out_uri} 1")).await.job_id;
        let cancelled = submit(&mut client, "independent gone 1").await.job_id;
        client.cancel_job(pb::CancelJobRequest { job_id: cancelled.clone() }).await.expect("cancel");
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        let lease = worker.lease().await.expect("trial");
        let (_, json) = commit_with_metrics(&worker, &lease, &trial_rows(0)).await;
        report_complete(&mut worker, &lease, json).await;
        let before = wait_for_state(&mut client, &job, pb::JobState::Succeeded).await;
        let md_before = client.get_results(pb::GetResultsRequest { job_id: job.clone() }).await.expect("results").into_inner().results_markdown;
        drop((client, worker));
        stop(coordinator).await;

        let coordinator = start_with(&dir, planner_with_aggregate(), |_| {}).await;
        let mut client = connect(&coordinator, None).await;
        let after = job_state(&mut client, &job).await;
        assert_eq!(after.state, pb::JobState::Succeeded as i32);
        assert_eq!((after.name.as_str(), after.output_uri.as_str()), ("agg", out_uri.as_str()));
        assert_eq!((after.shards_total, after.shards_committed), (before.shards_total, before.shards_committed));
        let results = client.get_results(pb::GetResultsRequest { job_id: job.clone() }).await.expect("results").into_inner();
        assert_eq!((results.results_uri.as_str(), &results.results_markdown), (out_uri.as_str(), &md_before));
        assert_eq!(results.committed.len(), 2);
        let listed = client.list_jobs(pb::ListJobsRequest {}).await.expect("list").into_inner().jobs;
        let states: BTreeSet<(String, i32)> = listed.into_iter().map(|j| (j.job_id, j.state)).collect();
        assert_eq!(states, BTreeSet::from([(job.clone(), pb::JobState::Succeeded as i32), (cancelled.clone(), pb::JobState::Cancelled as i32)]));
        let mut watch = client.watch_job(pb::WatchJobRequest { job_id: job.clone() }).await.expect("watch").into_inner();
        assert_eq!(watch.message().await.expect("stream").expect("snapshot").state, pb::JobState::Succeeded as i32);
        assert!(watch.message().await.expect("stream").is_none(), "the watch ends");

        // A cancelled job submitted again runs again.
        let again = submit(&mut client, "independent gone 1").await;
        assert_eq!(job_state(&mut client, &again.job_id).await.state, pb::JobState::Running as i32);
        drop(client);
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_losing_attempts_parts_are_deleted_and_the_winners_kept() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("output dir");
        let coordinator = start_with(&dir, planner_with_aggregate(), |_| {}).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, &format!("aggregate {} 1", out.path().display())).await.job_id;

        // A commits, then goes silent before reporting: its lease expires.
        let mut a = FakeWorker::register(client.clone(), &dir, "a").await;
        let lease_a = a.lease().await.expect("trial leased to a");
        let (won, _) = commit_with_metrics(&a, &lease_a, &trial_rows(0)).await;
        assert!(won);
        let mut b = FakeWorker::register(client.clone(), &dir, "b").await;
        let lease_b = loop {
            b.heartbeat(&[]).await.expect("b heartbeats");
            if let Some(l) = b.lease().await {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(lease_b.shard_id, lease_a.shard_id, "re-queued after a's lease timed out");
        // B runs the same shard with other values and loses the commit.
        let (won, json_b) = commit_with_metrics(&b, &lease_b, &trial_rows(1)).await;
        assert!(!won);
        assert!(report_complete(&mut b, &lease_b, json_b).await.accepted, "the shard is committed (by a)");

        let shard = ShardId(lease_a.shard_id.clone());
        let prefix = |l: &pb::Lease| attempt_prefix(&shard, &AttemptId(l.attempt_id.clone())).trim_end_matches('/').to_string();
        while !b.store.list(&prefix(&lease_b)).await.expect("list").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(b.store.list(&prefix(&lease_a)).await.expect("list").len(), 1, "the winner's part stays");
        wait_for_state(&mut client, &job, pb::JobState::Succeeded).await;
        let md = client.get_results(pb::GetResultsRequest { job_id: job }).await.expect("results").into_inner().results_markdown;
        assert!(md.contains("| 0-shot, object unknown | Ours | 60.0 |"), "only the winner's rows count: {md}");
        drop((client, a, b));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_dependency_whose_manifest_vanished_is_recomputed_not_fatal() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "diamond lost").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        for expected in ["trial-lost-a", "trial-lost-b", "trial-lost-c"] {
            let lease = worker.lease().await.expect("leasable");
            assert_eq!(lease.shard_id, expected);
            assert!(worker.complete(&lease).await.accepted);
        }
        // The store loses b's output (a store restored empty, a deleted prefix).
        std::fs::remove_file(dir.path().join("shards/trial-lost-b/manifest.json")).expect("b's manifest");
        let d = worker.lease().await.expect("d is ready");
        assert_eq!(d.shard_id, "trial-lost-d");
        // d cannot run without b: the coordinator checks the store, finds b's
        // manifest gone and runs b again before d.
        assert!(worker.fail_missing(&d, &["trial-lost-b"]).await.accepted);
        let status = wait_for(&mut client, &job, |s| s.shards_committed == 2).await;
        assert_eq!(status.state, pb::JobState::Running as i32, "{status:?}");
        let b = worker.lease().await.expect("b runs again");
        assert_eq!(b.shard_id, "trial-lost-b", "d must wait for b");
        assert!(worker.complete(&b).await.accepted);
        let d = worker.lease().await.expect("d is ready again");
        assert_eq!(d.shard_id, "trial-lost-d");
        assert!(worker.complete(&d).await.accepted);
        assert_eq!(job_state(&mut client, &job).await.state, pb::JobState::Succeeded as i32);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

#[tokio::test]
async fn a_missing_dependency_that_is_committed_after_all_counts_as_a_failure() {
    within(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let coordinator = start(&dir, None).await;
        let mut client = connect(&coordinator, None).await;
        let job = submit(&mut client, "diamond present").await.job_id;
        let mut worker = FakeWorker::register(client.clone(), &dir, "w").await;
        for _ in 0..3 {
            let lease = worker.lease().await.expect("leasable");
            assert!(worker.complete(&lease).await.accepted);
        }
        // The manifest is there: the worker's report was wrong (a stale read),
        // so each one counts and the limit still ends the job.
        for _ in 0..4 {
            let d = worker.lease().await.expect("d is leased again");
            assert_eq!(d.shard_id, "trial-present-d");
            worker.fail_missing(&d, &["trial-present-b"]).await;
        }
        let status = wait_for_state(&mut client, &job, pb::JobState::Failed).await;
        assert_eq!(status.failures.len(), 1, "{status:?}");
        assert_eq!(status.failures[0].attempts, 4);
        drop((client, worker));
        stop(coordinator).await;
    })
    .await;
}

/// Polls the job until `done` holds.
async fn wait_for(client: &mut Client, job: &str, done: impl Fn(&pb::JobStatus) -> bool) -> pb::JobStatus {
    loop {
        let status = job_state(client, job).await;
        if done(&status) {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
