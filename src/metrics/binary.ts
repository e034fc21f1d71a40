/**
 * Binary segmentation metrics at several thresholds from one pass over the
 * pixels.
 *
 * Threshold convention: a pixel is predicted foreground when its probability
 * p satisfies p >= threshold (NaN is never foreground). The comparison is
 * made in float64, so a float32 probability stored for 0.7 (0.699999988)
 * falls below the threshold 0.7. A mask pixel is foreground when it is
 * nonzero, so 0/1 and 0/255 masks both work.
 */
import {
  type BinaryScores,
  type ConfusionCounts,
  DEFAULT_THRESHOLDS,
  checkThresholds,
  pixelsPerImage,
  scoresFromCounts,
} from './scores.js';

/** Per-pixel foreground probabilities, N x H x W. */
export type Probabilities = Float32Array | Float64Array;

/** Scores at one threshold over every image seen. */
export interface ThresholdMetrics {
  threshold: number;
  /** mean over images of the per-image scores (NaN when no image was seen) */
  mean: BinaryScores;
  /** scores of the counts summed over all images (global, pixel-weighted) */
  pooled: BinaryScores;
  /** counts summed over all images */
  counts: ConfusionCounts;
}

/** Scores at each threshold, in the order the thresholds were given. */
export interface BinaryMetrics {
  images: number;
  byThreshold: ThresholdMetrics[];
}

/**
 * Confusion counts of every image at every threshold, in one pass over the
 * pixels: each pixel is binned by how many of the (sorted) thresholds it
 * reaches, and cumulative sums of the bins give the counts per threshold.
 *
 * @param probabilities N x H x W probabilities
 * @param masks N x H x W ground truth, nonzero = foreground
 * @param ignore N x H x W, nonzero where a pixel is not counted (unannotated); default: every pixel counts
 * @returns Float64Array laid out [image][threshold][tp, fp, fn, tn], thresholds
 *   in the order given
 */
export function countBinary(
  probabilities: Probabilities,
  masks: Uint8Array,
  thresholds: readonly number[] = DEFAULT_THRESHOLDS,
  images = 1,
  ignore?: Uint8Array,
): Float64Array {
  checkThresholds(thresholds);
  const pixels = pixelsPerImage('countBinary', probabilities.length, masks.length, images);
  if (ignore && ignore.length !== masks.length) {
    throw new RangeError(`countBinary: ignore mask of ${ignore.length} pixels for masks of ${masks.length}`);
  }
  const k = thresholds.length;
  const order = thresholds.map((_, i) => i).sort((a, b) => thresholds[a] - thresholds[b]);
  const sorted = Float64Array.from(order, (i) => thresholds[i]);
  // positives[r] / negatives[r]: pixels that reach exactly the r lowest thresholds
  const positives = new Float64Array(k + 1);
  const negatives = new Float64Array(k + 1);
  const out = new Float64Array(images * k * 4);
  for (let image = 0; image < images; image++) {
    positives.fill(0);
    negatives.fill(0);
    const end = (image + 1) * pixels;
    for (let i = image * pixels; i < end; i++) {
      if (ignore && ignore[i] !== 0) continue;
      const reached = thresholdsReached(sorted, probabilities[i]);
      if (masks[i] !== 0) positives[reached]++;
      else negatives[reached]++;
    }
    let totalPositives = 0;
    let totalNegatives = 0;
    for (let r = 0; r <= k; r++) {
      totalPositives += positives[r];
      totalNegatives += negatives[r];
    }
    // a pixel is foreground at sorted threshold s when it reaches more than s
    let truePositives = 0;
    let falsePositives = 0;
    for (let s = k - 1; s >= 0; s--) {
      truePositives += positives[s + 1];
      falsePositives += negatives[s + 1];
      const at = (image * k + order[s]) * 4;
      out[at] = truePositives;
      out[at + 1] = falsePositives;
      out[at + 2] = totalPositives - truePositives;
      out[at + 3] = totalNegatives - falsePositives;
    }
  }
  return out;
}

/** How many of the ascending `sorted` thresholds p reaches (p >= t); binary search. */
function thresholdsReached(sorted: Float64Array, p: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (p >= sorted[mid]) low = mid + 1;
    else high = mid;
  }
  return low;
}

// Exported state per threshold: 4 pooled counts, then the sums over images of
// the 5 per-image scores; all entries add up across batches and ranks.
const STRIDE = 9;
const SCORE_KEYS = ['dice', 'iou', 'precision', 'recall', 'accuracy'] as const;

