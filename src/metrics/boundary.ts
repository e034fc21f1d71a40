/**
 * Where the wrong pixels are: how far each misclassified pixel lies from the
 * nearest pixel of the other class in the true mask. On data such as EM
 * membranes most errors sit right at a labelled boundary (the annotator drew
 * the line a pixel further in or out); errors far from any boundary are
 * structures missed or invented. The two need different remedies, and the
 * first is bounded by how precisely the labels were drawn.
 */

/** Distances 1, 2, ... `bands - 1`, and `bands` standing for that many or more. */
export const BOUNDARY_BANDS = 5;

export interface BoundaryErrors {
  /** the probability threshold the prediction was cut at */
  threshold: number;
  /** misclassified pixels / all pixels */
  pixelError: number;
  /**
   * share of all pixels that are wrong at each chessboard distance from the
   * true boundary: [d = 1, d = 2, ..., d >= BOUNDARY_BANDS]; they sum to pixelError
   */
  byDistance: number[];
}

/**
 * Chessboard distance of every pixel to the nearest pixel where `inside(j)`
 * is false, capped at `cap` (two raster passes).
 */
export function distanceToOutside(inside: (j: number) => boolean, width: number, height: number, cap: number): Uint8Array {
  const d = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!inside(i)) continue;
      let v = cap;
      if (x > 0) v = Math.min(v, d[i - 1] + 1);
      if (y > 0) {
        v = Math.min(v, d[i - width] + 1);
        if (x > 0) v = Math.min(v, d[i - width - 1] + 1);
        if (x < width - 1) v = Math.min(v, d[i - width + 1] + 1);
      }
      d[i] = v;
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (d[i] === 0) continue;
      let v = d[i];
      if (x < width - 1) v = Math.min(v, d[i + 1] + 1);
      if (y < height - 1) {
        v = Math.min(v, d[i + width] + 1);
        if (x < width - 1) v = Math.min(v, d[i + width + 1] + 1);
        if (x > 0) v = Math.min(v, d[i + width - 1] + 1);
      }
      d[i] = v;
    }
  }
  return d;
}

/**
 * Sums misclassified pixels by their distance from the true boundary, over
 * images; ranks merge by an element-wise sum of `counts()`, as
 * BinaryMetricAccumulator.
 */
export class BoundaryErrorAccumulator {
  private readonly sums = new Float64Array(BOUNDARY_BANDS + 1); // [all pixels, d = 1, ..., d >= bands]

  /** @param counts a previous `counts()` (or a sum of several) to start from */
  constructor(
    readonly threshold = 0.5,
    counts?: Float64Array,
  ) {
    if (counts) this.sums.set(counts);
  }

  /**
   * Adds `n` images of `height` x `width`: foreground probabilities and 0/1 masks, image after image.
   * A mask of one class only has no boundary: its errors count at the farthest distance.
   */
  add(probabilities: Float32Array, masks: ArrayLike<number>, n: number, height: number, width: number): void {
    const plane = height * width;
    if (probabilities.length !== n * plane || masks.length !== n * plane) {
      throw new Error(`BoundaryErrorAccumulator: ${n} images of ${height}x${width} need ${n * plane} values, got ${probabilities.length} and ${masks.length}`);
    }
    const cap = BOUNDARY_BANDS;
    for (let k = 0; k < n; k++) {
      const at = k * plane;
      const foreground = (j: number) => masks[at + j] > 0;
      // for each pixel, the distance to the nearest pixel of the other true class
      const toBackground = distanceToOutside(foreground, width, height, cap);
      const toForeground = distanceToOutside((j) => !foreground(j), width, height, cap);
      for (let j = 0; j < plane; j++) {
        const truth = foreground(j);
        if (probabilities[at + j] >= this.threshold === truth) continue;
        const d = truth ? toBackground[j] : toForeground[j];
        this.sums[Math.min(cap, Math.max(1, d))]++;
      }
      this.sums[0] += plane;
    }
  }

  /** The counts, to sum across processes and pass back to the constructor. */
  counts(): Float64Array {
    return Float64Array.from(this.sums);
  }

  result(): BoundaryErrors {
    const all = Math.max(1, this.sums[0]);
    const byDistance = Array.from(this.sums.subarray(1), (c) => c / all);
    return { threshold: this.threshold, pixelError: byDistance.reduce((s, v) => s + v, 0), byDistance };
  }
}
