/**
 * How often a run validates and writes last.pt, and the learning-rate schedule
 * driven by a time budget: a 20-minute run with 5-second epochs should spend
 * its time training, and end at the low rate whatever its epoch count.
 * Time is a fake clock that a step moves on by one second, so nothing here
 * depends on how fast the machine is.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, memory, setNumThreads } from '../../src/tensor/index.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { Model, type EpochRecord, type ModelOptions, type TrainOptions } from '../../src/train/model.js';
import { progressScheduler, seekProgress } from '../../src/train/schedule.js';
import { tempDir, writeShapes } from './helpers.js';

let dir = '';
let cleanup = async () => {};
before(async () => {
  ({ dir, cleanup } = await tempDir('patho-cadence-'));
  await writeShapes(join(dir, 'data'), { count: 10, size: 32, seed: 3 });
});
after(() => cleanup());

/** The rate multiplier of a budget-driven schedule `progress` of the way through a run. */
function scheduleFactor(name: 'none' | 'cosine' | 'poly' | 'step', progress: number): number {
  const optimizer = { lr: 1 };
  const scheduler = progressScheduler(name, optimizer);
  if (scheduler) seekProgress(scheduler, progress);
  return optimizer.lr;
}

/** Seconds a training step takes on the fake clock. */
const STEP_SECONDS = 1;

/** Trains a tiny U-Net on the shapes (8 training images, batch 4: 2 steps per epoch). */
async function train(
  outDir: string,
  model: Partial<ModelOptions>,
  options: TrainOptions,
  unet: { batchNorm?: boolean } = {},
): Promise<{ records: EpochRecord[]; lrs: number[] }> {
  setNumThreads(1);
  manualSeed(1);
  const loader = new DataLoader(join(dir, 'data'), 'images', 'masks', {
    batchSize: 4, augment: 'none', seed: 1, workers: 0, validation: { fraction: 0.2, seed: 1 },
  });
  const m = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 4, ...unet }), { lr: 0.1, momentum: 0.9, modelPath: join(outDir, 'model.pt'), ...model });
  // the rate of every step, as the optimizer saw it; each step moves the clock on
  const lrs: number[] = [];
  let ms = 0;
  const listener = { step: ({ lr }: { lr: number }) => (lrs.push(lr), (ms += STEP_SECONDS * 1000)) };
  try {
    const records = await m.train(loader, { outDir, progress: null, clock: () => ms, listeners: [listener], ...options });
    return { records, lrs };
  } finally {
    m.dispose();
    await loader.close();
  }
}

test('scheduleFactor: cosine, poly and step from 1 at the start to their end values', () => {
  assert.equal(scheduleFactor('cosine', 0), 1);
  assert.ok(Math.abs(scheduleFactor('cosine', 0.5) - 0.5) < 1e-12);
  assert.ok(scheduleFactor('cosine', 1) < 1e-12);
  assert.ok(Math.abs(scheduleFactor('poly', 0.5) - 0.5 ** 0.9) < 1e-12);
  assert.equal(scheduleFactor('poly', 1), 0);
  assert.deepEqual([0, 0.34, 0.67, 1].map((p) => scheduleFactor('step', p)), [1, 0.1, 0.1 ** 2, 0.1 ** 2]);
  assert.equal(scheduleFactor('none', 0.7), 1);
  // progress outside 0..1 is clamped, not extrapolated
  assert.equal(scheduleFactor('cosine', 1.5), scheduleFactor('cosine', 1));
});

test('validateEvery 2: epochs 2 and 4 and the last (5) are scored, the others are not and are never the best', async () => {
  const before = memory().numTensors;
  const { records } = await train(join(dir, 'every2'), {}, { epochs: 5, validateEvery: 2 });
  assert.deepEqual(records.map((r) => Object.keys(r.dice).length > 0), [false, true, false, true, true]);
  for (const r of records.filter((r) => !Object.keys(r.dice).length)) {
    assert.equal(r.best, false);
    assert.equal(r.valLoss, null);
  }
  assert.equal(records[1].best, true, 'the first scored epoch is the best so far');
  assert.equal(memory().numTensors, before, 'live tensors back to their starting count');
});

test('checkpointEvery: with a long interval last.pt is written once, after the last epoch, and holds it', async () => {
  const out = join(dir, 'interval');
  const seen: boolean[] = [];
  const { records } = await train(out, {}, { epochs: 3, checkpointEvery: 3600, onEpoch: () => seen.push(existsSync(join(out, 'last.pt'))) });
  assert.equal(records.length, 3);
  // onEpoch runs after the epoch's writes: only the last one wrote last.pt
  assert.deepEqual(seen, [false, false, true]);
  const checkpoint = await loadCheckpoint(join(out, 'last.pt'));
  try {
    assert.equal(checkpoint.meta.epoch, 3);
    assert.ok(checkpoint.optimizer, 'a full checkpoint');
  } finally {
    disposeCheckpoint(checkpoint);
  }
});

