//! Human-readable results: the paper's Table 1 layout (setup × method rows,
//! AUROC / AUPR / F1-max columns, mean ± std over seeds, in percent) and a
//! per-category breakdown.

use std::fmt::Write;

use rwclip_common::artifacts::SummaryRow;

use super::summary::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS};

/// Rows of Table 1: (config, score, method label). "Ours" alone is shown only
/// for the unknown-object setup: the FNN never sees the category, so it
/// scores identically in both setups (as the paper notes).
const TABLE1_ROWS: &[(&str, &str, &str)] = &[
    ("object-unknown", SCORE_CLIP, "CLIP"),
    ("object-unknown", SCORE_OURS, "Ours"),
    ("object-unknown", SCORE_COMBINED, "CLIP + ours"),
    ("object-known", SCORE_CLIP, "CLIP"),
    ("object-known", SCORE_COMBINED, "CLIP + ours"),
];

/// One metric in percent. CLIP's score does not depend on the seed, so like
/// the paper it is printed without a spread; so is anything from one seed.
fn cell(r: &SummaryRow, mean: f64, std: f64) -> String {
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

/// Table 1 (mean over categories) as aligned text.
pub fn table1(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<22} {:<12} {:>11} {:>11} {:>11}", "Setup", "Method", "AUROC", "AUPR", "F1-max");
    let mut last_config = "";
    for &(config, score, label) in TABLE1_ROWS {
        let Some(r) = find(rows, config, MEAN_CATEGORY, score) else { continue };
        let setup = if config != last_config { setup_label(config) } else { "" };
        last_config = config;
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:>11} {:>11} {:>11}",
            setup,
            label,
            cell(r, r.auroc_mean, r.auroc_std),
            cell(r, r.aupr_mean, r.aupr_std),
            cell(r, r.f1_max_mean, r.f1_max_std),
        );
    }
    out
}

fn setup_label(config: &str) -> &'static str {
    match config {
        "object-unknown" => "0-shot, object unknown",
        "object-known" => "0-shot, object known",
        _ => "",
    }
}

/// The full report as Markdown: Table 1 and per-category AUROC / AUPR / F1-max.
pub fn markdown(title: &str, rows: &[SummaryRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(md, "Mean ± std over seeds (population std), in percent. AUPR is the trapezoid area under the precision-recall curve.\n");
    let _ = writeln!(md, "| Setup | Method | AUROC | AUPR | F1-max |\n|---|---|---|---|---|");
    for &(config, score, label) in TABLE1_ROWS {
        if let Some(r) = find(rows, config, MEAN_CATEGORY, score) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                setup_label(config),
                label,
                cell(r, r.auroc_mean, r.auroc_std),
                cell(r, r.aupr_mean, r.aupr_std),
                cell(r, r.f1_max_mean, r.f1_max_std)
            );
        }
    }
    let _ = writeln!(md, "\n## Per category\n\n| Setup | Category | Score | AUROC | AUPR | AP | F1-max |\n|---|---|---|---|---|---|---|");
    for r in rows.iter().filter(|r| r.category != MEAN_CATEGORY) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.config,
            r.category,
            r.score,
            cell(r, r.auroc_mean, r.auroc_std),
            cell(r, r.aupr_mean, r.aupr_std),
            cell(r, r.average_precision_mean, r.average_precision_std),
            cell(r, r.f1_max_mean, r.f1_max_std)
        );
    }
    md
}

/// [`table1`] once per sweep grid point. Trial configs are "<setup>" for a
/// one-point job and "<setup> <grid point>" for a sweep (see
/// `shard::trial::config_name`); each point gets its own table, headed by
/// its name when there is one.
pub fn table1_per_grid_point(rows: &[SummaryRow]) -> String {
    let mut points: Vec<&str> = Vec::new();
    for r in rows {
        let point = grid_point(&r.config).1;
        if !points.contains(&point) {
            points.push(point);
        }
    }
    let mut out = String::new();
    for point in points {
        let at_point: Vec<SummaryRow> = rows
            .iter()
            .filter(|r| grid_point(&r.config).1 == point)
            .map(|r| SummaryRow {
                config: grid_point(&r.config).0.to_string(),
                ..r.clone()
            })
            .collect();
        if !point.is_empty() {
            let _ = writeln!(out, "{point}");
        }
        let _ = writeln!(out, "{}", table1(&at_point));
    }
    out.trim_end().to_string()
}

/// (setup, grid point) of a config name; setup labels have no spaces.
fn grid_point(config: &str) -> (&str, &str) {
    config.split_once(' ').unwrap_or((config, ""))
}
