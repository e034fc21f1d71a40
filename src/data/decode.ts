/**
 * File decoding: sharp (libvips) for PNG, JPEG, TIFF and the rest, our own
 * decoder for BMP. Alpha is dropped, gray stays one channel, and 16-bit files
 * keep their 16 bits.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { bmpSize, decodeBmp, isBmp } from './bmp.js';
import type { RawImage } from './raw.js';

/** Size and channel count (after dropping alpha) read from the header only. */
export interface ImageHeader {
  width: number;
  height: number;
  channels: number;
  /** 1 for 8-bit files, 2 for 16-bit. */
  bytesPerValue: number;
}

/** Reads the header of an image file; throws if the format is not understood. */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const bytes = await readFile(path);
  if (isBmp(bytes)) return { ...bmpSize(bytes), bytesPerValue: 1 };
  const meta = await sharp(bytes).metadata();
  if (!meta.width || !meta.height || !meta.channels) throw new Error('image has no size');
  return { width: meta.width, height: meta.height, channels: meta.channels <= 2 ? 1 : 3, bytesPerValue: meta.depth === 'ushort' ? 2 : 1 };
}

/**
 * An image file that cannot be read or decoded: a problem of the input, not of
 * patho, which the CLI reports with exit code 2. The message names the file.
 */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';

  constructor(
    readonly file: string,
    /** What is wrong with it, without the file name. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** Decodes an image file to interleaved 8- or 16-bit values; throws ImageDecodeError naming the file. */
export async function decodeImageFile(path: string): Promise<RawImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ImageDecodeError(path, `cannot read: ${(error as Error).message}`);
  }
  try {
    return await decodeImageBytes(bytes);
  } catch (error) {
    throw new ImageDecodeError(path, `does not decode: ${(error as Error).message}`);
  }
}

/** Decodes encoded image bytes to interleaved 8- or 16-bit values. */
export async function decodeImageBytes(bytes: Uint8Array): Promise<RawImage> {
  if (isBmp(bytes)) return decodeBmp(bytes);
  const meta = await sharp(bytes).metadata();
  // gray (with or without alpha) must be asked for explicitly: sharp's raw
  // output defaults to sRGB and would triple gray channels
  const gray = (meta.channels ?? 3) <= 2;
  const sixteen = meta.depth === 'ushort';
  const space = gray ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  const { data, info } = await sharp(bytes)
    .removeAlpha()
    .toColourspace(space)
    .raw({ depth: sixteen ? 'ushort' : 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const values = sixteen
    ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { width: info.width, height: info.height, channels: info.channels, data: values, maxValue: sixteen ? 65535 : 255 };
}
