//! Artifacts round-trip through a local store, pyarrow reads them with the
//! documented column types and descriptions, and the docs list every column.

use std::process::Command;

use bytes::Bytes;
use rwclip_artifacts::schema::{
    ColumnType, ARTIFACT_KEY, FORMAT_VERSION_KEY,
};
use rwclip_artifacts::{
    from_parquet, read_parquet, to_parquet, write_parquet, ArtifactError, ArtifactKind,
    ImageEmbeddingRow, ImageScoreRow, MetricRow, ParquetRow, PixelMetricStats, PixelMetricValues, WindowEmbeddingRow, PromptRow, ScoreRow, Store, StoreError, SummaryRow,
    TextEmbeddingRow,
};
use serde_json::{json, Value};

// Values are exactly representable in binary so JSON from pyarrow compares exactly.
fn prompt_rows() -> Vec<PromptRow> {
    vec![
        PromptRow {
            pair_id: 0,
            seed: 3,
            label: 0,
            text: "ab1cd a x9y8z photo q of r a s".into(),
        },
        PromptRow {
            pair_id: 0,
            seed: 3,
            label: 1,
            text: "k2 a m photo n of o a damaged p".into(),
        },
        PromptRow {
            pair_id: u64::MAX,
            seed: u64::MAX,
            label: 1,
            text: "ünïcödé ✓".into(),
        },
    ]
}

fn text_embedding_rows() -> Vec<TextEmbeddingRow> {
    vec![
        TextEmbeddingRow {
            pair_id: 7,
            seed: Some(3),
            label: Some(0),
            text: "n".into(),
            embedding: vec![0.5, -1.25, 3.0, 0.0],
        },
        TextEmbeddingRow {
            pair_id: 7,
            seed: None,
            label: None,
            text: "a".into(),
            embedding: vec![-0.5, 1.25, -3.0, 8.0],
        },
    ]
}

fn image_embedding_rows() -> Vec<ImageEmbeddingRow> {
    vec![
        ImageEmbeddingRow {
            path: "bottle/test/good/000.png".into(),
            category: "bottle".into(),
            label: Some(0),
            defect: "good".into(),
            embedding: vec![0.25, 0.75, -2.5],
        },
        ImageEmbeddingRow {
            path: "bottle/test/broken_large/001.png".into(),
            category: "bottle".into(),
            label: Some(1),
            defect: "broken_large".into(),
            embedding: vec![1.0, -1.0, 0.125],
        },
    ]
}

fn score_rows() -> Vec<ScoreRow> {
    vec![ScoreRow {
        dataset: "MVTec-AD".into(),
        path: "screw/test/thread_top/004.png".into(),
        category: "screw".into(),
        label: 1,
        seed: 9,
        s_pr: 0.625,
        s_fnn: 0.25,
        s_combined: 0.875,
    }]
}

fn metric_rows() -> Vec<MetricRow> {
    ["clip", "ours", "clip+ours"]
        .iter()
        .enumerate()
        .map(|(i, score)| MetricRow {
            dataset: "MVTec-AD".into(),
            config: "demo".into(),
            seed: i as u64,
            category: if i == 2 {
                "mean".into()
            } else {
                "bottle".into()
            },
            score: score.to_string(),
            auroc: 0.5 + i as f64 / 8.0,
            aupr: 0.75,
            average_precision: 0.625,
            f1_max: 0.5,
            // A defined, a partly defined and an undefined set of pixel metrics.
            pixel: match i {
                0 => PixelMetricValues { pixel_auroc: Some(0.875), aupro: Some(0.625), pro_200: Some(0.5) },
                1 => PixelMetricValues { pixel_auroc: Some(0.25), aupro: Some(0.125), pro_200: None },
                _ => PixelMetricValues::default(),
            },
        })
        .collect()
}

