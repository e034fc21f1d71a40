"""
The PyTorch side of bench/infer-engines.ts: the same U-Net and weights, one
batch of tiles per request, timed in this process. Reads one mode per line on
stdin ("fp32": what a lab writes, eager float32 under no_grad; "best":
PyTorch's best eager configuration, bf16 autocast + channels-last under
inference_mode) and prints the seconds of one forward pass per line.

usage: infer_engines_torch.py WEIGHTS CONFIG_JSON   (PYTHONPATH must hold tools/)
"""
import json
import sys
import time

import torch

from torch_unet import UNet


def main():
    weights_path, config = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(config["threads"])
    u = config["unet"]
    net = UNet(u["inChannels"], u["classes"], u["depth"], u["baseChannels"], u["batchNorm"], u["upsample"], u["padding"])
    net.load_state_dict(torch.load(weights_path))
    net.eval()
    best = UNet(u["inChannels"], u["classes"], u["depth"], u["baseChannels"], u["batchNorm"], u["upsample"], u["padding"])
    best.load_state_dict(torch.load(weights_path))
    best.eval().to(memory_format=torch.channels_last)
    x = torch.rand(config["batch"], u["inChannels"], config["tile"], config["tile"])
    x_last = x.contiguous(memory_format=torch.channels_last)
    print("ready", flush=True)
    for line in sys.stdin:
        mode = line.strip()
        start = time.perf_counter()
        if mode == "fp32":
            with torch.no_grad():
                p = torch.sigmoid(net(x))
        else:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                p = torch.sigmoid(best(x_last).float())
        seconds = time.perf_counter() - start
        del p
        print(seconds, flush=True)


if __name__ == "__main__":
    main()
