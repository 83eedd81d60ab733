"""Reference WinCLIP from anomalib 2.7.0's own torch model, on random-init ViT-B-16-plus-240.

anomalib cannot be imported beside open-clip-torch 3.3 (it needs open_clip
< 2.26.1, whose visual transformer is sequence-first, and its package
__init__s pull lightning and more), so this script makes the weights and
inputs here, then runs anomalib's WinClipModel in a child Python whose path
starts with $RWCLIP_WINCLIP_ENV (anomalib 2.7.0 and open-clip-torch 2.24.0,
installed with --no-deps by `make`), see _winclip_anomalib.py.

Writes into --out: weights.safetensors (open_clip 3.3 state dict),
inputs.safetensors (`images` [2, 3, 240, 240], `references` [1, 3, 240, 240],
normalised), object.txt (the object word) and outputs.safetensors from
anomalib: `text_embeddings` [2, 640], `image_embeddings`, `patch_tokens`,
`windows_2`, `windows_3` of the images, `zero_shot_scores` [2],
`zero_shot_maps` [2, 240, 240], `one_shot_scores`, `one_shot_maps`.
"""
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file

from _common import out_dir
from clip_tiny import normalized_pixels, random_model

OBJECT = "metal nut"


def main():
    out = out_dir(__doc__.splitlines()[0])
    env_dir = os.environ.get("RWCLIP_WINCLIP_ENV")
    if not env_dir or not os.path.isdir(os.path.join(env_dir, "anomalib")):
        sys.exit(f"RWCLIP_WINCLIP_ENV={env_dir!r} holds no anomalib: run `make reference` (it installs anomalib 2.7.0 there)")
    model = random_model("ViT-B-16-plus-240", seed=2407)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out, "weights.safetensors"), metadata={"model": "ViT-B-16-plus-240"})
    torch.manual_seed(2408)
    pixels = normalized_pixels(3, 240)
    save_file({"images": pixels[:2].contiguous(), "references": pixels[2:].contiguous()}, os.path.join(out, "inputs.safetensors"))
    with open(os.path.join(out, "object.txt"), "w", encoding="utf-8") as f:
        f.write(OBJECT)
    child_env = dict(os.environ, PYTHONPATH=env_dir, PYTHONNOUSERSITE="1")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_winclip_anomalib.py")
    subprocess.run([sys.executable, script, out, OBJECT], env=child_env, check=True)


if __name__ == "__main__":
    sys.exit(main())
