//! The paper's job shape end to end on synthesised MVTec-AD, VisA and
//! Sewer-ML trees (tiny model, 2 seeds, small Np): every dataset is listed,
//! embedded and scored, and results.md lays out Table 1 (datasets side by
//! side, zero- and few-shot rows), Table 2, Table 4, Table 5 and Fig. 4.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rwclip_test_support::process::run_ok;

const BIN: &str = env!("CARGO_BIN_EXE_rwclip");

fn rwclip(dir: &Path, args: &[&str]) -> Output {
    run_ok(BIN, dir, args, Duration::from_secs(600))
}

const JOB: &str = r#"
name = "paper-shape"
output = "out"

[plots]
sentences = "sentences.txt"

[model]
preset = "rwclip-tiny"
device = "cpu"
text_batch_size = 256
image_batch_size = 8

[[datasets]]
name = "MVTec-AD"
kind = "mvtec"
root = "data/mvtec"
[datasets.synth]
categories = ["weave", "granite"]
train_good = 4
test_good = 3
test_defective = 1
image_size = 64

[[datasets]]
name = "VisA"
kind = "visa"
root = "data/visa"
[datasets.synth]
categories = ["brushed", "granite"]
train_good = 4
test_good = 3
test_defective = 1
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
test_defective = 1
image_size = 64

[prompts]
pairs = [32, 64]
word_pairs = [["a", "a damaged"], ["a good", "a broken"]]
min_len = 5
max_len = 10

[training]
seeds = [0, 1]

[training.fnn]
hidden = [16]
epochs = 1
pairs_per_batch = 16

[scoring]
setups = ["unknown", "known", "1-shot", "2-shot", "4-shot"]
multi_crop = [false, true]
"#;

/// The lines of the markdown section headed exactly `heading`, up to the next heading.
fn section<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = md.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "results.md has no section {heading:?}:\n{md}");
    lines.take_while(|l| !l.starts_with('#')).filter(|l| l.starts_with('|')).collect()
}

fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

