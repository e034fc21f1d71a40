/**
 * A loss that stops being finite ends training with NonFiniteLossError, which
 * names the epoch and step and the last good checkpoint; that checkpoint is
 * the one of the last completed epoch, untouched, and no step was taken on
 * the bad batch.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, setNumThreads } from '../../src/tensor/index.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { Model, NonFiniteLossError } from '../../src/train/model.js';
import { tempDir, weightsOf, writeShapes } from './helpers.js';

let dir = '';
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir('patho-nonfinite-'));
  await writeShapes(join(dir, 'data'), { count: 8, size: 32, seed: 3 });
});
after(() => cleanup());

function setUp(options: { lr: number; outDir: string; modelPath: string; batchNorm?: boolean }): { model: Model; loader: DataLoader } {
  setNumThreads(1);
  manualSeed(3);
  const loader = new DataLoader(join(dir, 'data'), 'images', 'masks', { batchSize: 2, augment: 'none', seed: 3, workers: 0 });
  const model = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 4, batchNorm: options.batchNorm }), { lr: options.lr, momentum: 0.9, modelPath: options.modelPath });
  return { model, loader };
}

test('a NaN pixel at epoch 2, step 3 stops training with NonFiniteLossError naming them and the intact last.pt of epoch 1', async () => {
  // checkpoints and the best model in different folders: the message must name where last.pt really is
  const outDir = join(dir, 'nan-run');
  const { model, loader } = setUp({ lr: 0.01, outDir, modelPath: join(dir, 'best', 'model.pt') });
  const epochBatches = loader.epochBatches.bind(loader);
  loader.epochBatches = async function* (epoch: number) {
    let step = 0;
    for await (const batch of epochBatches(epoch)) {
      if (epoch === 1 && step === 2) batch.images[5] = NaN;
      step++;
      yield batch;
    }
  };
  const epochsDone: number[] = [];
  let lastAfterEpoch1: Buffer | null = null;
  try {
    await assert.rejects(
      model.train(loader, {
        epochs: 3,
        outDir,
        progress: null,
        onEpoch: (record) => {
          epochsDone.push(record.epoch);
          lastAfterEpoch1 = readFileSync(join(outDir, 'last.pt'));
        },
      }),
      (error: Error) => {
        assert.ok(error instanceof NonFiniteLossError, `${error.name}: ${error.message}`);
        assert.match(error.message, /the loss became NaN at epoch 2, step 3/);
        assert.ok(error.message.includes(join(outDir, 'last.pt')), `the message names ${join(outDir, 'last.pt')}: ${error.message}`);
        return true;
      },
    );
    assert.deepEqual(epochsDone, [1]);
    assert.deepEqual(readFileSync(join(outDir, 'last.pt')), lastAfterEpoch1, 'last.pt is byte for byte the one of epoch 1');
    const checkpoint = await loadCheckpoint(join(outDir, 'last.pt'));
    try {
      assert.equal(checkpoint.meta.epoch, 1);
      for (const [name, t] of checkpoint.model) assert.ok([...t.toArray()].every((v) => Number.isFinite(Number(v))), `${name} is finite`);
    } finally {
      disposeCheckpoint(checkpoint);
    }
    // the NaN batch was never stepped on: the weights are still all finite
    for (const [name, values] of weightsOf(model.net)) assert.ok(values.every(Number.isFinite), `${name} is finite after the error`);
  } finally {
    model.dispose();
    await loader.close();
  }
});

test('a learning rate of 1e12 makes the loss overflow: NonFiniteLossError, not a run of NaN epochs', async () => {
  const outDir = join(dir, 'huge-lr');
  // without batch norm nothing rescales the exploding weights
  const { model, loader } = setUp({ lr: 1e12, outDir, modelPath: join(outDir, 'model.pt'), batchNorm: false });
  try {
    await assert.rejects(model.train(loader, { epochs: 20, outDir, progress: null }), (error: Error) => {
      assert.ok(error instanceof NonFiniteLossError, `${error.name}: ${error.message}`);
      // it blows up within the first epoch, before any checkpoint exists: the message must not point at one
      assert.match(error.message, /the loss became (NaN|Infinity|-Infinity) at epoch 1, step \d+; no checkpoint was written yet \(try a lower --lr\)/);
      return true;
    });
  } finally {
    model.dispose();
    await loader.close();
  }
});
