//! Human-readable results laid out like the paper: Table 1 (setup × method
//! rows, zero- and few-shot; AUROC / AUPR / F1-max of every dataset side by
//! side, mean ± std over seeds in percent) once per sweep grid point, Table 2
//! (object known without multi-crop) when multi-crop is swept, Table 5
//! (Sewer-ML: CLIP, Ours, CLIP + ours), a per-category breakdown per
//! dataset, Table 4 (normal word × anomaly word, "CLIP / CLIP + ours" AUROC)
//! when word pairs are swept, and Fig. 4's values (Np → mean AUROC) when Np
//! is swept.

use std::fmt::Write;


use rwclip_artifacts::SummaryRow;
use rwclip_job::DatasetKind;

use super::grid::{parse_config, GridPoint};
use super::summary::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS, SCORE_WINCLIP};

/// Rows of Table 1: (setup, score, method label). "Ours" alone is shown only
/// for the unknown-object setup: the FNN never sees the category, so it
/// scores identically in both setups (as the paper notes).
/// WinCLIP's rows appear when the job ran it (a map method).
const TABLE1_ROWS: &[(&str, &str, &str)] = &[
    ("object-unknown", SCORE_WINCLIP, "WinCLIP"),
    ("object-unknown", SCORE_CLIP, "CLIP"),
    ("object-unknown", SCORE_OURS, "Ours"),
    ("object-unknown", SCORE_COMBINED, "CLIP + ours"),
    ("object-known", SCORE_WINCLIP, "WinCLIP"),
    ("object-known", SCORE_CLIP, "CLIP"),
    ("object-known", SCORE_COMBINED, "CLIP + ours"),
];

const SETUPS: &[&str] = &["object-unknown", "object-known"];
const SCORES: &[(&str, &str)] = &[(SCORE_CLIP, "CLIP"), (SCORE_OURS, "Ours"), (SCORE_COMBINED, "CLIP + ours")];
/// The setup of Table 4 and Fig. 4 in the paper.
const SWEEP_SETUP: &str = "object-unknown";

/// One metric in percent. CLIP's score does not depend on the seed, so like
/// the paper it is printed without a spread; nor does zero-shot WinCLIP's;
/// so is anything from one seed.
pub fn cell(r: &SummaryRow, mean: f64, std: f64) -> String {
    let seedless = r.score == SCORE_CLIP || (r.score == SCORE_WINCLIP && !parse_config(&r.config).setup.ends_with("-shot"));
    if r.n_seeds <= 1 || seedless {
        format!("{:.1}", mean * 100.0)
    } else {
        format!("{:.1}±{:.1}", mean * 100.0, std * 100.0)
    }
}

fn find<'a>(rows: &'a [SummaryRow], config: &str, category: &str, score: &str) -> Option<&'a SummaryRow> {
    rows.iter()
        .find(|r| r.config == config && r.category == category && r.score == score)
}

fn setup_label(setup: &str) -> String {
    match setup {
        "object-unknown" => "0-shot, object unknown".to_string(),
        "object-known" => "0-shot, object known".to_string(),
        other => other.to_string(),
    }
}

pub use rwclip_plan::DatasetColumn;

/// Table 1's rows: the zero-shot ones, then "CLIP + ours" (s_pr + s_fnn +
/// s_img) of every few-shot setup present, by k.
fn table1_rows(rows: &[&SummaryRow]) -> Vec<(String, &'static str, &'static str)> {
    let mut out: Vec<(String, &str, &str)> = TABLE1_ROWS.iter().map(|&(s, score, label)| (s.to_string(), score, label)).collect();
    let mut shots: Vec<u32> = rows
        .iter()
        .filter_map(|r| parse_config(&r.config).setup.strip_suffix("-shot")?.parse().ok())
        .collect();
    shots.sort_unstable();
    shots.dedup();
    out.extend(shots.into_iter().flat_map(|k| [(format!("{k}-shot"), SCORE_WINCLIP, "WinCLIP"), (format!("{k}-shot"), SCORE_COMBINED, "CLIP + ours")]));
    out
}

/// The pixel metrics' column headers, and how each is picked from a row.
type PixelPick = fn(&SummaryRow) -> Option<(f64, f64)>;
const PIXEL_COLUMNS: [(&str, PixelPick); 3] = [("P-AUROC", |r| r.pixel.pixel_auroc), ("AUPRO", |r| r.pixel.aupro), ("PRO-200", |r| r.pixel.pro_200)];