#[test]
fn the_paper_job_shape_produces_every_table_over_three_datasets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), JOB).unwrap();
    std::fs::write(dir.path().join("sentences.txt"), "a photo of a scratched metal plate\n\na perfectly clean surface\n").unwrap();
    rwclip(dir.path(), &["run", "job.toml", "--workers", "2"]);

    // What each synthesised tree holds, as `rwclip dataset inspect` reports it.
    let inspect = |kind: &str, root: &str| -> serde_json::Value {
        let out = rwclip(dir.path(), &["dataset", "inspect", "--kind", kind, "--root", root, "--json"]);
        serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
    };
    let mvtec = inspect("mvtec", "data/mvtec");
    assert_eq!((mvtec["split"].as_str(), mvtec["images"].as_u64(), mvtec["references"].as_u64()), (Some("test"), Some(2 * (3 + 3)), Some(8)), "{mvtec}");
    assert_eq!(mvtec["categories"]["weave"], serde_json::json!({"normal": 3, "anomaly": 3}));
    let visa = inspect("visa", "data/visa");
    assert_eq!((visa["images"].as_u64(), visa["references"].as_u64()), (Some(12), Some(8)), "{visa}");
    let sewer = inspect("sewer-ml", "data/sewer");
    assert_eq!((sewer["split"].as_str(), sewer["categories"].as_object().map(|c| c.len())), (Some("val"), Some(1)), "{sewer}");

    let md = std::fs::read_to_string(dir.path().join("out/results.md")).unwrap();
    // Table 1 at the paper's point (Np=64 "a"/"a damaged", multi-crop): two
    // column groups, zero-shot rows then one few-shot row per k.
    let t1 = section(&md, "## Table 1, Np=64 \"a\"/\"a damaged\" multi-crop");
    assert_eq!(
        cells(t1[0]),
        ["Setup", "Method", "MVTec-AD AUROC", "MVTec-AD AUPR", "MVTec-AD F1-max", "VisA AUROC", "VisA AUPR", "VisA F1-max"]
    );
    let rows: Vec<(String, String)> = t1[2..].iter().map(|r| (cells(r)[0].to_string(), cells(r)[1].to_string())).collect();
    let expected: Vec<(String, String)> = [
        ("0-shot, object unknown", "CLIP"),
        ("0-shot, object unknown", "Ours"),
        ("0-shot, object unknown", "CLIP + ours"),
        ("0-shot, object known", "CLIP"),
        ("0-shot, object known", "CLIP + ours"),
        ("1-shot", "CLIP + ours"),
        ("2-shot", "CLIP + ours"),
        ("4-shot", "CLIP + ours"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rows, expected, "{md}");
    for row in &t1[2..] {
        let c = cells(row);
        assert_eq!(c.len(), 8, "{row}");
        for value in &c[2..] {
            let mean: f64 = value.split('±').next().unwrap().parse().unwrap_or_else(|_| panic!("cell {value:?} in {row}"));
            assert!((0.0..=100.0).contains(&mean), "{row}");
        }
        // Two seeds: the FNN's rows carry a spread, CLIP's does not.
        assert_eq!(c[2].contains('±'), c[1] != "CLIP", "{row}");
    }

    // Table 2: MVTec-AD without multi-crop, object known.
    let t2 = section(&md, "## Table 2: without multi-crop, 0-shot, object known, Np=64 \"a\"/\"a damaged\"");
    let methods: Vec<String> = t2[2..].iter().map(|r| format!("{} {}", cells(r)[0], cells(r)[1])).collect();
    assert_eq!(methods, ["MVTec-AD CLIP", "MVTec-AD Ours", "MVTec-AD CLIP + ours"], "{md}");

    // Table 5: Sewer-ML alone, zero-shot.
    let t5 = section(&md, "## Table 5: Sewer-ML, 0-shot, object unknown, Np=64 \"a\"/\"a damaged\" multi-crop");
    let methods: Vec<String> = t5[2..].iter().map(|r| format!("{} {}", cells(r)[0], cells(r)[1])).collect();
    assert_eq!(methods, ["Sewer-ML CLIP", "Sewer-ML Ours", "Sewer-ML CLIP + ours"], "{md}");
    assert!(!md.contains("| Sewer-ML | 1-shot"), "Sewer-ML has no few-shot rows");

    // Table 4 (word pairs) and Fig. 4 (Np) per dataset.
    for name in ["MVTec-AD", "VisA", "Sewer-ML"] {
        let t4 = section(&md, &format!("## Table 4: AUROC per word pair, 0-shot, object unknown, multi-crop, {name} (CLIP / CLIP + ours), Np=64"));
        assert_eq!(cells(t4[0]), ["Normal \\ Anomaly", "\"a broken\"", "\"a damaged\""], "{md}");
        let f4 = section(&md, &format!("## Fig. 4: AUROC per number of prompt pairs, {name}, 0-shot, object unknown, multi-crop, \"a\" / \"a damaged\""));
        assert_eq!(f4[2..].iter().map(|r| cells(r)[0]).collect::<Vec<_>>(), ["32", "64"], "{md}");
    }
    assert!(md.contains("### Per category, 4-shot, Np=64 \"a\"/\"a damaged\" multi-crop, VisA"), "{md}");

    // results.csv: every dataset's rows, keyed by the dataset column.
    let csv = std::fs::read_to_string(dir.path().join("out/results.csv")).unwrap();
    assert!(csv.starts_with("dataset,config,category,score,"), "{csv}");
    for name in ["MVTec-AD", "VisA", "Sewer-ML"] {
        assert!(csv.lines().any(|l| l.starts_with(&format!("\"{name}\",\"object-unknown Np=32"))), "{name} missing from results.csv");
    }
    assert!(csv.lines().any(|l| l.starts_with("\"VisA\",\"2-shot Np=64 ")), "{csv}");

    // Figures next to results.md: Fig. 4 (Np swept), ROC / PR curves and
    // score histograms per dataset, PNG and SVG, and the self-contained report.
    let out = dir.path().join("out");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for stem in ["fig4-mvtec-ad", "fig4-visa", "fig4-sewer-ml", "roc-mvtec-ad", "pr-visa", "scores-sewer-ml", "fig3-text-embeddings", "fig5-fnn-layers"] {
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert!(svg.contains("<svg") && svg.matches("<text").count() > 5, "{stem}.svg has no labels");
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        let pixels = rwclip_inputs::preprocess::Preprocess::openai(224)
            .load_bytes_views(&png, stem, &[rwclip_inputs::preprocess::View::Center])
            .unwrap_or_else(|e| panic!("{stem}.png does not decode: {e}"))
            .remove(0);
        let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
        let var = pixels.iter().map(|p| (p - mean).powi(2)).sum::<f32>() / pixels.len() as f32;
        assert!(var > 1e-3, "{stem}.png is blank");
        std::fs::write(artifacts.join(format!("paper-shape-{stem}.png")), &png).unwrap();
    }
    assert!(svg_bands(&std::fs::read_to_string(out.join("fig4-mvtec-ad.svg")).unwrap()) >= 2, "a band per word pair and score");
    // The user's sentences land on every map of Fig. 5 (the CLIP embedding
    // and the FNN's hidden layer), labelled.
    let fig5 = std::fs::read_to_string(out.join("fig5-fnn-layers.svg")).unwrap();
    assert_eq!(fig5.matches("a photo of a scratched metal pl").count(), 2, "one label per map");
    assert!(fig5.contains("FNN hidden layer 1") && fig5.contains("CLIP text embedding"), "panels named");
    let html = std::fs::read_to_string(out.join("results.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("<table>") && html.matches("<svg").count() >= 9, "results.html lacks tables or figures");
    assert!(!html.contains(" src=") && !html.contains("<link"), "results.html must not load anything");
}

fn svg_bands(svg: &str) -> usize {
    svg.matches("<polygon").count()
}

