/**
 * The report's example pictures: the image, and the image with ground truth
 * and prediction compared on it, as PNG data URIs so that the report stays
 * one file.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { outline } from '../infer/outputs.js';
import { AGREEMENT, AGREEMENT_COLOUR, FALSE_ALARM, FALSE_ALARM_COLOUR, MISS, MISS_COLOUR, compareMasks } from './palette.js';
import type { ValidationFiles } from './validation.js';

/**
 * Weight of the tint colour over the image's pixel: misses and false alarms
 * are tinted (the tissue shows through), agreement is outlined.
 */
export const TINT = 0.6;

/** The two pictures of one example. */
export interface ExamplePanels {
  image: string;
  /** truth and prediction on the image (see `comparePixels`) */
  comparison: string;
  width: number;
  height: number;
}

/**
 * Renders the panels of one validation image, scaled to fit `size` pixels
 * (outlines are found after scaling, so they stay one pixel wide).
 */
export async function renderPanels(runDir: string, files: ValidationFiles, size = 256): Promise<ExamplePanels> {
  const scale = Math.min(1, size / Math.max(files.width, files.height));
  const width = Math.max(1, Math.round(files.width * scale));
  const height = Math.max(1, Math.round(files.height * scale));
  const { data: rgb } = await sharp(join(runDir, files.image))
    .resize(width, height, { fit: 'fill' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const labels = async (file: string) => {
    const { data } = await sharp(join(runDir, file))
      .resize(width, height, { fit: 'fill', kernel: 'nearest' })
      .toColourspace('b-w')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return Uint8Array.from(data, (v) => (v > 127 ? 1 : 0));
  };
  const comparison = comparePixels(rgb, await labels(files.truth), await labels(files.mask), width, height);
  return { image: await pngDataUri(rgb, width, height), comparison: await pngDataUri(comparison, width, height), width, height };
}

/**
 * The RGB image with a 0/1 truth and prediction compared on it: misses
 * (truth, not predicted) tinted MISS_COLOUR, false alarms (predicted, not
 * truth) tinted FALSE_ALARM_COLOUR, the edge of the agreement (both)
 * outlined in AGREEMENT_COLOUR; the rest is the image.
 */
export function comparePixels(rgb: Uint8Array, truth: Uint8Array, predicted: Uint8Array, width: number, height: number): Buffer {
  const out = Buffer.from(rgb);
  const comparison = compareMasks(truth, predicted);
  const edge = outline(Uint8Array.from(comparison, (v) => (v === AGREEMENT ? 1 : 0)), width, height);
  const tint = (i: number, colour: readonly number[]) => {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round((1 - TINT) * rgb[i * 3 + c] + TINT * colour[c]);
  };
  for (let i = 0; i < comparison.length; i++) {
    if (edge[i]) out.set(AGREEMENT_COLOUR, i * 3);
    else if (comparison[i] === MISS) tint(i, MISS_COLOUR);
    else if (comparison[i] === FALSE_ALARM) tint(i, FALSE_ALARM_COLOUR);
  }
  return out;
}

async function pngDataUri(rgb: Buffer, width: number, height: number): Promise<string> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
