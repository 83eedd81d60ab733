"""Reference FNN training in PyTorch, for worker/tests/fnn.rs (`matches_pytorch_training`).

Re-implements, independently of the Rust code, everything a seeded rwclip FNN training does:
SplitMix64 streams, nn.Linear-style init drawn from them, per-epoch Fisher-Yates pair shuffle,
batches of whole pairs (normal rows then anomalous rows), inverted dropout masks drawn
row-major, BatchNorm1d/ReLU, BCE-with-logits, torch.optim.AdamW, StepLR-style decay. Trains a
small FNN on odd-sized data (7 pairs, 3 per batch: batches of 3, 3, 1 pairs) for 2 epochs and
writes:
  inputs.safetensors    normal, anomaly [7, 24] (unnormalised), probe [5, 24]
  expected.safetensors  every weight and running statistic after training, as an rwclip
                        checkpoint (rwclip names, `fnn` metadata)
  expected.json         config, seed, epoch losses, eval-mode sigmoid scores of probe (by the
                        PyTorch model whose weights are in expected.safetensors)
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from _common import out_dir, write_json

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
STREAM_WEIGHT_INIT, STREAM_PAIR_SHUFFLE, STREAM_DROPOUT = 1, 2, 3


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    @classmethod
    def for_stream(cls, seed, stream):
        return cls(mix64((mix64(seed) + stream) & MASK64))

    def next_u64(self):
        self.state = (self.state + GAMMA) & MASK64
        return mix64(self.state)

    def next_f64(self):
        return (self.next_u64() >> 11) * 2.0 ** -53

    def below(self, n):
        # Lemire's multiply-and-reject, unbiased.
        product = self.next_u64() * n
        if (product & MASK64) < n:
            threshold = ((1 << 64) - n) % n
            while (product & MASK64) < threshold:
                product = self.next_u64() * n
        return product >> 64

    def permutation(self, n):
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            order[i], order[j] = order[j], order[i]
        return order


def uniform(rng, bound, n):
    return np.array([(2.0 * rng.next_f64() - 1.0) * bound for _ in range(n)], dtype=np.float32)


class Fnn(torch.nn.Module):
    def __init__(self, in_dim, hidden, rng):
        super().__init__()
        self.linears = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        fan_in = in_dim
        for width in hidden:
            self.linears.append(self._linear(fan_in, width, rng))
            self.norms.append(torch.nn.BatchNorm1d(width))
            fan_in = width
        self.output = self._linear(fan_in, 1, rng)

    @staticmethod
    def _linear(fan_in, fan_out, rng):
        layer = torch.nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(uniform(rng, bound, fan_in * fan_out)).view(fan_out, fan_in))
            layer.bias.copy_(torch.from_numpy(uniform(rng, bound, fan_out)))
        return layer

    def forward(self, x, dropout_p=None, dropout_rng=None):
        h = x
        for linear, norm in zip(self.linears, self.norms):
            h = torch.relu(norm(linear(h)))
            if self.training and dropout_p > 0:
                keep = np.float32(1.0 / (1.0 - dropout_p))
                rows, cols = h.shape
                mask = [keep if dropout_rng.next_f64() >= dropout_p else np.float32(0.0) for _ in range(rows * cols)]
                h = h * torch.tensor(np.array(mask, dtype=np.float32)).view(rows, cols)
        return self.output(h).squeeze(-1)

    def named_state(self):
        out = {}
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms)):
            out[f"hidden.{i}.linear.weight"] = linear.weight
            out[f"hidden.{i}.linear.bias"] = linear.bias
            out[f"hidden.{i}.norm.weight"] = norm.weight
            out[f"hidden.{i}.norm.bias"] = norm.bias
            out[f"hidden.{i}.norm.running_mean"] = norm.running_mean
            out[f"hidden.{i}.norm.running_var"] = norm.running_var
        out["output.weight"] = self.output.weight
        out["output.bias"] = self.output.bias
        return {k: v.detach().clone().contiguous() for k, v in out.items()}


def train(normal, anomaly, cfg, seed):
    normal = F.normalize(normal, dim=-1, eps=1e-12)
    anomaly = F.normalize(anomaly, dim=-1, eps=1e-12)
    model = Fnn(normal.shape[1], cfg["hidden"], SplitMix64.for_stream(seed, STREAM_WEIGHT_INIT))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=cfg["weight_decay"])
    shuffle_rng = SplitMix64.for_stream(seed, STREAM_PAIR_SHUFFLE)
    dropout_rng = SplitMix64.for_stream(seed, STREAM_DROPOUT)
    losses = []
    model.train()
    for epoch in range(cfg["epochs"]):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * cfg["lr_decay"] ** (epoch // cfg["decay_after_epochs"])
        order = shuffle_rng.permutation(normal.shape[0])
        loss_sum, rows_seen = 0.0, 0
        for start in range(0, len(order), cfg["pairs_per_batch"]):
            idx = torch.tensor(order[start:start + cfg["pairs_per_batch"]], dtype=torch.long)
            x = torch.cat([normal[idx], anomaly[idx]])
            y = torch.cat([torch.zeros(len(idx)), torch.ones(len(idx))])
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x, cfg["dropout"], dropout_rng), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * x.shape[0]
            rows_seen += x.shape[0]
        losses.append(loss_sum / rows_seen)
    return model, losses


def main():
    out = out_dir(__doc__.splitlines()[0])
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20240611)
    num_pairs, dim = 7, 24
    shift = torch.randn(dim, generator=gen)
    normal = (torch.randn(num_pairs, dim, generator=gen) + shift) * 3.0
    anomaly = torch.randn(num_pairs, dim, generator=gen) - shift
    probe = torch.randn(5, dim, generator=gen) * 2.0
    # Larger lr and weight decay than the defaults so that 6 steps move the weights visibly.
    cfg = {"hidden": [16, 12, 8], "dropout": 0.5, "epochs": 2, "pairs_per_batch": 3, "lr": 0.01,
           "weight_decay": 0.05, "lr_decay": 0.1, "decay_after_epochs": 1}
    seed = 12345
    model, losses = train(normal, anomaly, cfg, seed)
    model.eval()
    with torch.no_grad():
        scores = torch.sigmoid(model(F.normalize(probe, dim=-1, eps=1e-12)))
    save_file({"normal": normal, "anomaly": anomaly, "probe": probe}, os.path.join(out, "inputs.safetensors"))
    # Same layout as an rwclip checkpoint (the `fnn` metadata key), so the Rust test can load
    # PyTorch's trained weights and compare eval-mode scores on identical weights.
    header = json.dumps({"in_dim": dim, "config": cfg})
    save_file(model.named_state(), os.path.join(out, "expected.safetensors"), metadata={"fnn": header})
    write_json(os.path.join(out, "expected.json"), {
        "config": cfg, "seed": seed, "torch": torch.__version__,
        "epoch_losses": losses, "probe_scores": scores.tolist(),
    })


if __name__ == "__main__":
    main()
