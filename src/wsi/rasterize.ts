/**
 * Polygons to label masks, one patch at a time: a pixel belongs to a polygon
 * when its centre does (even-odd rule over the outer ring and its holes), so
 * a mask traced along pixel edges (contours.ts) rasterises back to itself
 * exactly, at any resolution the polygon is sampled at. Pure: no addon.
 */
import type { Ring } from './contours.js';

/**
 * Which pixels a mask covers: `width` x `height` pixels of `scale` level-0
 * pixels each, the top-left one starting at level-0 (x, y).
 */
export interface RasterWindow {
  x: number;
  y: number;
  width: number;
  height: number;
  scale: number;
}

/**
 * Sets to `value` every pixel of `mask` (width x height of `window`, row-major)
 * whose centre lies inside the polygon [outer, ...holes]. Edges are
 * half-open in y and spans half-open in x, so a pixel centre on the shared
 * edge of two touching polygons goes to exactly one of them.
 * Cost: the polygon's edges plus the pixels it covers in the window.
 */
export function fillPolygon(mask: Uint8Array, window: RasterWindow, rings: readonly Ring[], value: number): void {
  const { x: wx, y: wy, width, height, scale } = window;
  const crossings: number[][] = Array.from({ length: height }, () => []);
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [ax, ay] = ring[i];
      const [bx, by] = ring[i + 1];
      if (ay === by) continue;
      // rows j whose centre y = wy + (j + 0.5) * scale lies in [min(ay, by), max(ay, by))
      const first = Math.max(0, Math.ceil((Math.min(ay, by) - wy) / scale - 0.5));
      const last = Math.min(height, Math.ceil((Math.max(ay, by) - wy) / scale - 0.5));
      for (let j = first; j < last; j++) {
        const yc = wy + (j + 0.5) * scale;
        crossings[j].push(ax + ((yc - ay) * (bx - ax)) / (by - ay));
      }
    }
  }
  for (let j = 0; j < height; j++) {
    const xs = crossings[j];
    if (xs.length < 2) continue;
    xs.sort((a, b) => a - b);
    const row = j * width;
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // columns i whose centre x lies in [xs[k], xs[k + 1])
      const from = Math.max(0, Math.ceil((xs[k] - wx) / scale - 0.5));
      const to = Math.min(width, Math.ceil((xs[k + 1] - wx) / scale - 0.5));
      if (to > from) mask.fill(value, row + from, row + to);
    }
  }
}

/** Whether the bounding box [minX, minY, maxX, maxY] (level-0) touches the window. */
export function overlapsWindow(bbox: readonly [number, number, number, number], window: RasterWindow): boolean {
  return (
    bbox[2] >= window.x && bbox[0] <= window.x + window.width * window.scale && bbox[3] >= window.y && bbox[1] <= window.y + window.height * window.scale
  );
}

/** Whether level-0 point (x, y) lies inside the polygon [outer, ...holes] (even-odd, the rule fillPolygon uses). */
export function containsPoint(rings: readonly Ring[], x: number, y: number): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [ax, ay] = ring[i];
      const [bx, by] = ring[i + 1];
      if (ay <= y !== by <= y && x >= ax + ((y - ay) * (bx - ax)) / (by - ay)) inside = !inside;
    }
  }
  return inside;
}
