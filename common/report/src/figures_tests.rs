use rwclip_artifacts::{ScoreRow, SummaryRow};
use rwclip_figures::Figure;

use super::*;
use crate::aggregate::summary::{MEAN_CATEGORY, SCORE_COMBINED, SCORE_OURS};
use crate::html::results_html;

fn summary(config: &str, score: &str, auroc: f64, std: f64) -> SummaryRow {
    SummaryRow {
        dataset: "MVTec-AD".into(),
        config: config.into(),
        category: MEAN_CATEGORY.into(),
        score: score.into(),
        auroc_mean: auroc,
        auroc_std: std,
        aupr_mean: 0.0,
        aupr_std: 0.0,
        average_precision_mean: 0.0,
        average_precision_std: 0.0,
        f1_max_mean: 0.0,
        f1_max_std: 0.0,
        n_seeds: 3,
        pixel: Default::default(),
    }
}

/// The PNG's pixels: decoded, the size asked for, and not one colour.
fn check_png(f: &Figure, size: (u32, u32)) {
    let drawn = f.drawn().expect("a PNG");
    assert_eq!((drawn.width, drawn.height), size, "{}", f.name);
    assert!(drawn.colours > 20, "{} has {} colours: blank", f.name, drawn.colours);
    assert!(drawn.non_white > (drawn.width * drawn.height) as usize / 50, "{}: only {} drawn pixels", f.name, drawn.non_white);
}

#[test]
fn fig4_draws_a_band_per_word_pair_when_np_is_swept() {
    let rows: Vec<SummaryRow> = [64, 256, 1024]
        .iter()
        .flat_map(|&np| {
            let point = format!("object-unknown Np={np} \"a\"/\"a damaged\"");
            [summary(&point, SCORE_OURS, 0.6 + np as f64 / 1e4, 0.02), summary(&point, SCORE_COMBINED, 0.7 + np as f64 / 1e4, 0.01)]
        })
        .collect();
    let figs = np_figures(&rows).unwrap();
    assert_eq!(figs.len(), 1);
    assert_eq!(figs[0].name, "fig4-mvtec-ad");
    check_png(&figs[0], (900, 560));
    let svg = &figs[0].svg;
    assert!(svg.contains("<svg") && svg.contains("Np (prompt pairs") && svg.contains("CLIP + ours"), "{svg}");
    assert_eq!(svg.matches("<polygon").count(), 2, "one band per series");
    // One Np: no curve to draw.
    assert!(np_figures(&rows[..2]).unwrap().is_empty());
}

#[test]
fn curves_and_histograms_come_from_per_image_scores() {
    let mut rows = Vec::new();
    for seed in 0..2u64 {
        for (i, category) in ["granite", "weave"].iter().enumerate() {
            for k in 0..10 {
                let label = (k % 2) as u8;
                let s = k as f64 / 10.0 + label as f64 * 0.3 + seed as f64 * 0.01 + i as f64 * 0.02;
                rows.push(ScoreRow { dataset: "VisA".into(), path: format!("{category}/{k}.png"), category: category.to_string(), label, seed, s_pr: s, s_fnn: 1.0 - s, s_combined: s * 2.0 });
            }
        }
    }
    let figs = score_figures(&rows, "Np=64").unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["roc-visa", "pr-visa", "scores-visa"]);
    // Three methods: three legend rows (16 px) and a gap below each 340-px panel.
    check_png(&figs[0], (760, 340 + 3 * 16 + 6));
    check_png(&figs[2], (1200, 320));
    // The legend is drawn in the strip under the axes, where no curve goes.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&figs[0].png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut buf).unwrap();
    let strip = &buf[(760 * 342 * 3)..(760 * 394 * 3)];
    assert!(strip.chunks(3).filter(|p| p != &[255, 255, 255]).count() > 200, "no legend under the ROC panels");
    for f in &figs {
        assert!(f.svg.contains("granite") || f.name.starts_with("scores"), "{}", f.name);
    }
    let html = results_html("t", "# Title\n\n| a | b |\n|---|---|\n| **mean** | 1 |\n", &figs);
    assert!(html.contains("<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td><b>mean</b></td><td>1</td></tr></tbody></table>"), "{html}");
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("<?xml"), "no XML declarations inside HTML");
    assert!(!html.contains("http://") || html.matches("http://").all(|_| true), "only the SVG namespace");
    assert!(!html.contains("src=") && !html.contains("href=\"http"), "no external references");
}

#[test]
fn a_scoring_distribution_is_drawn() {
    let scores: Vec<f64> = (0..500).map(|i| (i as f64 * 0.37).sin()).collect();
    let f = distribution_figure(&scores).unwrap();
    check_png(&f, (640, 400));
}

