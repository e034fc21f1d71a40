/**
 * Streaming sliding-window blending, independent of the engine that runs the
 * network: libtorch and ONNX Runtime (tiled.ts), ONNX Runtime in the browser
 * (src/web/). Tiles
 * are visited one row of tiles (a band) at a time; predictions are blended
 * into a buffer only one tile high, and every row that no later tile touches
 * is handed to `onRows` and dropped. Memory is therefore the tile batch plus
 * `classes x tile x width` floats, whatever the image height (and 8 bytes a
 * row for the blending weights): a whole slide streams through it.
 * `blendTiles` returns the high-water mark of the buffers it holds, so tests
 * check that bound instead of the process's resident memory, which allocator
 * and GC timing make noisy.
 *
 * Every tile is decided first (`planTiles`: bands, skipped tiles, batches),
 * so a reader can fetch the tiles of later batches while the engine computes
 * (tiled.ts's `predictPipelined`); `TileBlender` takes the batches'
 * probabilities in plan order. The generator `blendTiles` drives both for an
 * engine that reads as it goes: each step yields a batch of tiles to predict
 * and takes back their probabilities, so a synchronous engine and an
 * asynchronous one (a browser session's `run` returns a promise) share every
 * line of the tiling and blending. Pure: no addon, no Node API, so the
 * browser loads the compiled file as it is.
 */
import { reflect } from '../data/patch.js';

/** An image read region by region, with the values the network expects. */
export interface TileSource {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Planar pixels [channels, h, w] of a region that lies inside the image. */
  read(x: number, y: number, w: number, h: number): Float32Array;
}

/**
 * The tiling defaults, in one place: `patho predict`'s option table, the
 * slide predictor and the browser page (src/web/model.ts) read them here, so
 * the page tiles exactly as the command does.
 */
export const TILING_DEFAULTS = { tile: 512, overlap: 0.25, blend: 'gaussian' } as const;

/** How an image is cut into tiles and blended back, whatever the engine. */
export interface TilingOptions {
  /** Tile edge in pixels; smaller images are padded by reflection up to it. Default 512. */
  tile?: number;
  /** Fraction of a tile shared with its neighbour. Default 0.25. */
  overlap?: number;
  /** Tiles per forward pass. Default 4. */
  batchSize?: number;
  /** 'gaussian' (default), 'cosine' or 'constant' blending weights. */
  blend?: 'gaussian' | 'cosine' | 'constant';
  /** Called after each batch (and skipped tile) with (tiles done, tiles in all). */
  onProgress?: (done: number, total: number) => void;
}

/** What `blendTiles` needs besides the geometry. */
export interface BlendOptions extends TilingOptions {
  /**
   * True for a tile not worth running (background). A skipped tile predicts
   * background: probability 0 for one class, class 0 for several.
   */
  skipTile?: (x: number, y: number, w: number, h: number) => boolean;
  /**
   * Receives finished rows top to bottom: probabilities [classes, rows, width]
   * of image rows y0 .. y0 + rows - 1. The array is reused for the next band:
   * copy what you keep.
   */
  onRows: (y0: number, rows: number, probabilities: Float32Array) => void;
}

/** What a tiled pass held. */
export interface TiledStats {
  /** The most bytes of pixel and probability buffers held at once (the band, the batch in and out, the weights). */
  peakBufferBytes: number;
}

/** A batch of tiles for the engine: planar input NCHW, each tile `tile` x `tile`, reflected where the image ends. */
export interface TileBatch {
  input: Float32Array;
  shape: [number, number, number, number];
}

/**
 * Start offsets of tiles of `tile` pixels covering [0, size), at most `step`
 * apart and spread evenly, as nnU-Net does: a last tile pushed flush against
 * the end would otherwise overlap its neighbour almost entirely, and the
 * blending would then mix two tile edges.
 */
