/**
 * Deep Zoom (DZI) pyramids cut from image files on request, the format
 * OpenSeadragon reads: level L is the image scaled by 2^(L - maxLevel), where
 * level maxLevel is full resolution, cut into 256-pixel tiles without overlap.
 * Images are shown as JPEG tiles; masks as PNG tiles with transparency,
 * coloured where the mask is set, either filled or as an outline.
 */
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { outline } from '../infer/outputs.js';

/** Tile side in pixels. */
export const TILE_SIZE = 256;

/** How a file is drawn: the picture itself, or a mask filled or outlined in a colour. */
export type TileStyle = 'image' | 'fill' | 'outline';

/** Overlay colours (RGB): predictions magenta, ground truth green. */
export const OVERLAY_COLOURS = { prediction: [255, 0, 255], truth: [0, 224, 96] } as const;
export type OverlayColour = keyof typeof OVERLAY_COLOURS;

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

/**
 * Decoded pixels of recently used files (up to 16 megapixels each): PNG and
 * JPEG cannot be read a region at a time, so each tile would otherwise decode
 * the whole file. Larger files, tiled TIFFs among them, are read by libvips
 * region by region.
 */
const decoded = new Map<string, Promise<{ data: Buffer; info: sharp.OutputInfo; mtimeMs: number }>>();
const CACHED_PIXELS = 16 * 2 ** 20;
const CACHED_FILES = 8;

async function source(path: string): Promise<{ pyramid: Pyramid; input: () => sharp.Sharp }> {
  const { mtimeMs } = await stat(path);
  let cached = decoded.get(path);
  if (cached && (await cached.catch(() => null))?.mtimeMs !== mtimeMs) cached = undefined;
  if (!cached) {
    const meta = await sharp(path, { limitInputPixels: false }).metadata();
    const { width = 0, height = 0 } = meta;
    if (width * height > CACHED_PIXELS) return { pyramid: pyramidOf(width, height), input: () => sharp(path, { limitInputPixels: false }) };
    cached = sharp(path)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true })
      .then(({ data, info }) => ({ data, info, mtimeMs }));
    decoded.set(path, cached);
    if (decoded.size > CACHED_FILES) decoded.delete(decoded.keys().next().value!);
  } else {
    // most recently used last
    decoded.delete(path);
    decoded.set(path, cached);
  }
  const { data, info } = await cached;
  return {
    pyramid: pyramidOf(info.width, info.height),
    input: () => sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }),
  };
}

function pyramidOf(width: number, height: number): Pyramid {
  return { width, height, maxLevel: Math.ceil(Math.log2(Math.max(width, height, 1))) };
}

/** The pyramid of an image file. */
export async function pyramidOfFile(path: string): Promise<Pyramid> {
  return (await source(path)).pyramid;
}

/**
 * One tile of `path`'s pyramid, encoded (JPEG for 'image', PNG with alpha
 * otherwise), or null when the tile lies outside the pyramid.
 */
export async function renderTile(
  path: string,
  level: number,
  column: number,
  row: number,
  style: TileStyle,
  colour: OverlayColour = 'prediction',
): Promise<Buffer | null> {
  const { pyramid, input } = await source(path);
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
  // masks are scaled by nearest neighbour, so a tile shows labels that exist, not blends of them
  const cut = input()
    .extract(region)
    .resize(width, height, { fit: 'fill', kernel: style === 'image' ? 'lanczos3' : 'nearest' });
  if (style === 'image') return cut.removeAlpha().toColourspace('srgb').jpeg({ quality: 90 }).toBuffer();
  const { data } = await cut.toColourspace('b-w').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const labels = Uint8Array.from(data, (v) => (v > 0 ? 1 : 0));
  const shown = style === 'outline' ? outline(labels, width, height) : labels;
  const rgba = Buffer.alloc(width * height * 4);
  const [r, g, b] = OVERLAY_COLOURS[colour];
  for (let i = 0; i < shown.length; i++) if (shown[i]) rgba.set([r, g, b, 255], i * 4);
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
