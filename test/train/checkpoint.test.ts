/**
 * What training writes: last.pt and model.pt are PyTorch zip archives whose
 * pickle is a plain dict ('model' an ordinary state_dict with the network's
 * own names, 'meta' the description `patho info` and `predict` rely on), and
 * a checkpoint write that fails part-way leaves the previous file as it was.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import { loadObject } from '../../src/io/checkpoint.js';
import { isTensorData } from '../../src/io/value.js';
import { UNet } from '../../src/models/unet.js';
import { buildInfo, manualSeed, setNumThreads, tensor } from '../../src/tensor/index.js';
import { CHECKPOINT_FORMAT, disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { Model } from '../../src/train/model.js';
import { tempDir, writeShapes } from './helpers.js';

/** A model with 8 base channels: its checkpoint is well over the child's 64 KiB file size limit. */
function makeModel(modelPath: string): Model {
  manualSeed(4);
  return new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 8 }), { lr: 0.01, momentum: 0.9, modelPath });
}

if (process.env.PATHO_SAVE_CHILD) {
  // the child of the atomic-write test, started under `ulimit -f`: its save fails with EFBIG part-way
  const model = makeModel(process.env.PATHO_SAVE_CHILD);
  try {
    await model.saveTo(process.env.PATHO_SAVE_CHILD, true);
    process.stdout.write('saved\n');
  } catch (error) {
    process.stdout.write(`failed: ${(error as Error).message}\n`);
  }
} else {
  let dir = '';
  let cleanup = async () => {};
  let net: UNet;
  before(async () => {
    ({ dir, cleanup } = await tempDir('patho-checkpoint-'));
    await writeShapes(join(dir, 'data'), { count: 8, size: 32, seed: 4 });
    setNumThreads(1);
    const model = makeModel(join(dir, 'run', 'model.pt'));
    net = model.net;
    const loader = new DataLoader(join(dir, 'data'), 'images', 'masks', {
      batchSize: 2, augment: 'none', seed: 4, workers: 0, validation: { fraction: 0.25, seed: 4 },
    });
    try {
      await model.train(loader, { epochs: 2, progress: null });
    } finally {
      await loader.close();
    }
  });
  after(() => cleanup());

  test('last.pt is a plain dict: model (the state_dict, names as net.stateDict), optimizer, scheduler, rng_state, meta', async () => {
    const raw = (await loadObject(join(dir, 'run', 'last.pt'))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw).sort(), ['meta', 'model', 'optimizer', 'rng_state', 'scheduler']);
    const model = raw.model as Record<string, unknown>;
    assert.deepEqual(Object.keys(model), [...net.stateDict().keys()], 'same names, same order as the network (and PyTorch)');
    for (const [name, value] of Object.entries(model)) assert.ok(isTensorData(value), `${name} is a tensor`);
    const numBatches = model['inc.double_conv.1.num_batches_tracked'];
    assert.ok(isTensorData(numBatches) && numBatches.dtype === 'int64', 'num_batches_tracked is int64 as in PyTorch');
    assert.ok(isTensorData(raw.rng_state) && raw.rng_state.dtype === 'uint8', 'the CPU generator state, as torch.get_rng_state()');
    assert.notEqual(raw.optimizer, null);
    // the archive layout torch.load expects
    const bytes = readFileSync(join(dir, 'run', 'last.pt'));
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'PK\x03\x04');
    assert.ok(bytes.includes('/data.pkl') && bytes.includes('/version') && bytes.includes('/byteorder'));
  });

  test('meta describes the run: format, epoch, architecture, training config, normalisation, threshold, best Dice, libtorch, device, time', async () => {
    const checkpoint = await loadCheckpoint(join(dir, 'run', 'last.pt'));
    try {
      const m = checkpoint.meta;
      assert.equal(m.format, CHECKPOINT_FORMAT);
      assert.equal(m.epoch, 2);
      assert.deepEqual(m.unet, net.options);
      assert.equal(m.training.lr, 0.01);
      assert.equal(m.training.optimizer, 'sgd');
      assert.equal(m.training.momentum, 0.9);
      assert.equal(m.training.modelPath, undefined, 'paths of this machine are not training config');
      assert.equal(m.normalization!.mean.length, 1);
      assert.equal(m.normalization!.std.length, 1);
      assert.ok(m.normalization!.std[0] > 0);
      // the best threshold of the last validation's sweep (test/train/threshold.test.ts checks it against a new sweep)
      const lastEpoch = JSON.parse(readFileSync(join(dir, 'run', 'train.jsonl'), 'utf8').trim().split('\n').at(-1)!);
      assert.equal(m.threshold, lastEpoch.sweep.threshold);
      assert.ok(typeof m.bestDice === 'number' && m.bestDice >= 0 && m.bestDice <= 1, `bestDice ${m.bestDice}`);
      assert.equal(m.torchVersion, buildInfo().torchVersion);
      assert.equal(m.device, 'cpu');
      assert.ok(!Number.isNaN(Date.parse(m.savedAt)), `savedAt ${m.savedAt}`);
    } finally {
      disposeCheckpoint(checkpoint);
    }
  });

  test('model.pt holds the best weights without optimizer or RNG state, and loads into a fresh network', async () => {
    const raw = (await loadObject(join(dir, 'run', 'model.pt'))) as Record<string, unknown>;
    assert.equal(raw.optimizer, null);
    assert.equal(raw.rng_state, null);
    const fresh = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 8 }), { loadModel: true, modelPath: join(dir, 'run', 'model.pt') });
    const checkpoint = await loadCheckpoint(join(dir, 'run', 'model.pt'));
    try {
      // predict waits for the weights to load
      const image = tensor(new Float32Array(32 * 32), [1, 1, 32, 32]);
      (await fresh.predict(image)).dispose();
      image.dispose();
      const loaded = fresh.net.stateDict();
      for (const [name, saved] of checkpoint.model) assert.deepEqual(loaded.get(name)!.toArray(), saved.toArray(), name);
      assert.deepEqual(fresh.normalization, checkpoint.meta.normalization);
      assert.equal(fresh.bestDice, checkpoint.meta.bestDice);
    } finally {
      disposeCheckpoint(checkpoint);
      fresh.dispose();
    }
  });

  test('loadModel: true with a missing file rejects at the first predict, not as an unhandled rejection before it', async () => {
    const missing = join(dir, 'run', 'missing.pt');
    const model = new Model(new UNet({ inChannels: 1, depth: 2, baseChannels: 8 }), { loadModel: true, modelPath: missing });
    try {
      // the load has failed by now; nothing has awaited it yet
      await new Promise((resolve) => setTimeout(resolve, 20));
      const image = tensor(new Float32Array(32 * 32), [1, 1, 32, 32]);
      await assert.rejects(model.predict(image), new RegExp(`checkpoint ${missing}: does not exist`));
      image.dispose();
    } finally {
      model.dispose();
    }
  });

  test('a checkpoint write that fails part-way (file size limit, EFBIG) leaves the old file and no temporary file', () => {
    const target = join(dir, 'run', 'last.pt');
    const before = readFileSync(target);
    const script = fileURLToPath(import.meta.url);
    // ulimit -f counts 1 KiB blocks: the temporary file stops growing at 64 KiB
    const child = spawnSync('bash', ['-c', `ulimit -f 64 && exec "${process.execPath}" "${script}"`], {
      env: { ...process.env, PATHO_SAVE_CHILD: target },
      encoding: 'utf8',
    });
    assert.match(child.stdout, /^failed: .*EFBIG/, `the save should fail: ${child.stdout} ${child.stderr}`);
    assert.deepEqual(readFileSync(target), before, 'last.pt is byte for byte the old one');
    assert.deepEqual(readdirSync(join(dir, 'run')).filter((f) => f.includes('.tmp-')), []);
  });
}