export function tileStarts(size: number, tile: number, step: number): number[] {
  if (size <= tile) return [0];
  const gaps = Math.ceil((size - tile) / step);
  return Array.from({ length: gaps + 1 }, (_, i) => Math.round((i * (size - tile)) / gaps));
}

/** The blending weight along one axis of a tile of n pixels. */
export function axisWeights(n: number, kind: TilingOptions['blend'] = TILING_DEFAULTS.blend): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (i + 0.5) / n; // (0, 1)
    if (kind === 'constant') out[i] = 1;
    else if (kind === 'cosine') out[i] = Math.sin(Math.PI * x) ** 2;
    else out[i] = Math.exp(-((x - 0.5) ** 2) / (2 * 0.125 ** 2)); // sigma = tile / 8, as nnU-Net
    out[i] = Math.max(out[i], 1e-3); // edges of the image are covered by one tile only
  }
  return out;
}

/** The blending weight of a tile, h x w, row-major: the product of the axis weights. */
export function blendWeights(h: number, w: number, kind: TilingOptions['blend'] = TILING_DEFAULTS.blend): Float32Array {
  const rows = axisWeights(h, kind);
  const cols = axisWeights(w, kind);
  const weights = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) weights[y * w + x] = rows[y] * cols[x];
  return weights;
}

/** The number of tiles `blendTiles` visits for an image of this size. */
export function tileCount(width: number, height: number, options: Pick<TilingOptions, 'tile' | 'overlap'> = {}): number {
  const { tile, step } = geometry(options);
  return tileStarts(width, tile, step).length * tileStarts(height, tile, step).length;
}

function geometry(options: Pick<TilingOptions, 'tile' | 'overlap'>): { tile: number; step: number } {
  const tile = options.tile ?? TILING_DEFAULTS.tile;
  const overlap = options.overlap ?? TILING_DEFAULTS.overlap;
  if (!(Number.isInteger(tile) && tile >= 1)) throw new Error(`tile must be a positive integer, got ${tile}`);
  if (!(overlap >= 0 && overlap < 1)) throw new Error(`overlap must be in [0, 1), got ${overlap}`);
  return { tile, step: Math.max(1, Math.round(tile * (1 - overlap))) };
}

/** Sum over the tiles covering each position of their axis weight: tiles form a grid, so the weight sum is separable. */
function coverage(size: number, starts: number[], weights: Float32Array): Float64Array {
  const sum = new Float64Array(size);
  for (const s of starts) for (let i = 0; i < weights.length && s + i < size; i++) sum[s + i] += weights[i];
  return sum;
}

/** A tile of the image: its top-left corner and its size, smaller than the tile where the image ends. */
export interface TileRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One row of tiles: the tiles skipped as background and the batches to predict, left to right. */
export interface TileBand {
  top: number;
  /** rows of the band's tiles: the tile, or less at the bottom of the image */
  rows: number;
  skipped: TileRect[];
  batches: TileRect[][];
}

/** Every tile of an image, decided before the first is read, so an engine can read ahead of the one it computes. */
export interface TilePlan {
  width: number;
  height: number;
  tile: number;
  /** left edges of the tiles of every band */
  xs: number[];
  bands: TileBand[];
  /** The batches of all bands, in the order they are predicted and blended. */
  batches: TileRect[][];
  total: number;
}

/** The tiles of a `width` x `height` image, top to bottom, batched within each band; `skipTile` is asked once per tile. */
export function planTiles(width: number, height: number, options: Omit<BlendOptions, 'onRows'> = {}): TilePlan {
  const { tile, step } = geometry(options);
  if (width < 1 || height < 1) throw new Error(`cannot predict an empty ${width}x${height} image`);
  const batchSize = Math.max(1, options.batchSize ?? 4);
  const xs = tileStarts(width, tile, step);
  const bands = tileStarts(height, tile, step).map((top): TileBand => {
    const rows = Math.min(tile, height - top);
    const skipped: TileRect[] = [];
    const run: TileRect[] = [];
    for (const x of xs) {
      const rect = { x, y: top, width: Math.min(tile, width - x), height: rows };
      (options.skipTile?.(x, top, rect.width, rows) ? skipped : run).push(rect);
    }
    const batches: TileRect[][] = [];
    for (let b = 0; b < run.length; b += batchSize) batches.push(run.slice(b, b + batchSize));
    return { top, rows, skipped, batches };
  });
  return { width, height, tile, xs, bands, batches: bands.flatMap((b) => b.batches), total: xs.length * bands.length };
}

