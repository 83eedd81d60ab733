"""open_clip side of `make bench` (worker/benches/speed.rs): times the same
work on the same inputs and prints one JSON object of seconds per stage.

Usage: bench_reference.py PROMPTS_TXT IMAGE_DIR MODEL REPEATS
"""
import json
import os
import sys
import time

import open_clip
import torch
from PIL import Image


def best_of(repeats, fn):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    prompts_path, image_dir, model_name, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    prompts = open(prompts_path, encoding="utf-8").read().splitlines()
    images = sorted(os.path.join(image_dir, f) for f in os.listdir(image_dir))
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    out = {"threads": torch.get_num_threads()}
    out["tokenize"] = best_of(repeats, lambda: tokenizer(prompts))
    out["preprocess"] = best_of(
        repeats, lambda: [preprocess(Image.open(p)) for p in images]
    )
    text_batch = tokenizer(prompts[:64])
    pixels = torch.stack([preprocess(Image.open(p)) for p in images[:8]])
    with torch.inference_mode():
        out["encode_text_64"] = best_of(repeats, lambda: model.encode_text(text_batch))
        out["encode_image_8"] = best_of(repeats, lambda: model.encode_image(pixels))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
