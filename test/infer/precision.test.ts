/**
 * The bfloat16 check of predict --precision auto: Dice of predicted labels
 * against a mask, and the verdict from a checkpoint's recorded validation
 * images (a membrane image and its mask, committed in data/).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

import { cpuHasFastBfloat16 } from '../../src/infer/engine.js';
import { BF16_DICE_TOLERANCE, checkBfloat16, foregroundDice } from '../../src/infer/precision.js';
import { memory, setNumThreads } from '../../src/tensor/runtime.js';
import { CHECKPOINT_FORMAT, saveCheckpoint, type CheckpointMeta } from '../../src/train/checkpoint.js';
import { unetWithStatistics } from './helpers.js';

setNumThreads(2);

test('foregroundDice: one class thresholded, several by argmax and averaged over classes 1..', () => {
  const binary = { width: 4, height: 1, classes: 1, data: Float32Array.from([0.9, 0.6, 0.4, 0.1]) };
  // predicted 1,1,0,0 against 1,0,1,0: 2*1 / (2+2)
  assert.equal(foregroundDice(binary, Uint8Array.from([1, 0, 1, 0]), 0.5), 0.5);
  assert.equal(foregroundDice(binary, Uint8Array.from([1, 1, 0, 0]), 0.5), 1);
  assert.equal(foregroundDice(binary, Uint8Array.from([1, 1, 0, 0]), 0.7), 2 / 3);
  // 3 classes, planar [classes, pixels]: labels 1, 2, 0, 2
  const three = { width: 4, height: 1, classes: 3, data: Float32Array.from([0.1, 0.2, 0.8, 0.1, 0.8, 0.1, 0.1, 0.2, 0.1, 0.7, 0.1, 0.7]) };
  // class 1: 1 of 1 -> 1; class 2: predicted {1, 3}, true {1} -> 2/3
  assert.equal(foregroundDice(three, Uint8Array.from([1, 2, 0, 0]), 0.5), (1 + 2 / 3) / 2);
});

test('checkBfloat16 on a recorded membrane image: bfloat16 rounds, the verdict follows the 0.001 Dice bar; no images, no verdict', async () => {
  const net = unetWithStatistics({ inChannels: 1, classes: 1, baseChannels: 4, depth: 2 }, 2);
  const start = memory().numTensors;
  const meta = {
    threshold: 0.5,
    normalization: { mean: [0.49], std: [0.17] },
    data: {
      root: resolve('data/membrane/train'), images: 'images', masks: 'masks', foreground: null,
      validation: [{ name: '0', image: resolve('data/membrane/train/images/0.png'), mask: resolve('data/membrane/train/masks/0.png') }],
    },
  } as unknown as CheckpointMeta;
  const verdict = await checkBfloat16(net, meta, { tile: 256 });
  assert.equal(verdict.images, 1);
  assert.ok(verdict.maxProbabilityDifference > 0, 'bfloat16 rounds somewhere');
  // bfloat16 keeps 8 bits of mantissa: probabilities move by a few 2^-8 at most on this small net
  assert.ok(verdict.maxProbabilityDifference < 0.1, `probabilities differ by ${verdict.maxProbabilityDifference}`);
  assert.equal(verdict.bfloat16, verdict.worstDiceDifference <= BF16_DICE_TOLERANCE);
  assert.equal(memory().numTensors, start, 'live tensors left behind');

  const none = await checkBfloat16(net, { ...meta, data: undefined });
  assert.deepEqual(none, { bfloat16: false, images: 0, worstDiceDifference: 0, maxProbabilityDifference: 0 });
  net.dispose();
});

test('patho predict: precision auto checks bfloat16 on the recorded validation images where the CPU has it; float32 runs on ONNX Runtime', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'patho-precision-'));
  try {
    const net = unetWithStatistics({ inChannels: 1, classes: 1, baseChannels: 4, depth: 2 }, 2);
    const model = join(dir, 'model.pt');
    await saveCheckpoint(model, {
      format: CHECKPOINT_FORMAT, epoch: 1, unet: net.options, training: {}, normalization: { mean: [0.49], std: [0.17] }, threshold: 0.5, bestDice: null,
      torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
      data: {
        root: resolve('data/membrane/train'), images: 'images', masks: 'masks', foreground: null,
        validation: [{ name: '0', image: resolve('data/membrane/train/images/0.png'), mask: resolve('data/membrane/train/masks/0.png') }],
      },
    });
    net.dispose();
    const predict = (...args: string[]) =>
      spawnSync(process.execPath, ['bin/patho.js', 'predict', '-m', model, '--threads', '1', '--tile', '256', '--verbose', '-o', dir, ...args, 'data/membrane/train/images/1.png'], { encoding: 'utf8' });
    const auto = predict();
    assert.equal(auto.status, 0, auto.stderr);
    if (cpuHasFastBfloat16()) {
      const line = /precision (bfloat16|float32): bfloat16 vs float32 on 1 validation image: Dice difference (\S+) \(at most 0\.001\)/.exec(auto.stdout);
      assert.ok(line, auto.stdout);
      assert.equal(line[1] === 'bfloat16', Number(line[2]) <= 0.001);
      assert.match(auto.stdout, line[1] === 'bfloat16' ? /engine libtorch, bfloat16/ : /engine onnxruntime, float32/);
    } else {
      assert.doesNotMatch(auto.stdout, /^precision/m);
      assert.match(auto.stdout, /engine onnxruntime, float32/);
    }
    const fp32 = predict('--precision', 'fp32');
    assert.equal(fp32.status, 0, fp32.stderr);
    assert.doesNotMatch(fp32.stdout, /^precision/m);
    assert.match(fp32.stdout, /engine onnxruntime, float32/);
    assert.match(predict('--precision', 'fp32', '--engine', 'libtorch').stdout, /engine libtorch, float32/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
