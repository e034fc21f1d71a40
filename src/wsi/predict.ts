/**
 * Whole-slide prediction: tissue detection on a thumbnail, streaming
 * sliding-window inference over the tissue tiles of one level, or of a grid
 * at an mpp resampled from the nearest finer level exactly as training
 * patches are (patches.ts `SlideGrid`), and outputs a
 * pathologist opens: a tiled pyramidal TIFF mask, GeoJSON polygons and an
 * overlay thumbnail. Tiles are read (OpenSlide, normalised, reflected) in
 * worker threads a few batches ahead of the engine (`predictPipelined`), so
 * the engine does not wait for the slide; blending and TIFF writing happen
 * between its batches.
 *
 * Memory: the tile batches read ahead, the blending band (classes x tile x
 * width floats), one row of TIFF tiles per pyramid level, one strip of the
 * mask for tracing the polygons (from the full-resolution mask of the grid
 * predicted at), and a copy of the mask for the PNG and the overlay,
 * subsampled to at most `keptPixels` bytes. Only the polygons grow with the
 * slide, with the length of the predicted outlines, not with its area.
 */
import { basename, join } from 'node:path';
import sharp from 'sharp';
import type { ChannelStats } from '../data/normalize.js';
import { outline } from '../infer/outputs.js';
import type { PostProcessing } from '../infer/postprocess.js';
import { WorkerPool } from '../data/pool.js';
import { planTiles, predictPipelined, readTiles, type BatchReader, type PipelineStats, type TileEngine } from '../infer/tiled.js';
import { TILING_DEFAULTS, type TilingOptions } from '../infer/tiling.js';
import { writeFileAtomic } from '../io/atomic.js';
import { cleanRegions } from './cleanup.js';
import { StripTracer } from './contours.js';
import { SlideError } from './errors.js';
import { namedClasses, regionsToFeatures, type PolygonFeature } from './geojson.js';
import { gridSource, slideGrid, type SlideGrid } from './patches.js';
import type { Slide, Thumbnail } from './slide.js';
import { TiledTiffWriter } from './tiff.js';
import type { TileWorkerInit, TileWorkerTask } from './tile-worker.js';
import { anyTissue, tissueMask } from './tissue.js';

/** Output files a prediction can write. */
export type SlideFormat = 'tiff' | 'geojson' | 'png';

