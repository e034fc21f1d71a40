/**
 * Patches of a slide at a chosen resolution, with their masks: pixels are
 * read from the nearest level at least as fine as asked (never a coarser
 * one, which would lose detail) and area-averaged down to the requested
 * microns per pixel, not snapped to a level; the mask is rasterised from the
 * polygons at that same resolution, so image and mask line up exactly.
 */
import type { LabelMask, PlanarImage } from '../data/types.js';
import type { Annotation } from './annotations.js';
import { fillPolygon, overlapsWindow, type RasterWindow } from './rasterize.js';
import type { Slide, SlideLevel } from './slide.js';

/** The finest-to-coarsest level with the largest downsample not above `downsample` (the nearest finer level). */
export function nearestFinerLevel(levels: readonly SlideLevel[], downsample: number): number {
  let best = 0;
  // a level whose downsample matches up to OpenSlide's rounding counts as not coarser
  levels.forEach((l, i) => {
    if (l.downsample <= downsample * (1 + 1e-6) && l.downsample > levels[best].downsample) best = i;
  });
  return best;
}

/**
 * RGB of `window` (level-0 origin, output size, level-0 pixels per output
 * pixel) as planar float32 in [0, 1]. Outside the scanned area the addon
 * gives white, as glass.
 */
export function readWindow(slide: Slide, window: RasterWindow): PlanarImage {
  const level = nearestFinerLevel(slide.levels, window.scale);
  const ds = slide.levels[level].downsample;
  const factor = window.scale / ds;
  // the window in this level's pixels, and the whole pixels that cover it
  const lx = window.x / ds, ly = window.y / ds;
  const x0 = Math.floor(lx), y0 = Math.floor(ly);
  const w = Math.ceil(lx + window.width * factor) - x0;
  const h = Math.ceil(ly + window.height * factor) - y0;
  const rgba = slide.readRegion(level, x0, y0, w, h);
  const plane = window.width * window.height;
  if (factor === 1 && lx === x0 && ly === y0) return { width: window.width, height: window.height, channels: 3, data: planarRgb(rgba, plane) };
  const columns = areaWeights(lx - x0, factor, window.width);
  const rows = areaWeights(ly - y0, factor, window.height);
  const out = new Float32Array(3 * plane);
  const rowBuffer = new Float64Array(3 * window.width);
  for (let oy = 0; oy < window.height; oy++) {
    rowBuffer.fill(0);
    const { start: sy, weights: wy } = rows[oy];
    for (let k = 0; k < wy.length; k++) {
      const line = (sy + k) * w;
      for (let ox = 0; ox < window.width; ox++) {
        const { start: sx, weights: wx } = columns[ox];
        let r = 0, g = 0, b = 0;
        for (let m = 0; m < wx.length; m++) {
          const i = (line + sx + m) * 4;
          r += wx[m] * rgba[i];
          g += wx[m] * rgba[i + 1];
          b += wx[m] * rgba[i + 2];
        }
        rowBuffer[ox * 3] += wy[k] * r;
        rowBuffer[ox * 3 + 1] += wy[k] * g;
        rowBuffer[ox * 3 + 2] += wy[k] * b;
      }
    }
    for (let ox = 0; ox < window.width; ox++) {
      for (let c = 0; c < 3; c++) out[c * plane + oy * window.width + ox] = rowBuffer[ox * 3 + c] / 255;
    }
  }
  return { width: window.width, height: window.height, channels: 3, data: out };
}

/** Whole pixels at the level's own resolution: RGBA bytes to planar RGB in [0, 1]. */
function planarRgb(rgba: Uint8Array, plane: number): Float32Array {
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = rgba[i * 4 + c] / 255;
  return out;
}

/**
 * For each of `count` output pixels, the input pixels it overlaps and their
 * shares: output pixel i covers input [offset + i * factor, offset + (i + 1) * factor).
 */
function areaWeights(offset: number, factor: number, count: number): { start: number; weights: number[] }[] {
  return Array.from({ length: count }, (_, i) => {
    const a = offset + i * factor;
    const b = a + factor;
    const start = Math.floor(a);
    const weights: number[] = [];
    for (let k = start; k < b; k++) weights.push((Math.min(b, k + 1) - Math.max(a, k)) / factor);
    return { start, weights };
  });
}

/**
 * The label mask of `window`: `unlabelled` everywhere, then each region
 * painted in the order given (see classes.ts paintOrder).
 */
export function rasterizeWindow(window: RasterWindow, painted: readonly { annotation: Annotation; label: number }[], unlabelled: number): LabelMask {
  const data = new Uint8Array(window.width * window.height).fill(unlabelled);
  for (const { annotation, label } of painted) {
    if (!overlapsWindow(annotation.bbox, window)) continue;
    for (const rings of annotation.polygons) fillPolygon(data, window, rings, label);
  }
  return { width: window.width, height: window.height, data };
}

/** The window of `width` x `height` output pixels of `scale` level-0 pixels centred on level-0 (cx, cy). */
export function centredWindow(cx: number, cy: number, width: number, height: number, scale: number): RasterWindow {
  return { x: cx - (width * scale) / 2, y: cy - (height * scale) / 2, width, height, scale };
}
