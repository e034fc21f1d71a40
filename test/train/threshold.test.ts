/**
 * The threshold a run stores: after a short run on the bundled membrane
 * images, model.pt and last.pt each carry the best threshold of the
 * validation sweep that chose them (by mean Dice), and scoring model.pt
 * again on the same validation images finds that same threshold best.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { DataLoader } from '../../src/data/loader.js';
import { loadTrainedNet } from '../../src/infer/trained.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, memory, setNumThreads } from '../../src/tensor/index.js';
import { disposeCheckpoint, FALLBACK_THRESHOLD, loadCheckpoint, saveCheckpoint, CHECKPOINT_FORMAT } from '../../src/train/checkpoint.js';
import { evaluateBinary } from '../../src/train/evaluate.js';
import { Model, type EpochRecord } from '../../src/train/model.js';
import { tempDir } from './helpers.js';

const MEMBRANE = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'data', 'membrane', 'train');

let dir = '';
let cleanup = async () => {};
let records: EpochRecord[] = [];
let log: (EpochRecord & { event: string })[] = [];
let validation: DataLoader | null = null;
let loader: DataLoader;

before(async () => {
  ({ dir, cleanup } = await tempDir('patho-threshold-'));
  // six membrane images at 64x64: a run of a few seconds with two validation images
  mkdirSync(join(dir, 'data', 'images'), { recursive: true });
  mkdirSync(join(dir, 'data', 'masks'), { recursive: true });
  for (const name of ['0', '1', '2', '3', '4', '5']) {
    await sharp(join(MEMBRANE, 'images', `${name}.png`)).resize(64, 64).toColourspace('b-w').png().toFile(join(dir, 'data', 'images', `${name}.png`));
    await sharp(join(MEMBRANE, 'masks', `${name}.png`)).resize(64, 64, { kernel: 'nearest' }).threshold(128).toColourspace('b-w').png()
      .toFile(join(dir, 'data', 'masks', `${name}.png`));
  }
  setNumThreads(1);
  manualSeed(3);
  const model = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 4 }), {
    optimizer: 'adam', lr: 1e-3, modelPath: join(dir, 'run', 'model.pt'),
  });
  loader = new DataLoader(join(dir, 'data'), 'images', 'masks', {
    batchSize: 2, augment: 'none', seed: 3, workers: 0, validation: { fraction: 0.34, seed: 3 },
  });
  try {
    records = await model.train(loader, { epochs: 4, progress: null });
    validation = await loader.validation();
  } finally {
    model.dispose();
  }
  log = readFileSync(join(dir, 'run', 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
});
after(async () => {
  await loader.close();
  await cleanup();
});

test('every validated epoch records its sweep: a threshold of the grid 0.05..0.95 and a mean Dice no lower than at 0.5', () => {
  assert.equal(records.length, 4);
  for (const record of records) {
    assert.ok(record.sweep, `epoch ${record.epoch} has a sweep`);
    const step = Math.round(record.sweep.threshold / 0.05);
    assert.ok(step >= 1 && step <= 19 && Math.abs(record.sweep.threshold - step * 0.05) < 1e-12, `threshold ${record.sweep.threshold}`);
    // 0.5 is on the grid, so the best is at least as good as it (the sweep and the 0.5 score count the same pixels)
    assert.ok(record.sweep.dice >= record.dice['0.5'] - 1e-12, `sweep ${record.sweep.dice} vs Dice@0.5 ${record.dice['0.5']}`);
  }
  assert.deepEqual(log.map((r) => r.sweep), records.map((r) => r.sweep), 'train.jsonl carries the same sweeps');
});

test("model.pt carries the best epoch's sweep threshold, last.pt the last epoch's", async () => {
  const best = records.filter((r) => r.best).at(-1)!;
  for (const [file, record] of [['model.pt', best], ['last.pt', records.at(-1)!]] as const) {
    const checkpoint = await loadCheckpoint(join(dir, 'run', file));
    try {
      assert.equal(checkpoint.meta.threshold, record.sweep!.threshold, file);
    } finally {
      disposeCheckpoint(checkpoint);
    }
  }
});

test("scoring model.pt again on the validation images finds its stored threshold best", async () => {
  const tensors = memory().numTensors;
  const { net, meta } = await loadTrainedNet(join(dir, 'run', 'model.pt'));
  try {
    assert.ok(validation, 'the run had a validation split');
    const report = await evaluateBinary(net, validation.epochBatches(0), { sweep: true });
    assert.equal(report.images, 2);
    assert.equal(report.sweep!.best.threshold, meta.threshold);
  } finally {
    net.dispose();
  }
  assert.equal(memory().numTensors, tensors);
});

test('data-parallel validation: the sweep is summed over ranks like the other scores', async () => {
  const { net } = await loadTrainedNet(join(dir, 'run', 'model.pt'));
  try {
    // two ranks that saw the same images, as a reduce that doubles every count
    const twice = await evaluateBinary(net, validation!.epochBatches(0), { sweep: true, reduce: (counts) => counts.map((v) => 2 * v) });
    async function* repeated() {
      yield* validation!.epochBatches(0);
      yield* validation!.epochBatches(0);
    }
    const alone = await evaluateBinary(net, repeated(), { sweep: true });
    assert.equal(twice.sweep!.images, 4);
    assert.deepEqual(twice.sweep, alone.sweep);
  } finally {
    net.dispose();
  }
});

test('a checkpoint that records no threshold reads as 0.5', async () => {
  const net = new UNet({ inChannels: 1, depth: 1, baseChannels: 2 });
  const path = join(dir, 'old.pt');
  try {
    // as written before the threshold was recorded
    const meta = { format: CHECKPOINT_FORMAT, epoch: 1, unet: net.options, training: {}, normalization: null, bestDice: null, torchVersion: '', device: 'cpu', savedAt: '' };
    await saveCheckpoint(path, { ...meta, model: net.stateDict() } as unknown as Parameters<typeof saveCheckpoint>[1]);
  } finally {
    net.dispose();
  }
  const checkpoint = await loadCheckpoint(path);
  try {
    assert.equal(checkpoint.meta.threshold, FALLBACK_THRESHOLD);
    assert.equal(FALLBACK_THRESHOLD, 0.5);
  } finally {
    disposeCheckpoint(checkpoint);
  }
});
