//! `rwclip metrics --maps` from the command line: the reference's Parquet of
//! hostile categories (written by pyarrow in tests/reference/pixel_metrics.py)
//! gives the reference's numbers; bad map files name the row and column.

use std::path::PathBuf;
use std::process::{Command, Output};

use rwclip_test_support::python::run as py;

fn rwclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rwclip")).args(args).output().expect("run rwclip")
}

fn reference(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("RWCLIP_REFERENCE_DIR")).join("pixel_metrics").join(name);
    assert!(path.is_file(), "{} missing: run `make reference`", path.display());
    path
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn metrics_maps_json_equals_the_reference_per_category() {
    let out = rwclip(&["metrics", "--maps", reference("maps.parquet").to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference("cases.json")).unwrap()).unwrap();
    let categories = report["categories"].as_object().expect("categories object");
    assert_eq!(categories.len(), cases.as_array().unwrap().len());
    let mut sums = [(0.0, 0usize); 3];
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        for (slot, metric) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
            let ours = &categories[name][*metric];
            match case["expected"][*metric].as_str() {
                Some(want) => {
                    let want: f64 = want.parse().unwrap();
                    let got = ours.as_f64().unwrap_or_else(|| panic!("{name}.{metric}: {ours}"));
                    assert!((got - want).abs() <= 1e-9, "{name}.{metric}: {got} vs reference {want}");
                    sums[slot].0 += want;
                    sums[slot].1 += 1;
                }
                None => assert!(ours.is_null(), "{name}.{metric} should be null, is {ours}"),
            }
        }
    }
    for (slot, metric) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
        let mean = report["mean"][*metric].as_f64().unwrap();
        let want = sums[slot].0 / sums[slot].1 as f64;
        assert!((mean - want).abs() <= 1e-9, "mean {metric}: {mean} vs {want} over the categories defining it");
    }

    let table = rwclip(&["metrics", "--maps", reference("maps.parquet").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("pixel AUROC") && text.contains("category_without_anomalies") && text.contains("n/a"), "{text}");
}

#[test]
fn bad_map_files_name_the_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, code: &str| -> String {
        let path = dir.path().join(name);
        py(&format!("import sys, pyarrow as pa, pyarrow.parquet as pq\n{code}\npq.write_table(t, sys.argv[1])"), &[path.to_str().unwrap()]);
        path.to_str().unwrap().to_string()
    };
    let schema = "s = pa.schema([('category', pa.string()), ('height', pa.int32()), ('width', pa.int32()), ('map', pa.list_(pa.float32())), ('mask', pa.list_(pa.uint8()))])";
    let bad_mask = write(
        "bad_mask.parquet",
        &format!("{schema}\nt = pa.table({{'category': ['a', 'a'], 'height': [1, 1], 'width': [2, 2], 'map': [[0.1, 0.2], [0.3, 0.4]], 'mask': [[0, 1], [0, 7]]}}, schema=s)"),
    );
    let out = rwclip(&["metrics", "--maps", &bad_mask]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("row 1, column `mask`: value 7 at pixel 1"), "{}", stderr(&out));

    let short = write(
        "short.parquet",
        &format!("{schema}\nt = pa.table({{'category': ['a'], 'height': [2], 'width': [2], 'map': [[0.1, 0.2]], 'mask': [[0, 1, 0, 0]]}}, schema=s)"),
    );
    let out = rwclip(&["metrics", "--maps", &short]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("row 0, column `map`: 2 values for a 2×2 image"), "{}", stderr(&out));

    let no_mask = write("no_mask.parquet", "t = pa.table({'category': ['a'], 'height': [1], 'width': [1], 'map': [[0.5]]})");
    let out = rwclip(&["metrics", "--maps", &no_mask]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no column `mask`"), "{}", stderr(&out));

    let neither = rwclip(&["metrics", "--json"]);
    assert_eq!(neither.status.code(), Some(2), "--scores or --maps is required");
}
