#!/usr/bin/env python3
"""Convert open_clip weights into the fp32 safetensors file rwclip loads.

    convert_openclip.py --model ViT-B-16-plus-240 --checkpoint epoch_32.pt --out weights.safetensors
    convert_openclip.py --model ViT-B-16-plus-240 --pretrained laion400m_e32 --out weights.safetensors

--checkpoint takes a .pt/.bin (a bare state dict, or a training checkpoint
{"state_dict": {"module.<key>": ...}}) or a .safetensors file; --pretrained
downloads an open_clip release tag (needs internet). The weights are loaded
into open_clip's own model with strict=True first, so a wrong --model or a
damaged checkpoint fails here, not later in Rust. The output holds exactly
open_clip's state-dict keys, as fp32. tools/model_configs/ adds rwclip's own
architectures (e.g. rwclip-tiny) to open_clip's list.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file

import open_clip

MODEL_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_configs")
DDP_PREFIX = "module."


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-16-plus-240")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="local .pt / .bin / .safetensors file")
    source.add_argument("--pretrained", help="open_clip pretrained tag, e.g. laion400m_e32")
    parser.add_argument("--out", required=True, help="output .safetensors path")
    return parser.parse_args()


def read_state_dict(path: str) -> dict:
    """Tensors of a checkpoint file, unwrapped from training-checkpoint layout."""
    if path.endswith(".safetensors"):
        state = load_file(path)
    else:
        # weights_only: a checkpoint is data; never run code from a pickle.
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SystemExit(f"{path}: expected a state dict, found {type(state).__name__}")
    # Checkpoints written under DistributedDataParallel prefix every key.
    if state and all(key.startswith(DDP_PREFIX) for key in state):
        state = {key[len(DDP_PREFIX):]: value for key, value in state.items()}
    return state


def build_model(args) -> torch.nn.Module:
    open_clip.add_model_config(MODEL_CONFIGS)
    if args.model not in open_clip.list_models():
        raise SystemExit(f"unknown open_clip model {args.model!r}")
    if args.pretrained:
        return open_clip.create_model(args.model, pretrained=args.pretrained)
    model = open_clip.create_model(args.model, pretrained=None)
    state = read_state_dict(args.checkpoint)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise SystemExit(f"{args.checkpoint} does not fit {args.model}: {err}")
    return model


def main():
    args = parse_args()
    model = build_model(args)
    state = {key: value.detach().float().contiguous() for key, value in model.state_dict().items()}
    out_parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_parent, exist_ok=True)
    save_file(state, args.out, metadata={"model": args.model})
    print(f"wrote {len(state)} tensors for {args.model} to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
