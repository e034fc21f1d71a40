/**
 * Decoded pixels as they come from the file, before any conversion to float.
 *
 * The loader caches images in this form: one byte (or two, for 16-bit files)
 * per value is a quarter of a float32 copy, and a patch only converts the
 * pixels it actually reads.
 */
export interface RawImage {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB); alpha is dropped on decoding. */
  channels: number;
  /** Interleaved HWC values; Uint16Array for 16-bit files. */
  data: Uint8Array | Uint16Array;
  /** 255 or 65535: the value that maps to 1.0. */
  maxValue: number;
}
