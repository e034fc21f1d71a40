"""
The PyTorch side of bench/trainer_step.ts: bench/membrane_torch.py's training
step (tools/torch_unet.py's U-Net, BCE - log(soft Jaccard), Adam), timed phase
by phase; prints one JSON line of median ms per step.

usage: trainer_step_torch.py [--threads 2] [--base 32] [--steps 8] [--warmup 2] [--amp] [--wall] [--profile FILE]

Times are CPU time of the process (time.process_time), or wall time with --wall.
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


def loss_fn(logits, y):
    # bench/membrane_torch.py's loss
    p_ = torch.sigmoid(logits)
    inter = (p_ * y).sum()
    jaccard = (inter + 1e-6) / (p_.sum() + y.sum() - inter + 1e-6)
    return F.binary_cross_entropy_with_logits(logits, y) - torch.log(jaccard + 1e-12)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--amp", action="store_true")
    p.add_argument("--wall", action="store_true")
    p.add_argument("--profile", default=None)
    a = p.parse_args()
    clock = time.perf_counter if a.wall else time.process_time
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if a.amp else torch.contiguous_format
    net = UNet(1, 1, 4, a.base, True, "bilinear", "same").to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if a.amp else None
    n = 4 * 256 * 256
    idx = torch.arange(n, dtype=torch.float64)
    host_x = torch.sin(idx * 0.37).float().reshape(4, 1, 256, 256).numpy()
    host_y = (torch.sin(idx * 0.11) > 0).float().reshape(4, 1, 256, 256).numpy()

    def step(times):
        t0 = clock()
        # as the script does: host arrays to tensors every step
        x = torch.from_numpy(host_x.copy()).contiguous(memory_format=fmt)
        y = torch.from_numpy(host_y.copy())
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = net(x)
        loss = loss_fn(logits.float(), y)
        t1 = clock()
        loss.backward()
        t2 = clock()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = clock()
        if times is not None:
            times.append({"forward": (t1 - t0) * 1e3, "backward": (t2 - t1) * 1e3, "optimizer": (t3 - t2) * 1e3,
                          "step": (t3 - t0) * 1e3})

    for _ in range(a.warmup):
        step(None)
    times = []
    for _ in range(a.steps):
        step(times)
    if a.profile:
        with torch.autograd.profiler.profile() as prof:
            for _ in range(3):
                step(None)
        with open(a.profile, "w") as f:
            f.write(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    print(json.dumps({k: statistics.median(t[k] for t in times) for k in ("forward", "backward", "optimizer", "step")}))


if __name__ == "__main__":
    main()
