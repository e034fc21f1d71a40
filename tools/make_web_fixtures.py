#!/usr/bin/python3
"""Fixtures for the browser page's test (test/web/), made by PyTorch itself.

    /usr/bin/python3 tools/make_web_fixtures.py

Writes test/fixtures/web/:
- glas.png: a 600x530 crop of GlaS train_1 (more than one 512 tile each way,
  so the page's tiling and blending are exercised), from /work/shared/datasets
  or the folder in $GLAS_DIR;
- gray.pt, rgb.pt: patho checkpoints (torch.save of patho's checkpoint dict)
  of small U-Nets (1 channel for the membrane images, 3 for GlaS) with random
  weights and batch-norm statistics; the output bias is set so that half the
  pixels of the fixture image are foreground, which makes the mask comparison
  mean something. The test exports them with patho's own exporter.

Deterministic (fixed seeds). Run it with Debian's /usr/bin/python3.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from torch_unet import UNet  # noqa: E402

OUT = ROOT / "test" / "fixtures" / "web"
GLAS = Path(os.environ.get("GLAS_DIR", "/work/shared/datasets/glas-train/images"))


def make(name, image, seed):
    torch.manual_seed(seed)
    cin = image.shape[0]
    options = {"inChannels": cin, "classes": 1, "depth": 2, "baseChannels": 4, "batchNorm": True,
               "upsample": "bilinear", "padding": "same", "dropout": 0}
    net = UNet(cin, 1, 2, 4, True, "bilinear", "same")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape))
                m.running_var.copy_(1 + 0.5 * torch.rand(m.running_var.shape))
    net.eval()
    x = torch.from_numpy(image).float()[None] / 255
    mean = x.mean(dim=(0, 2, 3)).tolist()
    std = x.std(dim=(0, 2, 3)).tolist()
    with torch.no_grad():
        logits = net((x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1))
        net.outc.conv.bias -= logits.median()
    meta = {
        "format": "patho-checkpoint-1", "epoch": 0, "unet": options, "training": {},
        "normalization": {"mean": mean, "std": std}, "threshold": 0.5, "bestDice": None,
        "torchVersion": str(torch.__version__), "device": "cpu", "savedAt": "2026-12-01T00:00:00.000Z",
    }
    state = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save({"model": state, "optimizer": None, "scheduler": None, "rng_state": None, "meta": meta}, OUT / f"{name}.pt")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    glas = Image.open(GLAS / "train_1.png").convert("RGB").crop((0, 0, 600, 530))
    glas.save(OUT / "glas.png", optimize=True)
    membrane = np.asarray(Image.open(ROOT / "data" / "membrane" / "test" / "images" / "0.png").convert("L"))[None]
    make("gray", membrane, 1)
    make("rgb", np.asarray(glas).transpose(2, 0, 1).copy(), 2)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir()))} in {OUT}")


if __name__ == "__main__":
    main()