test('checkpointEvery 0 (the default) writes last.pt after every epoch', async () => {
  const out = join(dir, 'every-epoch');
  const seen: boolean[] = [];
  await train(out, {}, { epochs: 2, onEpoch: () => seen.push(existsSync(join(out, 'last.pt'))) });
  assert.deepEqual(seen, [true, true]);
});

test('with maxMinutes the cosine schedule runs step by step over the epochs when they end first', async () => {
  // 4 epochs x 2 steps, a budget far longer than the run: progress is epochs, per step
  const { lrs } = await train(join(dir, 'budget-epochs'), { schedule: 'cosine' }, { epochs: 4, maxMinutes: 60 });
  assert.equal(lrs.length, 8);
  lrs.forEach((lr, i) => assert.ok(Math.abs(lr - 0.1 * scheduleFactor('cosine', i / 8)) < 1e-9, `step ${i}: ${lr}`));
});

test('with maxMinutes the schedule follows the clock when the budget ends first, and the run ends at rate 0', async () => {
  const out = join(dir, 'budget-time');
  // a 3-second budget, 2 one-second steps per epoch: the second epoch ends at 4 s, past the budget
  const { records, lrs } = await train(out, { schedule: 'cosine' }, { epochs: 100000, maxMinutes: 0.05 });
  assert.equal(records.length, 2);
  // each step's rate is that of the time already spent: 0, 1, 2 and 3 of 3 seconds
  assert.deepEqual(lrs, [0, 1, 2, 3].map((s) => 0.1 * scheduleFactor('cosine', s / 3)));
  const checkpoint = await loadCheckpoint(join(out, 'last.pt'));
  try {
    // the budget counts across a resume: the checkpoint carries the time spent
    assert.equal(checkpoint.meta.elapsedSeconds, 4);
  } finally {
    disposeCheckpoint(checkpoint);
  }
});

test('maxMinutes without epochs trains until the budget ends, past the default 50 epochs', async () => {
  // a 2-minute budget of one-second steps, 2 steps an epoch: 60 epochs, where the default count would stop at 50
  const { records } = await train(join(dir, 'budget-only'), { schedule: 'cosine' }, { maxMinutes: 2, validateEvery: 1000 });
  assert.equal(records.length, 60);
  // with an epoch count too, the first to run out ends the run
  const counted = await train(join(dir, 'budget-and-epochs'), {}, { epochs: 50, maxMinutes: 2, validateEvery: 1000 });
  assert.equal(counted.records.length, 50);
});

test('a resumed run counts its earlier time against maxMinutes: a spent budget trains one more epoch and stops', async () => {
  const out = join(dir, 'budget-resume');
  // a 1.2-second budget is spent by the first epoch's two steps
  const first = await train(out, {}, { epochs: 100000, maxMinutes: 0.02 });
  assert.equal(first.records.length, 1);
  const resumed = await train(out, {}, { epochs: 100000, maxMinutes: 0.02, resume: true });
  assert.equal(resumed.records.length, 1);
  assert.equal(resumed.records[0].epoch, first.records.length + 1);
});

test('early stopping counts on across a resume: the count of epochs without a better Dice is in last.pt', async () => {
  const out = join(dir, 'early-resume');
  // a rate of ~0 and no batch norm (whose running statistics would move) never improve on the
  // first epoch's Dice: with earlyStop 3 a straight run stops after epoch 4
  const frozen = { batchNorm: false };
  const straight = await train(join(dir, 'early-straight'), { lr: 1e-12 }, { epochs: 20, earlyStop: 3 }, frozen);
  assert.equal(straight.records.length, 4);
  await train(out, { lr: 1e-12 }, { epochs: 2, earlyStop: 3 }, frozen);
  const checkpoint = await loadCheckpoint(join(out, 'last.pt'));
  try {
    assert.equal(checkpoint.meta.epochsSinceBest, 1);
  } finally {
    disposeCheckpoint(checkpoint);
  }
  const resumed = await train(out, { lr: 1e-12 }, { epochs: 20, earlyStop: 3, resume: true }, frozen);
  assert.deepEqual(resumed.records.map((r) => r.epoch), [3, 4], 'stops where the straight run stopped');
});
