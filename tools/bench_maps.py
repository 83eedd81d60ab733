"""anomalib 2.7.0's WinClipModel, timed for `cargo bench --bench maps`.

Run by the bench with $RWCLIP_WINCLIP_ENV first on PYTHONPATH (see
tests/reference/_anomalib_winclip.py). Loads the weights and `images` from
INPUTS (safetensors), sets the thread count, builds the text prototypes once (fp32), then times
model(images) (zero-shot: image scores and 240x240 maps) as the best of
REPEATS runs, in PRECISION: fp32, or bf16 under torch's CPU autocast.
argv: WEIGHTS INPUTS OBJECT THREADS REPEATS PRECISION.
Prints one JSON line: {"seconds": best, "images": n, "transformer_seconds":
the best run's time inside `clip.visual.transformer` (the whole-image pass
and every window pass; timed by wrapping the module's forward, which changes
nothing it computes)}.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from _anomalib_winclip import WinClipModel  # noqa: E402

weights, inputs, obj, threads, repeats, precision = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
assert precision in ("fp32", "bf16"), precision
torch.set_num_threads(threads)
model = WinClipModel()
missing, unexpected = model.clip.load_state_dict(load_file(weights), strict=False)
assert not missing and not unexpected, (missing, unexpected)
model.eval()
model.setup(obj)
images = load_file(inputs)["images"]

transformer = model.clip.visual.transformer
in_transformer = [0.0]
untimed_forward = transformer.forward


def timed_forward(*args, **kwargs):
    start = time.perf_counter()
    result = untimed_forward(*args, **kwargs)
    in_transformer[0] += time.perf_counter() - start
    return result


transformer.forward = timed_forward
best, best_transformer = float("inf"), 0.0
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
    for _ in range(repeats):
        in_transformer[0] = 0.0
        start = time.perf_counter()
        out = model(images)
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, best_transformer = elapsed, in_transformer[0]
assert out.anomaly_map.shape == (images.shape[0], 240, 240)
print(json.dumps({"seconds": best, "images": int(images.shape[0]), "transformer_seconds": best_transformer}))
