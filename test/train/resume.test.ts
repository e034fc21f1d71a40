/**
 * Resume: training 4 epochs straight and training 2, stopping, and resuming
 * for 2 more give the same weights. Dropout, augmentation and SGD momentum are
 * on, so the RNG state, the loader's epoch and the optimizer state must all
 * come back from last.pt for the runs to agree.
 *
 * The same file is the child process of the kill test: with
 * PATHO_RESUME_CHILD set it trains instead of registering tests.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { UNet } from '../../src/models/unet.js';
import { manualSeed, setNumThreads } from '../../src/tensor/index.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { Model, type ModelOptions } from '../../src/train/model.js';
import { largestDifference, tempDir, weightsOf, writeShapes } from './helpers.js';

const SEED = 5;

/** A fresh loader, network and model, seeded as a new process would be. */
function setUp(data: string, outDir: string, schedule: ModelOptions['schedule']): { model: Model; loader: DataLoader } {
  // the same thread count in every run: reductions may group differently with more threads
  setNumThreads(1);
  manualSeed(SEED);
  const loader = new DataLoader(data, 'images', 'masks', {
    batchSize: 4,
    augment: 'em',
    seed: SEED,
    workers: 0,
    validation: { fraction: 0.25, seed: SEED },
  });
  const net = new UNet({ inChannels: 1, depth: 2, baseChannels: 4, dropout: 0.2 });
  const model = new Model(net, { optimizer: 'sgd', lr: 0.02, momentum: 0.9, schedule, modelPath: join(outDir, 'model.pt') });
  return { model, loader };
}

/** Trains to `epochs` (resuming from outDir's last.pt when asked) and returns the final weights. */
async function run(data: string, outDir: string, epochs: number, options: { resume?: boolean; schedule?: ModelOptions['schedule'] } = {}) {
  const { model, loader } = setUp(data, outDir, options.schedule ?? 'none');
  try {
    const records = await model.train(loader, { epochs, resume: options.resume, outDir, progress: null });
    return { weights: weightsOf(model.net), records, epoch: model.epoch };
  } finally {
    model.dispose();
    await loader.close();
  }
}

/**
 * The child of the kill test: trains 4 epochs with a cosine schedule and, two
 * steps into epoch 3, says so on stdout and waits to be killed.
 */
async function child(data: string, outDir: string): Promise<void> {
  const { model, loader } = setUp(data, outDir, 'cosine');
  const epochBatches = loader.epochBatches.bind(loader);
  loader.epochBatches = async function* (epoch: number) {
    let step = 0;
    for await (const batch of epochBatches(epoch)) {
      if (epoch === 2 && step === 2) {
        process.stdout.write('mid-epoch-3\n');
        await new Promise((resolve) => setTimeout(resolve, 60_000));
      }
      step++;
      yield batch;
    }
  };
  await model.train(loader, { epochs: 4, outDir, progress: null });
  process.stdout.write('finished without being killed\n');
}

if (process.env.PATHO_RESUME_CHILD) {
  const [data, outDir] = JSON.parse(process.env.PATHO_RESUME_CHILD) as [string, string];
  await child(data, outDir);
} else {
  let dir = '';
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir('patho-resume-'));
    await writeShapes(join(dir, 'data'), { count: 16, size: 32, seed: SEED });
  });
  after(() => cleanup());

  test('4 epochs straight and 2 epochs + resume 2 give the same weights, optimizer state and log', async (t) => {
    const data = join(dir, 'data');
    const straight = await run(data, join(dir, 'straight'), 4);
    const firstHalf = await run(data, join(dir, 'halves'), 2);
    assert.equal(firstHalf.epoch, 2);
    const resumed = await run(data, join(dir, 'halves'), 4, { resume: true });
    assert.deepEqual(resumed.records.map((r) => r.epoch), [3, 4], 'the resumed run trains epochs 3 and 4 only');
    const worst = largestDifference(straight.weights, resumed.weights);
    t.diagnostic(`largest weight difference ${worst.value.toExponential(2)} (${worst.name})`);
    assert.ok(worst.value <= 1e-6, `${worst.name} differs by ${worst.value}`);
    // the resumed run's epochs are the straight run's epochs, loss for loss
    for (const [i, record] of resumed.records.entries()) {
      assert.ok(Math.abs(record.trainLoss - straight.records[i + 2].trainLoss) <= 1e-6, `epoch ${record.epoch} loss ${record.trainLoss} vs ${straight.records[i + 2].trainLoss}`);
    }
    const log = readFileSync(join(dir, 'halves', 'train.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line).epoch);
    assert.deepEqual(log, [1, 2, 3, 4], 'the resumed run appends to the log of the first');
  });

  test('a SIGKILL mid-epoch 3 leaves last.pt of epoch 2 intact; resuming from it matches 4 straight epochs (cosine schedule)', async (t) => {
    const data = join(dir, 'data');
    const outDir = join(dir, 'killed');
    const script = fileURLToPath(import.meta.url);
    const proc = spawn(process.execPath, [script], {
      env: { ...process.env, PATHO_RESUME_CHILD: JSON.stringify([data, outDir]) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const reached = await new Promise<boolean>((resolve) => {
      let stdout = '';
      proc.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('mid-epoch-3')) resolve(true);
      });
      void exited.then(() => resolve(false));
    });
    assert.ok(reached, `the child exited before epoch 3: ${stderr}`);
    proc.kill('SIGKILL');
    assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });

    // the checkpoint of epoch 2 loads whole: every weight, the optimizer and the RNG state
    const checkpoint = await loadCheckpoint(join(outDir, 'last.pt'));
    try {
      assert.equal(checkpoint.meta.epoch, 2);
      assert.ok(checkpoint.model.size > 0 && checkpoint.optimizer !== null && checkpoint.rngState !== null);
    } finally {
      disposeCheckpoint(checkpoint);
    }

    const straight = await run(data, join(dir, 'straight-cosine'), 4, { schedule: 'cosine' });
    const resumed = await run(data, outDir, 4, { resume: true, schedule: 'cosine' });
    assert.deepEqual(resumed.records.map((r) => r.epoch), [3, 4]);
    assert.deepEqual(resumed.records.map((r) => r.lr), straight.records.slice(2).map((r) => r.lr), 'the schedule continues where it stopped');
    const worst = largestDifference(straight.weights, resumed.weights);
    t.diagnostic(`largest weight difference ${worst.value.toExponential(2)} (${worst.name})`);
    assert.ok(worst.value <= 1e-6, `${worst.name} differs by ${worst.value}`);
  });
}
