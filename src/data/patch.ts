/**
 * Patch sampling: where to cut a fixed-size patch from an image, and the
 * cutting itself (with mirrored borders where the image is smaller).
 */
import type { Rng } from './rng.js';
import type { RawImage } from './raw.js';
import type { LabelMask, PlanarImage } from './types.js';

/** Top-left corner of a patch in image coordinates (negative when the image is padded). */
export interface PatchOrigin {
  x: number;
  y: number;
}

/**
 * Picks a patch of `height` x `width`. Along an axis where the image is
 * larger the position is uniform; where it is smaller the image is centred
 * and the patch mirrors it outwards (as the U-Net paper extrapolates borders),
 * so no invented constant border teaches the network a false edge. With
 * probability `foregroundChance` the patch is placed to contain a random
 * foreground pixel (at a uniform position inside the patch), which helps when
 * foreground is rare.
 */
export function choosePatch(mask: LabelMask, height: number, width: number, rng: Rng, foregroundChance = 0): PatchOrigin {
  const wantForeground = rng.chance(foregroundChance);
  const pixel = wantForeground ? randomForegroundPixel(mask, rng) : null;
  return {
    x: axisOrigin(mask.width, width, rng, pixel?.x),
    y: axisOrigin(mask.height, height, rng, pixel?.y),
  };
}

function axisOrigin(size: number, patch: number, rng: Rng, mustContain: number | undefined): number {
  if (size <= patch) return -Math.floor((patch - size) / 2);
  if (mustContain === undefined) return rng.int(size - patch + 1);
  const origin = mustContain - rng.int(patch);
  return Math.min(Math.max(origin, 0), size - patch);
}

/** Cumulative foreground counts per row, computed once per mask. */
const rowCounts = new WeakMap<Uint8Array, Uint32Array>();

function randomForegroundPixel(mask: LabelMask, rng: Rng): PatchOrigin | null {
  let cumulative = rowCounts.get(mask.data);
  if (!cumulative) {
    cumulative = new Uint32Array(mask.height + 1);
    for (let y = 0; y < mask.height; y++) {
      let count = 0;
      const row = y * mask.width;
      for (let x = 0; x < mask.width; x++) if (mask.data[row + x] !== 0) count++;
      cumulative[y + 1] = cumulative[y] + count;
    }
    rowCounts.set(mask.data, cumulative);
  }
  const total = cumulative[mask.height];
  if (total === 0) return null;
  const k = rng.int(total);
  let lo = 0;
  let hi = mask.height;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] <= k) lo = mid;
    else hi = mid;
  }
  let remaining = k - cumulative[lo];
  const row = lo * mask.width;
  for (let x = 0; x < mask.width; x++) {
    if (mask.data[row + x] !== 0 && remaining-- === 0) return { x, y: lo };
  }
  return null;
}

/** Mirror index into [0, n) without repeating the edge pixel (numpy "reflect"). */
export function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  i = Math.abs(i) % period;
  return i < n ? i : period - i;
}

/** Cuts a patch from a decoded image into planar float32 in [0, 1], mirroring outside the image. */
export function cropImage(raw: RawImage, origin: PatchOrigin, height: number, width: number): PlanarImage {
  const c = raw.channels;
  const out = new Float32Array(c * height * width);
  const scale = 1 / raw.maxValue;
  const columns = new Int32Array(width);
  for (let x = 0; x < width; x++) columns[x] = reflect(origin.x + x, raw.width) * c;
  const plane = height * width;
  for (let y = 0; y < height; y++) {
    const row = reflect(origin.y + y, raw.height) * raw.width * c;
    for (let ch = 0; ch < c; ch++) {
      const base = ch * plane + y * width;
      for (let x = 0; x < width; x++) out[base + x] = raw.data[row + columns[x] + ch] * scale;
    }
  }
  return { width, height, channels: c, data: out };
}

/** Cuts the same patch from a mask. */
export function cropMask(mask: LabelMask, origin: PatchOrigin, height: number, width: number): LabelMask {
  const out = new Uint8Array(height * width);
  const columns = new Int32Array(width);
  for (let x = 0; x < width; x++) columns[x] = reflect(origin.x + x, mask.width);
  for (let y = 0; y < height; y++) {
    const row = reflect(origin.y + y, mask.height) * mask.width;
    for (let x = 0; x < width; x++) out[y * width + x] = mask.data[row + columns[x]];
  }
  return { width, height, data: out };
}
