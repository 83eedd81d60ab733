"""Reference embeddings from open_clip for ViT-B-16-plus-240 (random init, the paper's model).

Writes into --out the same files as clip_tiny.py (weights.safetensors ~830 MB,
inputs.safetensors, outputs.safetensors, prompts.json) for 4 prompts and 2
images, no checkpoints. Kept small: one image forward is ~55 GFLOP.
"""
import sys

from _common import out_dir
from clip_tiny import export_reference

PROMPTS = [
    "a photo of a damaged object",
    "[w0] a [w1] photo [w2] of [w3] a damaged [w4]",
    "a cropped photo of the flawless metal nut.",
    "photo " * 100,  # longer than the context: end token in slot 77
]


def main():
    out = out_dir(__doc__.splitlines()[0])
    export_reference(out, "ViT-B-16-plus-240", PROMPTS, image_count=2, seed=240)


if __name__ == "__main__":
    sys.exit(main())