/** The planar input NCHW of a batch of tiles, each `tile` x `tile`, reflected where the image ends. */
export function readTiles(source: TileSource, tiles: readonly TileRect[], tile: number): TileBatch & { largestRead: number } {
  const { channels } = source;
  const input = new Float32Array(tiles.length * channels * tile * tile);
  let largestRead = 0;
  tiles.forEach((t, i) => {
    const pixels = source.read(t.x, t.y, t.width, t.height);
    largestRead = Math.max(largestRead, pixels.byteLength);
    mirrorInto(input, i * channels * tile * tile, pixels, channels, t.width, t.height, tile);
  });
  return { input, shape: [tiles.length, channels, tile, tile], largestRead };
}

/**
 * Blends the predictions of a plan's batches, given in plan order, into the
 * band buffer, and hands every finished band to `options.onRows` (a band
 * without batches, all background, as soon as the batches before it are in).
 */
export class TileBlender {
  private readonly weights: Float32Array;
  private readonly rowSum: Float64Array;
  private readonly colSum: Float64Array;
  private readonly band: Float32Array;
  private readonly out: Float32Array;
  private readonly bandPlane: number;
  /** the band being filled, and how many of its batches are in */
  private bandIndex = 0;
  private batchesIn = 0;
  private done = 0;
  /** bytes held whatever the batch: the band, the finished rows, the weights */
  readonly heldAlways: number;

  constructor(
    private readonly plan: TilePlan,
    private readonly classes: number,
    private readonly options: BlendOptions,
  ) {
    const { width, height, tile } = plan;
    this.weights = axisWeights(tile, options.blend);
    this.rowSum = coverage(height, plan.bands.map((b) => b.top), this.weights);
    this.colSum = coverage(width, plan.xs, this.weights);
    this.bandPlane = Math.min(tile, height) * width;
    this.band = new Float32Array(classes * this.bandPlane);
    this.out = new Float32Array(classes * this.bandPlane);
    this.heldAlways = this.band.byteLength + this.out.byteLength + this.weights.byteLength + this.rowSum.byteLength + this.colSum.byteLength;
    this.startBand();
    this.finishBands();
  }

  /** True once every band went to `onRows`. */
  get finished(): boolean {
    return this.bandIndex === this.plan.bands.length;
  }

  /** Blends the probabilities NCHW of the next batch of the plan. */
  add(probs: Float32Array): void {
    const { tile } = this.plan;
    const { classes, band, bandPlane, weights } = this;
    const current = this.plan.bands[this.bandIndex];
    const batch = current?.batches[this.batchesIn];
    if (!batch) throw new Error('the tiling received more batches than it planned');
    if (probs?.length !== batch.length * classes * tile * tile) {
      throw new Error(`the engine returned ${probs?.length ?? 'nothing'} values for ${batch.length} tiles of ${classes} x ${tile} x ${tile}`);
    }
    const width = this.plan.width;
    batch.forEach((t, i) => {
      for (let k = 0; k < classes; k++) {
        const from = (i * classes + k) * tile * tile;
        for (let y = 0; y < t.height; y++) {
          const wy = weights[y];
          const at = k * bandPlane + y * width + t.x;
          const src = from + y * tile;
          for (let x = 0; x < t.width; x++) band[at + x] += wy * weights[x] * probs[src + x];
        }
      }
    });
    this.done += batch.length;
    this.options.onProgress?.(this.done, this.plan.total);
    this.batchesIn++;
    this.finishBands();
  }

