/**
 * Augmentation recipes: plain JSON objects (they travel to worker threads),
 * each transform with its probability and range.
 */

/** A probability in [0, 1] that the transform is applied to a sample. */
interface Chance {
  p: number;
}

/** Which transforms run, how often, and how strongly. Transforms left out never run. */
export interface AugmentConfig {
  /** Mirror left-right. */
  flipHorizontal?: Chance;
  /** Mirror top-bottom. */
  flipVertical?: Chance;
  /** Rotate by 90, 180 or 270 degrees (only 180 on non-square patches, whose shape must not change). */
  rotate90?: Chance;
  /** Rotate by an angle uniform in [-degrees, degrees] (mirrored borders). */
  rotate?: Chance & { degrees: number };
  /** Zoom by a factor uniform in range (> 1 enlarges). */
  scale?: Chance & { range: [number, number] };
  /**
   * Elastic deformation as in the U-Net paper: displacements drawn from
   * N(0, sigma^2) pixels on a grid x grid lattice, interpolated bicubically.
   */
  elastic?: Chance & { sigma: number; grid: number };
  /** Add a brightness offset uniform in range (images are in [0, 1]). */
  brightness?: Chance & { range: [number, number] };
  /** Scale deviations from the mean by a factor uniform in range. */
  contrast?: Chance & { range: [number, number] };
  /** Raise to a power uniform in range. */
  gamma?: Chance & { range: [number, number] };
  /** Gaussian blur with sigma (pixels) uniform in range. */
  blur?: Chance & { sigma: [number, number] };
  /** Additive Gaussian noise with sigma uniform in range. */
  noise?: Chance & { sigma: [number, number] };
  /**
   * H&E stain jitter (RGB only): each of the H, E and DAB concentrations is
   * multiplied by a factor uniform in [1 - scale, 1 + scale] and shifted by
   * an offset uniform in [-shift, shift]. Concentrations use scikit-image's
   * rgb2hed scaling, so ranges from the literature (Tellez et al. 2018: 0.05
   * "light", 0.2 "strong") carry over.
   */
  stain?: Chance & { scale: number; shift: number };
}

/** Named default recipes. */
export type PresetName = 'em' | 'he' | 'rigid';

/**
 * Electron microscopy (gray): the U-Net paper's recipe of rigid moves,
 * elastic deformation and gray-value changes.
 */
const em: AugmentConfig = {
  flipHorizontal: { p: 0.5 },
  flipVertical: { p: 0.5 },
  rotate90: { p: 0.5 },
  rotate: { p: 0.3, degrees: 15 },
  scale: { p: 0.3, range: [0.9, 1.1] },
  elastic: { p: 0.5, sigma: 10, grid: 3 },
  brightness: { p: 0.5, range: [-0.1, 0.1] },
  contrast: { p: 0.5, range: [0.8, 1.2] },
  gamma: { p: 0.3, range: [0.8, 1.25] },
  blur: { p: 0.1, sigma: [0.3, 1.0] },
  noise: { p: 0.2, sigma: [0, 0.03] },
};

/**
 * H&E histology (RGB): tissue has no orientation, and stain variation between
 * labs is the largest domain shift, hence stain jitter on most samples.
 */
const he: AugmentConfig = {
  flipHorizontal: { p: 0.5 },
  flipVertical: { p: 0.5 },
  rotate90: { p: 0.5 },
  rotate: { p: 0.3, degrees: 30 },
  scale: { p: 0.3, range: [0.8, 1.2] },
  elastic: { p: 0.3, sigma: 8, grid: 3 },
  stain: { p: 0.8, scale: 0.05, shift: 0.05 },
  brightness: { p: 0.3, range: [-0.08, 0.08] },
  contrast: { p: 0.3, range: [0.85, 1.15] },
  blur: { p: 0.1, sigma: [0.3, 1.0] },
  noise: { p: 0.1, sigma: [0, 0.02] },
};

/** Flips and 90-degree rotations only: the common minimal recipe, and the one PyTorch comparisons match. */
const rigid: AugmentConfig = {
  flipHorizontal: { p: 0.5 },
  flipVertical: { p: 0.5 },
  rotate90: { p: 0.5 },
};

/** The recipes by name. */
export const PRESETS: Readonly<Record<PresetName, AugmentConfig>> = { em, he, rigid };

/** What the loader's `augment` option accepts: a preset, a recipe, 'auto' (by channel count) or 'none'. */
export type AugmentOption = PresetName | AugmentConfig | 'auto' | 'none';

/** Resolves the augment option; 'auto' picks em for gray images and he for RGB. */
export function resolveAugment(option: AugmentOption, channels: number): AugmentConfig {
  if (option === 'none') return {};
  if (option === 'auto') return channels === 3 ? he : em;
  if (typeof option === 'string') {
    const preset = PRESETS[option];
    if (!preset) throw new Error(`unknown augmentation preset "${option}" (known: ${Object.keys(PRESETS).join(', ')})`);
    return preset;
  }
  return option;
}
