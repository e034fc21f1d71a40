"""
Training steps of tools/torch_unet.py's U-Net in PyTorch, timed the way
bench/gpu.ts and bench/engine.ts time patho: prints one JSON line.

usage: unet_step_torch.py --device cuda --base 64 --depth 4 --size 512 --batch 16
                          [--amp bfloat16] [--channels-last] [--compile] [--threads N]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from torch_unet import UNet  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--base", type=int, default=64)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--amp", default=None)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    net = UNet(1, 1, a.depth, a.base, True, "bilinear", "same").to(device)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    step_net = torch.compile(net) if a.compile else net
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.99)
    x = torch.randn(a.batch, 1, a.size, a.size, device=device).contiguous(memory_format=fmt)
    y = (torch.rand(a.batch, 1, a.size, a.size, device=device) > 0.5).float()
    dtype = getattr(torch, a.amp) if a.amp else None

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits = step_net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for _ in range(a.steps):
            step()
        sync()
        times.append((time.perf_counter() - start) / a.steps)
    ms = statistics.median(times) * 1000
    print(json.dumps({"stepMs": ms, "imagesPerSecond": a.batch * 1000 / ms, "torch": torch.__version__,
                      "compiled": a.compile}))


if __name__ == "__main__":
    main()
