/**
 * The augmentation pipeline: geometric transforms on image and mask together,
 * then stain and intensity transforms on the image alone.
 */
import type { Rng } from '../rng.js';
import type { AugmentConfig } from './config.js';
import { drawElastic, flipHorizontal, flipVertical, rotate90, warp, type Pair, type WarpParams } from './geometric.js';
import { brightnessContrast, gamma, gaussianBlur, gaussianNoise } from './intensity.js';
import { stainJitter } from './stain.js';

export { PRESETS, resolveAugment, type AugmentConfig, type AugmentOption, type PresetName } from './config.js';
export { flipHorizontal, flipVertical, rotate90, warp, drawElastic, type Pair, type WarpParams } from './geometric.js';
export { brightnessContrast, gamma, gaussianBlur, gaussianNoise } from './intensity.js';
export { stainJitter } from './stain.js';

/**
 * Applies `config` to one sample with the sample's own stream `rng`; the
 * result depends only on the input, the config and the stream. Shape is kept
 * (90-degree turns of non-square patches are limited to 180 degrees).
 */
export function augment(pair: Pair, config: AugmentConfig, rng: Rng): Pair {
  if (config.flipHorizontal && rng.chance(config.flipHorizontal.p)) pair = flipHorizontal(pair);
  if (config.flipVertical && rng.chance(config.flipVertical.p)) pair = flipVertical(pair);
  if (config.rotate90 && rng.chance(config.rotate90.p)) {
    const square = pair.mask.width === pair.mask.height;
    pair = rotate90(pair, square ? 1 + rng.int(3) : 2);
  }
  const params: WarpParams = { angle: 0, scale: 1, elastic: null };
  if (config.rotate && rng.chance(config.rotate.p)) params.angle = (rng.uniform(-1, 1) * config.rotate.degrees * Math.PI) / 180;
  if (config.scale && rng.chance(config.scale.p)) params.scale = rng.uniform(config.scale.range[0], config.scale.range[1]);
  if (config.elastic && rng.chance(config.elastic.p)) params.elastic = drawElastic(rng, config.elastic.grid, config.elastic.sigma);
  if (params.angle !== 0 || params.scale !== 1 || params.elastic) pair = warp(pair, params);

  const image = pair.image;
  if (config.stain && image.channels === 3 && rng.chance(config.stain.p)) {
    const { scale, shift } = config.stain;
    const factors = [0, 1, 2].map(() => rng.uniform(1 - scale, 1 + scale));
    const offsets = [0, 1, 2].map(() => rng.uniform(-shift, shift));
    stainJitter(image, factors, offsets);
  }
  let brightness = 0;
  let contrast = 1;
  if (config.brightness && rng.chance(config.brightness.p)) brightness = rng.uniform(...config.brightness.range);
  if (config.contrast && rng.chance(config.contrast.p)) contrast = rng.uniform(...config.contrast.range);
  if (brightness !== 0 || contrast !== 1) brightnessContrast(image, brightness, contrast);
  if (config.gamma && rng.chance(config.gamma.p)) gamma(image, rng.uniform(...config.gamma.range));
  if (config.blur && rng.chance(config.blur.p)) gaussianBlur(image, rng.uniform(...config.blur.sigma));
  if (config.noise && rng.chance(config.noise.p)) gaussianNoise(image, rng.uniform(...config.noise.sigma), rng);
  return pair;
}
