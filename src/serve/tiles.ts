/**
 * Deep Zoom (DZI) pyramids cut on request from image files, whole-slide
 * images and pyramidal TIFF masks, in the format OpenSeadragon reads: level L is the image scaled by 2^(L - maxLevel), where
 * level maxLevel is full resolution, cut into 256-pixel tiles without overlap.
 * Images are shown as JPEG tiles; masks as PNG tiles with transparency,
 * coloured where the mask is set, either filled or as an outline, or a
 * predicted mask compared with its ground truth in one tile (agreement,
 * misses and false alarms in the palette's colours).
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import sharp from 'sharp';
import { outline } from '../infer/outputs.js';
import { COMPARISON_COLOURS, PREDICTION_COLOUR, TRUTH_COLOUR, compareMasks, paintLabels } from '../report/palette.js';
import { SLIDE_EXTENSIONS, Slide, openslideVersion } from '../wsi/slide.js';
import { Gate } from './gate.js';

/** Tile side in pixels. */
export const TILE_SIZE = 256;

/** How a file is drawn: the picture itself, or a mask filled or outlined in a colour. */
export type TileStyle = 'image' | 'fill' | 'outline';

/** Colours of a mask drawn alone, by what it is. */
export const OVERLAY_COLOURS = { prediction: PREDICTION_COLOUR, truth: TRUTH_COLOUR } as const;
export type OverlayColour = keyof typeof OVERLAY_COLOURS;

/**
 * What a mask tile shows: the mask alone in its colour, or (the mask being a
 * prediction) its agreement with the ground truth at `truth`, a file of the
 * same size.
 */
export type Overlay = { colour: OverlayColour } | { truth: string };

/** Size of a pyramid's full-resolution level and its highest level number. */
export interface Pyramid {
  width: number;
  height: number;
  maxLevel: number;
}

/** The DZI descriptor of an image of the given size. */
export function dziDescriptor(pyramid: Pyramid, format: 'jpg' | 'png'): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" TileSize="${TILE_SIZE}" Overlap="0" Format="${format}">` +
    `<Size Width="${pyramid.width}" Height="${pyramid.height}"/></Image>\n`
  );
}

/** Files read through OpenSlide when it opens them: slides, and TIFFs (a pyramidal mask is one for its generic reader). */
export const PYRAMID_EXTENSIONS: readonly string[] = [...new Set([...SLIDE_EXTENSIONS, '.tif', '.tiff'])];

/**
 * The most pixels one tile request may decode. A coarse tile of a large plain
 * image, or of a slide without coarse levels, would otherwise decode the
 * whole picture for each request.
 */
export const MAX_TILE_DECODE_PIXELS = 2 ** 25;
/**
 * Tiles drawn (or images opened: a small image is decoded whole) at once;
 * libvips and OpenSlide work on every core. More requests wait for a turn.
 */
const RENDERS_AT_ONCE = Math.max(1, availableParallelism());
/** Requests that may wait for a turn; beyond them a tile is refused at once (503). */
const RENDERS_WAITING = 256;
const renders = new Gate(RENDERS_AT_ONCE, RENDERS_WAITING);

