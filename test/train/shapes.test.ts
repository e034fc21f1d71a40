/**
 * The end-to-end learning check: a small U-Net, trained by Model on a
 * synthetic shapes data set written by the test, reaches validation Dice > 0.9
 * in well under a minute on one CPU core.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, setNumThreads } from '../../src/tensor/index.js';
import { Model, type EpochRecord } from '../../src/train/model.js';
import { tempDir, writeShapes } from './helpers.js';

let dir = '';
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir('patho-shapes-'));
  await writeShapes(dir, { count: 24, size: 32, seed: Number(process.env.PATHO_SHAPES_SEED ?? 7) });
});
after(() => cleanup());

test('a depth-2 U-Net (base 8, Adam 1e-2, bce-jaccard) learns 24 synthetic 32x32 shapes to validation Dice > 0.9', async (t) => {
  // tiny convolutions: one thread is fastest and immune to other processes on the shared cores
  setNumThreads(1);
  manualSeed(Number(process.env.PATHO_SHAPES_SEED ?? 7));
  const loader = new DataLoader(dir, 'images', 'masks', {
    batchSize: 4,
    augment: 'none',
    seed: 1,
    workers: 0,
    // six held-out images: Dice is their mean
    validation: { fraction: 0.25, seed: 1 },
  });
  const model = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 8 }), {
    optimizer: 'adam',
    lr: 1e-2,
    modelPath: `${dir}/run/model.pt`,
  });
  const started = performance.now();
  let records: EpochRecord[] = [];
  try {
    records = await model.train(loader, { epochs: 40, earlyStop: 0, progress: null, thresholds: [0.5] });
  } finally {
    model.dispose();
    await loader.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const best = Math.max(...records.map((r) => r.dice['0.5']));
  const last = records[records.length - 1];
  const first = records.find((r) => r.dice['0.5'] > 0.9)?.epoch;
  t.diagnostic(`first epoch above 0.9: ${first}; ${records.length} epochs in ${seconds.toFixed(1)} s; best Dice@0.5 ${best.toFixed(4)}, last ${last.dice['0.5'].toFixed(4)} (loss ${last.trainLoss.toFixed(4)})`);
  assert.ok(best > 0.9, `best validation Dice@0.5 ${best} <= 0.9; per epoch: ${records.map((r) => r.dice['0.5'].toFixed(3)).join(' ')}`);
  assert.ok(last.trainLoss < records[0].trainLoss, 'the training loss went down');
});
