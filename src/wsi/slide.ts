/**
 * Whole-slide images through OpenSlide (SVS, NDPI, MRXS, generic tiled TIFF):
 * the typed face of the addon's slide functions, which exist only when the
 * addon was built where OpenSlide is installed (native/openslide.cpp).
 */
import type { ChannelStats } from '../data/normalize.js';
import type { TileSource } from '../infer/tiled.js';
import { native } from '../tensor/native.js';
import { SlideError } from './errors.js';
import { nearestFinerLevel } from './patches.js';

export { SlideError } from './errors.js';

type SlideHandle = { readonly __nativeSlide: unique symbol };

/** The slide functions of the addon (absent when it was built without OpenSlide). */
interface SlideAddon {
  slideOpen(path: string): SlideHandle;
  slideProperties(handle: SlideHandle): { levels: SlideLevel[]; properties: Record<string, string> };
  slideReadRegion(handle: SlideHandle, x: number, y: number, level: number, width: number, height: number): Uint8Array;
  slideClose(handle: SlideHandle): void;
  openslideVersion(): string;
}

const addon = native as unknown as Partial<SlideAddon>;

/** One resolution of the pyramid. */
export interface SlideLevel {
  width: number;
  height: number;
  /** level-0 pixels per pixel of this level */
  downsample: number;
}

/** Extensions only whole-slide images have (a .tif may be either a slide or a plain image). */
export const SLIDE_EXTENSIONS = ['.svs', '.ndpi', '.mrxs', '.vms', '.vmu', '.scn', '.bif', '.svslide'];

/** The OpenSlide version the addon was built with, or null when it was built without it. */
export function openslideVersion(): string | null {
  return addon.openslideVersion ? addon.openslideVersion() : null;
}

function slideAddon(): SlideAddon {
  if (!addon.slideOpen) {
    throw new Error(
      'patho was built without OpenSlide, so it cannot read whole-slide images: ' +
        'apt-get install libopenslide-dev, then npm run build:native',
    );
  }
  return addon as SlideAddon;
}

/** An open whole-slide image. `close()` releases it; closing twice is harmless. */
export class Slide {
  readonly levels: readonly SlideLevel[];
  /** Every property OpenSlide reports (openslide.*, aperio.*, tiff.*, ...). */
  readonly properties: Readonly<Record<string, string>>;
  private readonly addon: SlideAddon;

  private constructor(
    readonly path: string,
    private handle: SlideHandle | null,
  ) {
    this.addon = slideAddon();
    const { levels, properties } = this.addon.slideProperties(handle!);
    this.levels = levels;
    this.properties = properties;
  }

  /**
   * Opens a slide.
   * @throws SlideError naming the file: unreadable, truncated or not a format OpenSlide reads
   */
  static open(path: string): Slide {
    const addon = slideAddon();
    let handle: SlideHandle;
    try {
      handle = addon.slideOpen(path);
    } catch (error) {
      // the addon's message names the file: "slideOpen: PATH: not a format OpenSlide reads"
      throw new SlideError(path, (error as Error).message.replace(/^slideOpen: /, ''));
    }
    return new Slide(path, handle);
  }

  /** The scanner vendor OpenSlide recognised (aperio, hamamatsu, mirax, generic-tiff, ...). */
  get vendor(): string {
    return this.properties['openslide.vendor'] ?? 'unknown';
  }

  /**
   * Microns per level-0 pixel, or null when the slide does not record it:
   * OpenSlide's, else the TIFF resolution tags (OpenSlide 3.4.1 reports no
   * mpp for generic TIFFs, patho's own mask TIFFs among them).
   */
  get mpp(): { x: number; y: number } | null {
    const x = Number(this.properties['openslide.mpp-x']);
    const y = Number(this.properties['openslide.mpp-y']);
    return x > 0 && y > 0 ? { x, y } : tiffResolutionMpp(this.properties);
  }

  /**
   * The level of index `level`.
   * @throws SlideError for a level that does not exist, listing those that do
   */
  selectLevel(level: number): number {
    if (!Number.isInteger(level) || level < 0 || level >= this.levels.length) {
      throw new SlideError(
        this.path,
        `${this.path}: no level ${level}; this slide has ${this.levels.length} ` +
          `(${this.levels.map((l, i) => `${i}: ${l.width}x${l.height}`).join(', ')})`,
      );
    }
    return level;
  }

  /** RGBA bytes of a `width` x `height` region of `level`, whose top-left is (x, y) in that level's pixels. */
  readRegion(level: number, x: number, y: number, width: number, height: number): Uint8Array {
    const ds = this.levels[level]?.downsample;
    if (ds === undefined) throw new Error(`${this.path}: no level ${level}`);
    return this.addon.slideReadRegion(this.live(), Math.round(x * ds), Math.round(y * ds), level, width, height);
  }

