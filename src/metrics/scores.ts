/**
 * Scores from confusion counts, with the empty-mask conventions every other
 * metric in this folder relies on.
 *
 * Convention for a ratio whose denominator is 0 (0/0): it scores 1 when the
 * prediction and the truth agree exactly (both empty), and 0 otherwise. So:
 * - prediction and truth both empty: Dice = IoU = precision = recall = 1;
 * - truth empty, prediction not: Dice = IoU = recall = 0 (recall is 0/0 but
 *   the prediction is wrong), precision = 0 (0 / FP);
 * - prediction empty, truth not: Dice = IoU = recall = 0 (recall is 0 / FN),
 *   precision = 0 (0/0, but a prediction that misses every foreground pixel
 *   must not score perfectly on any overlap metric).
 * Accuracy's denominator is the pixel count; it is 0/0 only for an image
 * with no pixels, which scores 1 (nothing to get wrong).
 */

/** Pixel counts of one binary confusion matrix. */
export interface ConfusionCounts {
  /** predicted foreground, truly foreground */
  tp: number;
  /** predicted foreground, truly background */
  fp: number;
  /** predicted background, truly foreground */
  fn: number;
  /** predicted background, truly background */
  tn: number;
}

/** Binary segmentation scores, each in [0, 1]. */
export interface BinaryScores {
  /** 2TP / (2TP + FP + FN) */
  dice: number;
  /** Jaccard index: TP / (TP + FP + FN) */
  iou: number;
  /** TP / (TP + FP) */
  precision: number;
  /** TP / (TP + FN) */
  recall: number;
  /** (TP + TN) / all pixels */
  accuracy: number;
}

/** The thresholds used when none are given. */
export const DEFAULT_THRESHOLDS: readonly number[] = [0.5, 0.7];

/** Scores of one confusion matrix, with the 0/0 conventions of this module. */
export function scoresFromCounts({ tp, fp, fn, tn }: ConfusionCounts): BinaryScores {
  const exact = fp === 0 && fn === 0;
  return {
    dice: ratio(2 * tp, 2 * tp + fp + fn, exact),
    iou: ratio(tp, tp + fp + fn, exact),
    precision: ratio(tp, tp + fp, exact),
    recall: ratio(tp, tp + fn, exact),
    accuracy: ratio(tp + tn, tp + fp + fn + tn, exact),
  };
}

/** Dice and IoU only, for hot loops (the sweep) that need no other score. */
export function overlapFromCounts(tp: number, fp: number, fn: number): { dice: number; iou: number } {
  const exact = fp === 0 && fn === 0;
  return { dice: ratio(2 * tp, 2 * tp + fp + fn, exact), iou: ratio(tp, tp + fp + fn, exact) };
}

function ratio(numerator: number, denominator: number, exact: boolean): number {
  if (denominator === 0) return exact ? 1 : 0;
  return numerator / denominator;
}

/** Checks a threshold list once, up front, so hot loops need no checks. */
export function checkThresholds(thresholds: readonly number[]): void {
  if (thresholds.length === 0) throw new RangeError('metrics: at least one threshold is needed');
  for (const t of thresholds) {
    if (!Number.isFinite(t)) throw new RangeError(`metrics: threshold ${t} is not a finite number`);
  }
}

/** Pixels per image of an N x H x W batch of `length` values, checking the layout. */
export function pixelsPerImage(what: string, length: number, maskLength: number, images: number): number {
  if (length !== maskLength) {
    throw new RangeError(`${what}: predictions have ${length} values but masks have ${maskLength}`);
  }
  if (!Number.isInteger(images) || images < 1 || length % images !== 0) {
    throw new RangeError(`${what}: ${length} values cannot be split into ${images} images of equal size (N x H x W)`);
  }
  return length / images;
}