fn summary_rows() -> Vec<SummaryRow> {
    vec![SummaryRow {
        dataset: "MVTec-AD".into(),
        config: "demo".into(),
        category: "mean".into(),
        score: "clip+ours".into(),
        auroc_mean: 0.9375,
        auroc_std: 0.015625,
        aupr_mean: 0.875,
        aupr_std: 0.03125,
        average_precision_mean: 0.8125,
        average_precision_std: 0.0625,
        f1_max_mean: 0.75,
        f1_max_std: 0.125,
        n_seeds: 10,
        pixel: PixelMetricStats { pixel_auroc: Some((0.9375, 0.0625)), aupro: Some((0.75, 0.125)), pro_200: None },
    }]
}

fn window_embedding_rows() -> Vec<WindowEmbeddingRow> {
    vec![
        WindowEmbeddingRow { path: "bottle/test/good/000.png".into(), category: "bottle".into(), label: Some(0), mask: None, windows: vec![0, 60, 0, 188], patch_tokens: Some(vec![0, 56]) },
        WindowEmbeddingRow { path: "bottle/test/broken/000.png".into(), category: "bottle".into(), label: Some(1), mask: Some(vec![0, 1, 1, 0]), windows: vec![0, 0, 0, 60], patch_tokens: None },
    ]
}

fn video_rows() -> Vec<rwclip_artifacts::VideoRow> {
    use rwclip_artifacts::{VideoMoment, VideoRow};
    vec![
        VideoRow {
            uri: "s3://archive/inspections/MH12-MH13.mpg".into(),
            frames_scored: 1800,
            errors: 1,
            error: Some("truncated at 1800.2 s of 3600.0 s".into()),
            max_score: Some(0.875),
            max_at_s: Some(912.0),
            moments: vec![VideoMoment { at_s: 912.0, frame: Some(22800), score: 0.875, distance_m: Some(61.25) }, VideoMoment { at_s: 40.0, frame: Some(1000), score: 0.5, distance_m: None }],
        },
        VideoRow { uri: "inspections/empty.avi".into(), frames_scored: 0, errors: 1, error: Some("empty file (0 bytes)".into()), max_score: None, max_at_s: None, moments: vec![] },
    ]
}

fn image_score_rows() -> Vec<ImageScoreRow> {
    vec![
        ImageScoreRow { uri: "s3://archive/2026/frame-000.jpg".into(), score: Some(0.75), s_fnn: Some(0.5), s_pr: Some(0.25), error: None, map: None, at: None },
        ImageScoreRow {
            uri: "frames/frame-001.jpg".into(),
            score: Some(0.5),
            s_fnn: Some(0.25),
            s_pr: Some(0.25),
            error: None,
            map: Some(rwclip_artifacts::QuantisedMap { max: 0.625, bytes: vec![0, 17, 255, 128] }),
            at: None,
        },
        ImageScoreRow {
            uri: "s3://archive/inspections/MH12-MH13.mpg".into(),
            score: Some(0.25),
            s_fnn: Some(0.125),
            s_pr: Some(0.125),
            error: None,
            map: None,
            at: Some(rwclip_artifacts::FrameAt { frame: Some(350), pts_s: 14.0, target_s: Some(14.0), distance_m: Some(3.5) }),
        },
        ImageScoreRow {
            uri: "s3://archive/inspections/MH12-MH13.mpg".into(),
            score: None,
            s_fnn: None,
            s_pr: None,
            error: Some("truncated at 14.2 s of 30.0 s".into()),
            map: None,
            at: Some(rwclip_artifacts::FrameAt { frame: None, pts_s: 14.2, target_s: None, distance_m: None }),
        },
        ImageScoreRow { uri: "frames/broken.jpg".into(), score: None, s_fnn: None, s_pr: None, error: Some("cannot decode image frames/broken.jpg: unexpected end of file".into()), map: None, at: None },
    ]
}

