"""torchvision baseline for bench/data-augment.ts.

Decode + random 256 patch + an H&E recipe equivalent to patho's `he` preset
(flips, 90-degree turns, rotation and scaling, elastic deformation, HED stain
jitter, brightness/contrast, blur, noise, normalisation), the same random
parameters applied to image and mask (nearest for the mask), with
torchvision's functional API. Prints one JSON object: samples/s and, for the
process itself, samples per CPU-second (medians of the repeats) per
DataLoader worker count.

Usage: /usr/bin/python3 bench/torchvision_augment.py ROOT [REPEATS] [WORKERS ...]
"""
import json
import math
import os
import random
import statistics
import sys
import time

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

PATCH = 256
BATCH = 8

# Ruifrok-Johnston H, E, DAB optical-density vectors (unit rows), as in patho
RGB_FROM_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
RGB_FROM_HED = RGB_FROM_HED / RGB_FROM_HED.norm(dim=1, keepdim=True)
HED_FROM_RGB = torch.linalg.inv(RGB_FROM_HED)
LOG_FLOOR = math.log(1e-6)


def stain_jitter(img, scale, shift):
    """img: 3xHxW in [0, 1]; scale, shift: 3 values per stain (rgb2hed units)."""
    od = torch.log(img.clamp(min=1e-6)).reshape(3, -1).T / LOG_FLOOR
    stains = od @ HED_FROM_RGB
    stains = stains * scale + shift
    out = torch.exp((stains @ RGB_FROM_HED) * LOG_FLOOR).T.reshape(img.shape)
    return out.clamp(max=1.0)


class GlasDataset(torch.utils.data.Dataset):
    def __init__(self, root, mean, std):
        names = sorted(os.listdir(os.path.join(root, "images")))
        self.items = [(os.path.join(root, "images", n), os.path.join(root, "masks", n)) for n in names]
        self.mean, self.std = mean, std

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        image_path, mask_path = self.items[i]
        img = F.pil_to_tensor(Image.open(image_path).convert("RGB")).float() / 255
        mask = F.pil_to_tensor(Image.open(mask_path).convert("L"))
        top, left, h, w = T.RandomCrop.get_params(img, (PATCH, PATCH))
        img, mask = F.crop(img, top, left, h, w), F.crop(mask, top, left, h, w)
        if random.random() < 0.5:
            img, mask = F.hflip(img), F.hflip(mask)
        if random.random() < 0.5:
            img, mask = F.vflip(img), F.vflip(mask)
        if random.random() < 0.5:
            k = random.randint(1, 3)
            img, mask = torch.rot90(img, k, (1, 2)), torch.rot90(mask, k, (1, 2))
        angle = random.uniform(-30, 30) if random.random() < 0.3 else 0.0
        zoom = random.uniform(0.8, 1.2) if random.random() < 0.3 else 1.0
        if angle != 0.0 or zoom != 1.0:
            img = F.affine(img, angle, [0, 0], zoom, [0.0], T.InterpolationMode.BILINEAR)
            mask = F.affine(mask, angle, [0, 0], zoom, [0.0], T.InterpolationMode.NEAREST)
        if random.random() < 0.3:
            displacement = T.ElasticTransform.get_params([50.0, 50.0], [5.0, 5.0], [PATCH, PATCH])
            img = F.elastic_transform(img, displacement, T.InterpolationMode.BILINEAR)
            mask = F.elastic_transform(mask, displacement, T.InterpolationMode.NEAREST)
        if random.random() < 0.8:
            scale = torch.empty(3).uniform_(0.95, 1.05)
            shift = torch.empty(3).uniform_(-0.05, 0.05)
            img = stain_jitter(img, scale, shift)
        if random.random() < 0.3:
            img = (img + random.uniform(-0.08, 0.08)).clamp(0, 1)
        if random.random() < 0.3:
            img = F.adjust_contrast(img, random.uniform(0.85, 1.15))
        if random.random() < 0.1:
            img = F.gaussian_blur(img, [7, 7], [random.uniform(0.3, 1.0)] * 2)
        if random.random() < 0.1:
            img = (img + torch.randn_like(img) * random.uniform(0, 0.02)).clamp(0, 1)
        img = F.normalize(img, self.mean, self.std)
        return img, (mask[0] > 127).to(torch.uint8)


def samples_per_second(dataset, workers, repeats):
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    rates, cpu_rates = [], []
    for epoch in range(repeats + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        count = sum(images.shape[0] for images, _ in loader)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if epoch > 0:  # the first epoch starts the workers
            rates.append(count / elapsed)
            cpu_rates.append(count / cpu)
    # CPU time of this process only: meaningful without workers
    return statistics.median(rates), statistics.median(cpu_rates)


def main():
    root = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    worker_counts = [int(w) for w in sys.argv[3:]] or [0, 2]
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    dataset = GlasDataset(root, [0.79, 0.51, 0.78], [0.16, 0.25, 0.12])
    result = {"torch": torch.__version__, "samples_per_s": {}, "samples_per_cpu_s": {}}
    for workers in worker_counts:
        rate, cpu_rate = samples_per_second(dataset, workers, repeats)
        result["samples_per_s"][str(workers)] = rate
        result["samples_per_cpu_s"][str(workers)] = cpu_rate
    print(json.dumps(result))


if __name__ == "__main__":
    main()
