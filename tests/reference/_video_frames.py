"""PyAV's frames of a video under rwclip's sampling, the reference for rwclip-video.

usage: _video_frames.py VIDEO SAMPLING OUT
SAMPLING is fps=F, every_nth=N or keyframes (keyframes: PyAV's decoder skips
non-key frames, as rwclip's does). OUT gets, per kept frame, a JSON line in
OUT.json (index, pts_s, target_s, width, height) and the frame's
`to_ndarray(format="rgb24")` bytes appended to OUT.rgb.
"""
import json
import sys

import av

video, sampling, out = sys.argv[1], sys.argv[2], sys.argv[3]
container = av.open(video)
stream = container.streams.video[0]
if sampling == "keyframes":
    stream.codec_context.skip_frame = "NONKEY"
tb = stream.time_base
start = stream.start_time
fps = stream.average_rate
next_tick = 0
rows = []
with open(out + ".rgb", "wb") as rgb:
    for index, frame in enumerate(container.decode(stream)):
        ts = frame.pts
        if start is None:
            start = ts
        pts_s = float((ts - start) * tb)
        target = None
        if sampling.startswith("fps="):
            rate = float(sampling[4:])
            tick = next_tick / rate
            if pts_s + 1e-9 < tick:
                continue
            target = tick
            next_tick = max(int(pts_s * rate + 1e-9) + 1, next_tick + 1)
        elif sampling.startswith("every_nth="):
            if index % int(sampling[10:]) != 0:
                continue
        else:
            index = round(pts_s * float(fps))
        array = frame.to_ndarray(format="rgb24")
        rgb.write(array.tobytes())
        rows.append({"index": index, "pts_s": pts_s, "target_s": target, "width": frame.width, "height": frame.height})
with open(out + ".json", "w") as f:
    json.dump(rows, f)
