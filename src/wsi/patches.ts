/**
 * Patches of a slide at a chosen resolution, with their masks: pixels are
 * read from the nearest level at least as fine as asked (never a coarser
 * one, which would lose detail) and area-averaged down to the requested
 * microns per pixel, not snapped to a level; the mask is rasterised from the
 * polygons at that same resolution, so image and mask line up exactly.
 * Prediction at an mpp reads its tiles through the same `readWindow`
 * (`SlideGrid`, `gridSource`), so a model sees the pixels it was trained on.
 */
import { normalizeInPlace, type ChannelStats } from '../data/normalize.js';
import type { LabelMask, PlanarImage } from '../data/types.js';
import type { TileSource } from '../infer/tiling.js';
import type { Annotation } from './annotations.js';
import { SlideError } from './errors.js';
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

/**
 * The pixels a slide is predicted on: a pyramid level as stored, or (`resampled`)
 * a grid of `scale` level-0 pixels per pixel whose every pixel is the area
 * average `readWindow` computes from `level`, the nearest finer level.
 * Plain JSON, for the tile readers' worker threads.
 */
export interface SlideGrid {
  /** the level whose pixels are read */
  level: number;
  /** level-0 pixels per grid pixel */
  scale: number;
  width: number;
  height: number;
  resampled: boolean;
}

/** How much finer than level 0 an mpp may be (its pixels interpolated): a scanner's nominal resolution is off by a few percent, not by this. */
const MAX_INTERPOLATION = 2;

/**
 * The grid of a pyramid level (level 0 by default) or, with `mpp`, of that
 * many microns per pixel, as training's `SlideDataset` computes it (the
 * geometric mean of the slide's x and y mpp). An mpp finer than level 0 is
 * allowed with a warning rather than refused: a checkpoint's mpp applies by
 * default, and scanners' nominal resolutions differ by a few percent (a
 * "40x" scan records 0.23 to 0.27 um/px), so refusing would stop a model
 * trained at 0.25 um/px on a large share of slides; the pixels are then
 * interpolated (by the same area weights), which adds no detail. More than
 * MAX_INTERPOLATION times finer is refused.
 * @throws SlideError for a level that does not exist, an mpp on a slide that does not record it, or one more than MAX_INTERPOLATION times finer than level 0's (0 included)
 */
export function slideGrid(slide: Slide, choice: { level?: number; mpp?: number }, warn: (message: string) => void): SlideGrid {
  if (choice.level !== undefined && choice.mpp !== undefined) throw new Error(`${slide.path}: choose a level or an mpp, not both`);
  if (choice.mpp === undefined) {
    const level = slide.selectLevel(choice.level ?? 0);
    const { width, height, downsample } = slide.levels[level];
    return { level, scale: downsample, width, height, resampled: false };
  }
  const mpp = slide.mpp;
  if (!mpp) throw new SlideError(slide.path, `${slide.path}: the slide does not record its microns per pixel; choose a level with --level`);
  const mpp0 = Math.sqrt(mpp.x * mpp.y);
  const scale = choice.mpp / mpp0;
  // past a factor of 2 it is no scanner's rounding but a mistake, and the grid (scale^-2 times level 0) may not fit in memory
  if (!(scale >= 1 / MAX_INTERPOLATION)) {
    throw new SlideError(
      slide.path,
      `${slide.path}: ${choice.mpp} um/px is more than ${MAX_INTERPOLATION}x finer than the slide's level 0 (${mpp0.toFixed(4)} um/px); ` +
        `predict at ${(mpp0 / MAX_INTERPOLATION).toFixed(4)} um/px or coarser, or choose a level with --level`,
    );
  }
  if (scale < 1 - 1e-6) {
    warn(
      `${slide.path}: ${choice.mpp} um/px is finer than the slide's level 0 (${mpp0.toFixed(4)} um/px); ` +
        `its pixels are interpolated ${(1 / scale).toFixed(3)}x, which adds no detail`,
    );
  }
  const { width, height } = slide.levels[0];
  return { level: nearestFinerLevel(slide.levels, scale), scale, width: Math.max(1, Math.round(width / scale)), height: Math.max(1, Math.round(height / scale)), resampled: true };
}

/**
 * A tile source over a region of `grid` (in its pixels), normalised with the
 * training statistics: a level's pixels as stored, or every read a
 * `readWindow` normalised as a training batch is (`normalizeInPlace`).
 */
export function gridSource(slide: Slide, grid: SlideGrid, stats: ChannelStats | null, region: { x: number; y: number; width: number; height: number }): TileSource {
  if (!grid.resampled) return slide.source(grid.level, stats, region);
  if (stats && stats.mean.length !== 3) throw new SlideError(slide.path, `${slide.path}: slides are RGB, but the model was trained on ${stats.mean.length}-channel images`);
  const { scale } = grid;
  return {
    width: region.width,
    height: region.height,
    channels: 3,
    read: (x, y, w, h) => {
      const { data } = readWindow(slide, { x: (region.x + x) * scale, y: (region.y + y) * scale, width: w, height: h, scale });
      if (stats) normalizeInPlace(data, 3, stats);
      return data;
    },
  };
}