/// What pyarrow's `to_pylist()` should give for each artifact.
fn expected_pylist(kind: ArtifactKind) -> Value {
    match kind {
        ArtifactKind::Prompts => prompt_rows()
            .iter()
            .map(|r| json!({"pair_id": r.pair_id, "seed": r.seed, "label": r.label, "text": r.text}))
            .collect(),
        ArtifactKind::TextEmbeddings => text_embedding_rows()
            .iter()
            .map(|r| json!({"pair_id": r.pair_id, "seed": r.seed, "label": r.label, "text": r.text, "embedding": r.embedding}))
            .collect(),
        ArtifactKind::ImageEmbeddings => image_embedding_rows()
            .iter()
            .map(|r| {
                json!({"path": r.path, "category": r.category, "label": r.label, "defect": r.defect,
                       "embedding": r.embedding})
            })
            .collect(),
        ArtifactKind::Scores => score_rows()
            .iter()
            .map(|r| {
                json!({"dataset": r.dataset, "path": r.path, "category": r.category, "label": r.label, "seed": r.seed,
                       "s_pr": r.s_pr, "s_fnn": r.s_fnn, "s_combined": r.s_combined})
            })
            .collect(),
        ArtifactKind::Metrics => metric_rows()
            .iter()
            .map(|r| {
                json!({"dataset": r.dataset, "config": r.config, "seed": r.seed, "category": r.category, "score": r.score,
                       "auroc": r.auroc, "aupr": r.aupr, "average_precision": r.average_precision,
                       "f1_max": r.f1_max, "pixel_auroc": r.pixel.pixel_auroc, "aupro": r.pixel.aupro, "pro_200": r.pixel.pro_200})
            })
            .collect(),
        ArtifactKind::WindowEmbeddings => window_embedding_rows()
            .iter()
            .map(|r| json!({"path": r.path, "category": r.category, "label": r.label, "mask": r.mask, "windows": r.windows, "patch_tokens": r.patch_tokens}))
            .collect(),
        ArtifactKind::ImageScores => image_score_rows()
            .iter()
            .map(|r| {
                json!({"uri": r.uri, "score": r.score, "s_fnn": r.s_fnn, "s_pr": r.s_pr, "error": r.error,
                       "map_max": r.map.as_ref().map(|m| m.max), "map": r.map.as_ref().map(|m| m.bytes.clone()),
                       "frame": r.at.and_then(|a| a.frame), "pts_s": r.at.map(|a| a.pts_s), "target_s": r.at.and_then(|a| a.target_s),
                       "distance_m": r.at.and_then(|a| a.distance_m)})
            })
            .collect(),
        ArtifactKind::Videos => video_rows()
            .iter()
            .map(|r| {
                json!({"uri": r.uri, "frames_scored": r.frames_scored, "errors": r.errors, "error": r.error, "max_score": r.max_score, "max_at_s": r.max_at_s,
                       "moments": serde_json::to_string(&r.moments).unwrap()})
            })
            .collect(),
        ArtifactKind::Summary => summary_rows()
            .iter()
            .map(|r| {
                json!({"dataset": r.dataset, "config": r.config, "category": r.category, "score": r.score,
                       "auroc_mean": r.auroc_mean, "auroc_std": r.auroc_std,
                       "aupr_mean": r.aupr_mean, "aupr_std": r.aupr_std,
                       "average_precision_mean": r.average_precision_mean,
                       "average_precision_std": r.average_precision_std,
                       "f1_max_mean": r.f1_max_mean, "f1_max_std": r.f1_max_std, "n_seeds": r.n_seeds,
                       "pixel_auroc_mean": r.pixel.pixel_auroc.map(|m| m.0), "pixel_auroc_std": r.pixel.pixel_auroc.map(|m| m.1),
                       "aupro_mean": r.pixel.aupro.map(|m| m.0), "aupro_std": r.pixel.aupro.map(|m| m.1),
                       "pro_200_mean": r.pixel.pro_200.map(|m| m.0), "pro_200_std": r.pixel.pro_200.map(|m| m.1)})
            })
            .collect(),
    }
}

