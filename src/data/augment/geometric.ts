/**
 * Geometric transforms, applied identically to image and mask. Flips and
 * 90-degree rotations move whole pixels; rotation, scaling and elastic
 * deformation are merged into one resampling (bilinear for the image,
 * nearest for the mask so it keeps its class values), with mirrored borders.
 */
import { reflect } from '../patch.js';
import type { Rng } from '../rng.js';
import type { LabelMask, PlanarImage } from '../types.js';

/** An image and its mask, transformed together. */
export interface Pair {
  image: PlanarImage;
  mask: LabelMask;
}

/** Mirror left-right. */
export function flipHorizontal(pair: Pair): Pair {
  const { width: w, height: h } = pair.mask;
  return permute(pair, w, h, (x, y) => y * w + (w - 1 - x));
}

/** Mirror top-bottom. */
export function flipVertical(pair: Pair): Pair {
  const { width: w, height: h } = pair.mask;
  return permute(pair, w, h, (x, y) => (h - 1 - y) * w + x);
}

/** Rotate counter-clockwise by k * 90 degrees (as numpy.rot90); odd k swaps width and height. */
export function rotate90(pair: Pair, k: number): Pair {
  const { width: w, height: h } = pair.mask;
  switch (((k % 4) + 4) % 4) {
    case 1:
      return permute(pair, h, w, (x, y) => x * w + (w - 1 - y));
    case 2:
      return permute(pair, w, h, (x, y) => (h - 1 - y) * w + (w - 1 - x));
    case 3:
      return permute(pair, h, w, (x, y) => (h - 1 - x) * w + y);
    default:
      return pair;
  }
}

/** Builds an output of outW x outH whose pixel (x, y) is source pixel source(x, y). */
function permute(pair: Pair, outW: number, outH: number, source: (x: number, y: number) => number): Pair {
  const n = outW * outH;
  const index = new Int32Array(n);
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) index[y * outW + x] = source(x, y);
  const { image, mask } = pair;
  const data = new Float32Array(image.data.length);
  for (let c = 0; c < image.channels; c++) {
    const src = image.data.subarray(c * n, (c + 1) * n);
    const dst = data.subarray(c * n, (c + 1) * n);
    for (let i = 0; i < n; i++) dst[i] = src[index[i]];
  }
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = mask.data[index[i]];
  return {
    image: { width: outW, height: outH, channels: image.channels, data },
    mask: { width: outW, height: outH, data: labels },
  };
}

/** Parameters of one resampling: rotation and zoom about the centre, then elastic displacement. */
export interface WarpParams {
  /** Counter-clockwise, radians. */
  angle: number;
  /** Zoom factor (> 1 enlarges the content). */
  scale: number;
  /** Coarse displacement lattice (grid x grid, x then y), pixels; null for none. */
  elastic: { grid: number; dx: Float64Array; dy: Float64Array } | null;
}

/** Draws an elastic lattice: grid x grid displacements from N(0, sigma^2) pixels. */
export function drawElastic(rng: Rng, grid: number, sigma: number): NonNullable<WarpParams['elastic']> {
  if (!(grid >= 2)) throw new Error(`elastic grid must be at least 2, got ${grid}`);
  const dx = new Float64Array(grid * grid);
  const dy = new Float64Array(grid * grid);
  for (let i = 0; i < dx.length; i++) {
    dx[i] = rng.normal() * sigma;
    dy[i] = rng.normal() * sigma;
  }
  return { grid, dx, dy };
}

/**
 * Resamples image and mask: output pixel p takes the source at
 * A^-1 (p + d(p) - centre) + centre, where d is the elastic displacement and A
 * the rotation-zoom. With no rotation, zoom 1 and zero displacements every
 * source is an integer position and the result equals the input exactly.
 */
