"""Runs anomalib 2.7.0's WinClipModel (child of winclip.py; argv: OUT OBJECT).

Its path starts with anomalib 2.7.0 and open-clip-torch 2.24.0. anomalib's
package __init__s import lightning and much more, so the two files the model
needs besides its own (InferenceBatch, the buffer mixins) are bound under
stub packages, and the model's three files are loaded by path: anomalib's
code runs as shipped. open_clip is asked for no pretrained weights; the
random-init weights of winclip.py are loaded strictly instead.
"""
import importlib.util
import os
import sys
import types
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file

import open_clip

OUT, OBJECT = sys.argv[1], sys.argv[2]
ANOMALIB = os.path.join(os.environ["PYTHONPATH"].split(os.pathsep)[0], "anomalib")
from open_clip.version import __version__ as OPEN_CLIP_VERSION

assert OPEN_CLIP_VERSION == "2.24.0", f"open_clip {OPEN_CLIP_VERSION} imported from {open_clip.__file__}"


def package(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = []
    sys.modules[name] = module
    return module


def load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class InferenceBatch(NamedTuple):  # anomalib.data.dataclasses.torch.base.InferenceBatch
    pred_score: torch.Tensor | None = None
    pred_label: torch.Tensor | None = None
    anomaly_map: torch.Tensor | None = None
    pred_mask: torch.Tensor | None = None


for name in ["anomalib", "anomalib.models", "anomalib.models.image", "anomalib.models.image.winclip"]:
    package(name)
package("anomalib.data").InferenceBatch = InferenceBatch
components = package("anomalib.models.components")
base = os.path.join(ANOMALIB, "models", "components", "base")
components.BufferListMixin = load("anomalib.models.components.base.buffer_list", os.path.join(base, "buffer_list.py")).BufferListMixin
components.DynamicBufferMixin = load("anomalib.models.components.base.dynamic_buffer", os.path.join(base, "dynamic_buffer.py")).DynamicBufferMixin
winclip_dir = os.path.join(ANOMALIB, "models", "image", "winclip")
for part in ["prompting", "utils", "torch_model"]:
    load(f"anomalib.models.image.winclip.{part}", os.path.join(winclip_dir, f"{part}.py"))
WinClipModel = sys.modules["anomalib.models.image.winclip.torch_model"].WinClipModel

create = open_clip.create_model_and_transforms
open_clip.create_model_and_transforms = lambda name, pretrained=None, **kw: create(name, pretrained=None, **kw)

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
