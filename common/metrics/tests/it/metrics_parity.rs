//! Our metrics against scikit-learn 1.9 / numpy on the cases that
//! tests/reference/metrics.py generates (random, heavy ties, constant scores,
//! perfect/inverted separation, 2 samples, imbalanced, 10k samples, one class).

use std::path::PathBuf;

use rwclip_metrics::{
    aupr, auroc, average_precision, binary_metrics, f1_max, mean_std, BinaryMetrics, MetricsError,
};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-12;

#[derive(Deserialize)]
struct CaseFile {
    sklearn_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    labels: Vec<u8>,
    scores: Vec<String>,
    expected: Option<Expected>,
    sklearn_behaviour: Option<String>,
}

#[derive(Deserialize)]
struct Expected {
    auroc: String,
    aupr: String,
    average_precision: String,
    f1_max: String,
}

#[derive(Deserialize)]
struct MeanStdCase {
    values: Vec<String>,
    mean: String,
    std: String,
}

fn reference_file(name: &str) -> String {
    let path = PathBuf::from(env!("RWCLIP_REFERENCE_DIR"))
        .join("metrics")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run `make reference` to generate it",
            path.display()
        )
    })
}

/// The reference writes floats as Python repr strings so they parse bit-exactly.
fn exact(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|e| panic!("reference float {text:?}: {e}"))
}

fn exact_all(texts: &[String]) -> Vec<f64> {
    texts.iter().map(|t| exact(t)).collect()
}

#[test]
fn metrics_match_sklearn() {
    let file: CaseFile =
        serde_json::from_str(&reference_file("cases.json")).expect("parse cases.json");
    let mut max_deviation = [0.0f64; 4];
    let mut compared = 0;
    for case in file.cases.iter().filter(|c| c.expected.is_some()) {
        let expected = case.expected.as_ref().unwrap();
        let scores = exact_all(&case.scores);
        let got = binary_metrics(&case.labels, &scores)
            .unwrap_or_else(|e| panic!("case {}: unexpected error {e}", case.name));
        let want = BinaryMetrics {
            auroc: exact(&expected.auroc),
            aupr: exact(&expected.aupr),
            average_precision: exact(&expected.average_precision),
            f1_max: exact(&expected.f1_max),
        };
        let pairs = [
            ("auroc", got.auroc, want.auroc),
            ("aupr", got.aupr, want.aupr),
            (
                "average_precision",
                got.average_precision,
                want.average_precision,
            ),
            ("f1_max", got.f1_max, want.f1_max),
        ];
        for (slot, (metric, ours, theirs)) in pairs.into_iter().enumerate() {
            let deviation = (ours - theirs).abs();
            max_deviation[slot] = max_deviation[slot].max(deviation);
            assert!(
                deviation <= TOLERANCE,
                "case {}: {metric} ours {ours:e} sklearn {theirs:e} (|diff| {deviation:e})",
                case.name
            );
        }
        // The single-metric entry points must agree with the combined one exactly.
        assert_eq!(
            auroc(&case.labels, &scores).unwrap(),
            got.auroc,
            "case {}",
            case.name
        );
        assert_eq!(
            aupr(&case.labels, &scores).unwrap(),
            got.aupr,
            "case {}",
            case.name
        );
        assert_eq!(
            average_precision(&case.labels, &scores).unwrap(),
            got.average_precision,
            "case {}",
            case.name
        );
        assert_eq!(
            f1_max(&case.labels, &scores).unwrap(),
            got.f1_max,
            "case {}",
            case.name
        );
        compared += 1;
    }
    assert!(
        compared >= 40,
        "expected the full reference case set, compared only {compared}"
    );
    eprintln!(
        "metrics parity vs sklearn {} over {compared} cases: max |diff| auroc {:e}, aupr {:e}, \
         average_precision {:e}, f1_max {:e}",
        file.sklearn_version,
        max_deviation[0],
        max_deviation[1],
        max_deviation[2],
        max_deviation[3]
    );
}

#[test]
fn single_class_is_an_error_where_sklearn_returns_nan() {
    let file: CaseFile =
        serde_json::from_str(&reference_file("cases.json")).expect("parse cases.json");
    let single: Vec<&Case> = file.cases.iter().filter(|c| c.expected.is_none()).collect();
    assert_eq!(
        single.len(),
        2,
        "reference should hold an all-normal and an all-anomalous case"
    );
    for case in single {
        let behaviour = case.sklearn_behaviour.as_deref().unwrap_or_default();
        assert!(
            behaviour.contains("nan") || behaviour.contains("raised"),
            "{}: {behaviour}",
            case.name
        );
        let scores = exact_all(&case.scores);
        let err = binary_metrics(&case.labels, &scores).expect_err(&case.name);
        let missing = if case.labels[0] == 0 {
            "no anomalous (label 1)"
        } else {
            "no normal (label 0)"
        };
        assert!(
            matches!(err, MetricsError::SingleClass { .. }),
            "{}: {err:?}",
            case.name
        );
        assert!(
            err.to_string().contains(missing),
            "{}: message {err} should say {missing}",
            case.name
        );
    }
}

#[test]
fn bad_inputs_name_what_is_wrong() {
    let err = auroc(&[0, 1, 1], &[0.1, 0.2]).unwrap_err();
    assert!(
        matches!(
            err,
            MetricsError::LengthMismatch {
                labels: 3,
                scores: 2
            }
        ),
        "{err:?}"
    );
    assert!(matches!(auroc(&[], &[]).unwrap_err(), MetricsError::Empty));
    let err = auroc(&[0, 2, 1], &[0.1, 0.2, 0.3]).unwrap_err();
    assert!(
        matches!(err, MetricsError::InvalidLabel { index: 1, value: 2 }),
        "{err:?}"
    );
    let err = f1_max(&[0, 1, 1], &[0.1, 0.2, f64::NAN]).unwrap_err();
    assert!(
        matches!(err, MetricsError::NonFiniteScore { index: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("index 2"), "{err}");
}

#[test]
fn mean_std_matches_numpy() {
    let cases: Vec<MeanStdCase> =
        serde_json::from_str(&reference_file("mean_std.json")).expect("parse mean_std.json");
    assert!(!cases.is_empty());
    let mut max_deviation = 0.0f64;
    for case in &cases {
        let values = exact_all(&case.values);
        let (mean, std) = mean_std(&values);
        for (what, ours, theirs) in [
            ("mean", mean, exact(&case.mean)),
            ("std", std, exact(&case.std)),
        ] {
            let deviation = (ours - theirs).abs();
            max_deviation = max_deviation.max(deviation);
            assert!(
                deviation <= TOLERANCE,
                "{what} of {} values: ours {ours:e} numpy {theirs:e}",
                values.len()
            );
        }
    }
    let (mean, std) = mean_std(&[]);
    assert!(
        mean.is_nan() && std.is_nan(),
        "numpy gives NaN for an empty list"
    );
    eprintln!(
        "mean_std parity vs numpy over {} lists: max |diff| {max_deviation:e}",
        cases.len()
    );
}
