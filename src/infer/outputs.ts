/** Writing predictions as files a viewer opens: binary mask, probability map and overlay PNGs. */
import sharp from 'sharp';
import type { RawImage } from '../data/raw.js';
import type { ProbabilityMap } from './sliding.js';

/**
 * Per-pixel labels: for one class, 1 where p >= threshold; for several, the
 * most probable class.
 */
export function labelsFrom(map: ProbabilityMap, threshold: number): Uint8Array {
  const plane = map.width * map.height;
  const labels = new Uint8Array(plane);
  if (map.classes === 1) {
    for (let i = 0; i < plane; i++) labels[i] = map.data[i] >= threshold ? 1 : 0;
    return labels;
  }
  for (let i = 0; i < plane; i++) {
    let best = 0;
    for (let k = 1; k < map.classes; k++) if (map.data[k * plane + i] > map.data[best * plane + i]) best = k;
    labels[i] = best;
  }
  return labels;
}

/** The mask as 8-bit gray PNG: 0/255 for one class, class indices for several. */
export async function writeMaskPng(path: string, labels: Uint8Array, width: number, height: number, binary: boolean): Promise<void> {
  const pixels = binary ? labels.map((v) => (v ? 255 : 0)) : labels;
  // sharp writes three channels unless told the raw pixels are gray
  await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toFile(path);
}

/** The foreground probability scaled to 0..255. */
export async function writeProbabilityPng(path: string, map: ProbabilityMap): Promise<void> {
  const plane = map.width * map.height;
  const offset = map.classes === 1 ? 0 : plane; // class 1 of several
  const pixels = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, map.data[offset + i])) * 255);
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