export interface SlidePredictOptions extends TilingOptions {
  /** Where the files go, named `<name>_mask.tif`, `<name>.geojson`, `<name>_overlay.png`, `<name>_mask.png`. */
  outDir: string;
  name: string;
  /**
   * Level index to predict at, as stored; or `mpp`, microns per pixel,
   * resampled from the nearest finer level (patches.ts `slideGrid`); level 0
   * by default.
   */
  level?: number;
  mpp?: number;
  /** Where a warning goes (an mpp finer than the slide's level 0). Default console.warn. */
  onWarning?: (message: string) => void;
  /** A rectangle of the chosen level or mpp grid, in its pixels (default: all of it). */
  region?: { x: number; y: number; width: number; height: number };
  /** Skip tiles without tissue. Default true. */
  tissueMask?: boolean;
  /** Foreground when p >= threshold (one class). Default 0.5. */
  threshold?: number;
  /** The training statistics, from the checkpoint. */
  normalization?: ChannelStats | null;
  /** Default: all three. */
  formats?: readonly SlideFormat[];
  /**
   * Also write 8-bit probability maps (p x 255) as tiled pyramidal TIFFs with
   * the mask's geometry: `<name>_prob.tif` for one class, `<name>_prob_<k>.tif`
   * for each class k >= 1 of several. Default false.
   */
  probabilities?: boolean;
  /** Also write the overlay thumbnail. Default true. */
  overlay?: boolean;
  /**
   * The TIFF at level-0 geometry or at the geometry predicted at, its
   * resolution recorded. Default: level 0 for a level (every viewer overlays
   * it pixel for pixel), the grid predicted at for an mpp (a level-0 copy
   * would be a nearest-neighbour stretch by a fraction, up to scale^2 times
   * larger, adding nothing).
   */
  maskGeometry?: 'level0' | 'predicted';
  /** Bound of the mask copy kept for the PNG and the overlay, in pixels. Default 2^26. */
  keptPixels?: number;
  /** Longer side of the thumbnail used for tissue detection and the overlay. Default 1024. */
  thumbnailSize?: number;
  /** Called once before the first tile with the number of tiles. */
  onStart?: (tiles: number) => void;
  /** The names and colours of classes 1, 2, ... (from the checkpoint of a model trained on annotated slides), for the GeoJSON. */
  classes?: { names: string[]; colors: [number, number, number][] } | null;
  /** QuPath object type of the GeoJSON features. Default 'annotation'. */
  objectType?: 'annotation' | 'detection';
  /** GeoJSON: Douglas-Peucker tolerance in level-0 pixels, topology kept. Default 0: the exact pixel outline. */
  simplify?: number;
  /** GeoJSON: polygons of fewer um^2 are left out; the slide must record its mpp. */
  minArea?: number;
  /**
   * GeoJSON: objects under a size removed and holes under a size filled, in
   * pixels of the grid predicted at, as `patho predict` cleans an image's
   * mask (wsi/cleanup.ts). The TIFF and PNG masks are left as predicted: they
   * are written in bands, never whole.
   */
  postProcessing?: PostProcessing;
  /** Rows of the mask traced at a time for the GeoJSON. Default 256. */
  traceRows?: number;
  /** Worker threads reading tiles; 0 reads them in this thread. Default 1. */
  readers?: number;
  /** Batches read ahead of the one the engine computes. Default 2. */
  prefetch?: number;
  /** Monotonic seconds for the pipeline's timing (tests inject one). */
  clock?: () => number;
}

/** What `predictSlide` did. */
export interface SlidePrediction {
  /** the level read */
  level: number;
  /** microns per pixel of that level, when the slide records it */
  levelMpp: number | null;
  /** whether its pixels were resampled to `mpp` */
  resampled: boolean;
  /** microns per pixel predicted at, when the slide records it */
  mpp: number | null;
  /** the size predicted at (of the region, when one was asked) */
  width: number;
  height: number;
  tiles: number;
  skippedTiles: number;
  /** polygons in the GeoJSON (0 when it was not asked for) */
  regions: number;
  files: string[];
  /** The tiled pass: wall and engine seconds, waits for tiles, buffers held. */
  pipeline: PipelineStats;
}

/** Predicts a slide (or a region of one level) and writes the chosen outputs; see the module comment for memory. */
export async function predictSlide(engine: TileEngine, slide: Slide, options: SlidePredictOptions): Promise<SlidePrediction> {
  if (engine.inChannels !== 3) throw new SlideError(slide.path, `${slide.path}: the model expects ${engine.inChannels}-channel images; slides are RGB`);
  const grid = slideGrid(slide, options, options.onWarning ?? ((message) => console.warn(message)));
  const region = options.region ?? { x: 0, y: 0, width: grid.width, height: grid.height };
  checkRegion(slide, grid, region);
  const formats = new Set(options.formats ?? ['tiff', 'geojson', 'png']);
  if (options.minArea !== undefined && formats.has('geojson') && !slide.mpp) {
    throw new SlideError(slide.path, `${slide.path}: --min-area ${options.minArea} is in um^2, but the slide does not record its microns per pixel`);
  }
  const stats = options.normalization ?? null;
  const readers = options.readers ?? 1;
  // the readers start (each loads the addon and opens the slide) while the thumbnail is read and tissue found
  const init: TileWorkerInit = { path: slide.path, grid, region, stats, tile: options.tile ?? TILING_DEFAULTS.tile };
  const pool = readers > 0 ? new WorkerPool<TileWorkerTask>(readers, init, new URL('./tile-worker.js', import.meta.url)) : null;
  try {
    const source = gridSource(slide, grid, stats, region);
    const read: BatchReader = pool
      ? (tiles) => pool.run<Float32Array>({ kind: 'tiles', tiles: [...tiles] })
      : async (tiles) => readTiles(source, tiles, init.tile).input;
    return await predictRegion(engine, slide, grid, region, read, options);
  } finally {
    await pool?.close();
  }
}

