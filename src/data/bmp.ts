/**
 * A small BMP decoder, because sharp's prebuilt libvips has no BMP loader.
 *
 * Handles what microscopy and annotation tools write: uncompressed
 * (BI_RGB) 1/4/8-bit palette, 24-bit and 32-bit images, plus 16/32-bit
 * BI_BITFIELDS; top-down and bottom-up rows. Anything else (RLE compression,
 * embedded JPEG/PNG) is refused with a message that says which feature it is.
 */
import type { RawImage } from './raw.js';

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** True when the buffer starts with the BMP signature "BM". */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** The width and height from the header, without decoding pixels. */
export function bmpSize(bytes: Uint8Array): { width: number; height: number; channels: number } {
  const h = readHeader(bytes);
  return { width: h.width, height: h.height, channels: h.gray ? 1 : 3 };
}

/** Decodes a BMP into gray (when every palette entry is gray) or RGB. */
export function decodeBmp(bytes: Uint8Array): RawImage {
  const h = readHeader(bytes);
  const { width, height, bpp } = h;
  const channels = h.gray ? 1 : 3;
  const out = new Uint8Array(width * height * channels);
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  if (h.pixelOffset + rowBytes * height > bytes.length) throw new Error('BMP pixel data is truncated');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let y = 0; y < height; y++) {
    const row = h.pixelOffset + (h.topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      let r: number, g: number, b: number;
      if (bpp <= 8) {
        const bit = x * bpp;
        const index = (bytes[row + (bit >> 3)] >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        if (index >= h.palette.length / 3) throw new Error(`BMP palette index ${index} is out of range`);
        r = h.palette[index * 3];
        g = h.palette[index * 3 + 1];
        b = h.palette[index * 3 + 2];
      } else if (h.masks) {
        const v = bpp === 16 ? view.getUint16(row + x * 2, true) : view.getUint32(row + x * 4, true);
        r = extract(v, h.masks[0]);
        g = extract(v, h.masks[1]);
        b = extract(v, h.masks[2]);
      } else {
        const p = row + x * (bpp >> 3);
        b = bytes[p];
        g = bytes[p + 1];
        r = bytes[p + 2];
      }
      const o = (y * width + x) * channels;
      if (channels === 1) out[o] = r;
      else {
        out[o] = r;
        out[o + 1] = g;
        out[o + 2] = b;
      }
    }
  }
  return { width, height, channels, data: out, maxValue: 255 };
}

interface BmpHeader {
  width: number;
  height: number;
  bpp: number;
  topDown: boolean;
  pixelOffset: number;
  /** RGB triples. */
  palette: Uint8Array;
  masks: [number, number, number] | null;
  gray: boolean;
}

function readHeader(bytes: Uint8Array): BmpHeader {
  if (!isBmp(bytes) || bytes.length < 54) throw new Error('not a BMP file (bad header)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const dibSize = view.getUint32(14, true);
  if (dibSize < 40) throw new Error(`BMP header version with size ${dibSize} is not supported (OS/2 bitmap)`);
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bpp = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const colorsUsed = view.getUint32(46, true);
  if (width <= 0 || rawHeight === 0) throw new Error(`BMP has invalid size ${width}x${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  let masks: [number, number, number] | null = null;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // the masks follow a 40-byte header; later header versions contain them
    masks = [view.getUint32(54, true), view.getUint32(58, true), view.getUint32(62, true)];
  } else if (compression !== BI_RGB) {
    throw new Error(`BMP compression type ${compression} (RLE or embedded JPEG/PNG) is not supported`);
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f];
  }
  let palette = new Uint8Array(0);
  let gray = false;
  if (bpp <= 8) {
    const count = colorsUsed || 1 << bpp;
    const start = 14 + dibSize;
    palette = new Uint8Array(count * 3);
    for (let i = 0; i < count; i++) {
      palette[i * 3] = bytes[start + i * 4 + 2];
      palette[i * 3 + 1] = bytes[start + i * 4 + 1];
      palette[i * 3 + 2] = bytes[start + i * 4];
    }
    gray = true;
    for (let i = 0; i < count && gray; i++) {
      gray = palette[i * 3] === palette[i * 3 + 1] && palette[i * 3] === palette[i * 3 + 2];
    }
  }
  return { width, height: Math.abs(rawHeight), bpp, topDown: rawHeight < 0, pixelOffset, palette, masks, gray };
}

/** The channel selected by `mask`, scaled to 8 bits. */
function extract(value: number, mask: number): number {
  if (mask === 0) return 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return Math.round((((value & mask) >>> shift) * 255) / max);
}