async fn round_trip<R: ParquetRow + PartialEq + std::fmt::Debug>(
    store: &Store,
    rows: &[R],
) -> String {
    let key = format!("{}/part-0.parquet", R::kind().name());
    write_parquet(store, &key, rows).await.unwrap();
    let back: Vec<R> = read_parquet(store, &key).await.unwrap();
    assert_eq!(back, rows, "{key} round trip");
    // Encoding is deterministic: same rows, same bytes.
    assert_eq!(
        to_parquet(rows).unwrap(),
        store.get(&key).await.unwrap(),
        "{key} re-encoding"
    );
    key
}

const PYARROW_DESCRIBE: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = {}
for path in sys.argv[1:]:
    table = pq.read_table(path)
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items() if not k.startswith(b"ARROW:")}
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable,
               "description": (f.metadata or {}).get(b"description", b"").decode()} for f in table.schema]
    out[path] = {"metadata": meta, "fields": fields, "rows": table.to_pylist()}
print(json.dumps(out, default=lambda value: list(value)))  # binary cells as lists of byte values
"#;

fn pyarrow_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::U8 | ColumnType::OptionalLabel => "uint8",
        ColumnType::U64 | ColumnType::OptionalU64 => "uint64",
        ColumnType::F64 | ColumnType::OptionalF64 => "double",
        ColumnType::Utf8 | ColumnType::OptionalUtf8 => "string",
        ColumnType::OptionalBinary => "binary",
        ColumnType::Embedding => "fixed_size_list<item: float not null>",
    }
}