/** predictSlide past its checks, with the tiles read by `read`. */
async function predictRegion(
  engine: TileEngine, slide: Slide, grid: SlideGrid, region: { x: number; y: number; width: number; height: number }, read: BatchReader, options: SlidePredictOptions,
): Promise<SlidePrediction> {
  const { level, scale } = grid;
  const formats = new Set(options.formats ?? ['tiff', 'geojson', 'png']);
  const overlay = options.overlay ?? true;
  const classes = engine.classes;
  const threshold = options.threshold ?? 0.5;
  const { width, height } = region;

  const useTissue = options.tissueMask ?? true;
  const thumb = useTissue || overlay ? slide.thumbnail(options.thumbnailSize ?? 1024, scale, region) : null;
  const tissue = useTissue && thumb ? tissueMask(thumb.rgb, thumb.width, thumb.height) : null;
  let skipped = 0;
  const skipTile = tissue
    ? (x: number, y: number, w: number, h: number) => {
        const s = thumb!.scale;
        const skip = !anyTissue(tissue, thumb!.width, thumb!.height, x * s, y * s, (x + w) * s, (y + h) * s);
        if (skip) skipped++;
        return skip;
      }
    : undefined;

  const files: string[] = [];
  const toLevel0 = (options.maskGeometry ?? (grid.resampled ? 'predicted' : 'level0')) === 'level0' && scale !== 1;
  const geometry = {
    width: toLevel0 ? Math.round(width * scale) : width,
    height: toLevel0 ? Math.round(height * scale) : height,
    mpp: slide.mpp && !toLevel0 ? { x: slide.mpp.x * scale, y: slide.mpp.y * scale } : slide.mpp,
  };
  const predictedAt = grid.resampled ? `${(slideMpp(slide)! * scale).toPrecision(4)} um/px from level ${level}` : `level ${level}`;
  // the slide's name only: output files carry no local paths
  const openTiff = (path: string, what: string, reduce: 'sample' | 'average') => {
    const writer = new TiledTiffWriter(path, { ...geometry, reduce, description: `patho ${what} of ${basename(slide.path)}, ${toLevel0 ? 'level 0' : predictedAt}` });
    const rows = toLevel0 ? upscaleRows(writer, width, height, scale) : (r: Uint8Array, n: number) => writer.writeRows(r, n);
    return { path, writer, rows };
  };
  const tiff = formats.has('tiff')
    ? openTiff(join(options.outDir, `${options.name}_mask.tif`), 'mask' + (classes === 1 ? ', 255 = foreground' : ', values = classes'), 'sample')
    : null;
  // one probability map per foreground class: the only one of a binary net, classes 1.. of several
  const probabilityTiffs = !options.probabilities
    ? []
    : (classes === 1 ? [0] : Array.from({ length: classes - 1 }, (_, k) => k + 1)).map((k) => ({
        k,
        ...openTiff(
          join(options.outDir, classes === 1 ? `${options.name}_prob.tif` : `${options.name}_prob_${k}.tif`),
          `probability${classes === 1 ? '' : ` of class ${k}`}, 255 = 1`,
          'average', // the coarser levels of a probability map show the mean, not one pixel in four
        ),
      }));
  const allTiffs = [...(tiff ? [tiff] : []), ...probabilityTiffs];

  const kept = new KeptMask(width, height, options.keptPixels ?? 2 ** 26);
  const tracer = formats.has('geojson') ? new StripTracer(width, height, options.traceRows ?? 256) : null;
  const plan = planTiles(width, height, { ...options, skipTile });
  options.onStart?.(plan.total);
  const labels = new Uint8Array(Math.min(plan.tile, height) * width);
  const probabilityBytes = probabilityTiffs.length ? new Uint8Array(labels.length) : null;
  let pipeline: PipelineStats;
  try {
    pipeline = await predictPipelined(engine, plan, read, {
      ...options,
      onRows(y0, rows, probs) {
        const plane = rows * width;
        for (let i = 0; i < plane; i++) {
          if (classes === 1) {
            labels[i] = probs[i] >= threshold ? 1 : 0;
            continue;
          }
          let best = 0;
          for (let k = 1; k < classes; k++) if (probs[k * plane + i] > probs[best * plane + i]) best = k;
          labels[i] = best;
        }
        kept.addRows(y0, rows, labels);
        tracer?.addRows(labels, rows);
        for (const p of probabilityTiffs) {
          const at = p.k * plane;
          for (let i = 0; i < plane; i++) probabilityBytes![i] = Math.round(probs[at + i] * 255);
          p.rows(probabilityBytes!, rows);
        }
        if (tiff) {
          if (classes === 1) for (let i = 0; i < plane; i++) labels[i] *= 255;
          tiff.rows(labels, rows);
        }
      },
    });
    for (const t of allTiffs) {
      t.writer.close();
      files.push(t.path);
    }
  } catch (e) {
    for (const t of allTiffs) t.writer.close();
    throw e;
  }

  let regions = 0;
  if (tracer) {
    const traced = tracer.finish();
    // post-processing on the regions, before simplification (cleanup.ts); the TIFF and PNG masks are not cleaned
    const cleaned = options.postProcessing ? new Map([...traced].map(([value, regions]) => [value, cleanRegions(regions, options.postProcessing!)])) : traced;
    const features = regionsToFeatures(cleaned, {
      scale,
      offset: [region.x * scale, region.y * scale],
      mpp: slide.mpp,
      objectType: options.objectType,
      simplify: options.simplify,
      minArea: options.minArea,
      ...namedClasses(options.classes),
    });
    regions = features.length;
    const path = join(options.outDir, `${options.name}.geojson`);
    await writeFeatureCollection(path, features);
    files.push(path);
  }
  if (formats.has('png')) {
    const path = join(options.outDir, `${options.name}_mask.png`);
    const pixels = classes === 1 ? kept.data.map((v) => v * 255) : kept.data;
    await sharp(Buffer.from(pixels.buffer), { raw: { width: kept.width, height: kept.height, channels: 1 } }).png().toFile(path);
    files.push(path);
  }
  if (overlay && thumb) {
    const path = join(options.outDir, `${options.name}_overlay.png`);
    await writeOverlay(path, thumb, kept, tissue);
    files.push(path);
  }
  const mpp0 = slideMpp(slide);
  return {
    level,
    levelMpp: mpp0 && mpp0 * slide.levels[level].downsample,
    resampled: grid.resampled,
    mpp: mpp0 && mpp0 * scale,
    width,
    height,
    tiles: plan.total,
    skippedTiles: skipped,
    regions,
    files,
    pipeline,
  };
}

