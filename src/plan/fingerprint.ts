/**
 * The data fingerprint the planner decides from, as nnU-Net's: image sizes,
 * channels and their statistics, the mask's classes and foreground share, the
 * size of the structures to segment, and the resolution where a file states
 * it. Plain TypeScript over the data module (sharp decodes), no addon.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { SegmentationDataset, type DatasetOptions } from '../data/dataset.js';
import { channelSums, combineSums } from '../data/normalize.js';
import type { LabelMask } from '../data/types.js';

/** Minimum, median and maximum of a list of numbers. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface DataFingerprint {
  /** image/mask pairs */
  images: number;
  width: Spread;
  height: Spread;
  /** 1 (gray) or 3 (RGB) */
  channels: number;
  /** per-channel mean and standard deviation of values scaled to [0, 1] (from up to `statsImages` images) */
  mean: number[];
  std: number[];
  statsImages: number;
  /** classes including background */
  classes: number;
  /** share of all mask pixels in each class (index 0: background) */
  classFractions: number[];
  /** share of mask pixels that are not background */
  foregroundFraction: number;
  /** images whose mask has no foreground at all */
  emptyMasks: number;
  /**
   * Connected foreground structures (4-connected, at least `MIN_OBJECT_PIXELS`),
   * sized by the longer side of their bounding box: what a patch and the
   * network's receptive field must span to see a structure whole.
   */
  objects: { count: number; medianSize: number; p90Size: number; maxSize: number };
  /** microns per pixel, where the image files state a plausible resolution */
  mpp: number | null;
}

/** Components smaller than this are annotation specks, not structures. */
export const MIN_OBJECT_PIXELS = 4;

/** Images whose channel statistics are computed (spread evenly over the set); enough for a mean and std. */
const STATS_IMAGES = 32;

/**
 * Fingerprints the image/mask folders `root/<images>` and `root/<masks>`.
 * Every mask is read (they are small and give the foreground and objects);
 * the channel statistics come from at most 32 images spread over the set.
 */
export async function fingerprintFolder(root: string, imagesDir = 'images', masksDir = 'masks', options: DatasetOptions = {}): Promise<DataFingerprint> {
  const dataset = await SegmentationDataset.open(root, imagesDir, masksDir, options);
  const picks = spreadIndices(dataset.length, STATS_IMAGES);
  const sums = [];
  for (const i of picks) sums.push(channelSums(await dataset.image(i)));
  const stats = combineSums(sums);
  const mpp = await statedMpp(dataset.entries[0].imagePath);
  return summarize(
    dataset.entries.map((e) => ({ width: e.width, height: e.height })),
    dataset.masks,
    { channels: dataset.channels, classes: dataset.numClasses, mean: stats.mean, std: stats.std, statsImages: picks.length, mpp },
  );
}

/** The fingerprint from sizes and masks already in memory (the testable core of fingerprintFolder). */
export function summarize(
  sizes: readonly { width: number; height: number }[],
  masks: readonly LabelMask[],
  rest: Pick<DataFingerprint, 'channels' | 'classes' | 'mean' | 'std' | 'statsImages' | 'mpp'>,
): DataFingerprint {
  const counts = new Array<number>(rest.classes).fill(0);
  let emptyMasks = 0;
  const objectSizes: number[] = [];
  for (const mask of masks) {
    let foreground = 0;
    for (let i = 0; i < mask.data.length; i++) {
      counts[mask.data[i]]++;
      if (mask.data[i] !== 0) foreground++;
    }
    if (foreground === 0) emptyMasks++;
    else objectSizes.push(...structureSizes(mask));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const sorted = [...objectSizes].sort((a, b) => a - b);
  return {
    images: sizes.length,
    width: spread(sizes.map((s) => s.width)),
    height: spread(sizes.map((s) => s.height)),
    ...rest,
    classFractions: counts.map((c) => c / total),
    foregroundFraction: (total - counts[0]) / total,
    emptyMasks,
    objects: {
      count: sorted.length,
      medianSize: quantile(sorted, 0.5),
      p90Size: quantile(sorted, 0.9),
      maxSize: sorted.length ? sorted[sorted.length - 1] : 0,
    },
  };
}

/**
 * Bounding-box sizes (longer side, pixels) of the 4-connected foreground
 * components of a mask with at least MIN_OBJECT_PIXELS pixels. Any nonzero
 * class is foreground: touching structures of different classes count as one.
 */
export function structureSizes(mask: LabelMask): number[] {
  const { width, height, data } = mask;
  const seen = new Uint8Array(data.length);
  const stack = new Int32Array(data.length);
  const sizes: number[] = [];
  for (let start = 0; start < data.length; start++) {
    if (data[start] === 0 || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let pixels = 0;
    let x0 = width, x1 = -1, y0 = height, y1 = -1;
    while (top > 0) {
      const p = stack[--top];
      pixels++;
      const x = p % width;
      const y = (p - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const visit = (q: number) => {
        if (data[q] !== 0 && !seen[q]) {
          seen[q] = 1;
          stack[top++] = q;
        }
      };
      if (x > 0) visit(p - 1);
      if (x < width - 1) visit(p + 1);
      if (y > 0) visit(p - width);
      if (y < height - 1) visit(p + width);
    }
    if (pixels >= MIN_OBJECT_PIXELS) sizes.push(Math.max(x1 - x0 + 1, y1 - y0 + 1));
  }
  return sizes;
}

/**
 * Microns per pixel from the first image's stated resolution (TIFF or PNG
 * pHYs), or null. Screen defaults (72 or 96 dpi, 250+ um per pixel) say
 * nothing about a microscope, so only values below 20 um/px are believed.
 */
async function statedMpp(path: string): Promise<number | null> {
  try {
    const meta = await sharp(await readFile(path)).metadata();
    if (!meta.density) return null;
    // sharp reports density in pixels per inch whatever the file's unit
    const mpp = 25_400 / meta.density;
    return mpp < 20 ? mpp : null;
  } catch {
    return null;
  }
}

/** `count` indices spread evenly over 0..n-1 (all of them when n <= count). */
export function spreadIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: quantile(sorted, 0.5), max: sorted[sorted.length - 1] };
}

/** The q-quantile of sorted values (nearest rank); 0 for none. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
