"""The Python way to score video at 1 fps, timed for `cargo bench --bench video`.

PyAV decodes (one decoder thread, as rwclip-decode), keeps the first frame at
or after each 1/FPS s tick, converts it with to_ndarray(format="rgb24"),
open_clip's eval transform and rwclip-tiny image tower embed batches of
BATCH, and pyarrow writes one row per frame. argv: WEIGHTS THREADS FPS BATCH
OUT [--decode-only] VIDEO... Prints one JSON line: {"seconds", "frames"}
(imports and model construction excluded).
"""
import json
import os
import sys
import time

import av
import numpy as np
import open_clip
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image
from safetensors.torch import load_file

weights, threads, fps, batch, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rest = sys.argv[6:]
decode_only = rest[0] == "--decode-only"
videos = rest[1:] if decode_only else rest
torch.set_num_threads(threads)
open_clip.add_model_config(os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_configs"))
model = open_clip.create_model("rwclip-tiny")
model.load_state_dict(load_file(weights))
model.eval()
transform = open_clip.image_transform(model.visual.image_size, is_train=False)

start = time.perf_counter()
rows = {"uri": [], "frame": [], "pts_s": [], "embedding": []}


def flush(pending):
    if not pending or decode_only:
        return
    with torch.no_grad():
        emb = model.encode_image(torch.stack([p[3] for p in pending])).numpy()
    for (uri, index, pts, _), e in zip(pending, emb):
        rows["uri"].append(uri)
        rows["frame"].append(index)
        rows["pts_s"].append(pts)
        rows["embedding"].append(e.tolist())


frames = 0
for video in videos:
    container = av.open(video)
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1
    base = stream.start_time or 0
    next_tick = 0
    pending = []
    for index, frame in enumerate(container.decode(stream)):
        pts_s = float((frame.pts - base) * stream.time_base)
        if pts_s + 1e-9 < next_tick / fps:
            continue
        next_tick = max(int(pts_s * fps + 1e-9) + 1, next_tick + 1)
        rgb = frame.to_ndarray(format="rgb24")
        frames += 1
        if decode_only:
            continue
        pending.append((video, index, pts_s, transform(Image.fromarray(rgb))))
        if len(pending) == batch:
            flush(pending)
            pending = []
    flush(pending)
    container.close()
if not decode_only:
    table = pa.table({"uri": rows["uri"], "frame": rows["frame"], "pts_s": rows["pts_s"], "embedding": pa.array(rows["embedding"], pa.list_(pa.float32()))})
    pq.write_table(table, out)
print(json.dumps({"seconds": time.perf_counter() - start, "frames": frames}))