/** Microns per level-0 pixel, the geometric mean of x and y (as `slideGrid` and training take it), or null. */
function slideMpp(slide: Slide): number | null {
  const mpp = slide.mpp;
  return mpp && Math.sqrt(mpp.x * mpp.y);
}

/** A FeatureCollection written feature by feature (a slide's may be larger than one string can hold), atomically. */
export async function writeFeatureCollection(path: string, features: readonly PolygonFeature[]): Promise<void> {
  const encoder = new TextEncoder();
  await writeFileAtomic(path, async (write) => {
    let pending = '{"type":"FeatureCollection","features":[';
    for (let i = 0; i < features.length; i++) {
      pending += (i ? ',' : '') + JSON.stringify(features[i]);
      if (pending.length < 2 ** 20) continue;
      await write(encoder.encode(pending));
      pending = '';
    }
    await write(encoder.encode(pending + ']}\n'));
  });
}

function checkRegion(slide: Slide, grid: SlideGrid, r: { x: number; y: number; width: number; height: number }): void {
  const { width, height } = grid;
  const ok = [r.x, r.y, r.width, r.height].every(Number.isInteger) && r.x >= 0 && r.y >= 0 && r.width >= 1 && r.height >= 1;
  if (!ok || r.x + r.width > width || r.y + r.height > height) {
    const of = grid.resampled ? `the grid of ${grid.scale.toPrecision(4)} level-0 pixels per pixel` : `level ${grid.level}`;
    throw new Error(`${slide.path}: region ${r.width}x${r.height}+${r.x}+${r.y} is not inside ${of} (${width}x${height})`);
  }
}

