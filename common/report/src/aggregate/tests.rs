//! Layout tests on hand-built summary rows, and the aggregate shard on a
//! local store with hand-written trial parts.

use bytes::Bytes;

use super::*;
use rwclip_artifacts::{MetricRow, ParquetRow, Store, SummaryRow};
use rwclip_plan::{AggregateSpec, AttemptId, ShardId, ShardKind, ShardSpec};
use rwclip_store::shard_store::part::{JOB_TOML, METRICS as METRICS_PART, METRICS as TRIAL_METRICS_PART, RESULTS_CSV, RESULTS_MD, RESULTS_PARQUET};
use rwclip_store::shard_store::{manifest_key, Manifest, MANIFEST_VERSION};

fn sr(config: &str, category: &str, score: &str, auroc: (f64, f64), n_seeds: u64) -> SummaryRow {
    SummaryRow {
        dataset: "MVTec-AD".into(),
        config: config.into(),
        category: category.into(),
        score: score.into(),
        auroc_mean: auroc.0,
        auroc_std: auroc.1,
        aupr_mean: 0.5,
        aupr_std: 0.01,
        average_precision_mean: 0.5,
        average_precision_std: 0.01,
        f1_max_mean: 0.75,
        f1_max_std: 0.02,
        n_seeds,
        pixel: Default::default(),
    }
}

fn point(np: u64, normal: &str, anomaly: &str) -> String {
    format!("object-unknown Np={np} \"{normal}\"/\"{anomaly}\"")
}

#[test]
fn table1_rows_are_setup_and_method_in_percent_with_clip_unspread() {
    let rows = vec![
        sr("object-unknown", MEAN_CATEGORY, SCORE_CLIP, (0.915, 0.0), 10),
        sr("object-unknown", MEAN_CATEGORY, SCORE_OURS, (0.910, 0.004), 10),
        sr("object-unknown", MEAN_CATEGORY, SCORE_COMBINED, (0.922, 0.003), 10),
    ];
    let md = markdown("demo", &[], &rows, false);
    assert!(md.starts_with("# demo\n"), "{md}");
    assert!(md.contains("| 0-shot, object unknown | CLIP | 91.5 | 50.0 | 75.0 |\n"), "{md}");
    assert!(md.contains("| 0-shot, object unknown | Ours | 91.0±0.4 | 50.0±1.0 | 75.0±2.0 |\n"), "{md}");
    assert!(md.contains("| 0-shot, object unknown | CLIP + ours | 92.2±0.3 | 50.0±1.0 | 75.0±2.0 |\n"), "{md}");
    assert!(!md.contains("Table 4") && !md.contains("Fig. 4"), "a one-point job has no sweep tables: {md}");
    let text = table1(&rows);
    let ours = text.lines().nth(2).expect("header + 3 rows");
    assert_eq!(ours.split_whitespace().collect::<Vec<_>>(), ["Ours", "91.0±0.4", "50.0±1.0", "75.0±2.0"]);
}

#[test]
fn per_category_rows_are_categories_then_mean_with_a_column_per_score() {
    let c = "object-known";
    let rows = vec![
        sr(c, "bottle", SCORE_CLIP, (0.981, 0.0), 3),
        sr(c, "bottle", SCORE_OURS, (0.952, 0.012), 3),
        sr(c, "bottle", SCORE_COMBINED, (0.990, 0.001), 3),
        sr(c, "cable", SCORE_CLIP, (0.801, 0.0), 3),
        sr(c, "cable", SCORE_OURS, (0.700, 0.05), 3),
        sr(c, "cable", SCORE_COMBINED, (0.850, 0.02), 3),
        sr(c, MEAN_CATEGORY, SCORE_CLIP, (0.891, 0.0), 3),
        sr(c, MEAN_CATEGORY, SCORE_OURS, (0.826, 0.03), 3),
        sr(c, MEAN_CATEGORY, SCORE_COMBINED, (0.920, 0.01), 3),
    ];
    let md = per_category_markdown(&rows, c, "");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "### Per category, 0-shot, object known");
    assert!(lines[2].starts_with("| Category | AUROC CLIP | AUROC Ours | AUROC CLIP + ours | AUPR CLIP |"), "{md}");
    assert_eq!(
        lines[4],
        "| bottle | 98.1 | 95.2±1.2 | 99.0±0.1 | 50.0 | 50.0±1.0 | 50.0±1.0 | 75.0 | 75.0±2.0 | 75.0±2.0 |"
    );
    assert!(lines[5].starts_with("| cable | 80.1 | 70.0±5.0 | 85.0±2.0 |"), "{md}");
    assert!(lines[6].starts_with("| **mean** | 89.1 | 82.6±3.0 | 92.0±1.0 |"), "{md}");
    assert_eq!(per_category_markdown(&rows, "object-unknown", ""), "", "a setup that did not run has no table");
}

