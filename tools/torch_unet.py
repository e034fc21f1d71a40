"""
The U-Net of src/models/unet.ts written in PyTorch, with the same state_dict
keys, so weights move between the two. Used by the fixture generator and the
benchmarks that compare patho with PyTorch.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, cin, cout, batch_norm, padding):
        super().__init__()
        layers = []
        for c in (cin, cout):
            layers.append(nn.Conv2d(c, cout, 3, padding=padding, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU())
        self.double_conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin, cout, batch_norm, padding):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout, batch_norm, padding))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin, cout, upsample, batch_norm, padding):
        super().__init__()
        if upsample == "transpose":
            self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.Conv2d(cin, cin // 2, 3, padding=1))
        self.conv = DoubleConv(cin, cout, batch_norm, padding)

    def forward(self, below, skip):
        up = self.up(below)
        h, w = up.shape[2:]
        top, left = (skip.shape[2] - h) // 2, (skip.shape[3] - w) // 2
        return self.conv(torch.cat([skip[..., top:top + h, left:left + w], up], 1))


class OutConv(nn.Module):
    def __init__(self, cin, classes):
        super().__init__()
        self.conv = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        return self.conv(x)


def plan_axis(size, depth, padding):
    """Padded size and offset of the image in it, as UNet.plannedInput in src/models/unet.ts."""
    if padding == "same":
        multiple = 2 ** depth
        padded = math.ceil(size / multiple) * multiple
        return padded, (padded - size) // 2
    bottom = 1
    while True:
        out, inp = bottom, bottom + 4
        for _ in range(depth):
            out, inp = 2 * out - 4, 2 * inp + 4
        if out >= size:
            return inp, (inp - out) // 2
        bottom += 1


class UNet(nn.Module):
    """The network of src/models/unet.ts, with the same state_dict keys."""

    def __init__(self, in_channels, classes, depth, base, batch_norm, upsample, padding):
        super().__init__()
        self.depth, self.padding = depth, padding
        pad = 1 if padding == "same" else 0
        width = lambda level: base * 2 ** level
        self.inc = DoubleConv(in_channels, width(0), batch_norm, pad)
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", Down(width(i - 1), width(i), batch_norm, pad))
        for i in range(1, depth + 1):
            setattr(self, f"up{i}", Up(width(depth - i + 1), width(depth - i), upsample, batch_norm, pad))
        self.outc = OutConv(width(0), classes)

    def forward(self, x):
        h, w = x.shape[2:]
        ph, top = plan_axis(h, self.depth, self.padding)
        pw, left = plan_axis(w, self.depth, self.padding)
        pads = [left, pw - w - left, top, ph - h - top]
        if (ph, pw) != (h, w):
            reflectable = pads[0] < w and pads[1] < w and pads[2] < h and pads[3] < h
            x = F.pad(x, pads, "reflect" if reflectable else "replicate")
        if self.padding == "valid":
            top = left = 0
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        current = skips.pop()
        for i in range(1, self.depth + 1):
            current = getattr(self, f"up{i}")(current, skips.pop())
        logits = self.outc(current)
        return logits[..., top:top + h, left:left + w]
