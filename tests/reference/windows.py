"""Reference window embeddings from open_clip 3.3 for the `rwclip-tiny` architecture.

A window is the class token plus k x k patch tokens as they are after the
positional embedding, before ln_pre (taken by a forward hook on
`visual.patch_dropout`, where WinCLIP takes them), run through open_clip's own
ln_pre -> transformer -> ln_post -> class token -> proj. Windows are every
k x k block of the patch grid at stride 1, row by row, patches row by row.

Writes into --out: weights.safetensors (open_clip state dict), inputs.safetensors
(`pixels` [3, 3, 64, 64]) and outputs.safetensors: `image_embeddings` [3, 64],
`patch_tokens` [3, 16, 64] (after ln_post, not projected), `embedded` [3, 17, 64]
and `windows_2` [3, 9, 64], `windows_3` [3, 4, 64] (unnormalised).
"""
import os
import sys

import torch
from safetensors.torch import save_file

import open_clip

from _common import out_dir
from clip_tiny import MODEL_CONFIGS, normalized_pixels, random_model

SCALES = (2, 3)


def window_indices(grid: int, scale: int) -> torch.Tensor:
    """[windows, 1 + k*k]: token 0 (class) then the window's patches (+1 for the class token)."""
    rows = []
    for top in range(grid - scale + 1):
        for left in range(grid - scale + 1):
            patches = [(top + dy) * grid + left + dx for dy in range(scale) for dx in range(scale)]
            rows.append([0] + [p + 1 for p in patches])
    return torch.tensor(rows)


def main():
    out = out_dir(__doc__.splitlines()[0])
    open_clip.add_model_config(MODEL_CONFIGS)
    model = random_model("rwclip-tiny", seed=20261206)
    visual = model.visual
    visual.output_tokens = True
    captured = {}
    visual.patch_dropout.register_forward_hook(lambda _m, inputs, _o: captured.__setitem__("embedded", inputs[0].detach()))
    pixels = normalized_pixels(3, visual.image_size[0])
    with torch.no_grad():
        pooled, tokens = visual(pixels)
        embedded = captured["embedded"]
        grid = visual.grid_size[0]
        outputs = {"image_embeddings": pooled, "patch_tokens": tokens, "embedded": embedded}
        for scale in SCALES:
            index = window_indices(grid, scale)
            batch, _, width = embedded.shape
            sequences = embedded[:, index.flatten()].reshape(batch * index.shape[0], index.shape[1], width)
            x = visual.ln_pre(visual.patch_dropout(sequences))
            x = visual.transformer(x)  # open_clip 3.3: batch first
            x = visual.ln_post(x)
            pooled_windows, _ = visual._global_pool(x)
            outputs[f"windows_{scale}"] = (pooled_windows @ visual.proj).reshape(batch, index.shape[0], -1)
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out, "weights.safetensors"))
    save_file({"pixels": pixels.contiguous()}, os.path.join(out, "inputs.safetensors"))
    save_file({k: v.contiguous() for k, v in outputs.items()}, os.path.join(out, "outputs.safetensors"))
    print(f"windows: open_clip {open_clip.__version__}, grid {grid}, scales {SCALES} -> {out}")


if __name__ == "__main__":
    sys.exit(main())
