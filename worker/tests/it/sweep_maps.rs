//! Anomaly maps in a sweep, end to end on synthesised MVTec-AD, VisA and
//! Sewer-ML trees (tiny model, 2 seeds): WinCLIP joins Table 1 in every
//! setup, Table 1 and results.csv gain pixel AUROC / AUPRO / PRO-200,
//! Sewer-ML's pixel cells say it has no masks, the figures are drawn, and
//! the sweep's pixel metrics are those of `rwclip maps` + `rwclip metrics
//! --maps` on the same images (within the f16 storage of window embeddings).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rwclip_test_support::process::run_ok;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn rwclip(dir: &Path, args: &[&str]) -> Output {
    run_ok(BIN, dir, args, Duration::from_secs(600))
}

const JOB: &str = r#"
name = "maps-sweep"
output = "out"

[model]
preset = "rwclip-tiny"
device = "cpu"
text_batch_size = 64
image_batch_size = 4

[[datasets]]
name = "MVTec-AD"
kind = "mvtec"
root = "data/mvtec"
[datasets.synth]
categories = ["weave", "granite"]
train_good = 3
test_good = 3
test_defective = 2
image_size = 64

[[datasets]]
name = "VisA"
kind = "visa"
root = "data/visa"
[datasets.synth]
categories = ["brushed"]
train_good = 3
test_good = 3
test_defective = 2
image_size = 64

[[datasets]]
name = "Sewer-ML"
kind = "sewer-ml"
root = "data/sewer"
setups = ["unknown", "known"]
[datasets.synth]
categories = ["weave"]
train_good = 2
test_good = 4
test_defective = 2
image_size = 64

[prompts]
pairs = 32
min_len = 5
max_len = 10

[training]
seeds = [0, 1]

[training.fnn]
hidden = [16]
epochs = 1
pairs_per_batch = 16

[scoring]
setups = ["unknown", "known", "1-shot"]
maps = ["winclip", "ours", "clip+ours"]
"#;

/// The lines of the markdown table under the heading exactly `heading`.
fn section<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = md.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "results.md has no section {heading:?}:\n{md}");
    lines.take_while(|l| !l.starts_with('#')).filter(|l| l.starts_with('|')).collect()
}

fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

fn percent(cell: &str) -> f64 {
    cell.split('±').next().unwrap().parse().unwrap_or_else(|_| panic!("cell {cell:?} is not a number"))
}

fn metrics_json(dir: &Path, file: &str) -> serde_json::Value {
    serde_json::from_slice(&rwclip(dir, &["metrics", "--maps", file, "--json"]).stdout).expect("metrics --maps --json prints JSON")
}

