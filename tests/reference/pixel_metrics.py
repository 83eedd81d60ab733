"""Reference pixel-level metrics (scikit-learn, scipy's labelling), for common/tests/pixel_metrics_parity.rs.

Per case (a category: several maps with their masks) writes
  pixel_auroc  roc_auc_score over every pixel
  aupro        MVTec AD's compute_pro (8-connected regions from scipy.ndimage.label
               with a 3x3 structure, exact curve) + trapezoid(x_max=0.3) / 0.3
  pro_200      cflow-ad's cal_pro_score: np.arange(min, max, (max-min)/200)
               thresholds, FPR < 0.3 kept and min-max rescaled, sklearn auc
null where the reference cannot define the metric (one class of pixels, a
constant map for PRO-200): `undefined` says what the reference did instead.
Maps are float32 (as models produce them), computed on as float64.

Also writes maps.parquet (category, height, width, map list<float32>, mask
list<uint8>) holding every case as a category, for `rwclip metrics --maps`.
Floats are Python repr strings, which Rust parses bit-exactly.
"""
import os
import warnings
from bisect import bisect

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.ndimage import label
from sklearn.metrics import auc, roc_auc_score

from _common import out_dir, write_json

SEED = 20261205
STRUCTURE = np.ones((3, 3), dtype=int)


