/** Writing predictions as files a viewer opens: binary mask, probability map and overlay PNGs. */
import sharp from 'sharp';
import type { RawImage } from '../data/raw.js';
import { probabilityBytes, type ProbabilityMap } from './labels.js';

export { labelsFrom } from './labels.js';

/** The mask as 8-bit gray PNG: 0/255 for one class, class indices for several. */
export async function writeMaskPng(path: string, labels: Uint8Array, width: number, height: number, binary: boolean): Promise<void> {
  const pixels = binary ? labels.map((v) => (v ? 255 : 0)) : labels;
  // sharp writes three channels unless told the raw pixels are gray
  await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}

/** The foreground probability scaled to 0..255. */
export async function writeProbabilityPng(path: string, map: ProbabilityMap): Promise<void> {
  const pixels = probabilityBytes(map);
  await sharp(Buffer.from(pixels.buffer), { raw: { width: map.width, height: map.height, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}

/** Pixels of the mask that touch a pixel of another label (4-neighbourhood). */
export function outline(labels: Uint8Array, width: number, height: number): Uint8Array {
  const edge = new Uint8Array(labels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const v = labels[i];
      if (v === 0) continue;
      if ((x > 0 && labels[i - 1] !== v) || (x < width - 1 && labels[i + 1] !== v) ||
          (y > 0 && labels[i - width] !== v) || (y < height - 1 && labels[i + width] !== v)) {
        edge[i] = 1;
      }
    }
  }
  return edge;
}

/** The image in RGB with the mask outline drawn in a bright colour, for quick looking. */
export async function writeOverlayPng(path: string, raw: RawImage, labels: Uint8Array): Promise<void> {
  const { width, height, channels } = raw;
  const rgb = new Uint8Array(width * height * 3);
  const scale = 255 / raw.maxValue;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(raw.data[i * channels + (channels === 1 ? 0 : c)] * scale);
  }
  const edge = outline(labels, width, height);
  for (let i = 0; i < edge.length; i++) {
    if (!edge[i]) continue;
    rgb[i * 3] = 0;
    rgb[i * 3 + 1] = 255;
    rgb[i * 3 + 2] = 64;
  }
  await sharp(Buffer.from(rgb.buffer), { raw: { width, height, channels: 3 } }).png().toFile(path);
}
