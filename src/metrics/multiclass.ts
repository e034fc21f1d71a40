/**
 * Per-class Dice and IoU for several classes, from class-index predictions
 * (an argmax) and class-index masks, with the empty conventions of
 * `scores.ts`: a class absent from both prediction and truth of an image
 * scores 1 on that image. Mask pixels of IGNORE_LABEL (unannotated) are
 * not counted at all: not as any class, not in the accuracy.
 */
import { IGNORE_LABEL } from '../data/ignore.js';
import { overlapFromCounts, pixelsPerImage } from './scores.js';

/** Overlap scores of one class. */
export interface ClassScores {
  dice: number;
  iou: number;
}

/** Scores over every image seen. */
export interface MulticlassMetrics {
  images: number;
  classes: number;
  /** per class (index = class), mean over images of the per-image scores */
  perClass: ClassScores[];
  /** per class, scores of the counts summed over images */
  pooledPerClass: ClassScores[];
  /** mean of `perClass` over the foreground classes 1 .. classes - 1 */
  meanForeground: ClassScores;
  /** mean of `pooledPerClass` over the foreground classes */
  pooledMeanForeground: ClassScores;
  /** fraction of all pixels whose class is right */
  accuracy: number;
}

/**
 * Accumulates multi-class metrics batch after batch. Its state is a
 * Float64Array of sums (a confusion matrix and per-class score sums) that
 * ranks can all-reduce and pass back to the constructor.
 */
export class MulticlassMetricAccumulator {
  readonly classes: number;
  // [images, confusion[truth * classes + predicted], Dice sums per class, IoU sums per class]
  private readonly state: Float64Array;
  private readonly imageConfusion: Float64Array;

  /**
   * @param classes number of classes including background (class 0), >= 2
   * @param counts a previous `counts()` (or an element-wise sum of several)
   */
  constructor(classes: number, counts?: Float64Array) {
    if (!Number.isInteger(classes) || classes < 2 || classes > 256) {
      throw new RangeError(`MulticlassMetricAccumulator: classes must be an integer in 2..256, got ${classes}`);
    }
    this.classes = classes;
    this.state = new Float64Array(1 + classes * classes + 2 * classes);
    this.imageConfusion = new Float64Array(classes * classes);
    if (counts) this.addCounts(counts);
  }

  /** Images seen so far. */
  get images(): number {
    return this.state[0];
  }

  /**
   * Adds a batch and returns its per-image scores.
   *
   * @param predicted N x H x W predicted class indices
   * @param masks N x H x W true class indices; IGNORE_LABEL pixels are skipped
   * @param images N
   * @returns scores indexed [image][class]
   */
  add(predicted: Uint8Array, masks: Uint8Array, images = 1): ClassScores[][] {
    const pixels = pixelsPerImage('MulticlassMetricAccumulator', predicted.length, masks.length, images);
    const { classes, state, imageConfusion: confusion } = this;
    const confusionAt = 1;
    const diceSums = confusionAt + classes * classes;
    const iouSums = diceSums + classes;
    const perImage: ClassScores[][] = [];
    for (let image = 0; image < images; image++) {
      confusion.fill(0);
      const end = (image + 1) * pixels;
      for (let i = image * pixels; i < end; i++) {
        const truth = masks[i];
        const guess = predicted[i];
        if (truth === IGNORE_LABEL) continue;
        if (truth >= classes || guess >= classes) {
          const [what, value] = truth >= classes ? ['mask', truth] : ['prediction', guess];
          throw new RangeError(
            `MulticlassMetricAccumulator: ${what} value ${value} at image ${image}, pixel ${i - image * pixels} ` +
              `is not a class index below ${classes}`,
          );
        }
        confusion[truth * classes + guess]++;
      }
      const row = classScores(confusion, classes);
      row.forEach(({ dice, iou }, c) => {
        state[diceSums + c] += dice;
        state[iouSums + c] += iou;
      });
      for (let j = 0; j < confusion.length; j++) state[confusionAt + j] += confusion[j];
      perImage.push(row);
    }
    state[0] += images;
    return perImage;
  }

  /** Adds the exported `counts()` of another accumulator with the same class count. */
  addCounts(counts: Float64Array): void {
    if (counts.length !== this.state.length) {
      throw new RangeError(
        `MulticlassMetricAccumulator: counts of length ${counts.length} do not fit ${this.classes} classes ` +
          `(expected ${this.state.length})`,
      );
    }
    for (let i = 0; i < counts.length; i++) this.state[i] += counts[i];
  }

  /** A copy of the raw state: [images, confusion matrix truth x predicted, Dice sums, IoU sums]. */
  counts(): Float64Array {
    return this.state.slice();
  }

  /** Per-class, mean-over-foreground and pooled scores. */
  result(): MulticlassMetrics {
    const { classes, state, images } = this;
    const confusion = state.subarray(1, 1 + classes * classes);
    const diceSums = 1 + classes * classes;
    const perClass = Array.from({ length: classes }, (_, c) => ({
      dice: images > 0 ? state[diceSums + c] / images : NaN,
      iou: images > 0 ? state[diceSums + classes + c] / images : NaN,
    }));
    const pooledPerClass = classScores(confusion, classes);
    let correct = 0;
    let total = 0;
    for (let c = 0; c < classes; c++) correct += confusion[c * classes + c];
    for (const n of confusion) total += n;
    return {
      images,
      classes,
      perClass,
      pooledPerClass,
      meanForeground: meanOfForeground(perClass),
      pooledMeanForeground: meanOfForeground(pooledPerClass),
      accuracy: total > 0 ? correct / total : NaN,
    };
  }

  /** Forgets everything added. */
  reset(): void {
    this.state.fill(0);
  }
}

/**
 * Multi-class metrics of one image or a batch.
 *
 * @param predicted N x H x W predicted class indices
 * @param masks N x H x W true class indices
 * @returns accumulated scores and per-image scores indexed [image][class]
 */
export function multiclassMetrics(
  predicted: Uint8Array,
  masks: Uint8Array,
  { classes, images = 1 }: { classes: number; images?: number },
): MulticlassMetrics & { perImage: ClassScores[][] } {
  const accumulator = new MulticlassMetricAccumulator(classes);
  const perImage = accumulator.add(predicted, masks, images);
  return { ...accumulator.result(), perImage };
}

function classScores(confusion: Float64Array, classes: number): ClassScores[] {
  return Array.from({ length: classes }, (_, c) => {
    let truth = 0;
    let predicted = 0;
    for (let k = 0; k < classes; k++) {
      truth += confusion[c * classes + k];
      predicted += confusion[k * classes + c];
    }
    const tp = confusion[c * classes + c];
    return overlapFromCounts(tp, predicted - tp, truth - tp);
  });
}

function meanOfForeground(scores: ClassScores[]): ClassScores {
  const foreground = scores.slice(1);
  const mean = (key: keyof ClassScores) => foreground.reduce((sum, s) => sum + s[key], 0) / foreground.length;
  return { dice: mean('dice'), iou: mean('iou') };
}