def mvtec_compute_pro(anomaly_maps, ground_truth_maps):
    """The PRO curve as MVTec AD's evaluation code builds it."""
    num_ok_pixels = 0
    num_gt_regions = 0
    fp_changes, pro_changes = [], []
    for gt_map in ground_truth_maps:
        labeled, n_components = label(gt_map, STRUCTURE)
        num_gt_regions += n_components
        ok_mask = labeled == 0
        num_ok_pixels += np.sum(ok_mask)
        fp_change = np.zeros_like(gt_map, dtype=np.uint32)
        fp_change[ok_mask] = 1
        pro_change = np.zeros_like(gt_map, dtype=np.float64)
        for k in range(n_components):
            region_mask = labeled == (k + 1)
            pro_change[region_mask] = 1.0 / np.sum(region_mask)
        fp_changes.append(fp_change.ravel())
        pro_changes.append(pro_change.ravel())
    scores = np.concatenate([m.ravel() for m in anomaly_maps])
    fp_changes = np.concatenate(fp_changes)
    pro_changes = np.concatenate(pro_changes)
    sort_idxs = np.argsort(scores)[::-1]
    scores_sorted = scores[sort_idxs]
    fprs = np.cumsum(fp_changes[sort_idxs]) / num_ok_pixels
    pros = np.cumsum(pro_changes[sort_idxs]) / num_gt_regions
    keep_mask = np.append(np.diff(scores_sorted) != 0, np.True_)
    fprs = np.clip(fprs[keep_mask], None, 1.0)
    pros = np.clip(pros[keep_mask], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def mvtec_trapezoid(x, y, x_max):
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction


def cflow_pro_200(masks, amaps, max_step=200, expect_fpr=0.3):
    """cflow-ad's cal_pro_score (skimage label -> scipy label, same 8-connectivity)."""
    binary_amaps = [np.zeros_like(a, dtype=bool) for a in amaps]
    min_th = min(a.min() for a in amaps)
    max_th = max(a.max() for a in amaps)
    delta = (max_th - min_th) / max_step
    regions = []
    for mask in masks:
        labeled, n = label(mask, STRUCTURE)
        regions.append([labeled == (k + 1) for k in range(n)])
    pros, fprs = [], []
    normal_pixels = sum((1 - m).sum() for m in masks)
    for th in np.arange(min_th, max_th, delta):
        pro = []
        fp_pixels = 0
        for binary_amap, amap, mask, image_regions in zip(binary_amaps, amaps, masks, regions):
            binary_amap[amap <= th], binary_amap[amap > th] = 0, 1
            for region in image_regions:
                pro.append(binary_amap[region].sum() / region.sum())
            fp_pixels += np.logical_and(1 - mask, binary_amap).sum()
        pros.append(np.array(pro).mean())
        fprs.append(fp_pixels / normal_pixels)
    pros, fprs = np.array(pros), np.array(fprs)
    idxes = fprs < expect_fpr
    fprs = fprs[idxes]
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    return auc(fprs, pros[idxes])


def exact(value) -> str:
    return repr(float(value))


def attempt(fn):
    """(value or None, what happened when undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            value = float(fn())
        except (ValueError, ZeroDivisionError, RuntimeWarning, AssertionError, UndefinedMetricWarning) as err:
            return None, f"{type(err).__name__}: {err}"
    if not np.isfinite(value):
        return None, f"returned {value!r}"
    return exact(value), None


try:
    from sklearn.exceptions import UndefinedMetricWarning
except ImportError:  # pragma: no cover
    UndefinedMetricWarning = RuntimeWarning


def reference(maps, masks):
    amaps = [m.astype(np.float64) for m in maps]
    labels = np.concatenate([m.ravel() for m in masks])
    scores = np.concatenate([a.ravel() for a in amaps])
    out, undefined = {}, {}
    out["pixel_auroc"], undefined["pixel_auroc"] = attempt(lambda: roc_auc_score(labels, scores))
    out["aupro"], undefined["aupro"] = attempt(
        lambda: mvtec_trapezoid(*mvtec_compute_pro(amaps, masks), x_max=0.3) / 0.3
    )
    out["pro_200"], undefined["pro_200"] = attempt(lambda: cflow_pro_200(masks, amaps))
    return out, {k: v for k, v in undefined.items() if v}


def blob_mask(rng, h, w, blobs):
    mask = np.zeros((h, w), dtype=np.uint8)
    for _ in range(blobs):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        ry, rx = rng.integers(1, max(2, h // 4)), rng.integers(1, max(2, w // 4))
        yy, xx = np.ogrid[:h, :w]
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0] = 1
    return mask


def noisy_map(rng, mask, separation):
    return (rng.normal(size=mask.shape) + separation * mask + 0.3 * rng.uniform(size=mask.shape)).astype(np.float32)


def generate_cases(rng):
    cases = []

    def add(name, maps, masks):
        cases.append((name, [np.asarray(m, dtype=np.float32) for m in maps], [np.asarray(k, dtype=np.uint8) for k in masks]))

    for i in range(6):
        h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        masks = [blob_mask(rng, h, w, int(rng.integers(0, 4))) for _ in range(int(rng.integers(2, 7)))]
        masks[0][h // 2, w // 2] = 1
        add(f"random_blobs_{i}", [noisy_map(rng, m, 1.5) for m in masks], masks)
    for i in range(3):
        masks = [blob_mask(rng, 24, 24, 2) for _ in range(4)]
        masks[1][:] = 0  # a normal image in the category
        masks[0][3, 3] = 1
        maps = [np.round(noisy_map(rng, m, 1.0) * 2) / 2 for m in masks]  # few distinct values: ties
        add(f"heavy_ties_{i}", maps, masks)
    one_pixel = np.zeros((12, 12), dtype=np.uint8)
    one_pixel[[0, 5, 11, 7], [0, 5, 11, 2]] = 1
    add("one_pixel_regions", [noisy_map(rng, one_pixel, 2.0), noisy_map(rng, np.zeros_like(one_pixel), 0)], [one_pixel, np.zeros_like(one_pixel)])
    diagonal = np.zeros((10, 10), dtype=np.uint8)
    for k in range(6):
        diagonal[k, k] = 1  # one region under 8-connectivity, six under 4
    diagonal[8, 0] = diagonal[9, 1] = 1
    diagonal[2:5, 7:9] = 1
    add("regions_touching_diagonally", [noisy_map(rng, diagonal, 1.0)], [diagonal])
    normal_only = [np.zeros((16, 16), dtype=np.uint8) for _ in range(3)]
    add("category_without_anomalies", [noisy_map(rng, m, 0) for m in normal_only], normal_only)
    masks = [blob_mask(rng, 16, 16, 2) for _ in range(3)]
    masks[0][4, 4] = 1
    add("constant_maps", [np.full((16, 16), 0.25, dtype=np.float32) for _ in masks], masks)
    add("constant_per_image", [np.full((16, 16), v, dtype=np.float32) for v in (0.1, 0.9, 0.5)], masks)
    add("perfect_map", [m.astype(np.float32) * 0.8 + 0.1 for m in masks], masks)
    add("inverted_map", [1.0 - m.astype(np.float32) for m in masks], masks)
    sizes = [(12, 20), (30, 7), (5, 5)]
    masks = [blob_mask(rng, h, w, 1) for h, w in sizes]
    masks[0][6, 10] = 1
    add("images_of_different_sizes", [noisy_map(rng, m, 1.2) for m in masks], masks)
    masks = [blob_mask(rng, 64, 64, int(rng.integers(0, 3))) for _ in range(16)]
    masks[0][10:20, 10:20] = 1
    add("large_category", [noisy_map(rng, m, 1.0) for m in masks], masks)

    out = []
    for name, maps, masks in cases:
        expected, undefined = reference(maps, masks)
        out.append({
            "name": name,
            "images": [
                {"height": int(m.shape[0]), "width": int(m.shape[1]),
                 "map": [exact(v) for v in m.ravel()], "mask": [int(v) for v in k.ravel()]}
                for m, k in zip(maps, masks)
            ],
            "expected": expected,
            "undefined": undefined,
        })
    return cases, out


def write_parquet(path, cases):
    rows = {"category": [], "height": [], "width": [], "map": [], "mask": []}
    for name, maps, masks in cases:
        for m, k in zip(maps, masks):
            rows["category"].append(name)
            rows["height"].append(int(m.shape[0]))
            rows["width"].append(int(m.shape[1]))
            rows["map"].append(m.ravel().tolist())
            rows["mask"].append(k.ravel().tolist())
    schema = pa.schema([
        ("category", pa.string()), ("height", pa.int32()), ("width", pa.int32()),
        ("map", pa.list_(pa.float32())), ("mask", pa.list_(pa.uint8())),
    ])
    pq.write_table(pa.table(rows, schema=schema), path)


def main():
    out = out_dir(__doc__.splitlines()[0])
    rng = np.random.default_rng(SEED)
    cases, serialised = generate_cases(rng)
    write_json(os.path.join(out, "cases.json"), serialised)
    write_parquet(os.path.join(out, "maps.parquet"), cases)
    print(f"pixel_metrics: {len(serialised)} cases -> {out}")


if __name__ == "__main__":
    main()
