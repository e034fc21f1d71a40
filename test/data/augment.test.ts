import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  augment,
  brightnessContrast,
  drawElastic,
  flipHorizontal,
  flipVertical,
  gaussianBlur,
  gaussianNoise,
  PRESETS,
  rotate90,
  stainJitter,
  warp,
  type AugmentConfig,
  type Pair,
} from '../../src/data/augment/index.js';
import { Rng } from '../../src/data/rng.js';

const W = 48;
const H = 40;

/**
 * A known pattern: an off-centre L shape and a disc, so that flips and
 * rotations are distinguishable. Channel 0 of the image equals the mask
 * (0 or 1); the other channels hold unrelated ramps.
 */
function pattern(channels = 3, w = W, h = H): Pair {
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inL = (x >= 6 && x < 12 && y >= 5 && y < 30) || (x >= 6 && x < 26 && y >= 24 && y < 30);
      const inDisc = (x - 34) ** 2 + (y - 12) ** 2 < 36;
      mask[y * w + x] = inL || inDisc ? 1 : 0;
    }
  }
  const data = new Float32Array(channels * w * h);
  for (let i = 0; i < w * h; i++) {
    data[i] = mask[i];
    for (let c = 1; c < channels; c++) data[c * w * h + i] = ((i * (c + 3)) % 97) / 97;
  }
  return { image: { width: w, height: h, channels, data }, mask: { width: w, height: h, data: mask } };
}

function assertBinary(pair: Pair): void {
  for (const v of pair.mask.data) assert.ok(v === 0 || v === 1, `mask value ${v}`);
}

/** Mask and image channel 0 agree exactly (whole-pixel moves). */
function assertExactlyAligned(pair: Pair): void {
  assertBinary(pair);
  pair.mask.data.forEach((m, i) => assert.equal(pair.image.data[i], m, `pixel ${i}`));
}

/**
 * Mask (nearest) and image channel 0 (bilinear) agree wherever the image is
 * clearly inside or outside, and the boundary band is thin.
 */
function assertAligned(pair: Pair): void {
  assertBinary(pair);
  let uncertain = 0;
  pair.mask.data.forEach((m, i) => {
    const v = pair.image.data[i];
    if (v > 0.75) assert.equal(m, 1, `pixel ${i}: image ${v}, mask ${m}`);
    else if (v < 0.25) assert.equal(m, 0, `pixel ${i}: image ${v}, mask ${m}`);
    else uncertain++;
  });
  assert.ok(uncertain < 0.1 * pair.mask.data.length, `${uncertain} boundary pixels`);
}

function changed(a: Pair, b: Pair): boolean {
  return a.mask.data.some((v, i) => v !== b.mask.data[i]);
}

test('flips and 90-degree rotations move image and mask together', () => {
  const start = pattern();
  for (const [name, out] of [
    ['flipHorizontal', flipHorizontal(start)],
    ['flipVertical', flipVertical(start)],
    ['rotate90 k=1', rotate90(start, 1)],
    ['rotate90 k=2', rotate90(start, 2)],
    ['rotate90 k=3', rotate90(start, 3)],
  ] as const) {
    assertExactlyAligned(out);
    assert.ok(out.mask.width * out.mask.height === W * H, name);
  }
  const r = rotate90(start, 1);
  assert.deepEqual([r.mask.width, r.mask.height], [H, W]);
  // counter-clockwise: the top-right source pixel lands top-left
  assert.equal(r.mask.data[0], start.mask.data[W - 1]);
  assert.deepEqual(rotate90(rotate90(start, 1), 3).mask.data, start.mask.data);
  assert.deepEqual(flipHorizontal(flipHorizontal(start)).image.data, start.image.data);
});

test('rotation, scaling and elastic deformation keep masks binary and aligned', () => {
  const start = pattern();
  const rng = new Rng(3);
  const cases: Array<[string, Parameters<typeof warp>[1]]> = [
    ['rotate 37 degrees', { angle: (37 * Math.PI) / 180, scale: 1, elastic: null }],
    ['scale 1.3', { angle: 0, scale: 1.3, elastic: null }],
    ['scale 0.7', { angle: 0, scale: 0.7, elastic: null }],
    ['elastic sigma 4', { angle: 0, scale: 1, elastic: drawElastic(rng, 3, 4) }],
    ['all together', { angle: -0.5, scale: 1.1, elastic: drawElastic(rng, 4, 3) }],
  ];
  for (const [name, params] of cases) {
    const out = warp(start, params);
    assertAligned(out);
    assert.ok(changed(start, out), `${name} changed nothing`);
  }
});

