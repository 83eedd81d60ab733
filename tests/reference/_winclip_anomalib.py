"""Runs anomalib 2.7.0's WinClipModel (child of winclip.py; argv: OUT OBJECT).

The model comes from _anomalib_winclip.py, as shipped; the random-init
weights of winclip.py are loaded strictly.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file

from _anomalib_winclip import OPEN_CLIP_VERSION, WinClipModel

OUT, OBJECT = sys.argv[1], sys.argv[2]

torch.manual_seed(0)
model = WinClipModel()  # no class name yet: text embeddings come after the weights
missing, unexpected = model.clip.load_state_dict(load_file(os.path.join(OUT, "weights.safetensors")), strict=False)
assert not missing and not unexpected, f"weights do not fit open_clip 2.24: missing {missing}, unexpected {unexpected}"
model.eval()
inputs = load_file(os.path.join(OUT, "inputs.safetensors"))
images, references = inputs["images"], inputs["references"]

with torch.no_grad():
    model.setup(OBJECT)
    image_embeddings, window_embeddings, patch_tokens = model.encode_image(images)
    zero = model(images)
    model.setup(reference_images=references)
    one = model(images)

outputs = {
    "text_embeddings": model.text_embeddings,
    "image_embeddings": image_embeddings,
    "patch_tokens": patch_tokens,
    "zero_shot_scores": zero.pred_score,
    "zero_shot_maps": zero.anomaly_map,
    "one_shot_scores": one.pred_score,
    "one_shot_maps": one.anomaly_map,
}
for scale, windows in zip(model.scales, window_embeddings):
    outputs[f"windows_{scale}"] = windows
save_file({k: v.detach().float().contiguous() for k, v in outputs.items()}, os.path.join(OUT, "outputs.safetensors"))
print(f"winclip: anomalib WinClipModel on open_clip {OPEN_CLIP_VERSION}, k_shot {model.k_shot} -> {OUT}")