#[tokio::test]
async fn every_artifact_round_trips_and_pyarrow_reads_it_with_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store").to_str().unwrap()).unwrap();
    let keys = [
        round_trip(&store, &prompt_rows()).await,
        round_trip(&store, &text_embedding_rows()).await,
        round_trip(&store, &image_embedding_rows()).await,
        round_trip(&store, &score_rows()).await,
        round_trip(&store, &metric_rows()).await,
        round_trip(&store, &summary_rows()).await,
        round_trip(&store, &image_score_rows()).await,
        round_trip(&store, &window_embedding_rows()).await,
        round_trip(&store, &video_rows()).await,
    ];
    let paths: Vec<String> = keys
        .iter()
        .map(|k| store.local_path(k).unwrap().display().to_string())
        .collect();
    let output = Command::new(env!("RWCLIP_PYTHON"))
        .arg("-c")
        .arg(PYARROW_DESCRIBE)
        .args(&paths)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (make bootstrap): {e}", env!("RWCLIP_PYTHON")));
    assert!(
        output.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let described: Value = serde_json::from_slice(&output.stdout).unwrap();

    for (kind, path) in ArtifactKind::ALL.iter().zip(&paths) {
        let file = &described[path];
        assert_eq!(file["metadata"][ARTIFACT_KEY], kind.name(), "{path}");
        assert_eq!(
            file["metadata"][FORMAT_VERSION_KEY], kind.format_version(),
            "{path}"
        );
        let fields = file["fields"].as_array().unwrap();
        assert_eq!(fields.len(), kind.columns().len(), "{path}");
        for (field, spec) in fields.iter().zip(kind.columns()) {
            assert_eq!(field["name"], spec.name, "{path}");
            assert_eq!(
                field["description"], spec.description,
                "{path} column {}",
                spec.name
            );
            let nullable = spec.column_type.is_nullable();
            assert_eq!(field["nullable"], nullable, "{path} column {}", spec.name);
            let ty = field["type"].as_str().unwrap();
            assert!(
                ty.starts_with(pyarrow_type(spec.column_type)),
                "{path} column {}: pyarrow type {ty}",
                spec.name
            );
        }
        assert_eq!(
            file["rows"],
            expected_pylist(*kind),
            "{path}: pyarrow sees different values"
        );
    }
    let embedding_type = |path: &str, column: usize| {
        described[path]["fields"][column]["type"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        embedding_type(&paths[1], 4).ends_with("[4]"),
        "text embedding width comes from the data"
    );
    assert!(
        embedding_type(&paths[2], 4).ends_with("[3]"),
        "image embedding width comes from the data"
    );
}

#[tokio::test]
async fn store_keys_listing_children_and_conditional_put() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new").join("nested");
    let store = Store::open(&format!("file://{}", root.display())).unwrap();
    assert!(root.is_dir(), "open creates the directory");

    assert!(store
        .put_if_absent("claims/task-1", Bytes::from_static(b"worker-a"))
        .await
        .unwrap());
    assert!(!store
        .put_if_absent("claims/task-1", Bytes::from_static(b"worker-b"))
        .await
        .unwrap());
    assert_eq!(
        store.get("claims/task-1").await.unwrap(),
        Bytes::from_static(b"worker-a"),
        "loser must not overwrite"
    );

    let run = store.child("runs/r1");
    assert_eq!(run.uri(), format!("file://{}/runs/r1", root.display()));
    run.put("b/x.parquet", Bytes::from_static(b"1"))
        .await
        .unwrap();
    run.put("a.parquet", Bytes::from_static(b"2"))
        .await
        .unwrap();
    run.put("b/y.parquet", Bytes::from_static(b"3"))
        .await
        .unwrap();
    assert_eq!(
        run.list("").await.unwrap(),
        ["a.parquet", "b/x.parquet", "b/y.parquet"]
    );
    assert_eq!(run.list("b").await.unwrap(), ["b/x.parquet", "b/y.parquet"]);
    assert!(run.list("missing").await.unwrap().is_empty());
    assert_eq!(store.list("runs").await.unwrap().len(), 3);
    assert_eq!(
        run.local_path("b/x.parquet").unwrap(),
        root.canonicalize().unwrap().join("runs/r1/b/x.parquet")
    );
    assert!(run.local_path("b/x.parquet").unwrap().is_file());
    assert!(run.exists("a.parquet").await.unwrap());
    assert!(!run.exists("nope.parquet").await.unwrap());

    let err = run.get("nope.parquet").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("{}/nope.parquet", run.uri())),
        "names the full URI: {err}"
    );
}

#[test]
fn unsupported_uris_are_rejected_by_name() {
    let err = Store::open("gs://bucket/x").unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedUri { .. })
            && err.to_string().contains("gs://bucket/x"),
        "{err}"
    );
    let err = Store::open("file://relative/path").unwrap_err();
    assert!(err.to_string().contains("file://relative/path"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err =
        Store::open_with_options(dir.path().to_str().unwrap(), &[("aws_region", "x")]).unwrap_err();
    assert!(
        matches!(err, StoreError::OptionsForLocalStore { .. }),
        "{err:?}"
    );
    let err = Store::open_with_options("s3://bucket/p", &[("no_such_option", "1")]).unwrap_err();
    assert!(err.to_string().contains("no_such_option"), "{err}");
}

#[test]
fn decoding_checks_kind_columns_and_embedding_widths() {
    let prompts = to_parquet(&prompt_rows()).unwrap();
    let err = from_parquet::<ScoreRow>(&prompts).unwrap_err();
    assert!(
        matches!(&err, ArtifactError::WrongKind { expected: "scores", found: Some(f) } if f == "prompts"),
        "{err:?}"
    );

    let mut ragged = text_embedding_rows();
    ragged[1].embedding.push(1.0);
    let err = TextEmbeddingRow::to_parquet(&ragged).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::InconsistentEmbeddingDim {
                row: 1,
                expected: 4,
                found: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("text_embeddings"), "{err}");

    let empty: Vec<ImageEmbeddingRow> = Vec::new();
    assert_eq!(
        ImageEmbeddingRow::from_parquet(&to_parquet(&empty).unwrap()).unwrap(),
        empty
    );

    let mut bad_label = prompt_rows();
    bad_label[2].label = 2;
    let err = from_parquet::<PromptRow>(&to_parquet(&bad_label).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::InvalidLabel {
                row: 2,
                value: 2,
                ..
            }
        ),
        "{err:?}"
    );

    let err = from_parquet::<PromptRow>(&Bytes::from_static(b"not parquet")).unwrap_err();
    assert!(err.to_string().contains("prompts"), "{err}");
}

