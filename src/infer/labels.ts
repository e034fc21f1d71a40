/**
 * From probabilities to what is written and shown: labels and 8-bit
 * probabilities. Pure (no addon, no Node API): the browser page uses it too,
 * so a mask made there equals the one `patho predict` writes.
 */

/** Probability maps [classes, H, W] (CHW). */
export interface ProbabilityMap {
  width: number;
  height: number;
  classes: number;
  data: Float32Array;
}

/**
 * Per-pixel labels: for one class, 1 where p >= threshold; for several, the
 * most probable class.
 */
export function labelsFrom(map: ProbabilityMap, threshold: number): Uint8Array {
  const plane = map.width * map.height;
  const labels = new Uint8Array(plane);
  if (map.classes === 1) {
    for (let i = 0; i < plane; i++) labels[i] = map.data[i] >= threshold ? 1 : 0;
    return labels;
  }
  for (let i = 0; i < plane; i++) {
    let best = 0;
    for (let k = 1; k < map.classes; k++) if (map.data[k * plane + i] > map.data[best * plane + i]) best = k;
    labels[i] = best;
  }
  return labels;
}

/** The foreground probability (class 1 of several) scaled to 0..255. */
export function probabilityBytes(map: ProbabilityMap): Uint8Array {
  const plane = map.width * map.height;
  const offset = map.classes === 1 ? 0 : plane;
  const pixels = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, map.data[offset + i])) * 255);
  return pixels;
}
