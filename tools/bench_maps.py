"""anomalib 2.7.0's WinClipModel, timed for `cargo bench --bench maps`.

Run by the bench with $RWCLIP_WINCLIP_ENV first on PYTHONPATH (see
tests/reference/_anomalib_winclip.py). argv: WEIGHTS INPUTS OBJECT THREADS
REPEATS. Loads the weights and `images` from INPUTS (safetensors), sets the
thread count, builds the text prototypes once, then times model(images)
(zero-shot: image scores and 240x240 maps) as the best of REPEATS runs.
Prints one JSON line: {"seconds": best, "images": n}.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from _anomalib_winclip import WinClipModel  # noqa: E402

weights, inputs, obj, threads, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
model = WinClipModel()
missing, unexpected = model.clip.load_state_dict(load_file(weights), strict=False)
assert not missing and not unexpected, (missing, unexpected)
model.eval()
model.setup(obj)
images = load_file(inputs)["images"]
best = float("inf")
with torch.no_grad():
    for _ in range(repeats):
        start = time.perf_counter()
        out = model(images)
        best = min(best, time.perf_counter() - start)
assert out.anomaly_map.shape == (images.shape[0], 240, 240)
print(json.dumps({"seconds": best, "images": int(images.shape[0])}))