test('elastic deformation with zero strength is the identity', () => {
  const start = pattern();
  const out = warp(start, { angle: 0, scale: 1, elastic: drawElastic(new Rng(1), 3, 0) });
  assert.deepEqual(out.image.data, start.image.data);
  assert.deepEqual(out.mask.data, start.mask.data);
  const viaConfig = augment(pattern(), { elastic: { p: 1, sigma: 0, grid: 3 } }, new Rng(1));
  assert.deepEqual(viaConfig.image.data, start.image.data);
});

test('stain jitter with zero strength returns the image within rounding, and changes colour otherwise', () => {
  const { image } = pattern();
  // realistic H&E-like colours, away from 0 where the 1e-6 floor applies
  for (let i = 0; i < image.data.length; i++) image.data[i] = 0.05 + 0.9 * ((i * 7919) % 1000) / 1000;
  const original = image.data.slice();
  stainJitter(image, [1, 1, 1], [0, 0, 0]);
  let worst = 0;
  image.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - original[i]))));
  assert.ok(worst < 1e-5, `largest difference ${worst}`);
  stainJitter(image, [1.2, 0.9, 1], [0.02, -0.01, 0]);
  let moved = 0;
  image.data.forEach((v, i) => (moved = Math.max(moved, Math.abs(v - original[i]))));
  assert.ok(moved > 0.01, `stain jitter moved values by at most ${moved}`);
  image.data.forEach((v) => assert.ok(v >= 0 && v <= 1));
});

test('intensity transforms leave values in [0, 1] and do not touch masks', () => {
  const pair = pattern();
  const maskBefore = pair.mask.data.slice();
  brightnessContrast(pair.image, 0.3, 1.5);
  gaussianBlur(pair.image, 1.2);
  gaussianNoise(pair.image, 0.1, new Rng(9));
  for (const v of pair.image.data) assert.ok(v >= 0 && v <= 1, `value ${v}`);
  assert.deepEqual(pair.mask.data, maskBefore);
  // blur keeps a constant image constant (mirrored borders, normalised kernel)
  const flat = pattern(1);
  flat.image.data.fill(0.4);
  gaussianBlur(flat.image, 2);
  for (const v of flat.image.data) assert.ok(Math.abs(v - 0.4) < 1e-6);
});

test('presets with every transform forced on keep masks binary and aligned', () => {
  for (const [name, preset] of Object.entries(PRESETS)) {
    const always = Object.fromEntries(Object.entries(preset).map(([k, v]) => [k, { ...v, p: 1 }])) as AugmentConfig;
    for (let seed = 0; seed < 4; seed++) {
      // geometric transforms only, so channel 0 still mirrors the mask
      const geometric: AugmentConfig = {
        flipHorizontal: always.flipHorizontal,
        flipVertical: always.flipVertical,
        rotate90: always.rotate90,
        rotate: always.rotate,
        scale: always.scale,
        elastic: always.elastic,
      };
      assertAligned(augment(pattern(3, 40, 40), geometric, new Rng(seed)));
      const full = augment(pattern(name === 'em' ? 1 : 3, 40, 40), always, new Rng(seed));
      assertBinary(full);
      assert.deepEqual([full.mask.width, full.mask.height], [40, 40], `${name} keeps the shape`);
    }
  }
});

test('augmentation is a function of the stream: same seed, same result', () => {
  const a = augment(pattern(), PRESETS.he, Rng.derive(5, 1, 2));
  const b = augment(pattern(), PRESETS.he, Rng.derive(5, 1, 2));
  const c = augment(pattern(), PRESETS.he, Rng.derive(5, 1, 3));
  assert.deepEqual(a.image.data, b.image.data);
  assert.deepEqual(a.mask.data, b.mask.data);
  assert.notDeepEqual(a.image.data, c.image.data);
});

test('non-square patches keep their shape under rotate90', () => {
  for (let seed = 0; seed < 8; seed++) {
    const out = augment(pattern(), { rotate90: { p: 1 } }, new Rng(seed));
    assert.deepEqual([out.mask.width, out.mask.height], [W, H]);
  }
});