/// A pyarrow-written file with a column of the wrong type or a variable-length
/// embedding list is rejected with the column's name.
#[test]
fn foreign_files_with_wrong_column_types_are_rejected_by_column() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq
meta = {b"rwclip.artifact": b"text_embeddings", b"rwclip.format_version": b"1"}
ragged = pa.table({"pair_id": pa.array([1, 2], pa.uint64()), "label": pa.array([0, 1], pa.uint8()),
                   "text": ["a", "b"], "embedding": pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float32()))}).replace_schema_metadata(meta)
pq.write_table(ragged, sys.argv[1] + "/ragged.parquet")
signed = pa.table({"pair_id": pa.array([1], pa.int64()), "label": pa.array([0], pa.uint8()),
                   "text": ["a"], "embedding": pa.array([[1.0]], pa.list_(pa.float32(), 1))}).replace_schema_metadata(meta)
pq.write_table(signed, sys.argv[1] + "/signed.parquet")
v1 = pa.table({"pair_id": pa.array([4, 4], pa.uint64()), "label": pa.array([0, 1], pa.uint8()),
               "text": ["n", "a"], "embedding": pa.array([[1.0], [2.0]], pa.list_(pa.float32(), 1))}).replace_schema_metadata(meta)
pq.write_table(v1, sys.argv[1] + "/v1.parquet")
v9 = v1.replace_schema_metadata({b"rwclip.artifact": b"text_embeddings", b"rwclip.format_version": b"9"})
pq.write_table(v9, sys.argv[1] + "/v9.parquet")
"#;
    let status = Command::new(env!("RWCLIP_PYTHON"))
        .args(["-c", script])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "pyarrow could not write the fixtures");
    let read = |name: &str| Bytes::from(std::fs::read(dir.path().join(name)).unwrap());

    // Version 1 (before `seed`) still reads, with a null seed; unknown versions do not.
    let v1 = from_parquet::<TextEmbeddingRow>(&read("v1.parquet")).unwrap();
    assert_eq!(v1.iter().map(|r| (r.pair_id, r.seed, r.label)).collect::<Vec<_>>(), [(4, None, Some(0)), (4, None, Some(1))]);
    let err = from_parquet::<TextEmbeddingRow>(&read("v9.parquet")).unwrap_err();
    assert!(matches!(err, ArtifactError::UnsupportedVersion { .. }), "{err:?}");

    let err = from_parquet::<TextEmbeddingRow>(&read("ragged.parquet")).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::ColumnType {
                column: "embedding",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("FixedSizeList<Float32, D>"),
        "{err}"
    );
    let err = from_parquet::<TextEmbeddingRow>(&read("signed.parquet")).unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::ColumnType {
                column: "pair_id",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn docs_describe_every_column_of_every_artifact() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/artifacts.md");
    let docs = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for kind in ArtifactKind::ALL {
        // Each artifact has its own section, headed "### `name`".
        let heading = format!("### `{}`", kind.name());
        let start = docs
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/artifacts.md lacks a section {heading}"));
        let rest = &docs[start + heading.len()..];
        let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
        for column in kind.columns() {
            let row = format!("| `{}` |", column.name);
            assert!(
                section.lines().any(|l| l.starts_with(&row) && l.contains(column.description)),
                "docs/artifacts.md section {heading} lacks a row `{row}` with the schema.rs description {:?}",
                column.description
            );
        }
    }
}