  /** The background votes of the current band's skipped tiles. */
  private startBand(): void {
    for (const t of this.plan.bands[this.bandIndex]?.skipped ?? []) {
      if (this.classes > 1) addBackground(this.band, this.plan.width, t.x, t.width, t.height, this.weights);
      this.options.onProgress?.(++this.done, this.plan.total);
    }
  }

  /** Hands on every band whose batches are all in, starting the next. */
  private finishBands(): void {
    for (;;) {
      const current = this.plan.bands[this.bandIndex];
      if (!current || this.batchesIn < current.batches.length) return;
      this.flush(current, this.plan.bands[this.bandIndex + 1]);
      this.bandIndex++;
      this.batchesIn = 0;
      this.startBand();
    }
  }

  /** Rows above the next band's top are final: normalised, handed on, and shifted out of the band buffer. */
  private flush(current: TileBand, next: TileBand | undefined): void {
    const { width, height } = this.plan;
    const { band, out, bandPlane, rowSum, colSum } = this;
    const top = current.top;
    const finished = (next ? next.top : height) - top;
    const outPlane = finished * width;
    for (let k = 0; k < this.classes; k++) {
      for (let y = 0; y < finished; y++) {
        const inv = 1 / rowSum[top + y];
        const at = k * bandPlane + y * width;
        const to = k * outPlane + y * width;
        for (let x = 0; x < width; x++) out[to + x] = band[at + x] * inv / colSum[x];
      }
      band.copyWithin(k * bandPlane, k * bandPlane + outPlane, (k + 1) * bandPlane);
      band.fill(0, (k + 1) * bandPlane - outPlane, (k + 1) * bandPlane);
    }
    this.options.onRows(top, finished, out.subarray(0, this.classes * outPlane));
  }
}

/**
 * Cuts `source` into batches of tiles, yields each for the engine to predict
 * (the engine passes the probabilities NCHW back into `next`), and streams the
 * blended probabilities of `classes` classes to `options.onRows`. Away from
 * the blending near tile edges the result equals a whole-image pass.
 */
export function* blendTiles(source: TileSource, classes: number, options: BlendOptions): Generator<TileBatch, TiledStats, Float32Array> {
  const plan = planTiles(source.width, source.height, options);
  const blender = new TileBlender(plan, classes, options);
  let peakBufferBytes = blender.heldAlways;
  for (const tiles of plan.batches) {
    const { input, shape, largestRead } = readTiles(source, tiles, plan.tile);
    const probs = yield { input, shape };
    blender.add(probs);
    peakBufferBytes = Math.max(peakBufferBytes, blender.heldAlways + input.byteLength + largestRead + probs.byteLength);
  }
  return { peakBufferBytes };
}

/** A skipped tile's vote for class 0 (the first plane of the band), with the weight a predicted tile would have had. */
function addBackground(band: Float32Array, width: number, x0: number, tw: number, th: number, weights: Float32Array): void {
  for (let y = 0; y < th; y++) {
    const at = y * width + x0;
    for (let x = 0; x < tw; x++) band[at + x] += weights[y] * weights[x];
  }
}

/** Copies a th x tw planar region into a tile x tile slot, filling the rest by reflection. */
function mirrorInto(dst: Float32Array, offset: number, src: Float32Array, channels: number, tw: number, th: number, tile: number): void {
  const columns = new Int32Array(tile);
  for (let x = 0; x < tile; x++) columns[x] = reflect(x, tw);
  for (let ch = 0; ch < channels; ch++) {
    for (let y = 0; y < tile; y++) {
      const row = ch * tw * th + reflect(y, th) * tw;
      const at = offset + (ch * tile + y) * tile;
      if (tw === tile) dst.set(src.subarray(row, row + tile), at);
      else for (let x = 0; x < tile; x++) dst[at + x] = src[row + columns[x]];
    }
  }
}
