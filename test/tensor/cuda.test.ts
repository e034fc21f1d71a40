/**
 * CUDA: a small conv + backward on cuda:0 equals the same on the CPU. Skipped,
 * with the reason shown, where no CUDA device is present (CI on CPU).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { conv2d, cuda, manualSeed, randn, setNumThreads, tidy, type Tensor } from '../../src/tensor/index.js';
import { assertClose } from './fixtures.js';

setNumThreads(2);
const skip = cuda.isAvailable() ? false : 'no CUDA device';

test('conv2d + relu + sum on [2,3,9,11] with a [4,3,3,3] kernel: cuda:0 output and gradients equal the CPU', { skip }, (t) => {
  manualSeed(0);
  tidy(() => {
    const run = (device: string): Tensor[] => {
      // detached copies are fresh leaves on either device, so each run has its own gradients
      const x = xCpu.detach().to(device);
      const w = wCpu.detach().to(device);
      x.requiresGrad = true;
      w.requiresGrad = true;
      const y = conv2d(x, w, null, { padding: 1 }).relu();
      y.sum().backward();
      assert.equal(y.device, device);
      return [y, x.grad!, w.grad!].map((r) => r.to('cpu'));
    };
    const xCpu = randn([2, 3, 9, 11]);
    const wCpu = randn([4, 3, 3, 3]);
    const cpu = run('cpu');
    const gpu = run('cuda:0');
    // cuDNN may use TF32 and other algorithms: equal to TF32 rounding, not bit for bit;
    // K: the weight gradient sums N * H * W = 198 products, the longest reduction here
    ['output', 'grad x', 'grad w'].forEach((label, i) => assertClose(t, label, gpu[i], cpu[i], 2 * 9 * 11, { precision: 'tfloat32' }));
  });
});

test('a tensor moved to cuda:0 and back keeps its values; cuda.deviceCount() >= 1', { skip }, () => {
  assert.ok(cuda.deviceCount() >= 1);
  tidy(() => {
    const a = randn([5, 7]);
    assert.deepEqual(Array.from(a.to('cuda:0').to('cpu').toFloat32Array()), Array.from(a.toFloat32Array()));
  });
});
