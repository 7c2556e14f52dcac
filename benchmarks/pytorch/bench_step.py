#!/usr/bin/python3
"""The bare training step of the MLNetMixers benchmark shapes, in PyTorch: the Python user's reference.

Same model as the C# side (src/MLNetMixers/Models: TabularMixer, MixerBlock, TokenMixing; the benchmark's causal
language model), same shapes, AdamW, gradient clipping, random token ids already in a tensor. Prints one JSON
object per line. Installed by install.sh from Debian's packages (python3-torch with libopenblas0-pthread).

  /usr/bin/python3 benchmarks/pytorch/bench_step.py --shape tabular --steps 15 [--mixing bmm|matmul]
  /usr/bin/python3 benchmarks/pytorch/bench_step.py --sgemm 2048
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    # name: (causal, batch, T, d, depth, mlp ratio, vocabulary, outputs)
    "tabular": (False, 256, 64, 64, 4, 4, 40, 2),
    "LM": (True, 16, 256, 256, 4, 4, 256, 256),
    "tiny": (False, 2, 8, 8, 1, 4, 40, 2),
}


class TokenMixing(nn.Module):
    """y = W x + b over the sequence axis; W masked to its lower triangle when causal."""

    def __init__(self, length, causal, mixing):
        super().__init__()
        bound = 1.0 / math.sqrt(length)
        self.weight = nn.Parameter(torch.empty(length, length).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(length, 1).uniform_(-bound, bound))
        self.causal = causal
        self.mixing = mixing

    def forward(self, x):
        w = self.weight.tril() if self.causal else self.weight
        if self.mixing == "bmm":  # the library's path: a batched GEMM reading W with batch stride 0
            return torch.bmm(w.expand(x.shape[0], -1, -1), x) + self.bias
        return torch.matmul(w, x) + self.bias  # what a Python user writes first


class MixerBlock(nn.Module):
    def __init__(self, length, width, ratio, causal, mixing, dropout):
        super().__init__()
        self.token_norm = nn.LayerNorm(width)
        self.token_mixing = TokenMixing(length, causal, mixing)
        self.channel_norm = nn.LayerNorm(width)
        self.expand = nn.Linear(width, ratio * width)
        self.contract = nn.Linear(ratio * width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.dropout(self.token_mixing(self.token_norm(x)))
        return x + self.dropout(self.contract(F.gelu(self.expand(self.channel_norm(x)))))


class Mixer(nn.Module):
    """Tabular: flatten head over LayerNorm(h); LM: per-position vocabulary head."""

    def __init__(self, causal, length, width, depth, ratio, vocabulary, outputs, mixing, dropout=0.0):
        super().__init__()
        self.causal = causal
        self.embedding = nn.Embedding(vocabulary, width)
        self.position = nn.Parameter(torch.randn(length, width) * 0.02)
        self.blocks = nn.ModuleList(MixerBlock(length, width, ratio, causal, mixing, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width if causal else length * width, outputs)

    def forward(self, tokens):
        h = self.embedding(tokens) + self.position
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return self.head(h if self.causal else h.flatten(1))


def step_flops(causal, batch, length, width, depth, ratio, vocabulary, outputs):
    """Matmul FLOPs of one step, the same formula as ModelShape.StepFlops in BareTraining.cs."""
    block = 2 * length * length * width + 4 * ratio * length * width * width
    head = 2 * length * width * (vocabulary if causal else outputs)
    return 3 * batch * (depth * block + head)


def bench_step(shape, steps, mixing):
    causal, batch, length, width, depth, ratio, vocabulary, outputs = SHAPES[shape]
    torch.manual_seed(1)
    model = Mixer(causal, length, width, depth, ratio, vocabulary, outputs if not causal else vocabulary, mixing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    tokens = torch.randint(0, vocabulary, (batch, length))
    targets = torch.randint(0, vocabulary, (batch, length)) if causal else torch.randint(0, outputs, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = model(tokens)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1)) if causal else F.cross_entropy(out, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = step_flops(*SHAPES[shape])
    return {"shape": shape, "mixing": mixing, "ms_per_step": seconds * 1e3, "gflops": flops / seconds / 1e9,
            "steps": steps, "torch": torch.__version__, "threads": torch.get_num_threads()}


def bench_sgemm(n, repeats=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - start)
    return {"sgemm": n, "gflops": 2.0 * n ** 3 / statistics.median(times) / 1e9, "torch": torch.__version__, "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--mixing", choices=["bmm", "matmul"], default="bmm")
    parser.add_argument("--sgemm", type=int)
    args = parser.parse_args()
    if args.sgemm:
        print(json.dumps(bench_sgemm(args.sgemm)), flush=True)
    if args.shape:
        print(json.dumps(bench_step(args.shape, args.steps, args.mixing)), flush=True)


if __name__ == "__main__":
    main()
