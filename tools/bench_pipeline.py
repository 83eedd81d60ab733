"""open_clip / PyTorch side of worker/benches/pipeline.rs: the same work on
the same inputs, printed as one JSON object of seconds per stage.

Usage: bench_pipeline.py PROMPTS_TXT TEXT_MODEL TEXT_BATCH
                         IMAGES_TXT IMAGE_MODEL IMAGE_BATCH OUT_DIR
                         FNN_PAIRS FNN_DIM REPEATS

- encode_text: the prompts in batches of TEXT_BATCH (open_clip pads every
  prompt to 77 tokens);
- end_to_end: a torch DataLoader with workers opening and preprocessing the
  image files, encode_image, a random-init FNN of the paper's shape and
  CLIP's two-prompt score, rows written to Parquet with pyarrow;
- fnn_train: the paper's FNN (Linear/BatchNorm1d/ReLU/Dropout x 3, Linear),
  AdamW, BCE with logits, batches of 64 pairs, StepLR, 2 epochs, 1 thread.
"""
import json
import os
import sys

import open_clip
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

# The same timing as the speed bench's reference (its directory is on sys.path).
from bench_reference import best_of

LOADER_WORKERS = 2


def paper_fnn(in_dim):
    layers, width = [], in_dim
    for hidden in (256, 256, 256):
        layers += [torch.nn.Linear(width, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(), torch.nn.Dropout(0.5)]
        width = hidden
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


class Files(Dataset):
    def __init__(self, paths, preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.preprocess(Image.open(self.paths[i]))


def main():
    (prompts_path, text_model, text_batch, images_path, image_model, image_batch, out_dir,
     fnn_pairs, fnn_dim, repeats) = sys.argv[1:11]
    text_batch, image_batch, fnn_pairs, fnn_dim, repeats = int(text_batch), int(image_batch), int(fnn_pairs), int(fnn_dim), int(repeats)
    out = {"threads": torch.get_num_threads(), "loader_workers": LOADER_WORKERS}

    prompts = open(prompts_path, encoding="utf-8").read().splitlines()
    model, _, _ = open_clip.create_model_and_transforms(text_model, pretrained=None)
    model.eval()
    tokens = open_clip.get_tokenizer(text_model)(prompts)
    with torch.inference_mode():
        out["encode_text"] = best_of(repeats, lambda: [model.encode_text(tokens[i:i + text_batch]) for i in range(0, len(prompts), text_batch)])
    del model

    paths = open(images_path, encoding="utf-8").read().splitlines()
    model, _, preprocess = open_clip.create_model_and_transforms(image_model, pretrained=None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(image_model)
    fnn = paper_fnn(model.visual.output_dim).eval()
    with torch.inference_mode():
        guides = F.normalize(model.encode_text(tokenizer(["a photo of a object", "a photo of a damaged object"])), dim=-1)
    os.makedirs(out_dir, exist_ok=True)
    runs = iter(range(1_000_000))

    def end_to_end():
        loader = DataLoader(Files(paths, preprocess), batch_size=image_batch, num_workers=LOADER_WORKERS)
        s_fnn, s_pr = [], []
        with torch.inference_mode():
            for pixels in loader:
                emb = F.normalize(model.encode_image(pixels), dim=-1)
                s_fnn += torch.sigmoid(fnn(emb)).squeeze(-1).tolist()
                s_pr += torch.softmax(100.0 * emb @ guides.T, dim=-1)[:, 1].tolist()
        table = pa.table({"uri": paths, "score": [a + b for a, b in zip(s_fnn, s_pr)], "s_fnn": s_fnn, "s_pr": s_pr})
        pq.write_table(table, os.path.join(out_dir, f"part-{next(runs)}.parquet"))

    out["end_to_end"] = best_of(repeats, end_to_end)
    del model

    torch.manual_seed(0)
    normal = F.normalize(torch.randn(fnn_pairs, fnn_dim), dim=-1)
    anomaly = F.normalize(torch.randn(fnn_pairs, fnn_dim), dim=-1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def fnn_train():
        net = paper_fnn(fnn_dim).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
        for _ in range(2):
            for batch in torch.randperm(fnn_pairs).split(64):
                x = torch.cat([normal[batch], anomaly[batch]])
                y = torch.cat([torch.zeros(len(batch)), torch.ones(len(batch))])
                loss = F.binary_cross_entropy_with_logits(net(x).squeeze(-1), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()

    out["fnn_train"] = best_of(repeats, fnn_train)
    torch.set_num_threads(threads)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
