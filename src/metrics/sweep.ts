/**
 * Threshold sweep: Dice and IoU at many thresholds from one pass over the
 * pixels, to pick the threshold that validation data likes best.
 *
 * Each probability is put in one of `bins + 1` histogram bins (bin b holds
 * the p that reach threshold b / bins but not (b + 1) / bins); suffix sums of
 * the histograms then give the counts at every threshold on that grid. The
 * binning compares p >= b / bins exactly as `countBinary` compares
 * p >= threshold, so both give identical counts for a grid threshold.
 */
import type { Probabilities } from './binary.js';
import { overlapFromCounts, pixelsPerImage } from './scores.js';

/** The thresholds swept: from, from + step, ..., to; each a multiple of 1 / bins in (0, 1]. */
export interface SweepOptions {
  /** default 0.05 */
  from?: number;
  /** default 0.95 */
  to?: number;
  /** default 0.05 */
  step?: number;
  /** histogram resolution; default 1000 */
  bins?: number;
}

/** Dice and IoU per swept threshold, and the best threshold by mean Dice. */
export interface SweepResult {
  images: number;
  thresholds: number[];
  /** mean over images of the per-image Dice, per threshold */
  dice: number[];
  /** mean over images of the per-image IoU, per threshold */
  iou: number[];
  /** Dice of the counts summed over images, per threshold */
  pooledDice: number[];
  /** IoU of the counts summed over images, per threshold */
  pooledIou: number[];
  /** highest mean Dice (the lowest such threshold on ties); NaN fields when no image was seen */
  best: { threshold: number; dice: number; iou: number };
}

/**
 * Accumulates a threshold sweep batch after batch. Like
 * `BinaryMetricAccumulator`, its state is a Float64Array of sums that ranks
 * can all-reduce and pass back to the constructor.
 */
export class ThresholdSweep {
  readonly thresholds: readonly number[];
  readonly bins: number;
  /** grid index (threshold * bins) of each threshold */
  private readonly grid: Int32Array;
  // [images, positives per bin (bins + 1), negatives per bin (bins + 1),
  //  sum of per-image Dice per threshold, sum of per-image IoU per threshold]
  private readonly state: Float64Array;
  private readonly imagePositives: Float64Array;
  private readonly imageNegatives: Float64Array;

