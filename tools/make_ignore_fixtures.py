#!/usr/bin/python3
"""Reference numbers for losses and metrics that leave unannotated pixels out.

    /usr/bin/python3 tools/make_ignore_fixtures.py   # writes test/fixtures/losses/ignore.safetensors

The reference for "ignored" is PyTorch computing the loss on the labelled
pixels alone (boolean indexing), or cross_entropy's own ignore_index: what
patho computes with masks must equal it. Metrics: confusion counts of the
labelled pixels, by torch.bincount. Seeds are fixed; float32 on CPU.
"""

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import write_safetensors  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "losses"
IGNORE = 255


def soft_jaccard(p, y, smooth=1e-6):
    inter = (p * y).sum()
    return (inter + smooth) / (p.sum() + y.sum() - inter + smooth)


def dice_loss(p, y, smooth=1.0):
    return 1 - (2 * (p * y).sum() + smooth) / (p.sum() + y.sum() + smooth)


def binary_losses(x, y, pos_weight):
    """Each binary loss on the labelled pixels only: x, y already selected by the mask."""
    p = torch.sigmoid(x)
    bce = F.binary_cross_entropy_with_logits(x, y)
    return {
        "bce": bce,
        "bce_pos": F.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([pos_weight])),
        "dice": dice_loss(p, y),
        "bce_jaccard": bce - torch.log(soft_jaccard(p, y) + 1e-12),
        "bce_dice": bce + dice_loss(p, y),
    }


def main():
    torch.manual_seed(14)
    torch.set_num_threads(2)
    tensors = {}
    # binary: [2, 1, 6, 7] logits, a 0/1 mask with a band and a block of unannotated pixels
    logits = (torch.randn(2, 1, 6, 7) * 2).requires_grad_()
    mask = (torch.rand(2, 1, 6, 7) > 0.6).float()
    mask[0, 0, :, 5:] = IGNORE
    mask[1, 0, 2:4, 1:4] = IGNORE
    valid = mask != IGNORE
    tensors["binary.logits"] = logits.detach()
    tensors["binary.mask"] = mask
    for name, loss in binary_losses(logits[valid], mask[valid], pos_weight=3.0).items():
        (grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
        tensors[f"binary.{name}.value"] = loss.detach().reshape(1)
        tensors[f"binary.{name}.grad"] = grad

    # several classes: [2, 3, 6, 7] logits, int64 classes with unannotated pixels
    logits = (torch.randn(2, 3, 6, 7) * 2).requires_grad_()
    target = torch.randint(0, 3, (2, 6, 7))
    target[0, 1:3, :] = IGNORE
    target[1, :, 6] = IGNORE
    weights = torch.tensor([0.5, 2.0, 1.25])
    tensors["multi.logits"] = logits.detach()
    tensors["multi.target"] = target
    tensors["multi.weights"] = weights
    for name, kwargs in {"ce": {}, "ce_weighted": {"weight": weights}}.items():
        loss = F.cross_entropy(logits, target, ignore_index=IGNORE, **kwargs)
        (grad,) = torch.autograd.grad(loss, logits)
        tensors[f"multi.{name}.value"] = loss.detach().reshape(1)
        tensors[f"multi.{name}.grad"] = grad

    # metrics: the confusion matrix of argmax against the labelled pixels
    predicted = logits.detach().argmax(1)
    keep = target != IGNORE
    confusion = torch.bincount(target[keep] * 3 + predicted[keep], minlength=9).reshape(3, 3)
    tensors["metrics.confusion"] = confusion
    # binary counts at 0.5 of the binary case: tp, fp, fn, tn over the labelled pixels of each image
    probs = torch.sigmoid(tensors["binary.logits"])[:, 0]
    truth = tensors["binary.mask"][:, 0]
    counts = []
    for n in range(2):
        v = truth[n] != IGNORE
        fg, pred = truth[n][v] == 1, probs[n][v] >= 0.5
        counts.append([(fg & pred).sum(), (~fg & pred).sum(), (fg & ~pred).sum(), (~fg & ~pred).sum()])
    tensors["metrics.binary_counts"] = torch.tensor(counts, dtype=torch.int64)

    OUT.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT / "ignore.safetensors", tensors)
    print(f"wrote {len(tensors)} tensors to {OUT / 'ignore.safetensors'} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
