"""hpc_data on the accuracy benchmark's own folds: a plain PyTorch MLP given the numbers themselves.

Diagnosis, not a benchmark. Where the mixer fell behind LightGBM on hpc_data, this asks whether a network that sees
the numeric values (log-standardised, or piecewise-linear encoded over 16 quantile bins of the training fold; Gorishniy
et al. 2022) instead of characters closes the gap. Write the folds first, then run this (both from the repo root):

  MLNETMIXERS_ACCURACY_DUMP_FOLDS=/tmp/folds MLNETMIXERS_ACCURACY_DATASETS=hpc_data \
      ./dotnet run --project benchmarks/MLNetMixers.Benchmarks -c Release -- --only Accuracy
  /usr/bin/python3 benchmarks/pytorch/hpc_numeric_embeddings.py /tmp/folds/hpc_data.csv

Prints macro accuracy (mean of per-class recall, ML.NET's MacroAccuracy), mean and standard deviation over the folds.
"""
import csv
import math
import sys

import numpy as np
import torch
import torch.nn as nn

NUMBERS = ["compounds", "input_fields", "iterations", "num_pending", "hour"]
CATEGORIES = ["protocol", "day"]
BINS, EPOCHS, BATCH = 16, 100, 64


def load(prefix):
    rows, folds = [], []
    for k in range(3):
        part = list(csv.DictReader(open(f"{prefix}-fold{k}.tsv"), delimiter="\t"))
        rows += part
        folds += [k] * len(part)
    return rows, np.array(folds)


def piecewise_linear(column, train):
    edges = np.unique(np.quantile(column[train], np.linspace(0, 1, BINS + 1)))
    low, high = edges[:-1], edges[1:]
    return np.clip((column[:, None] - low) / (high - low), 0, 1)


def log_standardised(column, train):
    v = np.sign(column) * np.log1p(np.abs(column))
    return ((v - v[train].mean()) / (v[train].std() + 1e-9))[:, None]


def features(kind, numbers, categories, train):
    encode = piecewise_linear if kind == "piecewise-linear" else log_standardised
    parts = [encode(numbers[:, j], train) for j in range(numbers.shape[1])]
    parts += [np.eye(categories[:, j].max() + 1)[categories[:, j]] for j in range(categories.shape[1])]
    return torch.tensor(np.concatenate(parts, 1), dtype=torch.float32)


def macro_accuracy(predicted, labels, classes):
    return np.mean([np.mean(predicted[labels == c] == c) for c in range(classes) if np.any(labels == c)])


def main(prefix):
    torch.set_num_threads(2)
    rows, folds = load(prefix)
    names = sorted({r["class"] for r in rows})
    labels = np.array([names.index(r["class"]) for r in rows])
    numbers = np.array([[float(r[c]) for c in NUMBERS] for r in rows])
    levels = [sorted({r[c] for r in rows}) for c in CATEGORIES]
    categories = np.array([[levels[j].index(r[c]) for j, c in enumerate(CATEGORIES)] for r in rows])
    for kind in ["log-standardised", "piecewise-linear"]:
        scores = []
        for k in range(3):
            train, test = np.where(folds != k)[0], np.where(folds == k)[0]
            x, y = features(kind, numbers, categories, folds != k), torch.tensor(labels)
            torch.manual_seed(1)
            net = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Dropout(0.1),
                                nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, len(names)))
            optimiser = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.01)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 1e-3, total_steps=EPOCHS * math.ceil(len(train) / BATCH))
            for epoch in range(EPOCHS):
                net.train()
                order = np.random.default_rng(epoch).permutation(train)
                for b in range(0, len(order), BATCH):
                    i = torch.tensor(order[b:b + BATCH])
                    loss = nn.functional.cross_entropy(net(x[i]), y[i])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    schedule.step()
            net.eval()
            with torch.no_grad():
                scores.append(macro_accuracy(net(x[torch.tensor(test)]).argmax(1).numpy(), labels[test], len(names)))
        print(f"MLP on {kind} numbers: macro accuracy {np.mean(scores) * 100:.1f} ± {np.std(scores, ddof=1) * 100:.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
