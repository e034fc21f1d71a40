/**
 * Hostile checkpoints through the addon and the command line: shared values
 * become shared tensors (not one copy per reference), every refusal exits 2
 * naming the file, and a checkpoint's `meta.unet` is checked before a
 * network is built.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { saveObject } from '../../src/io/checkpoint.js';
import { fromFloat32Array } from '../../src/io/value.js';
import { memory } from '../../src/tensor/runtime.js';
import { dispose } from '../../src/tensor/scope.js';
import { load } from '../../src/tensor/serialize.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { checkpointArchive, concat, tensorRecord, floats } from './hostile.js';
import { withTempDir } from './helpers.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repo, 'bin', 'patho.js');

/** Runs `patho ...args`; returns its exit code and stderr. */
function patho(...args: string[]): { code: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stderr: result.stderr };
}

test('a tensor the pickle references 1000 times becomes one native tensor, shared', async () => {
  await withTempDir(async (dir) => {
    // [t, t, ..., t]: the tensor record once, then 999 memo fetches
    const record = tensorRecord({ shape: [2], strides: [1] }, 2);
    const body = record.subarray(2, record.length - 1); // without PROTO and STOP
    const pickle = concat(0x80, 2, ']', '(', body, 'q', 0, ...Array.from({ length: 999 }, () => concat('h', 0)), 'e', '.');
    const path = join(dir, 'shared.pt');
    writeFileSync(path, checkpointArchive(pickle, { '0': floats([7, 8]) }));
    const before = memory().numTensors;
    const loaded = (await load(path)) as Tensor[];
    assert.equal(loaded.length, 1000);
    assert.ok(loaded.every((t) => t === loaded[0]), 'one Tensor object in all 1000 places');
    assert.equal(memory().numTensors, before + 1);
    assert.deepEqual([...loaded[0].toFloat32Array()], [7, 8]);
    dispose(loaded);
    assert.equal(memory().numTensors, before);
  });
});

test('patho info refuses hostile checkpoints with exit 2 and a message naming the file', async () => {
  await withTempDir(async (dir) => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['cycle.pt', checkpointArchive(concat(0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.')), /contains itself/],
      ['beyond.pt', checkpointArchive(tensorRecord({ shape: [2 ** 27], strides: [1] }, 1), { '0': floats([1]) }), /reaches beyond its storage/],
      ['lists.pt', checkpointArchive(concat(0x80, 2, ']', '(', ']'.repeat(1_000_000), 'e', '.')), /beyond the loader's budget/],
    ];
    for (const [name, bytes, reason] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const { code, stderr } = patho('info', '--model', path);
      assert.equal(code, 2, `${name}: exit ${code}; stderr: ${stderr}`);
      assert.match(stderr, new RegExp(`^patho: checkpoint ${path}: `));
      assert.match(stderr, reason);
    }
  });
});

test('patho eval refuses a checkpoint whose meta.unet is absurd with exit 2, before building a network', async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, 'data');
    mkdirSync(data);
    const absurd = [
      [{ depth: 1000 }, /meta\.unet: UNet: depth must be at most 8, got 1000/],
      [{ baseChannels: 2 ** 40 }, /meta\.unet: UNet: the widest level .* must be at most 4096/],
      [{ inChannels: 1e9 }, /meta\.unet: UNet: inChannels must be at most 4096/],
      [{ depth: 2.5 }, /meta\.unet: UNet: depth must be a positive integer/],
    ] as const;
    for (const [unet, reason] of absurd) {
      const path = join(dir, 'absurd.pt');
      await saveObject({ model: { w: fromFloat32Array([1], [1]) }, meta: { format: 'patho-checkpoint-1', unet: { ...unet } } }, path);
      const { code, stderr } = patho('eval', '--model', path, '--data', data);
      assert.equal(code, 2, `${JSON.stringify(unet)}: exit ${code}; stderr: ${stderr}`);
      assert.match(stderr, new RegExp(`^patho: checkpoint ${path}: `));
      assert.match(stderr, reason);
    }
  });
});

test('a checkpoint asking for an absurd working resolution (meta.downsample) is refused with exit 2, naming the file', async () => {
  await withTempDir(async (dir) => {
    const unet = { inChannels: 1, classes: 1, depth: 1, baseChannels: 1, batchNorm: false, upsample: 'bilinear', padding: 'same', dropout: 0 };
    for (const downsample of [1e6, 0, 2.5, 'two']) {
      const path = join(dir, 'downsample.pt');
      await saveObject({ model: { w: fromFloat32Array([1], [1]) }, meta: { format: 'patho-checkpoint-1', unet, downsample } }, path);
      const { code, stderr } = patho('predict', '--model', path, '--out', join(dir, 'out'), path);
      assert.equal(code, 2, `${downsample}: exit ${code}; stderr: ${stderr}`);
      assert.match(stderr, new RegExp(`^patho: checkpoint ${path}: meta\\.downsample must be a whole number from 1 to 8, got ${downsample}`));
    }
  });
});
