//! Human-readable results laid out like the paper: Table 1 (setup × method
//! rows; AUROC / AUPR / F1-max, mean ± std over seeds in percent) once per
//! sweep grid point with a per-category breakdown, Table 4 (normal word ×
//! anomaly word, "CLIP / CLIP + ours" AUROC) when word pairs are swept, and
//! Fig. 4's values (Np → mean AUROC) when Np is swept.

use std::fmt::Write;

use crate::artifacts::SummaryRow;

use super::grid::{parse_config, GridPoint};
use super::summary::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS};

/// Rows of Table 1: (setup, score, method label). "Ours" alone is shown only
/// for the unknown-object setup: the FNN never sees the category, so it
/// scores identically in both setups (as the paper notes).
const TABLE1_ROWS: &[(&str, &str, &str)] = &[
    ("object-unknown", SCORE_CLIP, "CLIP"),
    ("object-unknown", SCORE_OURS, "Ours"),
    ("object-unknown", SCORE_COMBINED, "CLIP + ours"),
    ("object-known", SCORE_CLIP, "CLIP"),
    ("object-known", SCORE_COMBINED, "CLIP + ours"),
];

const SETUPS: &[&str] = &["object-unknown", "object-known"];
const SCORES: &[(&str, &str)] = &[(SCORE_CLIP, "CLIP"), (SCORE_OURS, "Ours"), (SCORE_COMBINED, "CLIP + ours")];
/// The setup of Table 4 and Fig. 4 in the paper.
const SWEEP_SETUP: &str = "object-unknown";

/// One metric in percent. CLIP's score does not depend on the seed, so like
/// the paper it is printed without a spread; so is anything from one seed.
pub fn cell(r: &SummaryRow, mean: f64, std: f64) -> String {
    if r.n_seeds <= 1 || r.score == SCORE_CLIP {
        format!("{:.1}", mean * 100.0)
    } else {
        format!("{:.1}±{:.1}", mean * 100.0, std * 100.0)
    }
}

fn find<'a>(rows: &'a [SummaryRow], config: &str, category: &str, score: &str) -> Option<&'a SummaryRow> {
    rows.iter()
        .find(|r| r.config == config && r.category == category && r.score == score)
}

fn setup_label(setup: &str) -> &'static str {
    match setup {
        "object-unknown" => "0-shot, object unknown",
        "object-known" => "0-shot, object known",
        _ => "",
    }
}

/// The config name of `setup` at the grid point labelled `point`.
fn config_at(setup: &str, point: &str) -> String {
    if point.is_empty() {
        setup.to_string()
    } else {
        format!("{setup} {point}")
    }
}

/// Grid point labels of the rows, Np numerically then words; "" for a
/// one-point job.
fn grid_points(rows: &[SummaryRow]) -> Vec<&str> {
    let mut points: Vec<(Option<GridPoint>, &str)> = Vec::new();
    for r in rows {
        let c = parse_config(&r.config);
        if !points.iter().any(|(_, l)| *l == c.point_label) {
            points.push((c.point, c.point_label));
        }
    }
    points.sort();
    points.into_iter().map(|(_, l)| l).collect()
}

/// Table 1 (mean over categories) of one grid point as aligned text.
fn table1_text(rows: &[SummaryRow], point: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<22} {:<12} {:>11} {:>11} {:>11}", "Setup", "Method", "AUROC", "AUPR", "F1-max");
    let mut last_setup = "";
    for &(setup, score, label) in TABLE1_ROWS {
        let Some(r) = find(rows, &config_at(setup, point), MEAN_CATEGORY, score) else { continue };
        let shown = if setup != last_setup { setup_label(setup) } else { "" };
        last_setup = setup;
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:>11} {:>11} {:>11}",
            shown,
            label,
            cell(r, r.auroc_mean, r.auroc_std),
            cell(r, r.aupr_mean, r.aupr_std),
            cell(r, r.f1_max_mean, r.f1_max_std),
        );
    }
    out
}

/// Table 1 of a one-point job's rows (configs are bare setup labels).
pub fn table1(rows: &[SummaryRow]) -> String {
    table1_text(rows, "")
}

/// Table 1 once per sweep grid point, each headed by its name when there
/// is one: what `rwclip run` prints.
pub fn table1_per_grid_point(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    for point in grid_points(rows) {
        if !point.is_empty() {
            let _ = writeln!(out, "{point}");
        }
        let _ = writeln!(out, "{}", table1_text(rows, point));
    }
    out.trim_end().to_string()
}

