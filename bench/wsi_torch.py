"""
The PyTorch side of bench/wsi.ts: a plain sliding-window script, as one
writes it with PyTorch (and as MONAI's sliding_window_inference works): read
the slide level whole, run tiles in batches, accumulate Gaussian-weighted
probabilities and weights over the whole image, divide. Same tile starts and
weights as patho (src/infer/tiled.ts). Prints one JSON line: tiles, seconds,
peak RSS, mean foreground probability.

usage: wsi_torch.py SLIDE WEIGHTS CONFIG_JSON   (PYTHONPATH must hold tools/)
"""
import json
import math
import resource
import sys
import time

import numpy as np
import openslide
import torch

from torch_unet import UNet


def tile_starts(size, tile, step):
    if size <= tile:
        return [0]
    gaps = math.ceil((size - tile) / step)
    return [round(i * (size - tile) / gaps) for i in range(gaps + 1)]


def axis_weights(n):
    x = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return torch.exp(-((x - 0.5) ** 2) / (2 * 0.125 ** 2)).clamp_min(1e-3).float()


def main():
    slide_path, weights_path, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    torch.set_num_threads(config["threads"])
    u = config["unet"]
    net = UNet(u["inChannels"], u["classes"], u["depth"], u["baseChannels"], u["batchNorm"], u["upsample"], u["padding"])
    net.load_state_dict(torch.load(weights_path))
    net.eval()
    tile, batch = config["tile"], config["batch"]
    step = max(1, round(tile * (1 - config["overlap"])))

    start = time.perf_counter()
    slide = openslide.OpenSlide(slide_path)
    width, height = slide.level_dimensions[0]
    rgb = np.array(slide.read_region((0, 0), 0, (width, height)).convert("RGB"))
    image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255)
    w1 = axis_weights(tile)
    weight = w1[:, None] * w1[None, :]
    out = torch.zeros(1, height, width)
    norm = torch.zeros(1, height, width)
    origins = [(y, x) for y in tile_starts(height, tile, step) for x in tile_starts(width, tile, step)]
    with torch.no_grad():
        for b in range(0, len(origins), batch):
            chunk = origins[b:b + batch]
            x = torch.stack([image[:, y:y + tile, x0:x0 + tile] for y, x0 in chunk])
            p = torch.sigmoid(net(x))
            for i, (y, x0) in enumerate(chunk):
                out[:, y:y + tile, x0:x0 + tile] += p[i] * weight
                norm[:, y:y + tile, x0:x0 + tile] += weight
    prob = out / norm
    mask = (prob >= 0.5).to(torch.uint8).mul(255)
    seconds = time.perf_counter() - start
    del mask
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tiles": len(origins), "seconds": seconds, "peakRssMiB": peak, "meanProbability": prob.mean().item()}))


if __name__ == "__main__":
    main()
