/**
 * Plain-TypeScript image and mask containers used by the data pipeline before
 * anything becomes a tensor; keeping them addon-free makes data code testable
 * without libtorch.
 */

/** A decoded image: planar (CHW) float32 values scaled to [0, 1]. */
export interface PlanarImage {
  width: number;
  height: number;
  channels: number;
  /** length channels * height * width, channel-major (CHW). */
  data: Float32Array;
}

/** A label mask: one class index per pixel (0 = background), row-major HW. */
export interface LabelMask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One training sample after decoding, patching and augmentation. */
export interface Sample {
  name: string;
  image: PlanarImage;
  mask: LabelMask;
}

/**
 * A batch ready to become tensors: images NCHW float32 (already normalised),
 * masks N x H x W class indices.
 */
export interface HostBatch {
  names: string[];
  images: Float32Array;
  masks: Uint8Array;
  /** [N, C, H, W] */
  shape: [number, number, number, number];
  /**
   * The true objects, where the masks number them (--foreground instances):
   * each distinct nonzero value one object; the object metrics use these
   * instead of the masks' connected components, which merge touching objects.
   */
  instances?: Uint8Array | Uint16Array;
}