  /**
   * @param counts a previous `counts()` (or an element-wise sum of several)
   *   made with the same options
   */
  constructor(options: SweepOptions = {}, counts?: Float64Array) {
    const { from = 0.05, to = 0.95, step = 0.05, bins = 1000 } = options;
    if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`ThresholdSweep: bins must be a positive integer, got ${bins}`);
    if (!(from > 0 && to <= 1 && from <= to && step > 0)) {
      throw new RangeError(`ThresholdSweep: need 0 < from <= to <= 1 and step > 0, got from ${from}, to ${to}, step ${step}`);
    }
    this.bins = bins;
    this.grid = gridIndices(from, to, step, bins);
    this.thresholds = Array.from(this.grid, (j) => j / bins);
    this.state = new Float64Array(1 + 2 * (bins + 1) + 2 * this.grid.length);
    this.imagePositives = new Float64Array(bins + 1);
    this.imageNegatives = new Float64Array(bins + 1);
    if (counts) this.addCounts(counts);
  }

  /** Images seen so far. */
  get images(): number {
    return this.state[0];
  }

  /**
   * Adds a batch.
   *
   * @param probabilities N x H x W probabilities
   * @param masks N x H x W ground truth, nonzero = foreground
   * @param images N
   * @param ignore N x H x W, nonzero where a pixel is not counted (unannotated); default: every pixel counts
   */
  add(probabilities: Probabilities, masks: Uint8Array, images = 1, ignore?: Uint8Array): void {
    const pixels = pixelsPerImage('ThresholdSweep', probabilities.length, masks.length, images);
    if (ignore && ignore.length !== masks.length) {
      throw new RangeError(`ThresholdSweep: ignore mask of ${ignore.length} pixels for masks of ${masks.length}`);
    }
    const { bins, grid, state, imagePositives: pos, imageNegatives: neg } = this;
    const n = grid.length;
    const pooledPos = 1;
    const pooledNeg = pooledPos + bins + 1;
    const diceSums = pooledNeg + bins + 1;
    const iouSums = diceSums + n;
    for (let image = 0; image < images; image++) {
      pos.fill(0);
      neg.fill(0);
      const end = (image + 1) * pixels;
      for (let i = image * pixels; i < end; i++) {
        if (ignore && ignore[i] !== 0) continue;
        const b = binOf(probabilities[i], bins);
        if (masks[i] !== 0) pos[b]++;
        else neg[b]++;
      }
      // turn the histograms into suffix sums: pos[b] = foreground pixels with bin >= b
      for (let b = bins; b >= 0; b--) {
        state[pooledPos + b] += pos[b];
        state[pooledNeg + b] += neg[b];
        if (b < bins) {
          pos[b] += pos[b + 1];
          neg[b] += neg[b + 1];
        }
      }
      for (let t = 0; t < n; t++) {
        const tp = pos[grid[t]];
        const { dice, iou } = overlapFromCounts(tp, neg[grid[t]], pos[0] - tp);
        state[diceSums + t] += dice;
        state[iouSums + t] += iou;
      }
    }
    state[0] += images;
  }

  /** Adds the exported `counts()` of another sweep made with the same options. */
  addCounts(counts: Float64Array): void {
    if (counts.length !== this.state.length) {
      throw new RangeError(
        `ThresholdSweep: counts of length ${counts.length} do not fit these options (expected ${this.state.length})`,
      );
    }
    for (let i = 0; i < counts.length; i++) this.state[i] += counts[i];
  }

  /** A copy of the raw state (histograms and score sums). */
  counts(): Float64Array {
    return this.state.slice();
  }

  /** Dice and IoU at each threshold, and the best threshold. */
  result(): SweepResult {
    const { bins, grid, state, images } = this;
    const n = grid.length;
    const pooledPos = 1;
    const pooledNeg = pooledPos + bins + 1;
    const diceSums = pooledNeg + bins + 1;
    const iouSums = diceSums + n;
    // suffix sums of the pooled histograms, read at the grid indices
    const positivesFrom = new Float64Array(bins + 2);
    const negativesFrom = new Float64Array(bins + 2);
    for (let b = bins; b >= 0; b--) {
      positivesFrom[b] = positivesFrom[b + 1] + state[pooledPos + b];
      negativesFrom[b] = negativesFrom[b + 1] + state[pooledNeg + b];
    }
    const result: SweepResult = {
      images,
      thresholds: [...this.thresholds],
      dice: [],
      iou: [],
      pooledDice: [],
      pooledIou: [],
      best: { threshold: NaN, dice: NaN, iou: NaN },
    };
    let best = -1;
    for (let t = 0; t < n; t++) {
      const tp = positivesFrom[grid[t]];
      const pooled = overlapFromCounts(tp, negativesFrom[grid[t]], positivesFrom[0] - tp);
      const dice = images > 0 ? state[diceSums + t] / images : NaN;
      const iou = images > 0 ? state[iouSums + t] / images : NaN;
      result.dice.push(dice);
      result.iou.push(iou);
      result.pooledDice.push(pooled.dice);
      result.pooledIou.push(pooled.iou);
      if (images > 0 && (best < 0 || dice > result.dice[best])) best = t;
    }
    if (best >= 0) result.best = { threshold: result.thresholds[best], dice: result.dice[best], iou: result.iou[best] };
    return result;
  }

  /** Forgets everything added. */
  reset(): void {
    this.state.fill(0);
  }
}

/**
 * Dice and IoU at each threshold of a sweep over one image or a batch.
 *
 * @param probabilities N x H x W probabilities
 * @param masks N x H x W ground truth, nonzero = foreground
 */
export function sweepThresholds(
  probabilities: Probabilities,
  masks: Uint8Array,
  { images = 1, ...options }: SweepOptions & { images?: number } = {},
): SweepResult {
  const sweep = new ThresholdSweep(options);
  sweep.add(probabilities, masks, images);
  return sweep.result();
}

/** Grid indices j (threshold = j / bins) of from, from + step, ..., to. */
function gridIndices(from: number, to: number, step: number, bins: number): Int32Array {
  // the tolerance keeps `to` in when (to - from) / step is a whole number up to rounding
  const count = Math.floor((to - from) / step + 1e-9) + 1;
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const exact = (from + i * step) * bins;
    const j = Math.round(exact);
    if (Math.abs(exact - j) > 1e-6 * bins) {
      throw new RangeError(`ThresholdSweep: threshold ${from + i * step} is not a multiple of 1/${bins}; use more bins`);
    }
    indices[i] = j;
  }
  return indices;
}

/** The bin of p: the largest b with p >= b / bins (0 for p below 1 / bins, negative or NaN). */
function binOf(p: number, bins: number): number {
  if (!(p > 0)) return 0;
  if (p >= 1) return bins;
  let b = Math.floor(p * bins);
  // p * bins rounds for float64 input; settle b against the exact comparison
  if (p < b / bins) b--;
  else if (p >= (b + 1) / bins) b++;
  return b;
}
