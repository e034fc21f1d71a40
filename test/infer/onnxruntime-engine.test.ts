/**
 * ONNX Runtime as predict's engine (--engine onnxruntime): the same tiling and
 * blending as libtorch's, on a committed GlaS crop, equal to libtorch's folded
 * float32 network within the float32 rounding rule of test/close.ts.
 *
 * Both engines compute in float32 with their own kernels, so each lies within
 * C * sqrt(K) * u * scale of the exact result and they lie within twice that
 * of each other (terms 4K). K: the additions behind one output, the sum over
 * the convolutions of in-channels x 3 x 3; scale: the largest logit (the
 * activation's slope is at most 1, so probabilities move less than logits).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { FoldedUNet } from '../../src/infer/folded.js';
import { readImageForInference } from '../../src/infer/image.js';
import { onnxRuntimeEngine } from '../../src/infer/onnxruntime.js';
import { predictSlidingWith } from '../../src/infer/sliding.js';
import { libtorchEngine } from '../../src/infer/tiled.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad, setNumThreads } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { assertCloseValues } from '../close.js';
import { unetWithStatistics } from './helpers.js';

setNumThreads(2);

test('ONNX Runtime engine == libtorch folded float32 on a GlaS crop, 3 classes, tiles of 96 with overlap', async (t) => {
  const stats = { mean: [0.79, 0.55, 0.77], std: [0.16, 0.22, 0.13] };
  const { image } = await readImageForInference('test/fixtures/glas/train_1_crop.png', stats);
  const net = unetWithStatistics({ inChannels: 3, classes: 3, baseChannels: 8, depth: 3 }, 5);
  const start = memory().numTensors;
  const options = { tile: 96, overlap: 0.25, batchSize: 3 };

  const onnx = await onnxRuntimeEngine(net, { threads: 2 });
  const fromOnnx = await predictSlidingWith(onnx, image, options);
  await onnx.release();
  const folded = new FoldedUNet(net);
  const fromTorch = await predictSlidingWith(libtorchEngine(folded), image, options);
  folded.dispose();

  assert.deepEqual([fromOnnx.classes, fromOnnx.width, fromOnnx.height], [3, image.width, image.height]);
  const terms = [...net.stateDict()].filter(([name, w]) => name.endsWith('.weight') && w.rank === 4).reduce((k, [, w]) => k + w.shape[1] * 9, 0);
  const largestLogit = noGrad(() =>
    tidy(() => net.forward(tensor(image.data, [1, 3, image.height, image.width])).abs().max().item()),
  );
  assertCloseValues(t, 'onnxruntime vs libtorch', fromOnnx.data, fromTorch.data, { precision: 'float32', terms: 4 * terms, scale: largestLogit });
  // not two copies of one constant: the classes vary over the image
  const range = fromOnnx.data.reduce(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [1, 0]);
  assert.ok(range[1] - range[0] > 0.1, `probabilities within ${range}`);
  assert.equal(memory().numTensors, start, 'live tensors left behind');
  net.dispose();
});

test('predict --engine onnxruntime refuses --tta and --amp, exit 2', () => {
  for (const flag of ['--tta', '--amp']) {
    const r = spawnSync(process.execPath, ['bin/patho.js', 'predict', '--engine', 'onnxruntime', flag, '--devices', 'cpu', 'test/fixtures/glas/train_1_crop.png', '--model', 'package.json'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--engine onnxruntime: ${flag}`));
  }
});