/// `results.md`: Table 1 and the per-category breakdown per grid point, then
/// Table 4 and the Np sweep when the job sweeps word pairs or Np.
pub fn markdown(title: &str, rows: &[SummaryRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(
        md,
        "Mean ± std over seeds (population std), in percent. CLIP's prompt score does not depend on the seed and has no spread. AUPR is the trapezoid area under the precision-recall curve.\n"
    );
    for point in grid_points(rows) {
        let heading = if point.is_empty() { "Results" } else { point };
        let _ = writeln!(md, "## {heading}\n");
        md.push_str(&table1_markdown(rows, point));
        for &setup in SETUPS {
            md.push_str(&per_category_markdown(rows, setup, point));
        }
    }
    if let Some(t4) = word_pair_markdown(rows) {
        md.push_str(&t4);
    }
    if let Some(f4) = np_sweep_markdown(rows) {
        md.push_str(&f4);
    }
    md
}

fn table1_markdown(rows: &[SummaryRow], point: &str) -> String {
    let mut md = String::from("| Setup | Method | AUROC | AUPR | F1-max |\n|---|---|---|---|---|\n");
    for &(setup, score, label) in TABLE1_ROWS {
        if let Some(r) = find(rows, &config_at(setup, point), MEAN_CATEGORY, score) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                setup_label(setup),
                label,
                cell(r, r.auroc_mean, r.auroc_std),
                cell(r, r.aupr_mean, r.aupr_std),
                cell(r, r.f1_max_mean, r.f1_max_std)
            );
        }
    }
    md.push('\n');
    md
}

/// Rows = categories then the mean; columns = CLIP / Ours / CLIP + ours for
/// AUROC, AUPR and F1-max. Empty when the setup did not run.
pub fn per_category_markdown(rows: &[SummaryRow], setup: &str, point: &str) -> String {
    let config = config_at(setup, point);
    let mut categories: Vec<&str> = rows
        .iter()
        .filter(|r| r.config == config && r.category != MEAN_CATEGORY)
        .map(|r| r.category.as_str())
        .collect();
    categories.dedup();
    if categories.is_empty() && find(rows, &config, MEAN_CATEGORY, SCORE_CLIP).is_none() {
        return String::new();
    }
    categories.push(MEAN_CATEGORY);
    let mut md = format!("### Per category, {}\n\n| Category |", setup_label(setup));
    for metric in ["AUROC", "AUPR", "F1-max"] {
        for (_, label) in SCORES {
            let _ = write!(md, " {metric} {label} |");
        }
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(3 * SCORES.len()));
    md.push('\n');
    type Metric = fn(&SummaryRow) -> (f64, f64);
    let metrics: [Metric; 3] = [
        |r| (r.auroc_mean, r.auroc_std),
        |r| (r.aupr_mean, r.aupr_std),
        |r| (r.f1_max_mean, r.f1_max_std),
    ];
    for category in categories {
        let name = if category == MEAN_CATEGORY { "**mean**".to_string() } else { category.to_string() };
        let _ = write!(md, "| {name} |");
        for metric in metrics {
            for (score, _) in SCORES {
                let text = find(rows, &config, category, score)
                    .map(|r| {
                        let (m, s) = metric(r);
                        cell(r, m, s)
                    })
                    .unwrap_or_else(|| "–".to_string());
                let _ = write!(md, " {text} |");
            }
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

/// Mean-over-categories rows of the sweep setup with a parsed grid point.
fn sweep_rows(rows: &[SummaryRow]) -> Vec<(GridPoint, &SummaryRow)> {
    rows.iter()
        .filter(|r| r.category == MEAN_CATEGORY)
        .filter_map(|r| {
            let c = parse_config(&r.config);
            (c.setup == SWEEP_SETUP).then_some(())?;
            Some((c.point?, r))
        })
        .collect()
}

fn distinct<T: PartialEq + Ord + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out.sort();
    out
}

fn auroc_of<'a>(sweep: &[(GridPoint, &'a SummaryRow)], np: u64, normal: &str, anomaly: &str, score: &str) -> Option<&'a SummaryRow> {
    sweep
        .iter()
        .find(|(p, r)| p.np == np && p.normal == normal && p.anomaly == anomaly && r.score == score)
        .map(|(_, r)| *r)
}

