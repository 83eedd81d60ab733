//! Mean ± std over seeds of per-trial metric rows, and the CSV form of the
//! summary (the columns of `results.parquet`).

use std::collections::BTreeMap;
use std::fmt::Write;

use rwclip_artifacts::{MetricRow, PixelMetricStats, SummaryRow};
use rwclip_metrics::mean_std;

pub use rwclip_artifacts::labels::{MEAN_CATEGORY, SCORE_CLIP, SCORE_COMBINED, SCORE_OURS, SCORE_WINCLIP};

/// Per-seed rows with at most one row per (dataset, config, seed, category,
/// score): a trial read twice (a duplicate commit, a trial listed twice)
/// cannot count twice. Sorted by that key.
pub fn unique_trial_rows(rows: &[MetricRow]) -> Vec<MetricRow> {
    let mut unique: BTreeMap<(&str, &str, u64, &str, &str), &MetricRow> = BTreeMap::new();
    for r in rows {
        unique.insert((r.dataset.as_str(), r.config.as_str(), r.seed, r.category.as_str(), r.score.as_str()), r);
    }
    unique.into_values().cloned().collect()
}

/// Mean ± population std over seeds for every (dataset, config, category,
/// score), sorted by that key. Rows are keyed by seed, so a duplicated trial
/// row can never count twice.
pub fn summarise(rows: &[MetricRow]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<(&str, &str, &str, &str), BTreeMap<u64, &MetricRow>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.dataset.as_str(), r.config.as_str(), r.category.as_str(), r.score.as_str()))
            .or_default()
            .insert(r.seed, r);
    }
    groups
        .into_iter()
        .map(|((dataset, config, category, score), by_seed)| {
            let stat = |f: fn(&MetricRow) -> f64| mean_std(&by_seed.values().map(|r| f(r)).collect::<Vec<_>>());
            let (auroc_mean, auroc_std) = stat(|r| r.auroc);
            let (aupr_mean, aupr_std) = stat(|r| r.aupr);
            let (average_precision_mean, average_precision_std) = stat(|r| r.average_precision);
            let (f1_max_mean, f1_max_std) = stat(|r| r.f1_max);
            // Over the seeds that define it: a metric is undefined the same
            // way in every seed (no maps, no pixel ground truth).
            let pixel_stat = |f: fn(&MetricRow) -> Option<f64>| {
                let values: Vec<f64> = by_seed.values().filter_map(|r| f(r)).collect();
                (!values.is_empty()).then(|| mean_std(&values))
            };
            let pixel = PixelMetricStats {
                pixel_auroc: pixel_stat(|r| r.pixel.pixel_auroc),
                aupro: pixel_stat(|r| r.pixel.aupro),
                pro_200: pixel_stat(|r| r.pixel.pro_200),
            };
            SummaryRow {
                dataset: dataset.to_string(),
                config: config.to_string(),
                category: category.to_string(),
                score: score.to_string(),
                auroc_mean,
                auroc_std,
                aupr_mean,
                aupr_std,
                average_precision_mean,
                average_precision_std,
                f1_max_mean,
                f1_max_std,
                n_seeds: by_seed.len() as u64,
                pixel,
            }
        })
        .collect()
}

/// Summary rows as CSV with the columns of `results.parquet`; full f64
/// precision (Rust's shortest round-trip form), text fields quoted.
pub fn csv(rows: &[SummaryRow]) -> String {
    let mut out = String::from(
        "dataset,config,category,score,auroc_mean,auroc_std,aupr_mean,aupr_std,average_precision_mean,average_precision_std,f1_max_mean,f1_max_std,n_seeds,pixel_auroc_mean,pixel_auroc_std,aupro_mean,aupro_std,pro_200_mean,pro_200_std\n",
    );
    // Undefined pixel metrics are empty cells (pandas reads them as NaN).
    let pair = |m: Option<(f64, f64)>| m.map_or(",".to_string(), |(mean, std)| format!("{mean},{std}"));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            quote(&r.dataset),
            quote(&r.config),
            quote(&r.category),
            quote(&r.score),
            r.auroc_mean,
            r.auroc_std,
            r.aupr_mean,
            r.aupr_std,
            r.average_precision_mean,
            r.average_precision_std,
            r.f1_max_mean,
            r.f1_max_std,
            r.n_seeds,
            pair(r.pixel.pixel_auroc),
            pair(r.pixel.aupro),
            pair(r.pixel.pro_200)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(config: &str, seed: u64, auroc: f64) -> MetricRow {
        MetricRow {
            dataset: "MVTec-AD".into(),
            config: config.into(),
            seed,
            category: MEAN_CATEGORY.into(),
            score: SCORE_OURS.into(),
            auroc,
            aupr: 0.5,
            average_precision: 0.5,
            f1_max: 0.5,
            pixel: Default::default(),
        }
    }

    #[test]
    fn mean_and_population_std_over_seeds_with_duplicates_counted_once() {
        // Seed 1 appears twice (a duplicate commit): it must count once.
        let rows = [row("c", 0, 0.8), row("c", 1, 0.9), row("c", 1, 0.9), row("c", 2, 1.0)];
        let s = summarise(&rows);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].n_seeds, 3);
        assert!((s[0].auroc_mean - 0.9).abs() < 1e-12, "{}", s[0].auroc_mean);
        // population std of {0.8, 0.9, 1.0} = sqrt(0.02 / 3)
        assert!((s[0].auroc_std - (0.02f64 / 3.0).sqrt()).abs() < 1e-12, "{}", s[0].auroc_std);
        assert_eq!(unique_trial_rows(&rows).len(), 3);
    }

    #[test]
    fn pixel_metrics_are_summarised_over_the_seeds_that_define_them() {
        use rwclip_artifacts::PixelMetricValues;
        let with = |seed, auroc: Option<f64>, pro: Option<f64>| MetricRow { pixel: PixelMetricValues { pixel_auroc: auroc, aupro: pro, pro_200: None }, ..row("c", seed, 0.5) };
        let s = summarise(&[with(0, Some(0.6), Some(0.2)), with(1, Some(0.8), None), with(2, None, None)]);
        let (mean, std) = s[0].pixel.pixel_auroc.unwrap();
        assert!((mean - 0.7).abs() < 1e-12 && (std - 0.1).abs() < 1e-12, "{:?}", s[0].pixel);
        assert_eq!(s[0].pixel.aupro, Some((0.2, 0.0)));
        assert_eq!(s[0].pixel.pro_200, None, "no seed defines it: undefined, not 0 or NaN");
        let text = csv(&s);
        assert!(text.lines().nth(1).unwrap().ends_with(",3,0.7,0.10000000000000003,0.2,0,,"), "{text}");
    }

    #[test]
    fn csv_quotes_text_and_keeps_full_precision() {
        let s = summarise(&[row("Np=5 \"a\"/\"b\"", 0, 0.1 + 0.2)]);
        let text = csv(&s);
        let line = text.lines().nth(1).expect("one data row");
        assert_eq!(line, "\"MVTec-AD\",\"Np=5 \"\"a\"\"/\"\"b\"\"\",\"mean\",\"ours\",0.30000000000000004,0,0.5,0,0.5,0,0.5,0,1,,,,,,");
    }
}