/// The pixel cells of one row: its metrics, "n/a" where the dataset has no
/// pixel ground truth (Sewer-ML), "–" where the method made no maps.
fn pixel_cells(r: Option<&SummaryRow>, kind: DatasetKind) -> Vec<String> {
    PIXEL_COLUMNS
        .iter()
        .map(|(_, pick)| match r.and_then(|r| pick(r).map(|(m, s)| cell(r, m, s))) {
            Some(text) => text,
            None if kind == DatasetKind::SewerMl => "n/a".to_string(),
            None => "–".to_string(),
        })
        .collect()
}

/// The dataset names of `rows` in first-seen order, or `columns`' when given.
fn dataset_columns(columns: &[DatasetColumn], rows: &[SummaryRow]) -> Vec<DatasetColumn> {
    if !columns.is_empty() {
        return columns.to_vec();
    }
    let mut out: Vec<DatasetColumn> = Vec::new();
    for r in rows {
        if !out.iter().any(|c| c.name == r.dataset) {
            out.push(DatasetColumn { name: r.dataset.clone(), kind: DatasetKind::Mvtec });
        }
    }
    out
}

fn of_dataset(rows: &[SummaryRow], name: &str) -> Vec<SummaryRow> {
    rows.iter().filter(|r| r.dataset == name).cloned().collect()
}