/// The sweep split by crop setting (a job may sweep multi-crop off and on),
/// with the title suffix of each part.
fn by_crop<'a>(sweep: Vec<(GridPoint, &'a SummaryRow)>) -> Vec<(&'static str, Vec<(GridPoint, &'a SummaryRow)>)> {
    let crops = distinct(sweep.iter().map(|(p, _)| p.multi_crop));
    crops
        .into_iter()
        .map(|multi| {
            let part = sweep.iter().filter(|(p, _)| p.multi_crop == multi).cloned().collect();
            (if multi { ", multi-crop" } else { "" }, part)
        })
        .collect()
}

/// Table 4: rows = normal word, columns = anomaly word, cells
/// "CLIP / CLIP + ours" mean AUROC (unknown-object setup), one table per
/// Np. `None` unless the job sweeps more than one word pair.
pub fn word_pair_markdown(rows: &[SummaryRow]) -> Option<String> {
    let parts: Vec<String> = by_crop(sweep_rows(rows))
        .into_iter()
        .filter_map(|(crop, sweep)| word_pair_tables(&sweep, crop))
        .collect();
    (!parts.is_empty()).then(|| parts.concat())
}

fn word_pair_tables(sweep: &[(GridPoint, &SummaryRow)], crop: &str) -> Option<String> {
    let pairs = distinct(sweep.iter().map(|(p, _)| (p.normal.clone(), p.anomaly.clone())));
    if pairs.len() < 2 {
        return None;
    }
    let normals = distinct(pairs.iter().map(|(n, _)| n.clone()));
    let anomalies = distinct(pairs.iter().map(|(_, a)| a.clone()));
    let mut md = String::new();
    for np in distinct(sweep.iter().map(|(p, _)| p.np)) {
        let _ = writeln!(
            md,
            "## Table 4: AUROC per word pair, {}{crop} (CLIP / CLIP + ours), Np={np}\n",
            setup_label(SWEEP_SETUP)
        );
        md.push_str("| Normal \\ Anomaly |");
        for a in &anomalies {
            let _ = write!(md, " \"{a}\" |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(anomalies.len()));
        md.push('\n');
        for n in &normals {
            let _ = write!(md, "| \"{n}\" |");
            for a in &anomalies {
                let clip = auroc_of(sweep, np, n, a, SCORE_CLIP);
                let ours = auroc_of(sweep, np, n, a, SCORE_COMBINED);
                let text = match (clip, ours) {
                    (Some(c), Some(o)) => format!("{} / {}", cell(c, c.auroc_mean, c.auroc_std), cell(o, o.auroc_mean, o.auroc_std)),
                    _ => "–".to_string(),
                };
                let _ = write!(md, " {text} |");
            }
            md.push('\n');
        }
        md.push('\n');
    }
    Some(md)
}

/// Fig. 4's values: Np → mean AUROC of Ours and CLIP + ours (unknown-object
/// setup), one table per word pair. `None` unless the job sweeps Np.
pub fn np_sweep_markdown(rows: &[SummaryRow]) -> Option<String> {
    let parts: Vec<String> = by_crop(sweep_rows(rows))
        .into_iter()
        .filter_map(|(crop, sweep)| np_sweep_tables(&sweep, crop))
        .collect();
    (!parts.is_empty()).then(|| parts.concat())
}

fn np_sweep_tables(sweep: &[(GridPoint, &SummaryRow)], crop: &str) -> Option<String> {
    let counts = distinct(sweep.iter().map(|(p, _)| p.np));
    if counts.len() < 2 {
        return None;
    }
    let mut md = String::new();
    for (n, a) in distinct(sweep.iter().map(|(p, _)| (p.normal.clone(), p.anomaly.clone()))) {
        let _ = writeln!(
            md,
            "## Fig. 4: AUROC per number of prompt pairs, {}{crop}, \"{n}\" / \"{a}\"\n\n| Np | Ours | CLIP + ours |\n|---|---|---|",
            setup_label(SWEEP_SETUP)
        );
        for &np in &counts {
            let show = |score: &str| {
                auroc_of(sweep, np, &n, &a, score)
                    .map(|r| cell(r, r.auroc_mean, r.auroc_std))
                    .unwrap_or_else(|| "–".to_string())
            };
            let _ = writeln!(md, "| {np} | {} | {} |", show(SCORE_OURS), show(SCORE_COMBINED));
        }
        md.push('\n');
    }
    Some(md)
}
