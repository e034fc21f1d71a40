/**
 * The working resolution (src/data/scale.ts): block means, block labels,
 * PyTorch's bilinear upsampling, and the data set and loader serving their
 * training pairs shrunk while validation stays at the files' pixels.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SegmentationDataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import {
  atWorkingResolution, checkDownsample, downsampleBatch, downsampleLabels, downsamplePlanar, downsampleRaw, scaledSide, upsamplePlanar,
} from '../../src/data/scale.js';
import { tensor } from '../../src/tensor/create.js';
import { interpolate } from '../../src/tensor/ops.js';
import { memory } from '../../src/tensor/runtime.js';
import { assertCloseValues } from '../close.js';
import { pixels, tempDir, writeImage } from './helpers.js';

test('block means of 8- and 16-bit pixels; the last, partial block averages what is left of the image', () => {
  // 5 x 3 gray: blocks of 2 are columns {0,1},{2,3},{4} and rows {0,1},{2}
  const raw = { width: 5, height: 3, channels: 1, maxValue: 255, data: Uint8Array.from([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 21, 22, 23, 24]) };
  const small = downsampleRaw(raw, 2);
  assert.deepEqual([small.width, small.height, small.maxValue], [3, 2, 255]);
  // (0+2+10+12)/4 = 6, (4+6+14+16)/4 = 10, (8+18)/2 = 13; (20+21)/2 = 20.5 -> 21 (round half up), (22+23)/2 -> 23, 24
  assert.deepEqual([...small.data], [6, 10, 13, 21, 23, 24]);
  const rgb16 = { width: 2, height: 2, channels: 3, maxValue: 65535, data: Uint16Array.from([0, 100, 60000, 2, 200, 60001, 4, 300, 60002, 6, 400, 60003]) };
  const one = downsampleRaw(rgb16, 2);
  assert.ok(one.data instanceof Uint16Array);
  assert.deepEqual([...one.data], [3, 250, 60002]);
  assert.equal(downsampleRaw(raw, 1), raw);
});

test('labels: the most frequent of each block, ties to the lower label, so a one-pixel gap between objects survives', () => {
  // two objects (1) separated by a one-pixel column of background at x = 3
  const width = 8, height = 2;
  const data = new Uint8Array(width * height).map((_, i) => (i % width === 3 ? 0 : 1));
  const small = downsampleLabels({ width, height, data }, 2);
  // block x {2,3}: two 1s and two 0s, a tie: background keeps the objects apart
  assert.deepEqual([...small.data], [1, 0, 1, 1]);
  // three labels in one block of 3x3 (partial blocks included): 2 wins with 4 pixels, the remainder column keeps its own majority
  const three = Uint8Array.from([2, 2, 1, 5, 2, 1, 0, 5, 2, 0, 0, 5]);
  assert.deepEqual([...downsampleLabels({ width: 4, height: 3, data: three }, 3).data], [2, 5]);
});

test('planar block means equal the raw ones for whole blocks, and a batch shrinks its masks alike', () => {
  const width = 6, height = 4;
  const planar = Float32Array.from({ length: 2 * 3 * height * width }, (_, i) => (i * 37) % 255);
  const small = downsamplePlanar(planar, 2, 3, height, width, 2);
  assert.equal(small.length, 2 * 3 * 2 * 3);
  // image 1, channel 2, block (1, 2): mean of rows 2-3, columns 4-5
  const at = (n: number, c: number, y: number, x: number) => planar[((n * 3 + c) * height + y) * width + x];
  const expected = (at(1, 2, 2, 4) + at(1, 2, 2, 5) + at(1, 2, 3, 4) + at(1, 2, 3, 5)) / 4;
  assert.equal(small[((1 * 3 + 2) * 2 + 1) * 3 + 2], expected);
  const masks = new Uint8Array(2 * height * width).map((_, i) => (i % width < 2 ? 1 : 0));
  const batch = downsampleBatch({ names: ['a', 'b'], images: planar, masks, shape: [2, 3, height, width], instances: new Uint16Array(2 * height * width) }, 2);
  assert.deepEqual(batch.shape, [2, 3, 2, 3]);
  assert.deepEqual([...batch.masks], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]);
  // object numbers are per pixel of the files: a shrunk batch does not carry them
  assert.equal(batch.instances, undefined);
});

test("upsampling is PyTorch's bilinear interpolate (align_corners false) at the factor, cropped to the input's size", (t) => {
  const before = memory().numTensors;
  for (const factor of [2, 3, 4]) {
    const [n, h, w] = [2, 5, 7];
    const data = Float32Array.from({ length: n * h * w }, (_, i) => Math.sin(i * 0.7) * 0.5 + 0.5);
    const x = tensor(data, [n, 1, h, w]);
    const reference = interpolate(x, { scaleFactor: factor, mode: 'bilinear' });
    const torch = reference.toFloat32Array();
    x.dispose();
    reference.dispose();
    const ours = upsamplePlanar(data, n, h, w, factor, h * factor, w * factor);
    // each value is two lerps of values in [0, 1]: a handful of roundings
    assertCloseValues(t, `factor ${factor}`, ours, torch, { precision: 'float32', terms: 4 });
    // an input whose side is not a multiple of the factor: the same grid, cropped
    const cropped = upsamplePlanar(data, n, h, w, factor, h * factor - 1, w * factor - (factor - 1));
    const W = w * factor, H = h * factor, cw = W - (factor - 1);
    for (let p = 0; p < n; p++) {
      for (let y = 0; y < H - 1; y++) {
        for (let xx = 0; xx < cw; xx++) assert.equal(cropped[(p * (H - 1) + y) * cw + xx], ours[(p * H + y) * W + xx]);
      }
    }
  }
  assert.equal(memory().numTensors, before);
});

test('a tile runner at the working resolution sees shrunk tiles and answers at their size, synchronous or not', async () => {
  const shapes: number[][] = [];
  // "probabilities": the first channel as it was seen
  const firstChannel = (input: Float32Array, shape: [number, number, number, number]) => {
    shapes.push(shape);
    const [n, c, h, w] = shape;
    const out = new Float32Array(n * h * w);
    for (let i = 0; i < n; i++) out.set(input.subarray(i * c * h * w, i * c * h * w + h * w), i * h * w);
    return out;
  };
  const input = Float32Array.from({ length: 2 * 3 * 9 * 10 }, (_, i) => (i % 13) / 13);
  const run = atWorkingResolution(firstChannel, 1, 2);
  const sync = run(input, [2, 3, 9, 10]);
  assert.ok(sync instanceof Float32Array);
  assert.deepEqual(shapes[0], [2, 3, 5, 5]);
  const small = downsamplePlanar(input, 2, 3, 9, 10, 2);
  const expected = upsamplePlanar(firstChannel(small, [2, 3, 5, 5]), 2, 5, 5, 2, 9, 10);
  assert.deepEqual(sync, expected);
  const asynchronous = await atWorkingResolution(async (i: Float32Array, s: [number, number, number, number]) => firstChannel(i, s), 1, 2)(input, [2, 3, 9, 10]);
  assert.deepEqual(asynchronous, expected);
  assert.equal(atWorkingResolution(firstChannel, 1, 1), firstChannel);
});

test('factors: whole numbers from 1 to 8; sides round up', () => {
  assert.equal(checkDownsample(2), 2);
  for (const bad of [0, 9, 2.5, -1, '2', null, NaN]) assert.throws(() => checkDownsample(bad, '--downsample'), /^Error: --downsample must be a whole number from 1 to 8/);
  assert.deepEqual([scaledSide(775, 2), scaledSide(522, 2), scaledSide(522, 4)], [388, 261, 131]);
});

test('a data set served at 1/2: shrunk masks and images, file sizes in the entries; the loader keeps validation at full resolution', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const [W, H] = [20, 14];
    for (const name of ['a', 'b', 'c']) {
      await writeImage(join(dir, 'images', `${name}.png`), pixels(W, H, 3, (x, y, c) => 10 * x + y + c));
      await writeImage(join(dir, 'masks', `${name}.png`), pixels(W, H, 1, (x) => (x >= 8 ? 255 : 0)));
    }
    const full = await SegmentationDataset.open(dir);
    const half = full.downsampled(2);
    assert.equal(half.downsample, 2);
    assert.deepEqual([half.entries[0].width, half.entries[0].height], [W, H]);
    assert.deepEqual([half.masks[0].width, half.masks[0].height], [10, 7]);
    assert.deepEqual([...half.masks[0].data.subarray(0, 10)], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    const image = await half.image(1);
    assert.deepEqual([image.width, image.height, image.channels], [10, 7, 3]);
    // pixel (0, 0) averages x 0-1, y 0-1: 10x + y + c over the block = 5 + 0.5 + c, rounded
    assert.deepEqual([...image.data.subarray(0, 3)], [6, 7, 8]);
    assert.equal(half.decodedBytes(), 3 * 10 * 7 * 3);
    assert.equal(half.subset(['b']).downsample, 2);
    // the shared form rebuilds the same served masks in a worker
    assert.deepEqual(SegmentationDataset.fromShared(half.toShared()).masks[2].data, half.masks[2].data);

    const loader = new DataLoader(dir, 'images', 'masks', { batchSize: 2, downsample: 2, validation: { names: ['c'] }, workers: 1, normalize: 'none', augment: 'none' });
    try {
      await loader.open();
      assert.equal(loader.downsample, 2);
      assert.deepEqual([loader.dataset.masks[0].width, loader.dataset.masks[0].height], [10, 7]);
      const validation = (await loader.validation())!;
      assert.equal(validation.downsample, 1);
      for await (const batch of validation.epochBatches(0)) assert.deepEqual(batch.shape, [1, 3, H, W]);
      for await (const batch of loader.epochBatches(0)) assert.deepEqual(batch.shape, [2, 3, 7, 10]);
    } finally {
      await loader.close();
    }
  } finally {
    await cleanup();
  }
});
