/**
 * Intensity transforms on images in [0, 1] (before normalisation); masks are
 * untouched. Each works in place on the planar data and clamps to [0, 1] so
 * later transforms and the normalisation see valid intensities.
 */
import { reflect } from '../patch.js';
import type { Rng } from '../rng.js';
import type { PlanarImage } from '../types.js';

/** x -> (x - mean) * contrast + mean + brightness, the mean taken over the whole patch to keep hues. */
export function brightnessContrast(image: PlanarImage, brightness: number, contrast: number): void {
  const d = image.data;
  let mean = 0;
  if (contrast !== 1) {
    for (let i = 0; i < d.length; i++) mean += d[i];
    mean /= d.length;
  }
  const offset = mean * (1 - contrast) + brightness;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] * contrast + offset;
    d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/** x -> x ^ gamma. */
export function gamma(image: PlanarImage, exponent: number): void {
  const d = image.data;
  for (let i = 0; i < d.length; i++) d[i] = Math.pow(d[i], exponent);
}

/** Adds N(0, sigma^2) to every value, from the sample's own stream. */
export function gaussianNoise(image: PlanarImage, sigma: number, rng: Rng): void {
  const d = image.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] + sigma * rng.normal();
    d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/** Separable Gaussian blur with mirrored borders; the kernel reaches 3 sigma. */
export function gaussianBlur(image: PlanarImage, sigma: number): void {
  if (sigma <= 0) return;
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let total = 0;
  for (let i = -radius; i <= radius; i++) total += kernel[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i] /= total;
  const { width: w, height: h } = image;
  const n = w * h;
  const tmp = new Float32Array(n);
  const xIndex = new Int32Array(w + 2 * radius);
  for (let i = 0; i < xIndex.length; i++) xIndex[i] = reflect(i - radius, w);
  const yIndex = new Int32Array(h + 2 * radius);
  for (let i = 0; i < yIndex.length; i++) yIndex[i] = reflect(i - radius, h) * w;
  for (let c = 0; c < image.channels; c++) {
    const plane = image.data.subarray(c * n, (c + 1) * n);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let k = 0; k < kernel.length; k++) s += kernel[k] * plane[row + xIndex[x + k]];
        tmp[row + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let k = 0; k < kernel.length; k++) s += kernel[k] * tmp[yIndex[y + k] + x];
        plane[y * w + x] = s;
      }
    }
  }
}
