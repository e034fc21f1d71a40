/**
 * A working resolution below the files' own: `--downsample F` trains on
 * images shrunk F times in each direction, and every prediction with such a
 * model shrinks its input the same way and brings the probabilities back to
 * the input's pixels, so masks, scores and polygons stay at full resolution.
 *
 * Why: a colorectal gland is 300-400 px across at 20x. To see a whole gland a
 * network needs 5 levels and 512 px patches, and a 2-core CPU fits only a
 * couple of hundred such steps in ten minutes; at half resolution 4 levels see
 * it, a 256 px patch holds it and each step covers four times the tissue.
 *
 * The rule is one for every path (training data, validation, predict on
 * images and slides, the browser page): a pixel at the working resolution is
 * the mean of an F x F block of the input (blocks start at the top left; the
 * last block of a row or column holds what is left of the image), a label the
 * most frequent label of its block (ties to the lower label, which keeps
 * one-pixel gaps between touching objects), and probabilities come back by
 * bilinear interpolation with half-pixel centres (PyTorch's
 * `interpolate(scale_factor=F, mode='bilinear', align_corners=False)`).
 * Addon-free, so the page and the loader's threads use it as they are.
 */
import type { RawImage } from './raw.js';
import type { HostBatch, LabelMask, PlanarImage } from './types.js';

/** The largest factor accepted (a 20x slide at 8x is 5 um/px, beyond any gland-scale use). */
export const MAX_DOWNSAMPLE = 8;

/** `factor` when it is a whole number from 1 to MAX_DOWNSAMPLE; else throws naming `what`. */
export function checkDownsample(factor: unknown, what = 'downsample'): number {
  if (typeof factor !== 'number' || !Number.isInteger(factor) || factor < 1 || factor > MAX_DOWNSAMPLE) {
    throw new Error(`${what} must be a whole number from 1 to ${MAX_DOWNSAMPLE}, got ${String(factor)}`);
  }
  return factor;
}

/** Pixels along a side of `n` input pixels at 1/factor: the last block may be partial. */
export function scaledSide(n: number, factor: number): number {
  return Math.ceil(n / factor);
}

/** Block means of interleaved (HWC) 8- or 16-bit pixels, rounded to the file's integers. */
export function downsampleRaw(raw: RawImage, factor: number): RawImage {
  if (factor === 1) return raw;
  const { width, height, channels, data } = raw;
  const w = scaledSide(width, factor), h = scaledSide(height, factor);
  const out = data instanceof Uint16Array ? new Uint16Array(w * h * channels) : new Uint8Array(w * h * channels);
  for (let c = 0; c < channels; c++) {
    blockMeans(data, { offset: c, step: channels, width, height }, out, { offset: c, step: channels, width: w }, factor, true);
  }
  return { width: w, height: h, channels, data: out, maxValue: raw.maxValue };
}

/**
 * The block means of one plane of `height` x `width` values, each `step`
 * apart from `offset`, written to `out` alike: the one loop behind both
 * layouts (interleaved file pixels, planar float tiles).
 */
function blockMeans(
  data: ArrayLike<number>, from: { offset: number; step: number; width: number; height: number },
  out: { [i: number]: number }, to: { offset: number; step: number; width: number }, factor: number, round: boolean,
): void {
  const { width, height, step } = from;
  for (let by = 0; by * factor < height; by++) {
    const y0 = by * factor, y1 = Math.min(height, y0 + factor);
    for (let bx = 0; bx < to.width; bx++) {
      const x0 = bx * factor, x1 = Math.min(width, x0 + factor);
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += data[from.offset + (y * width + x) * step];
      const mean = sum / ((y1 - y0) * (x1 - x0));
      out[to.offset + (by * to.width + bx) * to.step] = round ? Math.round(mean) : mean;
    }
  }
}

/** The most frequent label of each block; ties go to the lower label. */
export function downsampleLabels(mask: LabelMask, factor: number): LabelMask {
  if (factor === 1) return mask;
  const { width, height, data } = mask;
  const w = scaledSide(width, factor), h = scaledSide(height, factor);
  const out = new Uint8Array(w * h);
  const counts = new Uint16Array(256);
  for (let by = 0; by < h; by++) {
    const y0 = by * factor, y1 = Math.min(height, y0 + factor);
    for (let bx = 0; bx < w; bx++) {
      const x0 = bx * factor, x1 = Math.min(width, x0 + factor);
      let best = 0, bestCount = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) counts[data[y * width + x]]++;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const label = data[y * width + x];
          const count = counts[label];
          if (count > bestCount || (count === bestCount && label < best)) [best, bestCount] = [label, count];
        }
      }
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) counts[data[y * width + x]] = 0;
      out[by * w + bx] = best;
    }
  }
  return { width: w, height: h, data: out };
}