/** A tile the server will not draw: too costly to decode (413), or too many waiting already (503). */
export class TileRefused extends Error {
  constructor(
    readonly status: 413 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** An agreement asked of a ground truth that is not the size of the predicted mask. */
export class TruthMismatch extends Error {}

/**
 * Where a tile's pixels come from: `cut` returns the level-0 region scaled to
 * width x height; `decodedPixels` is what cutting it decodes.
 */
interface Source {
  pyramid: Pyramid;
  cut(region: Region, width: number, height: number, nearest: boolean): sharp.Sharp;
  decodedPixels(region: Region, width: number): number;
}

interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

const sources = new Map<string, { mtimeMs: number; source: Promise<Source>; close?: () => void }>();
const CACHED_SOURCES = 8;
/** Plain images up to this many pixels are decoded once and kept (PNG and JPEG cannot be read a region at a time). */
const DECODED_PIXELS = 16 * 2 ** 20;

async function source(path: string): Promise<Source> {
  const { mtimeMs } = await stat(path);
  let entry = sources.get(path);
  if (entry && entry.mtimeMs !== mtimeMs) {
    entry.close?.();
    sources.delete(path);
    entry = undefined;
  }
  if (!entry) {
    const slide = openSlide(path);
    entry = slide ? { mtimeMs, source: Promise.resolve(slide.source), close: slide.close } : { mtimeMs, source: rasterSource(path) };
    if (sources.size >= CACHED_SOURCES) {
      const [oldest, evicted] = sources.entries().next().value!;
      evicted.close?.();
      sources.delete(oldest);
    }
  } else {
    sources.delete(path); // most recently used last
  }
  sources.set(path, entry);
  return entry.source;
}

/**
 * Whole-slide images and pyramidal TIFF masks (`patho predict` writes them at
 * the slide's level-0 geometry, or at its --mpp grid: the viewer stretches each
 * layer to the image's width either way) through OpenSlide, a tile read from the coarsest level
 * that is at least as fine as the tile; null for what OpenSlide does not open
 * or when patho was built without it.
 */
function openSlide(path: string): { source: Source; close: () => void } | null {
  if (!PYRAMID_EXTENSIONS.includes(extname(path).toLowerCase()) || !openslideVersion()) return null;
  let slide: Slide;
  try {
    slide = Slide.open(path);
  } catch {
    return null; // a plain TIFF: libvips reads it
  }
  const { width, height } = slide.levels[0];
  // what a region scaled to outWidth reads: the coarsest level at least as fine as the tile
  const read = (region: Region, outWidth: number) => {
    const scale = region.width / outWidth;
    const level = slide.levels.reduce((best, l, i) => (l.downsample <= scale * 1.01 ? i : best), 0);
    const ds = slide.levels[level].downsample;
    const w = Math.max(1, Math.min(slide.levels[level].width, Math.round(region.width / ds)));
    const h = Math.max(1, Math.min(slide.levels[level].height, Math.round(region.height / ds)));
    return { level, ds, w, h };
  };
  return {
    close: () => slide.close(),
    source: {
      pyramid: pyramidOf(width, height),
      cut(region, outWidth, outHeight, nearest) {
        const { level, ds, w, h } = read(region, outWidth);
        const rgba = slide.readRegion(level, Math.round(region.left / ds), Math.round(region.top / ds), w, h);
        return sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).resize(outWidth, outHeight, { fit: 'fill', kernel: nearest ? 'nearest' : 'lanczos3' });
      },
      decodedPixels(region, outWidth) {
        const { w, h } = read(region, outWidth);
        return w * h;
      },
    },
  };
}

/** Any image sharp reads; small ones decoded once, large (tiled TIFF) ones read by libvips region by region. */
async function rasterSource(path: string): Promise<Source> {
  const { width = 0, height = 0, format } = await sharp(path, { limitInputPixels: false }).metadata();
  const pyramid = pyramidOf(width, height);
  const scaled = (input: sharp.Sharp, region: Region, outWidth: number, outHeight: number, nearest: boolean) =>
    input.extract(region).resize(outWidth, outHeight, { fit: 'fill', kernel: nearest ? 'nearest' : 'lanczos3' });
  if (width * height > DECODED_PIXELS) {
    return {
      pyramid,
      cut: (region, w, h, nearest) => scaled(sharp(path, { limitInputPixels: false }), region, w, h, nearest),
      // full rows: a TIFF's strips or tiles across the region, every row from the top in the other formats
      decodedPixels: (region) => width * (format === 'tiff' ? region.height : region.top + region.height),
    };
  }
  const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  return { pyramid, cut: (region, w, h, nearest) => scaled(sharp(data, { raw }), region, w, h, nearest), decodedPixels: () => 0 };
}

function pyramidOf(width: number, height: number): Pyramid {
  return { width, height, maxLevel: Math.ceil(Math.log2(Math.max(width, height, 1))) };
}

/**
 * The pyramid of an image file or slide, opened in turn with the tiles; for
 * an agreement overlay, its truth is opened too and must be the same size.
 * @throws TileRefused (503) when too many tiles already wait
 * @throws TruthMismatch when an agreement's truth is not the size of the mask
 */
export async function pyramidOfFile(path: string, signal?: AbortSignal, overlay?: Overlay): Promise<Pyramid> {
  return inTurn(async () => (await masksOf(path, overlay)).mask.pyramid, signal);
}

/** The sources of `path` and, for an agreement overlay, of its truth, which must be the same size. */
async function masksOf(path: string, overlay?: Overlay): Promise<{ mask: Source; truth: Source | null }> {
  const mask = await source(path);
  const truth = overlay && 'truth' in overlay ? await source(overlay.truth) : null;
  const [a, b] = [mask.pyramid, truth?.pyramid];
  if (b && (a.width !== b.width || a.height !== b.height)) {
    throw new TruthMismatch(`the truth is ${b.width}x${b.height}, the mask ${a.width}x${a.height}; they must be the same size`);
  }
  return { mask, truth };
}

function inTurn<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const turn = renders.run(job, signal);
  if (!turn) throw new TileRefused(503, `${RENDERS_WAITING} tiles are waiting to be drawn already; try again`);
  return turn;
}

