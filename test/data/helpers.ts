/**
 * Small images written to a temporary folder for the data tests.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** The repository's data/membrane/train (tests run from dist/test/data). */
export const MEMBRANE_TRAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'data', 'membrane', 'train');

/** A fresh temporary folder and a function that removes it. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'patho-data-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Interleaved pixel values and their layout. */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array | Uint16Array;
}

/** Writes pixels in the format named by the file extension (png, jpg, tif, bmp). */
export async function writeImage(path: string, px: Pixels): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  if (path.endsWith('.bmp')) return writeFile(path, encodeBmp24(px));
  let img = sharp(px.data, { raw: { width: px.width, height: px.height, channels: px.channels } });
  const sixteen = px.data instanceof Uint16Array;
  // gray must be requested explicitly or sharp writes three channels
  if (px.channels === 1) img = img.toColourspace(sixteen ? 'grey16' : 'b-w');
  else if (sixteen) img = img.toColourspace('rgb16');
  if (path.endsWith('.png')) img = img.png();
  else if (path.endsWith('.jpg') || path.endsWith('.jpeg')) img = img.jpeg({ quality: 95 });
  else if (path.endsWith('.tif') || path.endsWith('.tiff')) img = img.tiff({ compression: 'lzw' });
  else throw new Error(`no writer for ${path}`);
  await img.toFile(path);
}

/** A width x height image filled by fn(x, y, channel). */
export function pixels(width: number, height: number, channels: 1 | 3 | 4, fn: (x: number, y: number, c: number) => number, sixteen = false): Pixels {
  const data = sixteen ? new Uint16Array(width * height * channels) : new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = fn(x, y, c);
  return { width, height, channels, data };
}

/** A minimal 24-bit bottom-up BMP (gray input is written as RGB). */
export function encodeBmp24(px: Pixels): Uint8Array {
  const rowBytes = Math.ceil((px.width * 3) / 4) * 4;
  const size = 54 + rowBytes * px.height;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  view.setUint32(2, size, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, px.width, true);
  view.setInt32(22, px.height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  for (let y = 0; y < px.height; y++) {
    for (let x = 0; x < px.width; x++) {
      const i = (y * px.width + x) * px.channels;
      const rgb = px.channels === 1 ? [px.data[i], px.data[i], px.data[i]] : [px.data[i], px.data[i + 1], px.data[i + 2]];
      const o = 54 + (px.height - 1 - y) * rowBytes + x * 3;
      out[o] = rgb[2];
      out[o + 1] = rgb[1];
      out[o + 2] = rgb[0];
    }
  }
  return out;
}
