/**
 * Evaluation of a model trained at a working resolution (`--downsample`):
 * the network sees the images shrunk, its loss compares with the masks shrunk
 * alike, and the scores are those of its probabilities brought back to the
 * masks' own pixels.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataLoader } from '../../src/data/loader.js';
import { downsamplePlanar, upsamplePlanar } from '../../src/data/scale.js';
import type { HostBatch } from '../../src/data/types.js';
import { loadTrainedNet } from '../../src/infer/trained.js';
import { UNet } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { cat, softmax } from '../../src/tensor/ops.js';
import { memory, noGrad } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { evaluateBinary, evaluateMulticlass, type SegmentationNet } from '../../src/train/evaluate.js';
import { Model } from '../../src/train/model.js';
import { assertCloseValues } from '../close.js';
import { tempDir, writeShapes } from './helpers.js';

const [H, W] = [12, 16];

/** An image that is its own mask: 1 inside the rectangle [x0, x1) x [y0, y1), 0 outside. */
function squareBatch(x0: number, x1: number, y0: number, y1: number): HostBatch {
  const masks = new Uint8Array(H * W).map((_, i) => {
    const [y, x] = [Math.floor(i / W), i % W];
    return x >= x0 && x < x1 && y >= y0 && y < y1 ? 1 : 0;
  });
  return { names: ['square'], images: Float32Array.from(masks), masks, shape: [1, 1, H, W] };
}

/** A "network" that is sure of what it sees: logits 20 (2 x - 1); records the shapes it was given. */
function sureNet(seen: number[][]): SegmentationNet {
  return {
    forward: (x: Tensor) => {
      seen.push([...x.shape]);
      return x.mul(40).sub(20);
    },
    probabilities: (logits: Tensor) => logits.sigmoid(),
    train: () => undefined,
    training: false,
  };
}

async function* one(batch: HostBatch): AsyncGenerator<HostBatch> {
  yield batch;
}

test('a square on the 2-pixel grid comes back exactly: the net saw 6x8, Dice 1 at full resolution, the loss against the shrunk mask', async () => {
  const before = memory().numTensors;
  const seen: number[][] = [];
  const lossShapes: number[][] = [];
  const loss = (logits: Tensor, masks: Tensor) => {
    lossShapes.push([...masks.shape]);
    return logits.sub(logits).sum();
  };
  const report = await evaluateBinary(sureNet(seen), one(squareBatch(4, 12, 2, 8)), { thresholds: [0.5], downsample: 2, loss });
  assert.deepEqual(seen, [[1, 1, 6, 8]]);
  assert.deepEqual(lossShapes, [[1, 1, 6, 8]]);
  assert.equal(report.thresholds['0.5'].dice, 1);
  assert.equal(memory().numTensors, before);
});

test('a square off the grid is blurred at its edges: Dice below 1 but the shape kept, scored on all of the full-size mask', async () => {
  const seen: number[][] = [];
  // columns 3..12 (odd start): the first block column is half in, half out
  const report = await evaluateBinary(sureNet(seen), one(squareBatch(3, 13, 3, 9)), { thresholds: [0.5], downsample: 2 });
  assert.deepEqual(seen, [[1, 1, 6, 8]]);
  const dice = report.thresholds['0.5'].dice;
  assert.ok(dice > 0.8 && dice < 1, `Dice ${dice}`);
  // the same square at full resolution is exact
  const exact = await evaluateBinary(sureNet([]), one(squareBatch(3, 13, 3, 9)), { thresholds: [0.5] });
  assert.equal(exact.thresholds['0.5'].dice, 1);
  assert.equal(report.perImage.length, 1);
});

test('several classes: the most probable class of the probabilities brought back, scored at full resolution', async () => {
  const before = memory().numTensors;
  const seen: number[][] = [];
  const net = {
    options: { classes: 2 },
    forward: (x: Tensor) => {
      seen.push([...x.shape]);
      // class 1's logit is 20 (2x - 1), class 0's its negative
      const one = x.mul(40).sub(20);
      return cat([one.neg(), one], 1);
    },
    probabilities: (logits: Tensor) => softmax(logits, 1),
    train: () => undefined,
    training: false,
  };
  const aligned = await evaluateMulticlass(net, one(squareBatch(4, 12, 2, 8)), { downsample: 2 });
  assert.deepEqual(seen, [[1, 1, 6, 8]]);
  assert.equal(aligned.thresholds.argmax.dice, 1);
  const off = await evaluateMulticlass(net, one(squareBatch(3, 13, 3, 9)), { downsample: 2 });
  assert.ok(off.thresholds.argmax.dice > 0.8 && off.thresholds.argmax.dice < 1, `Dice ${off.thresholds.argmax.dice}`);
  assert.equal(memory().numTensors, before);
});

test("Model trained on a loader at 1/2: its checkpoint records it, and predict and a reloaded Model answer at the input's size through the shrunk image", async (t) => {
  const { dir, cleanup } = await tempDir();
  const before = memory().numTensors;
  try {
    await writeShapes(join(dir, 'data'), { count: 4, size: 32, seed: 3 });
    const loader = new DataLoader(join(dir, 'data'), 'images', 'masks', { batchSize: 2, downsample: 2, validation: { names: ['3'] }, workers: 0, augment: 'none' });
    const modelPath = join(dir, 'model.pt');
    const net = new UNet({ depth: 2, baseChannels: 2 });
    const model = new Model(net, { lr: 1e-3, optimizer: 'adam', modelPath });
    try {
      await model.train(loader, { epochs: 1, progress: null });
      const saved = await loadTrainedNet(modelPath);
      saved.net.dispose();
      assert.equal(saved.meta.downsample, 2);
      const images = tensor(Float32Array.from({ length: 32 * 32 }, (_, i) => ((i * 7) % 11) / 11), [1, 1, 32, 32]);
      const probabilities = await model.predict(images);
      assert.deepEqual(probabilities.shape, [1, 1, 32, 32]);
      // the reference by hand: the eval-mode network on the block means, grown bilinearly
      net.eval();
      const small = noGrad(() => tidy(() => net.probabilities(net.forward(tensor(downsamplePlanar(images.toFloat32Array(), 1, 1, 32, 32, 2), [1, 1, 16, 16]))).toFloat32Array()));
      net.train();
      // the same float32 forward pass twice: equal but for kernels' rounding (K: the 2-level network's longest chain of sums, under 1000 terms)
      assertCloseValues(t, 'Model.predict vs shrink, forward, grow', probabilities.toFloat32Array(), upsamplePlanar(small, 1, 16, 16, 2, 32, 32), { precision: 'float32', terms: 1000 });
      // a Model that loads the checkpoint predicts alike
      const again = new Model(new UNet({ depth: 2, baseChannels: 2 }), { loadModel: true, modelPath });
      const reloaded = await again.predict(images);
      assert.deepEqual([...reloaded.shape], [1, 1, 32, 32]);
      for (const t of [images, probabilities, reloaded]) t.dispose();
      again.dispose();
    } finally {
      model.dispose();
      await loader.close();
    }
    assert.equal(memory().numTensors, before);
  } finally {
    await cleanup();
  }
});