export function warp(pair: Pair, params: WarpParams): Pair {
  const { image, mask } = pair;
  const w = mask.width;
  const h = mask.height;
  const n = w * h;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const cos = Math.cos(params.angle) / params.scale;
  const sin = Math.sin(params.angle) / params.scale;
  const field = params.elastic ? displacementField(params.elastic, w, h) : null;
  const channels = image.channels;
  const out = new Float32Array(image.data.length);
  const labels = new Uint8Array(n);
  const src = image.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * w + x;
      let px = x - cx;
      let py = y - cy;
      if (field) {
        px += field.dx[o];
        py += field.dy[o];
      }
      // inverse rotation-zoom: the source of output p
      const sx = cos * px + sin * py + cx;
      const sy = -sin * px + cos * py + cy;
      labels[o] = mask.data[reflect(Math.round(sy), h) * w + reflect(Math.round(sx), w)];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const xa = x0 >= 0 && x0 < w ? x0 : reflect(x0, w);
      const xb = x0 + 1 >= 0 && x0 + 1 < w ? x0 + 1 : reflect(x0 + 1, w);
      const ra = (y0 >= 0 && y0 < h ? y0 : reflect(y0, h)) * w;
      const rb = (y0 + 1 >= 0 && y0 + 1 < h ? y0 + 1 : reflect(y0 + 1, h)) * w;
      const w00 = (1 - fx) * (1 - fy);
      const w01 = fx * (1 - fy);
      const w10 = (1 - fx) * fy;
      const w11 = fx * fy;
      for (let c = 0; c < channels; c++) {
        const base = c * n;
        out[base + o] = w00 * src[base + ra + xa] + w01 * src[base + ra + xb] + w10 * src[base + rb + xa] + w11 * src[base + rb + xb];
      }
    }
  }
  return {
    image: { width: w, height: h, channels, data: out },
    mask: { width: w, height: h, data: labels },
  };
}

/** Per-pixel displacements interpolated from the lattice with Catmull-Rom cubics (separable). */
function displacementField(lattice: NonNullable<WarpParams['elastic']>, w: number, h: number): { dx: Float32Array; dy: Float32Array } {
  const g = lattice.grid;
  const wx = cubicWeights(w, g);
  const wy = cubicWeights(h, g);
  const dx = new Float32Array(w * h);
  const dy = new Float32Array(w * h);
  const rowX = new Float64Array(g);
  const rowY = new Float64Array(g);
  for (let y = 0; y < h; y++) {
    // the lattice interpolated along y first, leaving one value per lattice column
    for (let i = 0; i < g; i++) {
      let sx = 0;
      let sy = 0;
      for (let j = 0; j < g; j++) {
        const k = wy[y * g + j];
        sx += k * lattice.dx[j * g + i];
        sy += k * lattice.dy[j * g + i];
      }
      rowX[i] = sx;
      rowY[i] = sy;
    }
    for (let x = 0; x < w; x++) {
      let sx = 0;
      let sy = 0;
      for (let i = 0; i < g; i++) {
        const k = wx[x * g + i];
        sx += k * rowX[i];
        sy += k * rowY[i];
      }
      dx[y * w + x] = sx;
      dy[y * w + x] = sy;
    }
  }
  return { dx, dy };
}

/**
 * For each of `size` pixels, the weights of the `g` lattice points spread
 * evenly from the first to the last pixel (Catmull-Rom, end points repeated).
 */
function cubicWeights(size: number, g: number): Float64Array {
  const weights = new Float64Array(size * g);
  const step = size > 1 ? (g - 1) / (size - 1) : 0;
  for (let p = 0; p < size; p++) {
    const u = p * step;
    const i = Math.min(Math.floor(u), g - 2);
    const t = u - i;
    const t2 = t * t;
    const t3 = t2 * t;
    const k = [(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2];
    for (let m = 0; m < 4; m++) {
      const j = Math.min(Math.max(i - 1 + m, 0), g - 1);
      weights[p * g + j] += k[m];
    }
  }
  return weights;
}