/// Table 1 of one grid point with a column group per dataset (plain
/// AUROC / AUPR / F1-max headers when there is one).
fn table1_groups_markdown(groups: &[(String, DatasetKind, Vec<SummaryRow>)], point: &str, maps: bool) -> String {
    let single = groups.len() == 1;
    let metrics: Vec<&str> = ["AUROC", "AUPR", "F1-max"].into_iter().chain(PIXEL_COLUMNS.iter().map(|(h, _)| *h).filter(|_| maps)).collect();
    let mut md = String::from("| Setup | Method |");
    for (name, _, _) in groups {
        for metric in &metrics {
            if single {
                let _ = write!(md, " {metric} |");
            } else {
                let _ = write!(md, " {name} {metric} |");
            }
        }
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---|".repeat(metrics.len() * groups.len()));
    md.push('\n');
    let all: Vec<&SummaryRow> = groups.iter().flat_map(|(_, _, r)| r.iter()).collect();
    for (setup, score, label) in table1_rows(&all) {
        let config = config_at(&setup, point);
        let cells: Vec<(DatasetKind, Option<&SummaryRow>)> = groups.iter().map(|(_, kind, r)| (*kind, find(r, &config, MEAN_CATEGORY, score))).collect();
        if cells.iter().all(|(_, c)| c.is_none()) {
            continue;
        }
        let _ = write!(md, "| {} | {label} |", setup_label(&setup));
        for (kind, c) in cells {
            match c {
                Some(r) => {
                    let _ = write!(md, " {} | {} | {} |", cell(r, r.auroc_mean, r.auroc_std), cell(r, r.aupr_mean, r.aupr_std), cell(r, r.f1_max_mean, r.f1_max_std));
                }
                None => md.push_str(" – | – | – |"),
            }
            if maps {
                for text in pixel_cells(c, kind) {
                    let _ = write!(md, " {text} |");
                }
            }
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

/// Rows `(setup, score, label)` of a small table at one grid point, one
/// line per dataset: `| Dataset | Method | AUROC | AUPR | F1-max |`.
fn method_rows_markdown(groups: &[(String, DatasetKind, Vec<SummaryRow>)], point: &str, methods: &[(&str, &str, &str)], maps: bool) -> String {
    let mut md = String::from("| Dataset | Method | AUROC | AUPR | F1-max |");
    if maps {
        md.push_str(" P-AUROC | AUPRO | PRO-200 |\n|---|---|---|---|---|---|---|---|\n");
    } else {
        md.push_str("\n|---|---|---|---|---|\n");
    }
    for (name, kind, rows) in groups {
        for &(setup, score, label) in methods {
            if let Some(r) = find(rows, &config_at(setup, point), MEAN_CATEGORY, score) {
                let _ = write!(md, "| {name} | {label} | {} | {} | {} |", cell(r, r.auroc_mean, r.auroc_std), cell(r, r.aupr_mean, r.aupr_std), cell(r, r.f1_max_mean, r.f1_max_std));
                if maps {
                    for text in pixel_cells(Some(r), *kind) {
                        let _ = write!(md, " {text} |");
                    }
                }
                md.push('\n');
            }
        }
    }
    md.push('\n');
    md
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

/// Table 1 (mean over categories) of one grid point as aligned text, with
/// the pixel columns when some row has pixel metrics.
fn table1_text(rows: &[SummaryRow], point: &str) -> String {
    let mut out = String::new();
    let pixel = rows.iter().any(|r| r.pixel.pixel_auroc.is_some());
    let _ = write!(out, "{:<22} {:<12} {:>11} {:>11} {:>11}", "Setup", "Method", "AUROC", "AUPR", "F1-max");
    if pixel {
        for (header, _) in PIXEL_COLUMNS {
            let _ = write!(out, " {header:>11}");
        }
    }
    out.push('\n');
    let mut last_setup = String::new();
    let all: Vec<&SummaryRow> = rows.iter().collect();
    for (setup, score, label) in table1_rows(&all) {
        let Some(r) = find(rows, &config_at(&setup, point), MEAN_CATEGORY, score) else { continue };
        let shown = if setup != last_setup { setup_label(&setup) } else { String::new() };
        last_setup = setup;
        let _ = write!(
            out,
            "{:<22} {:<12} {:>11} {:>11} {:>11}",
            shown,
            label,
            cell(r, r.auroc_mean, r.auroc_std),
            cell(r, r.aupr_mean, r.aupr_std),
            cell(r, r.f1_max_mean, r.f1_max_std),
        );
        if pixel {
            for text in pixel_cells(Some(r), DatasetKind::Mvtec) {
                let _ = write!(out, " {text:>11}");
            }
        }
        out.push('\n');
    }
    out
}

/// Table 1 of a one-point job's rows (configs are bare setup labels).
pub fn table1(rows: &[SummaryRow]) -> String {
    table1_text(rows, "")
}

/// Table 1 once per dataset and sweep grid point, each headed by its name
/// when there is more than one: what `rwclip run` prints.
pub fn table1_per_grid_point(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    let columns = dataset_columns(&[], rows);
    for c in &columns {
        let rows = of_dataset(rows, &c.name);
        if columns.len() > 1 {
            let _ = writeln!(out, "{}", c.name);
        }
        for point in grid_points(&rows) {
            if !point.is_empty() {
                let _ = writeln!(out, "{point}");
            }
            let _ = writeln!(out, "{}", table1_text(&rows, point));
        }
    }
    out.trim_end().to_string()
}

/// `results.md`: Table 1 per grid point (every dataset but Sewer-ML side
/// by side), Table 2 when multi-crop is swept, Table 5 for Sewer-ML, then
/// per dataset the per-category breakdown, Table 4 and Fig. 4 when swept.
/// `columns` orders the datasets; empty means as they appear in `rows`.
/// `maps`: the job made anomaly maps, so the tables carry pixel columns.
pub fn markdown(title: &str, columns: &[DatasetColumn], rows: &[SummaryRow], maps: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(
        md,
        "Mean ± std over seeds (population std), in percent. CLIP's prompt score does not depend on the seed and has no spread. AUPR is the trapezoid area under the precision-recall curve. Few-shot rows score s_pr (object known) + s_fnn + s_img, s_img being the minimum over the k reference images of (1 − cos) / 2.\n"
    );
    let columns = dataset_columns(columns, rows);
    let groups = |kinds: &dyn Fn(DatasetKind) -> bool| -> Vec<(String, DatasetKind, Vec<SummaryRow>)> {
        columns.iter().filter(|c| kinds(c.kind)).map(|c| (c.name.clone(), c.kind, of_dataset(rows, &c.name))).filter(|(_, _, r)| !r.is_empty()).collect()
    };
    let table1_groups = groups(&|k| k != DatasetKind::SewerMl);
    let sewer_groups = groups(&|k| k == DatasetKind::SewerMl);
    let points = grid_points(rows);
    let single_dataset = columns.len() == 1;
    for &point in &points {
        if !table1_groups.is_empty() {
            let heading = match (point.is_empty(), single_dataset) {
                (true, true) => "Results".to_string(),
                (true, false) => "Table 1".to_string(),
                (false, true) => point.to_string(),
                (false, false) => format!("Table 1, {point}"),
            };
            let _ = writeln!(md, "## {heading}\n");
            md.push_str(&table1_groups_markdown(&table1_groups, point, maps));
        }
    }
    let crop_suffix = format!(" {}", rwclip_plan::MULTI_CROP_LABEL);
    let swept_crop = points.iter().any(|p| p.ends_with(&crop_suffix)) && points.iter().any(|p| !p.ends_with(&crop_suffix));
    let mvtec_groups = groups(&|k| k == DatasetKind::Mvtec);
    if swept_crop && !mvtec_groups.is_empty() {
        for &point in points.iter().filter(|p| !p.ends_with(&crop_suffix)) {
            let _ = writeln!(md, "## Table 2: without multi-crop, 0-shot, object known{}\n", if point.is_empty() { String::new() } else { format!(", {point}") });
            md.push_str(&method_rows_markdown(&mvtec_groups, point, &[("object-known", SCORE_CLIP, "CLIP"), ("object-known", SCORE_OURS, "Ours"), ("object-known", SCORE_COMBINED, "CLIP + ours")], maps));
        }
    }
    if !sewer_groups.is_empty() {
        for &point in &points {
            let _ = writeln!(md, "## Table 5: Sewer-ML, 0-shot, object unknown{}\n", if point.is_empty() { String::new() } else { format!(", {point}") });
            md.push_str(&method_rows_markdown(&sewer_groups, point, &[("object-unknown", SCORE_WINCLIP, "WinCLIP"), ("object-unknown", SCORE_CLIP, "CLIP"), ("object-unknown", SCORE_OURS, "Ours"), ("object-unknown", SCORE_COMBINED, "CLIP + ours")], maps));
        }
    }
    for c in &columns {
        let rows = of_dataset(rows, &c.name);
        if rows.is_empty() {
            continue;
        }
        let suffix = if single_dataset { String::new() } else { format!(", {}", c.name) };
        for &point in &points {
            let mut setups: Vec<&str> = rows.iter().filter(|r| parse_config(&r.config).point_label == point).map(|r| parse_config(&r.config).setup).collect();
            setups.sort_by_key(|s| (SETUPS.iter().position(|x| x == s).unwrap_or(SETUPS.len()), s.to_string()));
            setups.dedup();
            for setup in setups {
                md.push_str(&per_category_markdown_titled(&rows, setup, point, &suffix));
                if maps && c.kind != DatasetKind::SewerMl {
                    md.push_str(&per_category_pixel_markdown(&rows, setup, point, &suffix));
                }
            }
        }
        if let Some(t4) = word_pair_markdown(&rows) {
            md.push_str(&t4.replace(" (CLIP / CLIP + ours)", &format!("{suffix} (CLIP / CLIP + ours)")));
        }
        if let Some(f4) = np_sweep_markdown(&rows) {
            md.push_str(&f4.replace("## Fig. 4: AUROC per number of prompt pairs", &format!("## Fig. 4: AUROC per number of prompt pairs{suffix}")));
        }
    }
    md
}

/// Rows = categories then the mean; columns = CLIP / Ours / CLIP + ours for
/// AUROC, AUPR and F1-max. Empty when the setup did not run.
pub fn per_category_markdown(rows: &[SummaryRow], setup: &str, point: &str) -> String {
    per_category_markdown_titled(rows, setup, point, "")
}

fn per_category_markdown_titled(rows: &[SummaryRow], setup: &str, point: &str, suffix: &str) -> String {
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
    let at = if point.is_empty() { String::new() } else { format!(", {point}") };
    let mut md = format!("### Per category, {}{at}{suffix}\n\n| Category |", setup_label(setup));
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

/// Rows = categories then the mean; columns = P-AUROC / AUPRO / PRO-200 of
/// every method that made maps. Empty when none did under this setup.
fn per_category_pixel_markdown(rows: &[SummaryRow], setup: &str, point: &str, suffix: &str) -> String {
    let config = config_at(setup, point);
    let methods: Vec<(&str, &str)> = [(SCORE_WINCLIP, "WinCLIP")]
        .into_iter()
        .chain(SCORES.iter().copied())
        .filter(|(score, _)| rows.iter().any(|r| r.config == config && r.score == *score && r.pixel.pixel_auroc.is_some()))
        .collect();
    if methods.is_empty() {
        return String::new();
    }
    let mut categories: Vec<&str> = rows.iter().filter(|r| r.config == config && r.category != MEAN_CATEGORY).map(|r| r.category.as_str()).collect();
    categories.dedup();
    categories.push(MEAN_CATEGORY);
    let at = if point.is_empty() { String::new() } else { format!(", {point}") };
    let mut md = format!("### Per category, pixel level, {}{at}{suffix}\n\n| Category |", setup_label(setup));
    for (header, _) in PIXEL_COLUMNS {
        for (_, label) in &methods {
            let _ = write!(md, " {header} {label} |");
        }
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(PIXEL_COLUMNS.len() * methods.len()));
    md.push('\n');
    for category in categories {
        let name = if category == MEAN_CATEGORY { "**mean**".to_string() } else { category.to_string() };
        let _ = write!(md, "| {name} |");
        for (_, pick) in PIXEL_COLUMNS {
            for (score, _) in &methods {
                let text = find(rows, &config, category, score).and_then(|r| pick(r).map(|(m, s)| cell(r, m, s))).unwrap_or_else(|| "–".to_string());
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
