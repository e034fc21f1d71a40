#!/usr/bin/python3
"""PyTorch half of bench/engine.ts: the same measurements, driven over stdin.

bench/engine.ts starts this script once and sends one command per line; each
answer is one JSON line on stdout, so the two engines can be timed in turns
on the same machine in the same run:

    overhead N   time N calls of torch.add on 1-element tensors -> {"usPerCall"}
    warmup N     run N training steps untimed                   -> {"done"}
    steps N      time N training steps                          -> {"msPerStep"}
    quit

The network is tools/make_fixtures.py's UNet (the structure of patho's UNet),
trained with BCE on logits and SGD (lr 5e-3, momentum 0.99), fp32.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from make_fixtures import UNet  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    for name, default in [("base", 16), ("depth", 4), ("batch", 4), ("size", 256), ("threads", 2)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UNet(1, 1, args.depth, args.base, True, "bilinear", "same").train()
    x = torch.randn(args.batch, 1, args.size, args.size)
    y = (torch.rand(args.batch, 1, args.size, args.size) > 0.5).float()
    optimizer = torch.optim.SGD(net.parameters(), lr=5e-3, momentum=0.99)

    def step():
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(net(x), y).backward()
        optimizer.step()

    def answer(value):
        print(json.dumps(value), flush=True)

    answer({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        command, _, count = line.strip().partition(" ")
        n = int(count or 0)
        if command == "overhead":
            a, b = torch.ones(1), torch.ones(1)
            start = time.perf_counter()
            for _ in range(n):
                torch.add(a, b)
            answer({"usPerCall": (time.perf_counter() - start) / n * 1e6})
        elif command == "warmup":
            for _ in range(n):
                step()
            answer({"done": n})
        elif command == "steps":
            start = time.perf_counter()
            for _ in range(n):
                step()
            answer({"msPerStep": (time.perf_counter() - start) / n * 1e3})
        elif command == "quit":
            break
        else:
            answer({"error": f"unknown command {command!r}"})


if __name__ == "__main__":
    main()
