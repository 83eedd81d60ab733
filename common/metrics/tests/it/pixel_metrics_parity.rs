//! Pixel AUROC, AUPRO@0.3 and PRO-200 against the Python reference
//! (tests/reference/pixel_metrics.py: scikit-learn, scipy's labelling, MVTec
//! AD's and cflow-ad's definitions) on hostile categories: ties, one-pixel
//! regions, regions touching diagonally, a category without anomalies,
//! constant maps, images of different sizes.

use std::path::PathBuf;

use rwclip_metrics::pixel::{pixel_metrics, MaskedMap, PixelMetrics};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Case {
    name: String,
    images: Vec<Image>,
    expected: Expected,
    undefined: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Image {
    height: usize,
    width: usize,
    map: Vec<String>,
    mask: Vec<u8>,
}

#[derive(Deserialize)]
struct Expected {
    pixel_auroc: Option<String>,
    aupro: Option<String>,
    pro_200: Option<String>,
}

fn cases() -> Vec<Case> {
    let path = PathBuf::from(env!("RWCLIP_REFERENCE_DIR")).join("pixel_metrics/cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}; run `make reference`", path.display()));
    serde_json::from_str(&text).expect("parse cases.json")
}

fn parse(text: &Option<String>) -> Option<f64> {
    text.as_ref().map(|t| t.parse().unwrap_or_else(|e| panic!("reference float {t:?}: {e}")))
}

#[test]
fn pixel_metrics_match_the_python_reference() {
    let cases = cases();
    assert!(cases.len() >= 18, "expected the full reference case set, got {}", cases.len());
    let mut max_deviation = [0.0f64; 3];
    let mut defined = [0usize; 3];
    for case in &cases {
        let maps: Vec<Vec<f32>> = case
            .images
            .iter()
            .map(|i| i.map.iter().map(|v| v.parse::<f64>().expect("float") as f32).collect())
            .collect();
        let images: Vec<MaskedMap<'_>> = case
            .images
            .iter()
            .zip(&maps)
            .map(|(i, map)| MaskedMap { height: i.height, width: i.width, map, mask: &i.mask })
            .collect();
        let got: PixelMetrics = pixel_metrics(&images).unwrap_or_else(|e| panic!("case {}: {e}", case.name));
        let want = [parse(&case.expected.pixel_auroc), parse(&case.expected.aupro), parse(&case.expected.pro_200)];
        let ours = [got.pixel_auroc, got.aupro, got.pro_200];
        for (slot, name) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
            match (ours[slot], want[slot]) {
                (Some(o), Some(w)) => {
                    let deviation = (o - w).abs();
                    max_deviation[slot] = max_deviation[slot].max(deviation);
                    defined[slot] += 1;
                    assert!(deviation <= TOLERANCE, "case {}: {name} ours {o:e} reference {w:e} (|diff| {deviation:e})", case.name);
                }
                (None, None) => {}
                (o, w) => panic!(
                    "case {}: {name} ours {o:?} reference {w:?} (reference: {:?})",
                    case.name,
                    case.undefined.get(*name)
                ),
            }
        }
    }
    for (slot, name) in ["pixel_auroc", "aupro", "pro_200"].iter().enumerate() {
        assert!(defined[slot] >= 12, "{name}: only {} cases define it", defined[slot]);
    }
    let by_name = |n: &str| cases.iter().find(|c| c.name == n).unwrap_or_else(|| panic!("case {n} missing"));
    assert!(by_name("category_without_anomalies").expected.pixel_auroc.is_none());
    assert!(by_name("constant_maps").expected.pro_200.is_none());
    eprintln!(
        "pixel metrics vs reference over {} cases: max |diff| pixel_auroc {:e}, aupro {:e}, pro_200 {:e}",
        cases.len(),
        max_deviation[0],
        max_deviation[1],
        max_deviation[2]
    );
}
