"""Reference for common/inputs/tests/preprocess_parity.rs: open_clip's eval transform.

Writes a set of real image files (PNG RGB/RGBA/L/LA/P/1-bit; JPEG RGB 4:2:0,
4:4:4 and progressive 4:2:2, L, CMYK) of assorted sizes -- downscale, upscale,
odd sizes, already at the target size -- into DIR/images/, and for each file and image size (240, 224) the tensor that
open_clip 3.3.0's `image_transform(size, is_train=False)` produces from
`PIL.Image.open(file)`, as raw little-endian f32 (C, H, W) in DIR/tensors/.
`convert("RGB")` of each opened file is kept too (raw u8 HWC, DIR/rgb/), to
tell decoder differences from transform differences. DIR/manifest.json lists
the cases. For multi-crop, each case also gets torchvision's
`Resize(round(size / 0.875), BICUBIC)` → `FiveCrop(size)` corner views
(top-left, top-right, bottom-left, bottom-right; the same RGB conversion and
normalisation as open_clip's eval transform), in DIR/tensors/ too. Content is deterministic (fixed seed) and
looks roughly natural: smooth gradients, noise and drawn shapes, so that the
bicubic filter's ringing and the JPEG chroma path are both exercised.
"""
import os

import numpy as np
import open_clip
from PIL import Image, ImageDraw
from torchvision import transforms as T

from _common import out_dir, write_json

SIZES = (240, 224)
CORNERS = ("tl", "tr", "bl", "br")


def corner_transform(size: int):
    """Resize for FiveCrop, then the eval transform's tail on each crop."""
    resize = T.Resize(round(size / 0.875), interpolation=T.InterpolationMode.BICUBIC)
    five = T.FiveCrop(size)
    tail = T.Compose([
        lambda im: im.convert("RGB"),
        T.ToTensor(),
        T.Normalize(open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD),
    ])
    return lambda im: [tail(c) for c in five(resize(im))[:4]]
SEED = 20240611


def natural_rgb(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Gradients + low-frequency blobs + pixel noise + a few hard-edged shapes."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1.0, 6.0), rng.uniform(1.0, 6.0), rng.uniform(0, 2 * np.pi)
        base = 0.35 + 0.3 * u * rng.uniform(-1, 1) + 0.3 * v * rng.uniform(-1, 1)
        wave = 0.15 * np.sin(2 * np.pi * (fx * u + fy * v) + phase)
        channels.append(base + wave)
    img = np.stack(channels, axis=-1) * 255.0
    img += rng.normal(0.0, 12.0, size=img.shape)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(pil)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(5, max(6, width // 3))), y0 + int(rng.integers(5, max(6, height // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    for _ in range(4):
        pts = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(2)]
        draw.line(pts, fill=tuple(int(c) for c in rng.integers(0, 256, size=3)), width=int(rng.integers(1, 5)))
    return pil


def alpha_channel(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Fully transparent, fully opaque and graded regions, so premultiplication matters."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    a = np.clip((x / width) * 1.6 - 0.3, 0, 1) * 255
    a[: height // 5, :] = 0
    a[-height // 5 :, :] = 255
    a += rng.normal(0.0, 6.0, size=a.shape) * (a > 0) * (a < 255)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")


def make_images(rng: np.random.Generator):
    """(file name, PIL image to save, save kwargs)."""
    cases = []
    cases.append(("rgb_landscape.png", natural_rgb(rng, 320, 256), {}))
    cases.append(("rgb_portrait_odd.png", natural_rgb(rng, 203, 297), {}))
    cases.append(("rgb_exact_240.png", natural_rgb(rng, 240, 240), {}))
    cases.append(("rgb_large_square.png", natural_rgb(rng, 900, 900), {}))
    cases.append(("rgb_small_upscale.png", natural_rgb(rng, 97, 131), {}))
    rgba = natural_rgb(rng, 300, 260).convert("RGBA")
    rgba.putalpha(alpha_channel(rng, 300, 260))
    cases.append(("rgba.png", rgba, {}))
    cases.append(("gray.png", natural_rgb(rng, 257, 311).convert("L"), {}))
    la = natural_rgb(rng, 250, 270).convert("LA")
    la.putalpha(alpha_channel(rng, 250, 270))
    cases.append(("gray_alpha.png", la, {}))
    cases.append(("palette.png", natural_rgb(rng, 280, 250).quantize(colors=64, method=Image.Quantize.MEDIANCUT), {}))
    cases.append(("bilevel.png", natural_rgb(rng, 230, 245).convert("1"), {}))
    cases.append(("rgb.jpg", natural_rgb(rng, 640, 480), {"quality": 90}))
    cases.append(("rgb_small_upscale.jpg", natural_rgb(rng, 150, 113), {}))
    cases.append(("gray.jpg", natural_rgb(rng, 333, 222).convert("L"), {"quality": 85}))
    # Other chroma layouts Pillow writes (4:4:4, 4:2:2 progressive) and CMYK,
    # which Pillow stores inverted (Adobe) and open_clip resizes as CMYK.
    cases.append(("rgb_444.jpg", natural_rgb(rng, 301, 211), {"quality": 95, "subsampling": 0}))
    cases.append(("rgb_422_progressive.jpg", natural_rgb(rng, 260, 390), {"subsampling": 1, "progressive": True}))
    cases.append(("cmyk.jpg", natural_rgb(rng, 280, 230).convert("CMYK"), {"quality": 90}))
    return cases


def main() -> None:
    out = out_dir(__doc__.splitlines()[0])
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "tensors"), exist_ok=True)
    os.makedirs(os.path.join(out, "rgb"), exist_ok=True)
    rng = np.random.default_rng(SEED)
    transforms = {size: open_clip.image_transform(size, is_train=False) for size in SIZES}
    manifest = {"sizes": list(SIZES), "mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD), "cases": []}
    for name, image, save_kwargs in make_images(rng):
        path = os.path.join(out, "images", name)
        image.save(path, **save_kwargs)
        with Image.open(path) as reopened:
            mode, (width, height) = reopened.mode, reopened.size
            rgb_name = f"{name}.rgb"
            np.asarray(reopened.convert("RGB"), dtype=np.uint8).tofile(os.path.join(out, "rgb", rgb_name))
            tensors, corners = {}, {}
            for size in SIZES:
                names = []
                for label, tensor in zip(CORNERS, corner_transform(size)(reopened)):
                    names.append(f"{name}.{size}.corner-{label}.f32")
                    tensor.numpy().astype("<f4").tofile(os.path.join(out, "tensors", names[-1]))
                corners[str(size)] = names
                tensor = transforms[size](reopened).numpy().astype("<f4")
                assert tensor.shape == (3, size, size), tensor.shape
                tensor_name = f"{name}.{size}.f32"
                tensor.tofile(os.path.join(out, "tensors", tensor_name))
                tensors[str(size)] = tensor_name
        manifest["cases"].append({"file": f"images/{name}", "pil_mode": mode, "width": width, "height": height, "rgb": f"rgb/{rgb_name}", "tensors": tensors, "corners": corners})
    write_json(os.path.join(out, "manifest.json"), manifest)


if __name__ == "__main__":
    main()
