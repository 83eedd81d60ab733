//! Which figures a job publishes next to `results.md`, drawn from its
//! summary and score rows (the drawing is `rwclip-figures`').

use std::collections::BTreeMap;


use rwclip_figures::{slug, mean_curve, render, BandSeries, CurveGrid, CurveKind, CurvePanel, Figure, Histograms, NpBands, ScoreOverTime};

use crate::aggregate::grid::parse_config;
use crate::aggregate::summary::{MEAN_CATEGORY, SCORE_COMBINED, SCORE_OURS};
use rwclip_artifacts::{ScoreRow, SummaryRow};

/// The setup the paper's figures show.
const FIGURE_SETUP: &str = "object-unknown";


/// Fig. 4 per dataset, when Np is swept: the mean AUROC (± std over seeds)
/// of Ours and CLIP + ours against Np, a band per word pair (and crop).
pub fn np_figures(summary: &[SummaryRow]) -> Result<Vec<Figure>, String> {
    let mut per_dataset: BTreeMap<&str, BTreeMap<String, Vec<(f64, f64, f64)>>> = BTreeMap::new();
    for r in summary.iter().filter(|r| r.category == MEAN_CATEGORY && (r.score == SCORE_OURS || r.score == SCORE_COMBINED)) {
        let c = parse_config(&r.config);
        let Some(point) = c.point.filter(|_| c.setup == FIGURE_SETUP) else { continue };
        let method = if r.score == SCORE_OURS { "Ours" } else { "CLIP + ours" };
        let crop = if point.multi_crop { ", multi-crop" } else { "" };
        let label = format!("{method}, \"{}\"/\"{}\"{crop}", point.normal, point.anomaly);
        per_dataset.entry(&r.dataset).or_default().entry(label).or_default().push((point.np as f64, r.auroc_mean * 100.0, r.auroc_std * 100.0));
    }
    let mut out = Vec::new();
    for (dataset, series) in per_dataset {
        let mut series: Vec<BandSeries> = series
            .into_iter()
            .map(|(label, mut points)| {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                BandSeries { label, points }
            })
            .collect();
        series.retain(|s| s.points.len() >= 2);
        if series.is_empty() {
            continue;
        }
        let name = display(dataset);
        let title = format!("Fig. 4, {name}: AUROC against Np (0-shot, object unknown)");
        out.push(render(&format!("fig4-{}", slug(name)), &title, (900, 560), &NpBands { title: title.clone(), series })?);
    }
    Ok(out)
}

fn display(dataset: &str) -> &str {
    if dataset.is_empty() { "dataset" } else { dataset }
}

/// The three scores a trial writes, as the tables name them.
const METHODS: [(&str, fn(&ScoreRow) -> f64); 3] = [("CLIP", |r| r.s_pr), ("Ours", |r| r.s_fnn), ("CLIP + ours", |r| r.s_combined)];

/// Per dataset: ROC and precision–recall curves per category for each
/// method (mean over seeds), and score histograms (normal vs anomaly) per
/// method, from the per-image scores of one grid point's trials. `point` says
/// which (it titles the figures).
pub fn score_figures(rows: &[ScoreRow], point: &str) -> Result<Vec<Figure>, String> {
    let mut by_dataset: BTreeMap<&str, Vec<&ScoreRow>> = BTreeMap::new();
    for r in rows {
        by_dataset.entry(&r.dataset).or_default().push(r);
    }
    let point = if point.is_empty() { String::new() } else { format!(", {point}") };
    let mut out = Vec::new();
    for (dataset, rows) in by_dataset {
        let name = display(dataset);
        let mut by_category: BTreeMap<&str, BTreeMap<u64, Vec<&ScoreRow>>> = BTreeMap::new();
        for r in &rows {
            by_category.entry(&r.category).or_default().entry(r.seed).or_default().push(r);
        }
        for (kind, stem, x_desc, y_desc) in [(CurveKind::Roc, "roc", "false positive rate", "true positive rate"), (CurveKind::PrecisionRecall, "pr", "recall", "precision")] {
            let panels: Vec<CurvePanel> = by_category
                .iter()
                .map(|(category, seeds)| CurvePanel {
                    title: category.to_string(),
                    lines: METHODS
                        .iter()
                        .filter_map(|(label, score)| {
                            let per_seed: Vec<(Vec<f64>, Vec<u8>)> = seeds.values().map(|rs| (rs.iter().map(|r| score(r)).collect(), rs.iter().map(|r| r.label).collect())).collect();
                            mean_curve(&per_seed, kind).map(|c| (label.to_string(), c))
                        })
                        .collect(),
                })
                .filter(|p| !p.lines.is_empty())
                .collect();
            if panels.is_empty() {
                continue;
            }
            let what = if kind == CurveKind::Roc { "ROC" } else { "Precision–recall" };
            let grid = CurveGrid { x_desc, y_desc, diagonal: kind == CurveKind::Roc, panels };
            let title = format!("{what} curves, {name}, 0-shot object unknown{point}, mean over seeds");
            out.push(render(&format!("{stem}-{}", slug(name)), &title, grid.size(), &grid)?);
        }
        let histograms = Histograms {
            bins: 30,
            panels: METHODS
                .iter()
                .map(|(label, score)| {
                    let normal = rows.iter().filter(|r| r.label == 0).map(|r| score(r)).collect();
                    let anomaly = rows.iter().filter(|r| r.label == 1).map(|r| score(r)).collect();
                    (label.to_string(), vec![("normal".to_string(), normal), ("anomaly".to_string(), anomaly)])
                })
                .collect(),
        };
        let title = format!("Score histograms, {name}, 0-shot object unknown{point}, all seeds");
        out.push(render(&format!("scores-{}", slug(name)), &title, histograms.size(), &histograms)?);
    }
    Ok(out)
}

/// A scoring job's score distribution (every scored image).
pub fn distribution_figure(scores: &[f64]) -> Result<Figure, String> {
    let h = Histograms { bins: 40, panels: vec![("score".to_string(), vec![("images".to_string(), scores.to_vec())])] };
    render("score_distribution", "Score distribution", (640, 400), &h)
}

/// The score of one video over time, its top moments marked; `rank` (1
/// for the best video) names the files.
pub fn score_over_time_figure(rank: usize, curve: &ScoreOverTime) -> Result<Figure, String> {
    render(&format!("score-over-time-{rank}"), &format!("Score over time: {}", curve.video), (900, 320), curve)
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