#[test]
fn word_pair_sweeps_get_table_4_with_clip_and_combined_auroc_per_cell() {
    let mut rows = Vec::new();
    for (n, a, clip, ours) in [
        ("a normal", "a damaged", 0.893, (0.905, 0.002)),
        ("a normal", "a broken", 0.873, (0.886, 0.005)),
        ("an", "a damaged", 0.915, (0.922, 0.003)),
        ("an", "a broken", 0.875, (0.861, 0.006)),
    ] {
        rows.push(sr(&point(1000, n, a), MEAN_CATEGORY, SCORE_CLIP, (clip, 0.0), 10));
        rows.push(sr(&point(1000, n, a), MEAN_CATEGORY, SCORE_COMBINED, ours, 10));
    }
    let md = word_pair_markdown(&rows).expect("two word pairs swept");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "## Table 4: AUROC per word pair, 0-shot, object unknown (CLIP / CLIP + ours), Np=1000");
    assert_eq!(lines[2], "| Normal \\ Anomaly | \"a broken\" | \"a damaged\" |");
    assert_eq!(lines[4], "| \"a normal\" | 87.3 / 88.6±0.5 | 89.3 / 90.5±0.2 |");
    assert_eq!(lines[5], "| \"an\" | 87.5 / 86.1±0.6 | 91.5 / 92.2±0.3 |");
    assert!(np_sweep_markdown(&rows).is_none(), "one Np: no Fig. 4 table");
    assert!(markdown("t", &[], &rows, false).contains(&md), "results.md includes Table 4");
}

#[test]
fn crop_settings_get_their_own_table4() {
    let mut rows = Vec::new();
    for (crop, base) in [("", 0.80), (" multi-crop", 0.90)] {
        for (i, a) in ["a broken", "a damaged"].into_iter().enumerate() {
            let config = format!("{}{crop}", point(1000, "a", a));
            rows.push(sr(&config, MEAN_CATEGORY, SCORE_CLIP, (base + 0.01 * i as f64, 0.0), 2));
            rows.push(sr(&config, MEAN_CATEGORY, SCORE_COMBINED, (base + 0.05, 0.01), 2));
        }
    }
    let md = word_pair_markdown(&rows).expect("two word pairs swept");
    let heads: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        heads,
        [
            "## Table 4: AUROC per word pair, 0-shot, object unknown (CLIP / CLIP + ours), Np=1000",
            "## Table 4: AUROC per word pair, 0-shot, object unknown, multi-crop (CLIP / CLIP + ours), Np=1000",
        ]
    );
    let cells: Vec<&str> = md.lines().filter(|l| l.starts_with("| \"a\"")).collect();
    assert_eq!(cells, ["| \"a\" | 80.0 / 85.0±1.0 | 81.0 / 85.0±1.0 |", "| \"a\" | 90.0 / 95.0±1.0 | 91.0 / 95.0±1.0 |"]);
}

#[test]
fn np_sweeps_list_np_numerically_with_mean_auroc() {
    let mut rows = Vec::new();
    for (np, ours) in [(10000, (0.910, 0.004)), (1000, (0.880, 0.011)), (2000, (0.895, 0.007))] {
        rows.push(sr(&point(np, "an", "a damaged"), MEAN_CATEGORY, SCORE_OURS, ours, 10));
        rows.push(sr(&point(np, "an", "a damaged"), MEAN_CATEGORY, SCORE_COMBINED, (ours.0 + 0.01, ours.1), 10));
    }
    let md = np_sweep_markdown(&rows).expect("three Np values");
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "## Fig. 4: AUROC per number of prompt pairs, 0-shot, object unknown, \"an\" / \"a damaged\"");
    assert_eq!(&lines[2..7], ["| Np | Ours | CLIP + ours |", "|---|---|---|", "| 1000 | 88.0±1.1 | 89.0±1.1 |", "| 2000 | 89.5±0.7 | 90.5±0.7 |", "| 10000 | 91.0±0.4 | 92.0±0.4 |"]);
    assert!(word_pair_markdown(&rows).is_none(), "one word pair: no Table 4");
    let printed = table1_per_grid_point(&rows);
    let heads: Vec<&str> = printed.lines().filter(|l| l.starts_with("Np=")).collect();
    assert_eq!(heads, ["Np=1000 \"an\"/\"a damaged\"", "Np=2000 \"an\"/\"a damaged\"", "Np=10000 \"an\"/\"a damaged\""]);
}

