//! The Store against a real S3 HTTP endpoint: a moto_server this test starts on
//! a free loopback port (and stops when done).

use bytes::Bytes;
use rwclip_artifacts::{read_parquet, write_parquet, ScoreRow, Store, StoreError};
use rwclip_test_support::moto::{MotoServer, ACCESS_KEY, REGION, SECRET_KEY};

const BUCKET: &str = "rwclip-test";

fn open_store(server: &MotoServer, uri: &str) -> Store {
    let endpoint = server.endpoint();
    // Explicit options instead of process env, so parallel tests cannot interfere.
    Store::open_with_options(
        uri,
        &[
            ("aws_endpoint", endpoint.as_str()),
            ("aws_access_key_id", ACCESS_KEY),
            ("aws_secret_access_key", SECRET_KEY),
            ("aws_region", REGION),
        ],
    )
    .unwrap()
}

fn scores() -> Vec<ScoreRow> {
    (0..50)
        .map(|i| ScoreRow {
            dataset: "MVTec-AD".into(),
            path: format!("capsule/test/crack/{i:03}.png"),
            category: "capsule".into(),
            label: (i % 2) as u8,
            seed: 4,
            s_pr: i as f64 / 64.0,
            s_fnn: -(i as f64) / 32.0,
            s_combined: i as f64 / 64.0 - i as f64 / 32.0,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_round_trips_artifacts_and_puts_conditionally() {
    quick_settings();
    let server = MotoServer::start();
    server.create_bucket(BUCKET);
    let store = open_store(&server, &format!("s3://{BUCKET}/runs/demo"));
    assert_eq!(store.uri(), format!("s3://{BUCKET}/runs/demo"));
    assert!(
        store.local_path("x").is_none(),
        "S3 stores have no local path"
    );

    let rows = scores();
    write_parquet(&store, "scores/seed-4/capsule.parquet", &rows)
        .await
        .unwrap();
    let back: Vec<ScoreRow> = read_parquet(&store, "scores/seed-4/capsule.parquet")
        .await
        .unwrap();
    assert_eq!(back, rows);

    // The child view and the parent see the same object under different keys.
    let seed_dir = store.child("scores/seed-4");
    assert!(seed_dir.exists("capsule.parquet").await.unwrap());
    assert_eq!(
        store.list("scores").await.unwrap(),
        ["scores/seed-4/capsule.parquet"]
    );
    assert_eq!(seed_dir.list("").await.unwrap(), ["capsule.parquet"]);

    // Conditional create: exactly one writer wins, and the loser does not overwrite.
    assert!(store
        .put_if_absent("claims/task-7", Bytes::from_static(b"worker-a"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("claims/task-7", Bytes::from_static(b"worker-b"))
        .await
        .unwrap());
    assert_eq!(
        store.get("claims/task-7").await.unwrap(),
        Bytes::from_static(b"worker-a")
    );

    let err = store
        .get("scores/seed-4/missing.parquet")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("s3://rwclip-test/runs/demo/scores/seed-4/missing.parquet"),
        "{err}"
    );
    assert!(!store.exists("scores/seed-4/missing.parquet").await.unwrap());

    // A store on another bucket that does not exist fails with its URI in the message.
    let missing_bucket = open_store(&server, "s3://no-such-bucket");
    let err = missing_bucket
        .put("k", Bytes::from_static(b"v"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("s3://no-such-bucket/k"), "{err}");
}

/// Quick timeouts for every test of this binary (the settings are the
/// process's): a stall costs a second, a call retries for 4 s.
fn quick_settings() {
    use std::time::Duration;
    rwclip_store::retry::StoreSettings {
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry_for: Duration::from_secs(4),
        backoff_init: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
    .install();
}

/// A listing of three pages whose every page request stalls past the
/// client's timeout (twice: the first request and the one resumed after
/// the last key): each page gets its own retry deadline, so the listing
/// completes although it spends more than one deadline in retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_gets_a_retry_deadline_per_page() {
    use futures::StreamExt;
    use rwclip_test_support::fault_proxy::{Fault, FaultProxy, FaultRates};
    quick_settings();
    let server = MotoServer::start();
    server.create_bucket("listing");
    let direct = open_store(&server, "s3://listing/p");
    let keys: Vec<String> = (0..2100).map(|i| format!("k{i:05}")).collect();
    futures::stream::iter(keys.iter().map(|k| direct.put(k, Bytes::from_static(b"x")))).buffer_unordered(32).collect::<Vec<_>>().await.into_iter().collect::<Result<Vec<()>, _>>().unwrap();
    let rates = FaultRates { only: vec!["list-type=2".into()], once_per_path: true, stall: std::time::Duration::from_millis(1500), ..FaultRates::none().with(Fault::Stall, 1.0) };
    let proxy = FaultProxy::start(&server.endpoint(), rates);
    let through = Store::open_with_options("s3://listing/p", &[("aws_endpoint", proxy.endpoint().as_str()), ("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY), ("aws_region", REGION)]).unwrap();
    let began = std::time::Instant::now();
    let listed = through.list("").await.unwrap();
    let stalls = proxy.counts().get(&Fault::Stall).copied().unwrap_or(0);
    assert_eq!(listed, keys, "every key once, in order");
    assert!(stalls >= 4 && began.elapsed() > std::time::Duration::from_secs(4), "{stalls} stalls in {:?}: more than one deadline spent retrying", began.elapsed());
}
