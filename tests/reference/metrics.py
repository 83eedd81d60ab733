"""Reference image-level metrics from scikit-learn, for common/tests/metrics_parity.rs.

Writes cases.json: a list of {name, labels, scores, expected} where expected holds
  auroc              roc_auc_score
  aupr               auc(recall, precision) over precision_recall_curve (VisA/WinCLIP code)
  average_precision  average_precision_score
  f1_max             max over PR-curve points of 2PR/(P+R), 0 where P+R = 0
For single-class cases, expected is null and `sklearn_behaviour` records what
sklearn does instead (it warns and returns NaN for roc_auc_score).
Also writes mean_std.json: numpy mean and population std (ddof=0) of value lists.
Every float is written as its Python repr string: shortest round-trip decimal,
which Rust's `str::parse::<f64>` reads back bit-exactly (serde_json's default
number parser does not promise that).
"""
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from _common import out_dir, write_json

SEED = 20240607


def reference_metrics(labels, scores):
    precision, recall, _ = precision_recall_curve(labels, scores)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return {
        "auroc": exact(roc_auc_score(labels, scores)),
        "aupr": exact(auc(recall, precision)),
        "average_precision": exact(average_precision_score(labels, scores)),
        "f1_max": exact(np.max(f1)),
    }


def exact(value) -> str:
    return repr(float(value))


def single_class_behaviour(labels, scores):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = roc_auc_score(labels, scores)
            outcome = f"roc_auc_score returned {value!r}"
        except ValueError as err:
            outcome = f"roc_auc_score raised ValueError: {err}"
    messages = sorted({str(w.message) for w in caught})
    return outcome + (f"; warnings: {messages}" if messages else "")


def generate_cases(rng):
    cases = []

    def add(name, labels, scores):
        labels = [int(v) for v in labels]
        scores = [float(v) for v in scores]
        cases.append((name, labels, scores))

    for i in range(20):
        n = int(rng.integers(20, 400))
        labels = rng.integers(0, 2, n)
        labels[0], labels[1] = 0, 1
        add(f"random_{i}", labels, rng.normal(size=n) + 0.8 * labels)
    for i in range(10):
        n = int(rng.integers(30, 600))
        labels = rng.integers(0, 2, n)
        labels[0], labels[1] = 0, 1
        # Few distinct values: large tie groups mixing both classes.
        levels = int(rng.integers(2, 8))
        add(f"heavy_ties_{i}", labels, rng.integers(0, levels, n) / levels + 0.1 * labels * rng.integers(0, 2, n))
    add("constant_scores", [0, 1, 1, 0, 1, 0, 0, 1, 0, 0], [0.5] * 10)
    add("constant_scores_zero_signed", [0, 1, 0, 1], [0.0, -0.0, 0.0, -0.0])
    add("perfect_separation", [0] * 7 + [1] * 5, list(np.linspace(0, 1, 7)) + list(np.linspace(2, 3, 5)))
    add("inverted_separation", [1] * 6 + [0] * 9, list(np.linspace(0, 1, 6)) + list(np.linspace(2, 3, 9)))
    add("tiny_two_correct", [0, 1], [0.1, 0.9])
    add("tiny_two_wrong", [0, 1], [0.9, 0.1])
    add("tiny_two_tied", [1, 0], [0.3, 0.3])
    for i in range(5):
        n = int(rng.integers(200, 2000))
        labels = np.zeros(n, dtype=int)
        labels[rng.choice(n, size=int(rng.integers(1, 6)), replace=False)] = 1
        add(f"imbalanced_few_anomalies_{i}", labels, rng.normal(size=n) + 1.5 * labels)
        add(f"imbalanced_few_normals_{i}", 1 - labels, rng.normal(size=n) - 1.5 * labels)
    for i in range(3):
        n = 10_000
        labels = rng.integers(0, 2, n)
        add(f"large_{i}", labels, rng.normal(size=n) * (1.0 + labels) + 0.3 * labels)
    n = 10_000
    labels = rng.integers(0, 2, n)
    add("large_rounded_ties", labels, np.round(rng.normal(size=n) + labels, 2))
    add("large_float32_cosines", labels, (rng.uniform(-1, 1, n) + 0.2 * labels).astype(np.float32).astype(np.float64))

    out = []
    for name, labels, scores in cases:
        out.append({"name": name, "labels": labels, "scores": [exact(v) for v in scores], "expected": reference_metrics(labels, scores)})
    for name, labels, scores in [
        ("single_class_all_normal", [0] * 6, list(rng.normal(size=6))),
        ("single_class_all_anomalous", [1] * 5, list(rng.normal(size=5))),
    ]:
        labels = [int(v) for v in labels]
        scores = [float(v) for v in scores]
        out.append(
            {
                "name": name,
                "labels": labels,
                "scores": [exact(v) for v in scores],
                "expected": None,
                "sklearn_behaviour": single_class_behaviour(labels, scores),
            }
        )
    return out


def generate_mean_std(rng):
    lists = [
        [0.5],
        [0.91, 0.93, 0.95],
        list(rng.uniform(0.5, 1.0, 10)),
        list(rng.uniform(0.0, 1.0, 15)),
        list(rng.normal(100.0, 1e-3, 200)),
        list(rng.uniform(0.0, 1.0, 1000)),
    ]
    out = []
    for values in lists:
        arr = np.asarray(values, dtype=np.float64)
        out.append({"values": [exact(v) for v in values], "mean": exact(np.mean(arr)), "std": exact(np.std(arr))})
    return out


def main():
    out = out_dir(__doc__.splitlines()[0])
    rng = np.random.default_rng(SEED)
    cases = generate_cases(rng)
    write_json(os.path.join(out, "cases.json"), {"sklearn_version": sklearn.__version__, "cases": cases})
    write_json(os.path.join(out, "mean_std.json"), generate_mean_std(rng))
    print(f"metrics: {len(cases)} cases (sklearn {sklearn.__version__}) -> {out}")


if __name__ == "__main__":
    main()