/**
 * One tile of `path`'s pyramid, encoded (JPEG for 'image', PNG with alpha
 * otherwise), or null when the tile lies outside the pyramid. Tiles are drawn
 * a few at a time; one whose `signal` aborts while it waits is not drawn.
 *
 * @throws TileRefused when the tile would decode more than MAX_TILE_DECODE_PIXELS
 * (both masks together for an agreement tile), or when too many tiles already wait
 * @throws TruthMismatch when an agreement's truth is not the size of the mask
 */
export async function renderTile(
  path: string,
  level: number,
  column: number,
  row: number,
  style: TileStyle,
  overlay: Overlay = { colour: 'prediction' },
  signal?: AbortSignal,
): Promise<Buffer | null> {
  return inTurn(() => drawTile(path, level, column, row, style, overlay), signal);
}

async function drawTile(path: string, level: number, column: number, row: number, style: TileStyle, overlay: Overlay): Promise<Buffer | null> {
  const { mask, truth } = await masksOf(path, overlay);
  const { pyramid } = mask;
  if (level > pyramid.maxLevel) return null;
  const scale = 2 ** (pyramid.maxLevel - level);
  const levelWidth = Math.ceil(pyramid.width / scale);
  const levelHeight = Math.ceil(pyramid.height / scale);
  if (column * TILE_SIZE >= levelWidth || row * TILE_SIZE >= levelHeight) return null;
  const width = Math.min(TILE_SIZE, levelWidth - column * TILE_SIZE);
  const height = Math.min(TILE_SIZE, levelHeight - row * TILE_SIZE);
  const left = column * TILE_SIZE * scale;
  const top = row * TILE_SIZE * scale;
  const region = { left, top, width: Math.min(pyramid.width - left, width * scale), height: Math.min(pyramid.height - top, height * scale) };
  const decoded = mask.decodedPixels(region, width) + (truth?.decodedPixels(region, width) ?? 0);
  if (decoded > MAX_TILE_DECODE_PIXELS) {
    throw new TileRefused(413, `tile ${level}/${column}_${row} would decode ${decoded} pixels, more than the ${MAX_TILE_DECODE_PIXELS} a tile may; zoom in`);
  }
  if (style === 'image') return mask.cut(region, width, height, false).removeAlpha().toColourspace('srgb').jpeg({ quality: 90 }).toBuffer();
  // masks are scaled by nearest neighbour, so a tile shows labels that exist, not blends of them
  const labelsOf = async (from: Source) => {
    const { data } = await from.cut(region, width, height, true).toColourspace('b-w').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return Uint8Array.from(data, (v) => (v > 0 ? 1 : 0));
  };
  const labels = truth ? compareMasks(await labelsOf(truth), await labelsOf(mask)) : await labelsOf(mask);
  // the outline of a comparison is drawn where its regions meet, in the colour of each side
  const shown = style === 'outline' ? outline(labels, width, height).map((edge, i) => edge * labels[i]) : labels;
  const rgba = Buffer.alloc(width * height * 4);
  paintLabels(shown, 'colour' in overlay ? [OVERLAY_COLOURS[overlay.colour]] : COMPARISON_COLOURS, rgba);
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
