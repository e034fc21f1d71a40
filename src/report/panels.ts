/**
 * The report's example pictures: an image, its ground truth and the
 * prediction side by side, outlines drawn on the image, as PNG data URIs so
 * that the report stays one file.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { outline } from '../infer/outputs.js';
import type { ValidationFiles } from './validation.js';

/** Outline colours: ground truth green, prediction magenta (told apart by colour-blind readers too). */
export const TRUTH_COLOUR = [0, 224, 96] as const;
export const PREDICTION_COLOUR = [255, 0, 255] as const;

/** The three pictures of one example. */
export interface ExamplePanels {
  image: string;
  truth: string;
  prediction: string;
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
  const drawn = (mask: Uint8Array, colour: readonly number[]) => {
    const out = Buffer.from(rgb);
    const edge = outline(mask, width, height);
    for (let i = 0; i < edge.length; i++) if (edge[i]) out.set(colour, i * 3);
    return pngDataUri(out, width, height);
  };
  return {
    image: await pngDataUri(rgb, width, height),
    truth: await drawn(await labels(files.truth), TRUTH_COLOUR),
    prediction: await drawn(await labels(files.mask), PREDICTION_COLOUR),
    width,
    height,
  };
}

async function pngDataUri(rgb: Buffer, width: number, height: number): Promise<string> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
