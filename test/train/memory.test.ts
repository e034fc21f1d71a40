/**
 * Training must not leak native tensors: after the optimizer has made its
 * state (first step), further steps, an evaluation and a prediction leave the
 * live-tensor count where it was. Each option that adds work to a step (Adam,
 * autocast, channels-last, loss scaling) is checked too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import type { HostBatch } from '../../src/data/types.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, memory, setNumThreads, tensor, tidy } from '../../src/tensor/index.js';
import { Model, type ModelOptions } from '../../src/train/model.js';
import { GradScaler } from '../../src/train/scaler.js';
import { tempDir, writeShapes } from './helpers.js';

let dir = '';
let cleanup = async () => {};
let batches: HostBatch[] = [];
before(async () => {
  ({ dir, cleanup } = await tempDir('patho-memory-'));
  await writeShapes(dir, { count: 6, size: 32, seed: 9 });
  const loader = new DataLoader(dir, 'images', 'masks', { batchSize: 2, augment: 'em', seed: 9, workers: 0 });
  try {
    for await (const batch of loader.epochBatches(0)) batches.push(batch);
  } finally {
    await loader.close();
  }
});
after(() => cleanup());

async function async<T>(items: T[]): Promise<AsyncIterable<T>> {
  return (async function* () {
    yield* items;
  })();
}

const variants: [string, ModelOptions][] = [
  ['SGD with momentum', { optimizer: 'sgd', momentum: 0.9 }],
  ['Adam', { optimizer: 'adam', lr: 1e-3 }],
  ['bfloat16 autocast and channels-last', { optimizer: 'adam', lr: 1e-3, amp: 'bfloat16', memoryFormat: 'channelsLast' }],
  // libtorch's CPU autocast has no float16: the option must be a no-op there, not an error
  ['float16 amp on the CPU', { optimizer: 'sgd', momentum: 0.9, amp: 'float16' }],
];

for (const [name, options] of variants) {
  test(`${name}: live tensors return to their count after 5 steps, an evaluate and a predict`, async () => {
    setNumThreads(1);
    manualSeed(9);
    const model = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 4 }), { ...options, modelPath: `${dir}/model.pt` });
    try {
      // the first step creates the optimizer's state, which lives as long as the model
      assert.ok(Number.isFinite(model.trainStep(batches[0])));
      const start = memory().numTensors;
      for (let i = 0; i < 5; i++) assert.ok(Number.isFinite(model.trainStep(batches[i % batches.length])));
      assert.equal(memory().numTensors, start, 'after training steps');
      const report = await model.evaluate(await async(batches), { thresholds: [0.5], sweep: true });
      assert.equal(report.images, 6);
      assert.equal(memory().numTensors, start, 'after evaluate');
      const image = tensor(batches[0].images, batches[0].shape);
      const probabilities = await model.predict(image);
      assert.deepEqual(probabilities.shape, [2, 1, 32, 32]);
      image.dispose();
      probabilities.dispose();
      assert.equal(memory().numTensors, start, 'after predict');
    } finally {
      model.dispose();
    }
  });
}

test('GradScaler: scaled backward and unscale leave no tensors behind; an overflow skips the step and halves the scale', () => {
  const weight = tensor(Float32Array.from([0.5, -1, 2]), [3]);
  weight.requiresGrad = true;
  const scaler = new GradScaler({ initScale: 1024 });
  const step = (input: number[]) => {
    tidy(() => scaler.scaleLoss(weight.mul(tensor(Float32Array.from(input), [3])).sum()).backward());
    const finite = scaler.unscale([weight]);
    const grad = weight.grad!;
    const values = [...grad.toArray()];
    grad.dispose();
    weight.grad = null;
    return { finite, values };
  };
  step([1, 1, 1]);
  const start = memory().numTensors;
  // unscaled, the gradient of sum(w * x) is x again
  assert.deepEqual(step([1, 2, 3]), { finite: true, values: [1, 2, 3] });
  assert.equal(memory().numTensors, start);
  const overflow = step([Infinity, 0, 0]);
  assert.equal(overflow.finite, false);
  assert.equal(scaler.scale, 512);
  assert.equal(memory().numTensors, start);
  weight.dispose();
});
