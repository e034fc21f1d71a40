/**
 * Sliding-window inference against a whole-image pass of the same network, on
 * synthetic images that are not a multiple of the tile size.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { predictSliding, predictTiled, planarSource, tileStarts } from '../../src/infer/sliding.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad, setNumThreads } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { fixedConvNet, syntheticImage } from './helpers.js';

setNumThreads(2);

type Net = ReturnType<typeof fixedConvNet>;
type Image = ReturnType<typeof syntheticImage>;

function wholeImage(net: Net, image: Image): Float32Array {
  return noGrad(() => tidy(() => net.probabilities(net.forward(tensor(image.data, [1, image.channels, image.height, image.width]))).toFloat32Array()));
}

function maxDiff(a: Float32Array, b: Float32Array, keepPixel: (i: number) => boolean = () => true): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) if (keepPixel(i)) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test('tiled == whole-image for a pointwise net on 400x330 with 128-pixel tiles, every blending and with TTA', () => {
  const net = fixedConvNet(3, 1);
  const image = syntheticImage(400, 330);
  const whole = wholeImage(net, image);
  const start = memory().numTensors;
  for (const blend of ['gaussian', 'cosine', 'constant'] as const) {
    const map = predictSliding(net, image, { tile: 128, overlap: 0.25, batchSize: 3, blend });
    assert.deepEqual([map.classes, map.height, map.width], [1, 330, 400]);
    assert.ok(maxDiff(map.data, whole) < 1e-5, `${blend}: max difference ${maxDiff(map.data, whole)}`);
  }
  const tta = predictSliding(net, image, { tile: 128, overlap: 0.5, tta: true });
  assert.ok(maxDiff(tta.data, whole) < 1e-5, `tta: max difference ${maxDiff(tta.data, whole)}`);
  assert.equal(memory().numTensors, start);
  net.dispose();
});

test('tiled 3x3 net on 611x389: == whole image within 1e-4 away from tile edges, no seams near them', () => {
  const net = fixedConvNet(3, 3);
  const image = syntheticImage(611, 389);
  const whole = wholeImage(net, image);
  const tile = 96;
  const step = Math.round(tile * 0.75);
  const edges = (size: number) => {
    const near = new Uint8Array(size);
    for (const s of tileStarts(size, tile, step)) {
      for (const e of [s, s + tile - 1]) for (let d = -1; d <= 1; d++) if (e + d >= 0 && e + d < size && e !== 0 && e !== size - 1) near[e + d] = 1;
    }
    return near;
  };
  const nearRow = edges(image.height);
  const nearCol = edges(image.width);
  const map = predictSliding(net, image, { tile, overlap: 0.25 });
  const away = (i: number) => !nearRow[Math.floor(i / image.width)] && !nearCol[i % image.width];
  assert.ok(maxDiff(map.data, whole, away) < 1e-4, `away from tile edges: ${maxDiff(map.data, whole, away)}`);
  // next to a tile edge the blending gives the edge pixel a weight of ~1e-3 against its neighbour's
  assert.ok(maxDiff(map.data, whole) < 2e-3, `near tile edges: ${maxDiff(map.data, whole)}`);
  const constant = predictSliding(net, image, { tile, overlap: 0.25, blend: 'constant' });
  assert.ok(maxDiff(constant.data, whole) > 10 * maxDiff(map.data, whole), 'constant weights show the seams Gaussian weights hide');
  net.dispose();
});

test('an image smaller than the tile (37x21 with 64-pixel tiles) is padded by reflection and cropped back', () => {
  const net = fixedConvNet(3, 1);
  const image = syntheticImage(37, 21);
  const map = predictSliding(net, image, { tile: 64 });
  assert.deepEqual([map.width, map.height], [37, 21]);
  assert.ok(maxDiff(map.data, wholeImage(net, image)) < 1e-5);
  net.dispose();
});

test('predictTiled streams rows top to bottom, once each, and skipped tiles predict background', () => {
  const net = fixedConvNet(3, 1);
  const image = syntheticImage(300, 250);
  const whole = wholeImage(net, image);
  const seen: [number, number][] = [];
  const out = new Float32Array(300 * 250);
  const progress: number[] = [];
  predictTiled(net, planarSource(image), {
    tile: 64,
    overlap: 0.25,
    skipTile: (x, y) => x >= 150 && y >= 100,
    onRows(y0, rows, p) {
      seen.push([y0, rows]);
      out.set(p, y0 * 300);
    },
    onProgress: (done) => progress.push(done),
  });
  let next = 0;
  for (const [y0, rows] of seen) {
    assert.equal(y0, next);
    next += rows;
  }
  assert.equal(next, 250);
  assert.equal(progress.at(-1), tileStarts(300, 64, 48).length * tileStarts(250, 64, 48).length);
  // a pixel only skipped tiles cover is 0; one only run tiles cover is the network's output
  assert.equal(out[249 * 300 + 299], 0);
  assert.ok(Math.abs(out[10 * 300 + 10] - whole[10 * 300 + 10]) < 1e-6);
  net.dispose();
});

test('bad options and a channel mismatch are errors that say what is wrong', () => {
  const net = fixedConvNet(3, 1);
  const image = syntheticImage(20, 20);
  assert.throws(() => predictSliding(net, image, { overlap: 1 }), /overlap must be in \[0, 1\), got 1/);
  assert.throws(() => predictSliding(net, image, { tile: 0 }), /tile must be a positive integer, got 0/);
  assert.throws(() => predictSliding(net, syntheticImage(20, 20, 1)), /the model expects 3-channel images, this one has 1/);
  net.dispose();
});
