/**
 * Which object-level metrics a data set's masks call for: the GlaS metrics
 * when the foreground is separate objects on a wide background (glands in
 * stroma), the ISBI 2012 scores when the background is a thin network
 * between foreground regions (membranes between cells, the foreground
 * being the cell interiors).
 */
import { distanceToOutside } from './boundary.js';

/** The object metrics of src/metrics: 'glas' (objects.ts) or 'isbi' (rand.ts). */
export type ObjectMetricKind = 'glas' | 'isbi';

/** How far (chessboard pixels) a background pixel may lie from the foreground and still count as a wall. */
const WALL_WIDTH = 4;

/**
 * 'isbi' when most background pixels lie within a few pixels of the
 * foreground (a membrane network), else 'glas'. Measured on the data this
 * project ships and uses: ISBI 2012 membrane masks put 85-96% of their
 * background within 4 px of a cell, GlaS masks 1-28% within 4 px of a gland;
 * the cut is half. A mask without background or foreground gives 'glas'.
 */
export function objectMetricKind(mask: ArrayLike<number>, width: number, height: number): ObjectMetricKind {
  const background = (i: number) => mask[i] === 0;
  // for each background pixel, its chessboard distance to the nearest foreground pixel (capped)
  const toForeground = distanceToOutside(background, width, height, WALL_WIDTH + 1);
  let walls = 0;
  let all = 0;
  for (let i = 0; i < width * height; i++) {
    if (!background(i)) continue;
    all++;
    if (toForeground[i] <= WALL_WIDTH) walls++;
  }
  return all > 0 && all < width * height && walls / all > 0.5 ? 'isbi' : 'glas';
}
