//! A scoring job's `results.md`: what `rwclip results`, the dashboard and
//! `results.html` show of it, from the same numbers as `summary.json`.

use std::fmt::Write;

use rwclip_artifacts::ImageScoreRow;

/// Rows of `top_k.csv` repeated in the report (the file has them all).
pub const REPORT_TOP_ROWS: usize = 10;

/// A table cell: pipes would split it (the exact value is in top_k.csv).
fn cell(s: &str) -> String {
    s.replace('|', "¦")
}

/// ", 12.4 m" along the pipe, when known.
fn metres(distance_m: Option<f64>) -> String {
    distance_m.map(|d| format!(", {d:.1} m")).unwrap_or_default()
}

/// The score quantiles `summary.json` reports (and `results.md` prints), by name, in order.
pub const QUANTILES: [(&str, f64); 9] = [("min", 0.0), ("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)];

/// The report of `summary` (`summary.json`'s value) and the best rows.
pub fn scoring_markdown(summary: &serde_json::Value, top: &[ImageScoreRow]) -> String {
    let n = |k: &str| summary[k].as_u64().unwrap_or(0);
    // With videos, a row is an image or a sampled frame.
    let what = if summary["videos"].is_object() { "images and frames" } else { "images" };
    let mut md = format!("# {}\n\n{} {what} scored, {} failed", summary["title"].as_str().unwrap_or("scoring job"), n("scored"), n("failed"));
    if let Some(errors) = summary["errors"].as_object().filter(|e| !e.is_empty()) {
        let kinds: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {}", v.as_u64().unwrap_or(0))).collect();
        let _ = write!(md, " ({})", kinds.join(", "));
    }
    md.push_str(".\n");
    if let Some(q) = summary["score_quantiles"].as_object() {
        md.push_str("\n## Score quantiles\n\n| quantile | score |\n|---|---|\n");
        for (name, _) in QUANTILES {
            if let Some(v) = q.get(name).and_then(serde_json::Value::as_f64) {
                let _ = writeln!(md, "| {name} | {v:.6} |");
            }
        }
    }
    if let Some(videos) = summary["videos"].as_object() {
        let _ = write!(
            md,
            "\n## Videos\n\n{} videos, {} frames scored, {} with errors.\n\n| video | frames | errors | max score | at | top moments |\n|---|---|---|---|---|---|\n",
            videos["count"].as_u64().unwrap_or(0),
            videos["frames_scored"].as_u64().unwrap_or(0),
            videos["with_errors"].as_u64().unwrap_or(0)
        );
        for v in videos["top"].as_array().into_iter().flatten().take(REPORT_TOP_ROWS) {
            let moments: Vec<String> = v["moments"].as_array().into_iter().flatten().map(|m| format!("{}{} ({:.3})", rwclip_core::time::hms(m["at_s"].as_f64().unwrap_or(0.0)), metres(m["distance_m"].as_f64()), m["score"].as_f64().unwrap_or(0.0))).collect();
            let max = v["max_score"].as_f64().map(|s| format!("{s:.6}")).unwrap_or_default();
            let at = v["max_at_s"].as_f64().map(rwclip_core::time::hms).unwrap_or_default();
            let errors = match v["error"].as_str() {
                Some(e) => format!("{}: {}", v["errors"], cell(e)),
                None => v["errors"].to_string(),
            };
            let _ = writeln!(md, "| {} | {} | {errors} | {max} | {at} | {} |", cell(v["uri"].as_str().unwrap_or("")), v["frames_scored"], moments.join(", "));
        }
    }
    if !top.is_empty() {
        let shown = top.len().min(REPORT_TOP_ROWS);
        let _ = write!(md, "\n## The {shown} best-scored images (of {} in top_k.csv)\n\n| rank | uri | score | s_fnn | s_pr |\n|---|---|---|---|---|\n", top.len());
        let f = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        for (i, r) in top.iter().take(shown).enumerate() {
            let uri = match r.at {
                Some(at) => format!("{} at {}{}", r.uri, rwclip_core::time::hms(at.pts_s), metres(at.distance_m)),
                None => r.uri.clone(),
            };
            let _ = writeln!(md, "| {} | {} | {} | {} | {} |", i + 1, cell(&uri), f(r.score), f(r.s_fnn), f(r.s_pr));
        }
    }
    md
}

/// The line publishing adds once the job's wall time is known.
/// `rows` are images, or images and sampled frames when `with_videos`.
pub fn rate_line(rows: u64, wall_s: f64, with_videos: bool) -> String {
    let rate = if wall_s > 0.0 { rows as f64 / wall_s } else { 0.0 };
    let (what, unit) = if with_videos { ("images and frames", "rows/s") } else { ("images", "images/s") };
    format!("\n{rows} {what} in {wall_s:.1} s: {rate:.1} {unit}.\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rwclip_scoring::top_k::TopK;

    fn row(uri: &str, score: f64) -> ImageScoreRow {
        ImageScoreRow { uri: uri.into(), score: Some(score), s_fnn: Some(score / 2.0), s_pr: Some(score / 2.0), error: None, map: None, at: None }
    }

    #[test]
    fn top_k_keeps_the_k_best_with_ties_in_input_order() {
        let mut top = TopK::new(3);
        for (i, (uri, s)) in [("a", 0.5), ("b", 0.9), ("c", 0.7), ("d", 0.9), ("e", 0.1), ("f", 0.7)].into_iter().enumerate() {
            top.offer(i as u64, s, row(uri, s));
        }
        let uris: Vec<String> = top.into_ranked().into_iter().map(|r| r.uri).collect();
        assert_eq!(uris, ["b", "d", "c"]);
    }

    #[test]
    fn the_report_lists_counts_quantiles_in_order_and_the_best_rows() {
        let summary = serde_json::json!({
            "title": "nightly", "rows": 5, "scored": 3, "failed": 2, "errors": {"missing": 1, "undecodable": 1},
            "score_quantiles": {"max": 0.9, "min": 0.1, "p50": 0.5},
        });
        let top: Vec<ImageScoreRow> = (0..12).map(|i| row(&format!("site|{i}.jpg"), 1.0 - f64::from(i) / 100.0)).collect();
        let md = scoring_markdown(&summary, &top);
        assert!(md.starts_with("# nightly\n\n3 images scored, 2 failed (missing 1, undecodable 1).\n"), "{md}");
        let (min, p50, max) = (md.find("| min |").unwrap(), md.find("| p50 |").unwrap(), md.find("| max |").unwrap());
        assert!(min < p50 && p50 < max, "quantiles in order: {md}");
        assert!(md.contains("## The 10 best-scored images (of 12 in top_k.csv)"), "{md}");
        assert!(md.contains("| 1 | site¦0.jpg | 1.000000 | 0.500000 | 0.500000 |"), "{md}");
        assert!(!md.contains("site¦10.jpg"), "only the first {REPORT_TOP_ROWS}");
        assert_eq!(rate_line(100, 4.0, false), "\n100 images in 4.0 s: 25.0 images/s.\n");
        assert_eq!(rate_line(100, 4.0, true), "\n100 images and frames in 4.0 s: 25.0 rows/s.\n");
    }
}
