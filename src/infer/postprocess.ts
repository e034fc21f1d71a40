/**
 * Cleaning a thresholded binary mask, as nnU-Net post-processes its
 * predictions: predicted objects smaller than a size are removed (GlaS's
 * object F1 counts every speck as a false-positive gland) and holes smaller
 * than a size are filled. Objects are 8-connected, as GlaS scores them; a
 * hole is a 4-connected background region that does not touch the image's
 * border (the dual of 8-connected objects: a hole's rim is a closed
 * 8-connected ring). The sizes are chosen on validation images by
 * `choosePostProcessing` and stored in the checkpoint.
 */
import { BinaryMetricAccumulator } from '../metrics/binary.js';
import { labelComponents, maskComponents, thresholded } from '../metrics/components.js';
import { glasDetections } from '../metrics/objects.js';

/** Sizes in pixels of the image as predicted; 0 turns a step off. */
export interface PostProcessing {
  /** Predicted objects with fewer pixels than this are removed. */
  minObjectPx: number;
  /** Holes (background enclosed by an object) with fewer pixels than this are filled. */
  fillHolesPx: number;
}

/** Post-processing that changes nothing. */
export const NO_POSTPROCESSING: PostProcessing = { minObjectPx: 0, fillHolesPx: 0 };

export function isNoOp(p: PostProcessing): boolean {
  return p.minObjectPx <= 0 && p.fillHolesPx <= 0;
}

/**
 * A copy of the 0/1 `mask` (`width` x `height`, row-major) with small objects
 * removed first, then small holes filled (a speck inside a hole is removed
 * before the hole is measured, so the hole counts its pixels).
 */
export function postProcessMask(mask: Uint8Array, width: number, height: number, p: PostProcessing): Uint8Array {
  if (mask.length !== width * height) throw new RangeError(`postProcessMask: a ${width}x${height} mask needs ${width * height} values, got ${mask.length}`);
  const out = Uint8Array.from(mask, (v) => (v ? 1 : 0));
  if (p.minObjectPx > 0) {
    const objects = labelComponents(out, width, height, 8);
    for (let i = 0; i < out.length; i++) if (out[i] && objects.areas[objects.labels[i]] < p.minObjectPx) out[i] = 0;
  }
  if (p.fillHolesPx > 0) {
    const background = labelComponents(out.map((v) => 1 - v), width, height, 4);
    const fill = new Uint8Array(background.count + 1);
    for (let k = 1; k <= background.count; k++) {
      const [x0, y0, x1, y1] = background.boxes.subarray(4 * k, 4 * k + 4);
      const touchesBorder = x0 === 0 || y0 === 0 || x1 === width - 1 || y1 === height - 1;
      fill[k] = !touchesBorder && background.areas[k] < p.fillHolesPx ? 1 : 0;
    }
    for (let i = 0; i < out.length; i++) if (fill[background.labels[i]]) out[i] = 1;
  }
  return out;
}

/**
 * Applies `p` to the mask that `threshold` cuts from `plane` foreground
 * probabilities at `at`, in place: removed pixels become 0 and filled ones 1,
 * so every later cut at `threshold` gives the post-processed mask (the
 * scorers take probabilities). Cuts at other thresholds see the same edits.
 */
export function postProcessProbabilities(
  probabilities: Float32Array, at: number, width: number, height: number, threshold: number, p: PostProcessing,
): void {
  if (isNoOp(p)) return;
  const plane = width * height;
  const mask = thresholded(probabilities, at, plane, threshold);
  const cleaned = postProcessMask(mask, width, height, p);
  for (let i = 0; i < plane; i++) if (cleaned[i] !== mask[i]) probabilities[at + i] = cleaned[i];
}

/** One validation image's prediction and truth, for `choosePostProcessing`. */
export interface ScoredPrediction {
  name: string;
  width: number;
  height: number;
  /** foreground probabilities, row-major */
  probabilities: Float32Array;
  /** the true mask: 0 background, else foreground (or instance numbers) */
  truth: Uint8Array | Uint16Array;
}

/** The sizes `choosePostProcessing` tries by default: powers of two times 25 px, and off. */
export const MIN_OBJECT_CANDIDATES = [0, 25, 50, 100, 200, 400, 800, 1600, 3200];
export const FILL_HOLES_CANDIDATES = [0, 25, 100, 400, 1600, 6400];

/** A candidate's scores on the validation images. */
export interface PostProcessingTrial extends PostProcessing {
  /** mean pixel Dice over the images */
  dice: number;
  /** GlaS object F1 (null when the masks are not scored by objects) */
  objectF1: number | null;
}

/**
 * Tries every pair of candidate sizes on `predictions` cut at `threshold`
 * and returns the best and every trial. With `objects` (GlaS-like masks) the
 * best has the highest GlaS object F1, else the highest mean pixel Dice;
 * ties go to the higher Dice, then to the smaller sizes (the least change).
 */
export function choosePostProcessing(
  predictions: readonly ScoredPrediction[],
  threshold: number,
  options: { objects: boolean; minObject?: readonly number[]; fillHoles?: readonly number[] },
): { best: PostProcessingTrial; trials: PostProcessingTrial[] } {
  if (predictions.length === 0) throw new Error('choosePostProcessing: no validation images to choose on');
  // what every trial compares with, made once per image (54 trials would otherwise label each truth 54 times)
  const truths = predictions.map((image) => ({
    binary: Uint8Array.from(image.truth, (v) => (v > 0 ? 1 : 0)),
    objects: options.objects ? maskComponents(image.truth, image.width, image.height, 8) : null,
  }));
  const trials: PostProcessingTrial[] = [];
  for (const minObjectPx of options.minObject ?? MIN_OBJECT_CANDIDATES) {
    for (const fillHolesPx of options.fillHoles ?? FILL_HOLES_CANDIDATES) {
      const p = { minObjectPx, fillHolesPx };
      const pixels = new BinaryMetricAccumulator([threshold]);
      const found = { tp: 0, fp: 0, fn: 0 };
      for (const [i, image] of predictions.entries()) {
        const probabilities = Float32Array.from(image.probabilities);
        postProcessProbabilities(probabilities, 0, image.width, image.height, threshold, p);
        pixels.add(probabilities, truths[i].binary);
        if (!truths[i].objects) continue;
        // F1 pooled over images as GlaS pools it; only the detections, no distances
        const predicted = labelComponents(thresholded(probabilities, 0, probabilities.length, threshold), image.width, image.height, 8);
        const counts = glasDetections(predicted, truths[i].objects!);
        for (const k of ['tp', 'fp', 'fn'] as const) found[k] += counts[k];
      }
      const { tp, fp, fn } = found;
      const objectF1 = options.objects ? (tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn)) : null;
      trials.push({ ...p, dice: pixels.result().byThreshold[0].mean.dice, objectF1 });
    }
  }
  const better = (a: PostProcessingTrial, b: PostProcessingTrial) =>
    (a.objectF1 ?? 0) - (b.objectF1 ?? 0) || a.dice - b.dice || b.minObjectPx + b.fillHolesPx - (a.minObjectPx + a.fillHolesPx);
  const best = trials.reduce((a, b) => (better(b, a) > 0 ? b : a));
  return { best, trials };
}
