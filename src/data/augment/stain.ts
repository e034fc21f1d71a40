/**
 * H&E stain jitter by colour deconvolution (Ruifrok & Johnston, Anal. Quant.
 * Cytol. Histol. 2001): RGB -> optical density -> haematoxylin, eosin and DAB
 * concentrations, per-stain scale and shift, and back.
 */
import type { PlanarImage } from '../types.js';

/** Unit optical-density vectors of haematoxylin, eosin and DAB (rows), as published by Ruifrok and Johnston. */
const RGB_FROM_HED = normalizeRows([
  [0.65, 0.7, 0.29],
  [0.07, 0.99, 0.11],
  [0.27, 0.57, 0.78],
]);
const HED_FROM_RGB = invert3(RGB_FROM_HED);

/** Intensities are clamped here before the logarithm; scikit-image's rgb2hed uses the same floor and scaling. */
const FLOOR = 1e-6;
const LOG_FLOOR = Math.log(FLOOR);

/**
 * Scales the concentration of stain s by `scale[s]` and shifts it by
 * `shift[s]` (in rgb2hed units) for s = H, E, DAB. The whole round trip is
 * linear in log space, so it folds into one 3x3 matrix and an offset per
 * pixel: three logarithms and three exponentials. Scale 1 and shift 0 give
 * back the image within float rounding (intensities under 1e-6 become 1e-6).
 */
export function stainJitter(image: PlanarImage, scale: readonly number[], shift: readonly number[]): void {
  if (image.channels !== 3) throw new Error(`stain jitter needs an RGB image, got ${image.channels} channel(s)`);
  // with od = ln(I) / LOG_FLOOR (a row vector): stains = od * HED_FROM_RGB,
  // stains' = stains * diag(scale) + shift, od' = stains' * RGB_FROM_HED
  const m = new Float64Array(9);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += HED_FROM_RGB[r][k] * scale[k] * RGB_FROM_HED[k][c];
      m[r * 3 + c] = s;
    }
  }
  const offset = [0, 1, 2].map((c) => LOG_FLOOR * (shift[0] * RGB_FROM_HED[0][c] + shift[1] * RGB_FROM_HED[1][c] + shift[2] * RGB_FROM_HED[2][c]));
  const n = image.width * image.height;
  const d = image.data;
  for (let i = 0; i < n; i++) {
    // natural logs throughout: the 1 / LOG_FLOOR scaling cancels in the linear part
    const lr = Math.log(Math.max(d[i], FLOOR));
    const lg = Math.log(Math.max(d[n + i], FLOOR));
    const lb = Math.log(Math.max(d[2 * n + i], FLOOR));
    const r = Math.exp(lr * m[0] + lg * m[3] + lb * m[6] + offset[0]);
    const g = Math.exp(lr * m[1] + lg * m[4] + lb * m[7] + offset[1]);
    const b = Math.exp(lr * m[2] + lg * m[5] + lb * m[8] + offset[2]);
    d[i] = r > 1 ? 1 : r;
    d[n + i] = g > 1 ? 1 : g;
    d[2 * n + i] = b > 1 ? 1 : b;
  }
}

function normalizeRows(rows: number[][]): number[][] {
  return rows.map((row) => {
    const norm = Math.hypot(...row);
    return row.map((v) => v / norm);
  });
}

function invert3(a: number[][]): number[][] {
  const [[a0, a1, a2], [b0, b1, b2], [c0, c1, c2]] = a;
  const det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0);
  return [
    [(b1 * c2 - b2 * c1) / det, (a2 * c1 - a1 * c2) / det, (a1 * b2 - a2 * b1) / det],
    [(b2 * c0 - b0 * c2) / det, (a0 * c2 - a2 * c0) / det, (a2 * b0 - a0 * b2) / det],
    [(b0 * c1 - b1 * c0) / det, (a1 * c0 - a0 * c1) / det, (a0 * b1 - a1 * b0) / det],
  ];
}