/** Rows of the grid predicted at, repeated and stretched (nearest) into level-0 rows for the TIFF. */
function upscaleRows(tiff: TiledTiffWriter, width: number, height: number, downsample: number): (rows: Uint8Array, n: number) => void {
  const width0 = Math.round(width * downsample);
  const height0 = Math.round(height * downsample);
  const columns = new Int32Array(width0);
  for (let x = 0; x < width0; x++) columns[x] = Math.min(width - 1, Math.floor(x / downsample));
  const row0 = new Uint8Array(width0);
  let y0 = 0; // next level-0 row
  let received = 0; // predicted rows so far
  return (rows, n) => {
    for (let r = 0; r < n; r++, received++) {
      for (; y0 < height0 && Math.min(height - 1, Math.floor(y0 / downsample)) === received; y0++) {
        const at = r * width;
        for (let x = 0; x < width0; x++) row0[x] = rows[at + columns[x]];
        tiff.writeRows(row0, 1);
      }
    }
  };
}

/** The mask subsampled by a whole factor so that it fits a pixel budget: every factor-th row and column. */
class KeptMask {
  readonly factor: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;

  constructor(
    private readonly fullWidth: number,
    fullHeight: number,
    budget: number,
  ) {
    this.factor = Math.max(1, Math.ceil(Math.sqrt((fullWidth * fullHeight) / budget)));
    this.width = Math.ceil(fullWidth / this.factor);
    this.height = Math.ceil(fullHeight / this.factor);
    this.data = new Uint8Array(this.width * this.height);
  }

  addRows(y0: number, rows: number, labels: Uint8Array): void {
    const f = this.factor;
    for (let y = Math.ceil(y0 / f) * f; y < y0 + rows; y += f) {
      const at = (y - y0) * this.fullWidth;
      const to = (y / f) * this.width;
      for (let x = 0; x < this.width; x++) this.data[to + x] = labels[at + x * f];
    }
  }
}

/** The thumbnail with the mask outline in green and, when used, the tissue outline in blue. */
async function writeOverlay(path: string, thumb: Thumbnail, kept: KeptMask, tissue: Uint8Array | null): Promise<void> {
  const { width, height } = thumb;
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const ky = Math.min(kept.height - 1, Math.floor((y + 0.5) / thumb.scale / kept.factor));
    for (let x = 0; x < width; x++) {
      const kx = Math.min(kept.width - 1, Math.floor((x + 0.5) / thumb.scale / kept.factor));
      mask[y * width + x] = kept.data[ky * kept.width + kx];
    }
  }
  const rgb = Uint8Array.from(thumb.rgb);
  const paint = (edge: Uint8Array, color: [number, number, number]) => {
    for (let i = 0; i < edge.length; i++) if (edge[i]) rgb.set(color, i * 3);
  };
  if (tissue) paint(outline(tissue, width, height), [64, 128, 255]);
  paint(outline(mask, width, height), [0, 255, 64]);
  await sharp(Buffer.from(rgb.buffer), { raw: { width, height, channels: 3 } }).png().toFile(path);
}
