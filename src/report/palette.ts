/**
 * The colours patho draws masks in, one palette for the report, the viewer
 * (`patho serve`) and the browser page, chosen to stand out on H&E (pink
 * eosin, purple haematoxylin) and on grey EM alike: saturated, and no
 * magenta or purple, which the stains already are.
 *
 * This module imports nothing: the browser page loads it as it is.
 */

/** An RGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** A predicted mask shown alone (no ground truth to compare with): yellow. */
export const PREDICTION_COLOUR: Rgb = [255, 220, 0];
/** A ground-truth mask shown alone. */
export const TRUTH_COLOUR: Rgb = [0, 224, 96];
/** Truth and prediction compared: predicted and in the truth. */
export const AGREEMENT_COLOUR: Rgb = [0, 220, 0];
/** In the truth, not predicted. */
export const MISS_COLOUR: Rgb = [0, 200, 255];
/** Predicted, not in the truth. */
export const FALSE_ALARM_COLOUR: Rgb = [255, 128, 0];
/** Classes 1, 2, ... of a multi-class mask (repeating past the last). */
export const CLASS_COLOURS: readonly Rgb[] = [PREDICTION_COLOUR, [0, 200, 255], [0, 220, 90], [255, 90, 0]];

/** Labels of `compareMasks`, in the order of COMPARISON_COLOURS. */
export const AGREEMENT = 1;
export const MISS = 2;
export const FALSE_ALARM = 3;
/** The colour of comparison label k at index k - 1 (for `paintLabels`). */
export const COMPARISON_COLOURS: readonly Rgb[] = [AGREEMENT_COLOUR, MISS_COLOUR, FALSE_ALARM_COLOUR];

/**
 * Truth and prediction (any non-zero value is foreground) compared pixel by
 * pixel: AGREEMENT, MISS, FALSE_ALARM, or 0 where neither is set.
 */
export function compareMasks(truth: ArrayLike<number>, predicted: ArrayLike<number>): Uint8Array {
  if (truth.length !== predicted.length) throw new Error(`the truth has ${truth.length} pixels, the prediction ${predicted.length}`);
  const out = new Uint8Array(truth.length);
  for (let i = 0; i < out.length; i++) {
    if (truth[i]) out[i] = predicted[i] ? AGREEMENT : MISS;
    else if (predicted[i]) out[i] = FALSE_ALARM;
  }
  return out;
}

/**
 * Paints each pixel of label v > 0 opaque in colours[(v - 1) % colours.length]
 * into `rgba` (4 bytes a pixel); pixels of label 0 are left as they are.
 */
export function paintLabels(labels: ArrayLike<number>, colours: readonly Rgb[], rgba: Uint8Array | Uint8ClampedArray): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!v) continue;
    const [r, g, b] = colours[(v - 1) % colours.length];
    rgba[4 * i] = r;
    rgba[4 * i + 1] = g;
    rgba[4 * i + 2] = b;
    rgba[4 * i + 3] = 255;
  }
}

/** The colour as CSS. */
export function cssColour([r, g, b]: Rgb): string {
  return `rgb(${r}, ${g}, ${b})`;
}
