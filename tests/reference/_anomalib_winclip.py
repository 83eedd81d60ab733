"""anomalib 2.7.0's WinClipModel as shipped, loaded apart from the rest of anomalib.

Imported by a Python whose path starts with $RWCLIP_WINCLIP_ENV (anomalib
2.7.0 and open-clip-torch 2.24.0, no dependencies). anomalib's package
__init__s import lightning and much more, so the two files the model needs
besides its own (InferenceBatch, the buffer mixins) are bound under stub
packages, and the model's three files are loaded by path. open_clip is asked
for no pretrained weights: callers load the exported random-init weights.
Used by _winclip_anomalib.py (the parity reference) and tools/bench_maps.py.
"""
import importlib.util
import os
import sys
import types
from typing import NamedTuple

import torch

import open_clip
from open_clip.version import __version__ as OPEN_CLIP_VERSION

assert OPEN_CLIP_VERSION == "2.24.0", f"open_clip {OPEN_CLIP_VERSION} imported from {open_clip.__file__}"
ANOMALIB = os.path.join(os.environ["PYTHONPATH"].split(os.pathsep)[0], "anomalib")


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