/** Block means of `count` planar (NCHW) float images of `channels` x `height` x `width`. */
export function downsamplePlanar(data: Float32Array, count: number, channels: number, height: number, width: number, factor: number): Float32Array {
  if (factor === 1) return data;
  const w = scaledSide(width, factor), h = scaledSide(height, factor);
  const out = new Float32Array(count * channels * h * w);
  for (let plane = 0; plane < count * channels; plane++) {
    blockMeans(data, { offset: plane * height * width, step: 1, width, height }, out, { offset: plane * h * w, step: 1, width: w }, factor, false);
  }
  return out;
}

/** A planar image at 1/factor of its pixels (block means). */
export function shrinkImage(image: PlanarImage, factor: number): PlanarImage {
  if (factor === 1) return image;
  const { width, height, channels } = image;
  return { width: scaledSide(width, factor), height: scaledSide(height, factor), channels, data: downsamplePlanar(image.data, 1, channels, height, width, factor) };
}

/** Planar maps (probabilities of `classes` planes) predicted on `shrinkImage(of, factor)`, brought back to `of`'s pixels. */
export function growMap<M extends { width: number; height: number; classes: number; data: Float32Array }>(map: M, factor: number, of: { width: number; height: number }): M {
  if (factor === 1) return map;
  return { ...map, width: of.width, height: of.height, data: upsamplePlanar(map.data, map.classes, map.height, map.width, factor, of.height, of.width) };
}

/** A batch of whole images (and their masks) at 1/factor, as a model trained at that working resolution sees them. */
export function downsampleBatch(batch: HostBatch, factor: number): HostBatch {
  if (factor === 1) return batch;
  const [n, c, height, width] = batch.shape;
  const w = scaledSide(width, factor), h = scaledSide(height, factor);
  const masks = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) {
    const mask = { width, height, data: batch.masks.subarray(i * height * width, (i + 1) * height * width) };
    masks.set(downsampleLabels(mask, factor).data, i * h * w);
  }
  const { instances: _, ...rest } = batch;
  return { ...rest, images: downsamplePlanar(batch.images, n, c, height, width, factor), masks, shape: [n, c, h, w] };
}

/**
 * `count` planar maps of `h` x `w` at the working resolution, interpolated
 * bilinearly to `height` x `width` input pixels (half-pixel centres, edges
 * held): output pixel x reads working pixel (x + 0.5) / factor - 0.5.
 */
export function upsamplePlanar(
  data: Float32Array, count: number, h: number, w: number, factor: number, height: number, width: number,
): Float32Array {
  if (factor === 1 && h === height && w === width) return data;
  const columns = bilinearTaps(width, w, factor);
  const rows = bilinearTaps(height, h, factor);
  const out = new Float32Array(count * height * width);
  const line = new Float32Array(width);
  for (let plane = 0; plane < count; plane++) {
    const from = plane * h * w, to = plane * height * width;
    for (let y = 0; y < height; y++) {
      const a = from + rows.low[y] * w, b = from + rows.high[y] * w, t = rows.weight[y];
      for (let x = 0; x < width; x++) {
        const l = columns.low[x], r = columns.high[x], s = columns.weight[x];
        const top = data[a + l] + s * (data[a + r] - data[a + l]);
        const bottom = data[b + l] + s * (data[b + r] - data[b + l]);
        line[x] = top + t * (bottom - top);
      }
      out.set(line, to + y * width);
    }
  }
  return out;
}

/** For each of `n` output pixels: the two working pixels it lies between and the share of the second. */
function bilinearTaps(n: number, size: number, factor: number): { low: Int32Array; high: Int32Array; weight: Float32Array } {
  const low = new Int32Array(n), high = new Int32Array(n), weight = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // PyTorch clamps the source coordinate at 0 before splitting it (area_pixel_compute_source_index)
    const u = Math.max(0, (i + 0.5) / factor - 0.5);
    const i0 = Math.min(Math.floor(u), size - 1);
    low[i] = i0;
    high[i] = Math.min(i0 + 1, size - 1);
    weight[i] = u - Math.floor(u);
  }
  return { low, high, weight };
}

/**
 * A tile runner at the working resolution: `run` gets the tiles shrunk
 * `factor` times and its `classes` probability maps per tile come back at the
 * tiles' size. Synchronous runners stay synchronous.
 */
export function atWorkingResolution<R extends Float32Array | Promise<Float32Array>>(
  run: (input: Float32Array, shape: [number, number, number, number]) => R,
  classes: number,
  factor: number,
): (input: Float32Array, shape: [number, number, number, number]) => R {
  if (factor === 1) return run;
  return (input, shape) => {
    const [n, c, height, width] = shape;
    const h = scaledSide(height, factor), w = scaledSide(width, factor);
    const back = (p: Float32Array) => upsamplePlanar(p, n * classes, h, w, factor, height, width);
    const out = run(downsamplePlanar(input, n, c, height, width, factor), [n, c, h, w]);
    return (out instanceof Promise ? out.then(back) : back(out)) as R;
  };
}