  /**
   * A small RGB picture of a region of the grid of `base` level-0 pixels per
   * pixel (a level's downsample, or a resampled grid's; the whole of level 0
   * by default), at most `maxSide` pixels on its longer side: read from the
   * coarsest level that still has that many pixels (never coarser than the
   * grid's nearest finer level needs), one strip per thumbnail row (that
   * level may be large), each box-averaged.
   */
  thumbnail(maxSide: number, base = 1, region = { x: 0, y: 0, width: this.levels[0].width, height: this.levels[0].height }): Thumbnail {
    let source = nearestFinerLevel(this.levels, base);
    for (let i = 0; i < this.levels.length; i++) {
      const ds = this.levels[i].downsample;
      if (ds > this.levels[source].downsample && Math.max(region.width, region.height) * (base / ds) >= maxSide) source = i;
    }
    const ds = this.levels[source].downsample;
    const scale = base / ds;
    const w = Math.max(1, Math.round(region.width * scale));
    const h = Math.max(1, Math.round(region.height * scale));
    const factor = Math.max(1, Math.ceil(Math.max(w, h) / maxSide));
    const width = Math.ceil(w / factor);
    const height = Math.ceil(h / factor);
    const rgb = new Uint8Array(width * height * 3);
    for (let ty = 0; ty < height; ty++) {
      const rows = Math.min(factor, h - ty * factor);
      const x0 = Math.round(region.x * base), y0 = Math.round(region.y * base + ty * factor * ds);
      const strip = this.addon.slideReadRegion(this.live(), x0, y0, source, w, rows);
      rgb.set(boxAverage(strip, w, rows, factor), ty * width * 3);
    }
    return { width, height, rgb, scale: scale / factor };
  }

  /** A tile source over a region of `level`, normalised with the training statistics. */
  source(level: number, stats: ChannelStats | null, region?: { x: number; y: number; width: number; height: number }): TileSource {
    const { width, height } = region ?? this.levels[level];
    const ox = region?.x ?? 0;
    const oy = region?.y ?? 0;
    const mean = stats?.mean ?? [0, 0, 0];
    const std = stats?.std ?? [1, 1, 1];
    if (mean.length !== 3) throw new SlideError(this.path, `${this.path}: slides are RGB, but the model was trained on ${mean.length}-channel images`);
    return {
      width,
      height,
      channels: 3,
      read: (x, y, w, h) => {
        const rgba = this.readRegion(level, ox + x, oy + y, w, h);
        const plane = w * h;
        const out = new Float32Array(3 * plane);
        for (let c = 0; c < 3; c++) {
          const scale = 1 / (255 * std[c]);
          const shift = mean[c] / std[c];
          for (let i = 0; i < plane; i++) out[c * plane + i] = rgba[i * 4 + c] * scale - shift;
        }
        return out;
      },
    };
  }

  close(): void {
    if (this.handle) this.addon.slideClose(this.handle);
    this.handle = null;
  }

  private live(): SlideHandle {
    if (!this.handle) throw new Error(`${this.path}: the slide was closed`);
    return this.handle;
  }
}

/** Microns per pixel that a TIFF's resolution tags can stand for; outside it they are a writer's placeholder. */
const PLAUSIBLE_MPP = [0.01, 100];

/**
 * Microns per pixel from the tiff.XResolution/YResolution/ResolutionUnit
 * properties. Writers that know no resolution put 72 or 25.4 pixels per inch
 * there (hundreds of microns per pixel), which is not taken for a microscope's.
 */
function tiffResolutionMpp(properties: Readonly<Record<string, string>>): { x: number; y: number } | null {
  const micronsPerUnit = { centimeter: 1e4, inch: 25400 }[properties['tiff.ResolutionUnit']];
  const xRes = Number(properties['tiff.XResolution']);
  const yRes = Number(properties['tiff.YResolution']);
  if (!micronsPerUnit || !(xRes > 0) || !(yRes > 0)) return null;
  const mpp = { x: micronsPerUnit / xRes, y: micronsPerUnit / yRes };
  const plausible = (v: number) => v >= PLAUSIBLE_MPP[0] && v <= PLAUSIBLE_MPP[1];
  return plausible(mpp.x) && plausible(mpp.y) ? mpp : null;
}

/** An RGB picture with its scale: thumbnail pixels per pixel of the level it was asked of. */
export interface Thumbnail {
  width: number;
  height: number;
  rgb: Uint8Array;
  scale: number;
}

/** One row of RGB pixels, each the average of a factor-wide block of a strip of RGBA rows. */
function boxAverage(rgba: Uint8Array, w: number, rows: number, factor: number): Uint8Array {
  const width = Math.ceil(w / factor);
  const rgb = new Uint8Array(width * 3);
  for (let tx = 0; tx < width; tx++) {
    let r = 0, g = 0, b = 0, n = 0;
    for (let y = 0; y < rows; y++) {
      for (let x = tx * factor; x < Math.min(w, (tx + 1) * factor); x++) {
        const i = (y * w + x) * 4;
        r += rgba[i];
        g += rgba[i + 1];
        b += rgba[i + 2];
        n++;
      }
    }
    rgb[tx * 3] = Math.round(r / n);
    rgb[tx * 3 + 1] = Math.round(g / n);
    rgb[tx * 3 + 2] = Math.round(b / n);
  }
  return rgb;
}
