"""Reference embeddings from open_clip for the `rwclip-tiny` CLIP architecture.

Writes into --out:
  weights.safetensors          open_clip state dict, fp32, exact keys
  inputs.safetensors           `tokens` [16, 77] int64 (open_clip tokenizer), `pixels` [4, 3, 64, 64] f32
  outputs.safetensors          `text_embeddings`, `image_embeddings` (unnormalised, encode_*(normalize=False))
  checkpoint_plain.pt          torch.save(state_dict)            } inputs for the
  checkpoint_wrapped.pt        {"epoch", "state_dict": {"module.<key>": ...}} } converter test
  prompts.json                 the prompts behind `tokens`
  presets.json                 open_clip's model config for each rwclip preset name

Random init with a fixed seed; parameters open_clip initialises to constants
(biases, LayerNorm affine) are perturbed so the parity test exercises them too.
clip_b16plus.py reuses the helpers below.
"""
import os
import sys

import torch
from safetensors.torch import save_file

import open_clip

from _common import out_dir, write_json

MODEL_CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "model_configs")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# ClipConfig::preset names (rwclip-tiny comes from tools/model_configs).
PRESETS = [
    "ViT-B-16-plus-240", "ViT-B-16", "ViT-B-16-quickgelu", "ViT-B-32",
    "ViT-B-32-quickgelu", "ViT-L-14", "ViT-L-14-quickgelu", "rwclip-tiny",
]

PROMPTS = [
    "a photo of a damaged object",
    "a photo of a flawless object",
    "quirk a harbor photo pencil of velvet a damaged bottle",
    "[w0] a [w1] photo [w2] of [w3] a damaged [w4]",
    "A cropped photo of the broken Capsule.",
    "a close-up photo of a hazelnut with a crack",
    "",
    "x",
    "transistor",
    "a bright photo of a perfect metal nut, without defect, without flaw, in good condition",
    "a jpeg corrupted photo of a scratched screw!!!",
    "don't panic: it's only the 3rd toothbrush (really)",
    "photo " * 100,  # longer than the context: cut, end token forced into slot 77
    "a blurry photo of the zipper with a broken teeth",
    "café naïve résumé — unicode",
    "a low resolution photo of a pill with contamination",
]


def random_model(name: str, seed: int) -> torch.nn.Module:
    """open_clip model `name` with random weights, all parameters non-constant."""
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    with torch.no_grad():
        for param in model.parameters():
            if param.numel() > 1 and torch.all(param == param.flatten()[0]):
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def normalized_pixels(count: int, size: int) -> torch.Tensor:
    """Uniform [0, 1] RGB images normalised like open_clip's eval transform."""
    pixels = torch.rand(count, 3, size, size)
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def export_reference(out: str, name: str, prompts, image_count: int, seed: int):
    """Writes weights, inputs and open_clip's embeddings for `name`; returns the model."""
    open_clip.add_model_config(MODEL_CONFIGS)
    model = random_model(name, seed)
    tokens = open_clip.get_tokenizer(name)(prompts)
    pixels = normalized_pixels(image_count, model.visual.image_size[0])
    with torch.no_grad():
        text = model.encode_text(tokens, normalize=False)
        image = model.encode_image(pixels, normalize=False)

    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(out, "weights.safetensors"), metadata={"model": name})
    save_file({"tokens": tokens.to(torch.int64).contiguous(), "pixels": pixels.contiguous()},
              os.path.join(out, "inputs.safetensors"))
    save_file({"text_embeddings": text.contiguous(), "image_embeddings": image.contiguous()},
              os.path.join(out, "outputs.safetensors"))
    write_json(os.path.join(out, "prompts.json"), list(prompts))
    return model, state


def main():
    out = out_dir(__doc__.splitlines()[0])
    _, state = export_reference(out, "rwclip-tiny", PROMPTS, image_count=4, seed=20240501)
    torch.save(state, os.path.join(out, "checkpoint_plain.pt"))
    wrapped = {"epoch": 3, "name": "rwclip-tiny-run",
               "state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(wrapped, os.path.join(out, "checkpoint_wrapped.pt"))
    write_json(os.path.join(out, "presets.json"),
               {name: open_clip.get_model_config(name) for name in PRESETS})


if __name__ == "__main__":
    sys.exit(main())