/**
 * Accumulates binary metrics batch after batch (a validation loop) at fixed
 * thresholds. Its state is a Float64Array of sums, so accumulators of several
 * ranks merge by an element-wise sum (an all-reduce) of `counts()`.
 *
 * @example
 * const acc = new BinaryMetricAccumulator([0.5, 0.7]);
 * for (const batch of val) acc.add(batch.probabilities, batch.masks, batch.size);
 * const merged = new BinaryMetricAccumulator([0.5, 0.7], allReduceSum(acc.counts()));
 * merged.result().byThreshold[0].mean.dice;
 */
export class BinaryMetricAccumulator {
  readonly thresholds: readonly number[];
  private readonly state: Float64Array;

  /**
   * @param counts a previous `counts()` (or an element-wise sum of several) to
   *   start from; its length must be `1 + 9 * thresholds.length`
   */
  constructor(thresholds: readonly number[] = DEFAULT_THRESHOLDS, counts?: Float64Array) {
    checkThresholds(thresholds);
    this.thresholds = [...thresholds];
    this.state = new Float64Array(1 + STRIDE * thresholds.length);
    if (counts) this.addCounts(counts);
  }

  /** Images seen so far. */
  get images(): number {
    return this.state[0];
  }

  /**
   * Adds a batch and returns its per-image scores.
   *
   * @param probabilities N x H x W probabilities
   * @param masks N x H x W ground truth, nonzero = foreground
   * @param images N
   * @param ignore N x H x W, nonzero where a pixel is not counted
   * @returns scores indexed [image][threshold]
   */
  add(probabilities: Probabilities, masks: Uint8Array, images = 1, ignore?: Uint8Array): BinaryScores[][] {
    const k = this.thresholds.length;
    const counts = countBinary(probabilities, masks, this.thresholds, images, ignore);
    const perImage: BinaryScores[][] = [];
    for (let image = 0; image < images; image++) {
      const row: BinaryScores[] = [];
      for (let t = 0; t < k; t++) {
        const at = (image * k + t) * 4;
        const scores = scoresFromCounts({ tp: counts[at], fp: counts[at + 1], fn: counts[at + 2], tn: counts[at + 3] });
        const base = 1 + t * STRIDE;
        for (let c = 0; c < 4; c++) this.state[base + c] += counts[at + c];
        SCORE_KEYS.forEach((key, s) => (this.state[base + 4 + s] += scores[key]));
        row.push(scores);
      }
      perImage.push(row);
    }
    this.state[0] += images;
    return perImage;
  }

  /** Adds the exported `counts()` of another accumulator with the same thresholds. */
  addCounts(counts: Float64Array): void {
    if (counts.length !== this.state.length) {
      throw new RangeError(
        `BinaryMetricAccumulator: counts of length ${counts.length} do not fit ${this.thresholds.length} thresholds ` +
          `(expected ${this.state.length})`,
      );
    }
    for (let i = 0; i < counts.length; i++) this.state[i] += counts[i];
  }

  /**
   * A copy of the raw state: [images, then per threshold: tp, fp, fn, tn and
   * the sums over images of dice, iou, precision, recall, accuracy].
   */
  counts(): Float64Array {
    return this.state.slice();
  }

  /** Mean and pooled scores at each threshold. */
  result(): BinaryMetrics {
    const images = this.images;
    const byThreshold = this.thresholds.map((threshold, t): ThresholdMetrics => {
      const base = 1 + t * STRIDE;
      const s = this.state;
      const counts = { tp: s[base], fp: s[base + 1], fn: s[base + 2], tn: s[base + 3] };
      const mean = {} as BinaryScores;
      SCORE_KEYS.forEach((key, i) => (mean[key] = images > 0 ? s[base + 4 + i] / images : NaN));
      return { threshold, mean, pooled: scoresFromCounts(counts), counts };
    });
    return { images, byThreshold };
  }

  /** Forgets everything added (for the next epoch). */
  reset(): void {
    this.state.fill(0);
  }
}

/**
 * Binary metrics of one image or a batch at each threshold, in one pass.
 *
 * @param probabilities N x H x W probabilities in [0, 1]
 * @param masks N x H x W ground truth, nonzero = foreground
 * @returns mean, pooled and per-image scores; `perImage` is indexed
 *   [image][threshold], thresholds in the order given
 */
export function binaryMetrics(
  probabilities: Probabilities,
  masks: Uint8Array,
  { thresholds = DEFAULT_THRESHOLDS, images = 1, ignore }: { thresholds?: readonly number[]; images?: number; ignore?: Uint8Array } = {},
): BinaryMetrics & { perImage: BinaryScores[][] } {
  const accumulator = new BinaryMetricAccumulator(thresholds);
  const perImage = accumulator.add(probabilities, masks, images, ignore);
  return { ...accumulator.result(), perImage };
}