fn metric(config: &str, seed: u64, category: &str, score: &str, auroc: f64) -> MetricRow {
    MetricRow {
        dataset: "MVTec-AD".into(),
        config: config.into(),
        seed,
        category: category.into(),
        score: score.into(),
        auroc,
        aupr: auroc,
        average_precision: auroc,
        f1_max: auroc,
        pixel: Default::default(),
    }
}

/// Commits a trial whose metrics part holds `rows` (or raw bytes).
async fn commit_trial(store: &Store, name: &str, bytes: Bytes) -> ShardId {
    let id = ShardId(format!("trial-{name}"));
    let attempt = AttemptId("a1".into());
    let part = format!("shards/{id}/attempts/a1/{TRIAL_METRICS_PART}");
    store.put(&part, bytes).await.unwrap();
    let manifest = Manifest { version: MANIFEST_VERSION, shard: id.clone(), kind: ShardKind::Trial, attempt, worker: "w".into(), parts: vec![part], spec: serde_json::Value::Null };
    store.put(&manifest_key(&id), Bytes::from(serde_json::to_vec(&manifest).unwrap())).await.unwrap();
    id
}

#[tokio::test]
async fn the_aggregate_shard_summarises_committed_trials_once_and_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store").to_str().unwrap()).unwrap();
    let mut trials = Vec::new();
    for (seed, auroc) in [(0u64, 0.6), (1, 0.8)] {
        let rows = vec![metric("object-unknown", seed, MEAN_CATEGORY, SCORE_OURS, auroc)];
        trials.push(commit_trial(&store, &seed.to_string(), MetricRow::to_parquet(&rows).unwrap()).await);
    }
    // The seed-1 trial listed twice: its rows must count once.
    trials.push(trials[1].clone());
    let spec = AggregateSpec { title: "t".into(), trials, datasets: Vec::new(), maps: false };
    let manifest = run_aggregate(&store, &spec, &AttemptId("c1".into()), "coordinator").await.unwrap();
    let names: Vec<&str> = manifest.parts.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
    // No figure: one grid point and no per-image scores; the report still.
    assert_eq!(names, [METRICS_PART, RESULTS_PARQUET, RESULTS_CSV, RESULTS_MD, "results.html"]);
    let id = ShardSpec::Aggregate(spec.clone()).id();
    let summary = read_summary(&store, &id).await.unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].n_seeds, 2);
    assert!((summary[0].auroc_mean - 0.7).abs() < 1e-12 && (summary[0].auroc_std - 0.1).abs() < 1e-12, "{:?}", summary[0]);

    // A second attempt finds the first commit and writes nothing.
    let again = run_aggregate(&store, &spec, &AttemptId("c2".into()), "coordinator").await.unwrap();
    assert_eq!(again, manifest);
    assert!(store.list(&format!("shards/{id}/attempts/c2")).await.unwrap().is_empty());

    let output = Store::open(dir.path().join("out").to_str().unwrap()).unwrap();
    let published = publish_results(&store, &id, &output, "name = \"t\"\n", 1.0).await.unwrap();
    assert!(published.markdown.contains("| 0-shot, object unknown | Ours | 70.0±10.0 |"), "{}", published.markdown);
    assert_eq!(output.list("").await.unwrap(), [JOB_TOML, RESULTS_CSV, "results.html", RESULTS_MD, RESULTS_PARQUET]);
    assert!(published.plots.is_empty(), "no figure to list");
    let csv = String::from_utf8(output.get(RESULTS_CSV).await.unwrap().to_vec()).unwrap();
    assert!(csv.lines().nth(1).unwrap().starts_with("\"MVTec-AD\",\"object-unknown\",\"mean\",\"ours\",0.7"), "{csv}");
}

#[tokio::test]
async fn a_corrupt_trial_part_is_a_fatal_error_naming_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let bad = commit_trial(&store, "bad", Bytes::from_static(b"not parquet")).await;
    let spec = AggregateSpec { title: "t".into(), trials: vec![bad.clone()], datasets: Vec::new(), maps: false };
    let err = run_aggregate(&store, &spec, &AttemptId("c1".into()), "coordinator").await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("shards/{bad}/attempts/a1/{TRIAL_METRICS_PART}")), "{msg}");

    let missing = AggregateSpec { title: "t".into(), trials: vec![ShardId("trial-never".into())], datasets: Vec::new(), maps: false };
    let err = run_aggregate(&store, &missing, &AttemptId("c1".into()), "coordinator").await.unwrap_err();
    assert!(matches!(err, AggregateError::MissingTrial { .. }) && !err.is_retryable(), "{err}");
}
