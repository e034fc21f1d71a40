"""
The PyTorch equivalent of `patho train` on the membrane set (issue 5), for a
side-by-side run: same U-Net (tools/torch_unet.py), loss (BCE - log(J + 1e-12)),
optimizer, augmentation (random patches, flips and 90-degree rotations), split,
normalisation, precision settings, time budget and learning-rate schedule (over
the time budget, step by step, as patho's --max-minutes with --schedule).
Validation every --val-every epochs and after the last, on the held-out images; prints one JSON line per epoch and a final summary.

usage: membrane_torch.py --data data/membrane/train --val-names 25,26,27,28,29 --minutes 20
       [--base 32] [--depth 4] [--patch 256] [--batch 4] [--optimizer adam] [--lr 1e-3]
       [--amp bfloat16] [--channels-last] [--threads 2] [--seed 0] [--schedule none|cosine|poly|step] [--val-every 1]
       [--augment rigid|none]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from torch_unet import UNet  # noqa: E402


def load(folder, names):
    return [np.asarray(Image.open(os.path.join(folder, f"{n}.png")).convert("L"), dtype=np.float32) / 255 for n in names]


def dice(pred, truth):
    inter = np.logical_and(pred, truth).sum()
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else 2 * inter / total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/membrane/train")
    p.add_argument("--val-names", default="25,26,27,28,29")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--patch", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--momentum", type=float, default=0.99)
    p.add_argument("--amp", default=None)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schedule", default="none", choices=["none", "cosine", "poly", "step"])
    p.add_argument("--val-every", type=int, default=1)
    # rigid = patho's preset of that name (flips and 90-degree rotations); none = random patches only
    p.add_argument("--augment", default="rigid", choices=["rigid", "none"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    names = sorted((os.path.splitext(f)[0] for f in os.listdir(os.path.join(a.data, "images"))), key=int)
    val_names = a.val_names.split(",")
    train_names = [n for n in names if n not in val_names]
    train_x, train_y = load(os.path.join(a.data, "images"), train_names), load(os.path.join(a.data, "masks"), train_names)
    val_x, val_y = load(os.path.join(a.data, "images"), val_names), load(os.path.join(a.data, "masks"), val_names)
    mean = float(np.mean([x.mean() for x in train_x]))
    std = float(np.sqrt(np.mean([((x - mean) ** 2).mean() for x in train_x])))

    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = UNet(1, 1, a.depth, a.base, True, "bilinear", "same").to(memory_format=fmt)
    opt = (torch.optim.Adam(net.parameters(), lr=a.lr) if a.optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum))
    dtype = getattr(torch, a.amp) if a.amp else None

    def loss_fn(logits, y):
        p_ = torch.sigmoid(logits)
        inter = (p_ * y).sum()
        jaccard = (inter + 1e-6) / (p_.sum() + y.sum() - inter + 1e-6)
        return F.binary_cross_entropy_with_logits(logits, y) - torch.log(jaccard + 1e-12)

    def sample(x, y):
        h, w = x.shape
        top, left = rng.integers(0, h - a.patch + 1), rng.integers(0, w - a.patch + 1)
        x, y = x[top:top + a.patch, left:left + a.patch], y[top:top + a.patch, left:left + a.patch]
        if a.augment == "none":
            return (x - mean) / std, (y > 0.5).astype(np.float32)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        if rng.random() < 0.5:
            x, y = x[::-1], y[::-1]
        if rng.random() < 0.5:
            k = int(rng.integers(1, 4))
            x, y = np.rot90(x, k), np.rot90(y, k)
        return (x - mean) / std, (y > 0.5).astype(np.float32)

    def validate():
        net.eval()
        scores = {"0.5": [[], []], "0.7": [[], []]}
        with torch.no_grad():
            for x, y in zip(val_x, val_y):
                inp = torch.from_numpy((x - mean) / std)[None, None].contiguous(memory_format=fmt)
                with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                    logits = net(inp)
                prob = torch.sigmoid(logits.float())[0, 0].numpy()
                cell = y > 0.5
                for t in (0.5, 0.7):
                    scores[str(t)][0].append(dice(prob >= t, cell))
                    scores[str(t)][1].append(dice(prob <= t, ~cell))
        net.train()
        return {t: {"cell": float(np.mean(v[0])), "membrane": float(np.mean(v[1]))} for t, v in scores.items()}

    def factor(progress):
        p_ = min(1.0, max(0.0, progress))
        if a.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * p_))
        if a.schedule == "poly":
            return (1 - p_) ** 0.9
        if a.schedule == "step":
            return 0.1 ** min(2, int(p_ * 3))
        return 1.0

    start = time.perf_counter()
    budget = a.minutes * 60
    train_seconds, images, epoch, best, last = 0.0, 0, 0, None, False
    while not last:
        epoch += 1
        t0 = time.perf_counter()
        order = rng.permutation(len(train_x))
        for b in range(0, len(order), a.batch):
            for group in opt.param_groups:
                group["lr"] = a.lr * factor((time.perf_counter() - start) / budget)
            pairs = [sample(train_x[i], train_y[i]) for i in order[b:b + a.batch]]
            x = torch.from_numpy(np.stack([q[0] for q in pairs])[:, None].copy()).contiguous(memory_format=fmt)
            y = torch.from_numpy(np.stack([q[1] for q in pairs])[:, None].copy())
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                logits = net(x)
            loss = loss_fn(logits.float(), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            images += len(pairs)
        train_seconds += time.perf_counter() - t0
        last = (time.perf_counter() - start) / 60 >= a.minutes
        if not last and epoch % a.val_every != 0:
            continue
        scores = validate()
        record = {"epoch": epoch, "loss": float(loss), "dice": scores, "minutes": (time.perf_counter() - start) / 60}
        print(json.dumps(record), flush=True)
        if best is None or scores["0.5"]["cell"] > best["dice"]["0.5"]["cell"]:
            best = record
    print(json.dumps({"summary": True, "best": best, "epochs": epoch, "imagesPerSecond": images / train_seconds,
                      "minutes": (time.perf_counter() - start) / 60, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