#[test]
fn a_sweep_with_maps_reports_winclip_and_pixel_metrics_and_draws_where() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("job.toml"), JOB).unwrap();
    let run = rwclip(d, &["run", "job.toml", "--workers", "2"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("WinCLIP") && stdout.contains("P-AUROC"), "rwclip run prints Table 1 with WinCLIP and pixel columns:\n{stdout}");

    let md = std::fs::read_to_string(d.join("out/results.md")).unwrap();
    let t1 = section(&md, "## Table 1");
    let pixel = ["P-AUROC", "AUPRO", "PRO-200"];
    let header = cells(t1[0]);
    let mut want = vec!["Setup".to_string(), "Method".to_string()];
    for name in ["MVTec-AD", "VisA"] {
        want.extend(["AUROC", "AUPR", "F1-max"].iter().chain(&pixel).map(|m| format!("{name} {m}")));
    }
    assert_eq!(header, want, "{md}");
    let rows: Vec<(String, String)> = t1[2..].iter().map(|r| (cells(r)[0].to_string(), cells(r)[1].to_string())).collect();
    let expected = [
        ("0-shot, object unknown", "WinCLIP"),
        ("0-shot, object unknown", "CLIP"),
        ("0-shot, object unknown", "Ours"),
        ("0-shot, object unknown", "CLIP + ours"),
        ("0-shot, object known", "WinCLIP"),
        ("0-shot, object known", "CLIP"),
        ("0-shot, object known", "CLIP + ours"),
        ("1-shot", "WinCLIP"),
        ("1-shot", "CLIP + ours"),
    ];
    assert_eq!(rows, expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>(), "{md}");
    for row in &t1[2..] {
        let c = cells(row);
        assert_eq!(c.len(), 2 + 2 * 6, "{row}");
        for group in [&c[2..8], &c[8..14]] {
            for value in &group[..3] {
                assert!((0.0..=100.0).contains(&percent(value)), "{row}");
            }
            // CLIP made no maps here ("clip" is not among the methods); every other method did.
            for value in &group[3..] {
                if c[1] == "CLIP" {
                    assert_eq!(*value, "–", "{row}");
                } else {
                    assert!((0.0..=100.0).contains(&percent(value)), "{row}");
                }
            }
        }
        // Zero-shot WinCLIP does not depend on the seed; its 1-shot references do.
        if c[1] == "WinCLIP" {
            assert_eq!(c[2].contains('±'), c[0] == "1-shot", "{row}");
        }
    }
    // Sewer-ML has no masks: its pixel cells say so.
    let t5 = section(&md, "## Table 5: Sewer-ML, 0-shot, object unknown");
    assert_eq!(cells(t5[0])[5..], ["P-AUROC", "AUPRO", "PRO-200"], "{md}");
    for row in &t5[2..] {
        assert_eq!(cells(row)[5..], ["n/a", "n/a", "n/a"], "{row}");
    }
    assert!(t5.iter().any(|r| cells(r)[1] == "WinCLIP"), "{md}");
    assert!(md.contains("### Per category, pixel level, 0-shot, object known, MVTec-AD"), "{md}");

    // results.csv carries the pixel columns; Sewer-ML's are empty.
    let csv = std::fs::read_to_string(d.join("out/results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("results.csv has no {name}"));
    let (auroc_col, aupro_col) = (col("pixel_auroc_mean"), col("aupro_mean"));
    col("pro_200_std");
    let row_of = |prefix: &str| -> Vec<String> {
        let line = csv.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no row {prefix} in\n{csv}"));
        line.split(',').map(str::to_string).collect()
    };
    let winclip_weave = row_of("\"MVTec-AD\",\"object-known\",\"weave\",\"winclip\"");
    let sweep_auroc: f64 = winclip_weave[auroc_col].parse().unwrap();
    let sweep_aupro: f64 = winclip_weave[aupro_col].parse().unwrap();
    assert!(row_of("\"Sewer-ML\",\"object-unknown\",\"mean\",\"ours\"")[auroc_col].is_empty(), "no pixel ground truth, no pixel metric");

    // The same WinCLIP maps through `rwclip maps` and `rwclip metrics --maps`.
    rwclip(d, &["maps", "--method", "winclip", "--model", "rwclip-tiny", "--device", "cpu", "--dataset", "mvtec", "--input", "data/mvtec", "--out", "winclip.parquet"]);
    let cli = metrics_json(d, "winclip.parquet");
    let weave = &cli["categories"]["weave"];
    let (cli_auroc, cli_aupro) = (weave["pixel_auroc"].as_f64().unwrap(), weave["aupro"].as_f64().unwrap());
    assert!((cli_auroc - sweep_auroc).abs() < 1e-3 && (cli_aupro - sweep_aupro).abs() < 1e-3, "sweep {sweep_auroc} / {sweep_aupro} vs rwclip maps {cli_auroc} / {cli_aupro}");
    // 1-shot: the mean over the two seeds of the references each draws.
    let one_shot: Vec<f64> = ["0", "1"]
        .iter()
        .map(|seed| {
            let out = format!("winclip-1shot-{seed}.parquet");
            rwclip(d, &["maps", "--method", "winclip", "--model", "rwclip-tiny", "--device", "cpu", "--dataset", "mvtec", "--input", "data/mvtec", "--shots", "1", "--seed", seed, "--out", &out]);
            metrics_json(d, &out)["categories"]["granite"]["pixel_auroc"].as_f64().unwrap()
        })
        .collect();
    let sweep_one_shot: f64 = row_of("\"MVTec-AD\",\"1-shot\",\"granite\",\"winclip\"")[auroc_col].parse().unwrap();
    let cli_mean = (one_shot[0] + one_shot[1]) / 2.0;
    assert!((cli_mean - sweep_one_shot).abs() < 1e-3, "1-shot: sweep {sweep_one_shot} vs rwclip maps {one_shot:?}");

    // Figures: pixel ROC curves per dataset, an overlay sheet per category.
    let out = d.join("out");
    for stem in ["pixel-roc-mvtec-ad", "pixel-roc-visa", "maps-mvtec-ad-weave", "maps-mvtec-ad-granite", "maps-visa-brushed"] {
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert!(svg.contains("<svg"), "{stem}.svg");
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let pixels = rwclip_inputs::preprocess::Preprocess::openai(224)
            .load_bytes_views(&png, stem, &[rwclip_inputs::preprocess::View::Center])
            .unwrap_or_else(|e| panic!("{stem}.png does not decode: {e}"))
            .remove(0);
        let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
        let var = pixels.iter().map(|p| (p - mean).powi(2)).sum::<f32>() / pixels.len() as f32;
        assert!(var > 1e-3, "{stem}.png is blank");
    }
    assert!(!out.join("maps-sewer-ml-weave.png").exists(), "no overlay sheet without masks");
    let roc = std::fs::read_to_string(out.join("pixel-roc-mvtec-ad.svg")).unwrap();
    assert!(roc.contains("WinCLIP") && roc.contains("CLIP + ours") && roc.contains("weave"), "a line per method, a panel per category");
    let html = std::fs::read_to_string(out.join("results.html")).unwrap();
    assert!(html.contains("id=\"maps-mvtec-ad-weave\"") && html.contains("id=\"pixel-roc-visa\""), "results.html shows the map figures");

    // Rerun: everything is committed, nothing is computed again, same results.
    rwclip(d, &["run", "job.toml", "--workers", "1"]);
    assert_eq!(std::fs::read_to_string(d.join("out/results.csv")).unwrap(), csv);
}
