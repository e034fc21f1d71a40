/**
 * Per-channel mean and standard deviation of the training images, stored in
 * checkpoints so that inference normalises exactly as training did.
 */
import type { RawImage } from './raw.js';

/** Per-channel statistics of images scaled to [0, 1]. */
export interface ChannelStats {
  mean: number[];
  std: number[];
}

/** Per-channel sums of one image, combined later in a fixed order so the result is the same whoever computed them. */
export interface ChannelSums {
  sum: number[];
  sumSquares: number[];
  count: number;
}

/** Sums of values and squared values per channel of one image, scaled to [0, 1]. */
export function channelSums(raw: RawImage): ChannelSums {
  const c = raw.channels;
  const sum = new Array<number>(c).fill(0);
  const sumSquares = new Array<number>(c).fill(0);
  const scale = 1 / raw.maxValue;
  const n = raw.width * raw.height;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    let s2 = 0;
    for (let i = ch; i < n * c; i += c) {
      const v = raw.data[i] * scale;
      s += v;
      s2 += v * v;
    }
    sum[ch] = s;
    sumSquares[ch] = s2;
  }
  return { sum, sumSquares, count: n };
}

/** Combines per-image sums (in the order given) into mean and std; a constant channel gets std 1. */
export function combineSums(parts: readonly ChannelSums[]): ChannelStats {
  if (parts.length === 0) throw new Error('cannot compute channel statistics of no images');
  const c = parts[0].sum.length;
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    let s2 = 0;
    let n = 0;
    for (const p of parts) {
      s += p.sum[ch];
      s2 += p.sumSquares[ch];
      n += p.count;
    }
    const m = s / n;
    const sd = Math.sqrt(Math.max(0, s2 / n - m * m));
    mean.push(m);
    std.push(sd > 1e-8 ? sd : 1);
  }
  return { mean, std };
}

/** Mean and std over the given images (main thread; the loader spreads this over its workers). */
export function computeChannelStats(images: Iterable<RawImage>): ChannelStats {
  const parts: ChannelSums[] = [];
  for (const raw of images) parts.push(channelSums(raw));
  return combineSums(parts);
}

/** Normalises planar (CHW) values in place: (x - mean) / std per channel. */
export function normalizeInPlace(data: Float32Array, channels: number, stats: ChannelStats): void {
  const plane = data.length / channels;
  for (let ch = 0; ch < channels; ch++) {
    const m = stats.mean[ch];
    const inv = 1 / stats.std[ch];
    const end = (ch + 1) * plane;
    for (let i = ch * plane; i < end; i++) data[i] = (data[i] - m) * inv;
  }
}
