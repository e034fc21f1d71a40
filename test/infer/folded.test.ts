/**
 * The folded inference network against the training graph in eval mode.
 *
 * Tolerance: folding batch norm into the convs changes only the order of float
 * operations, so the folded network must be as close to exact arithmetic as the
 * float32 training graph is. "Exact" is the training graph run in float64; the
 * folded network's largest distance from it may be at most a few times the
 * float32 training graph's own (the rounding error of the reference arithmetic),
 * which measures the rounding of this very network on this very input rather
 * than a hand-set constant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FoldedUNet } from '../../src/infer/folded.js';
import type { UNetOptions } from '../../src/models/unet.js';
import { tensor } from '../../src/tensor/create.js';
import { memory, noGrad, setNumThreads } from '../../src/tensor/runtime.js';
import { tidy } from '../../src/tensor/scope.js';
import { syntheticImage, unetWithStatistics } from './helpers.js';

setNumThreads(2);

function logitsOf(net: { forward(x: import('../../src/tensor/tensor.js').Tensor): import('../../src/tensor/tensor.js').Tensor }, data: Float32Array, shape: number[], dtype: 'float32' | 'float64' = 'float32'): Float64Array {
  return noGrad(() => tidy(() => Float64Array.from(net.forward(tensor(data, shape).to(dtype)).to('float64').toArray() as Float64Array)));
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

const variants: [string, UNetOptions, [number, number]][] = [
  ['bilinear, batch norm, 3 channels, 64x64', { inChannels: 3, baseChannels: 8, depth: 3 }, [64, 64]],
  ['bilinear, batch norm, 1 channel, 2 classes, odd 37x50 (padded and cropped)', { inChannels: 1, classes: 2, baseChannels: 8, depth: 3 }, [37, 50]],
  ['transpose upsampling, batch norm, 45x40', { inChannels: 3, baseChannels: 8, depth: 2, upsample: 'transpose' }, [45, 40]],
  ['no batch norm, valid padding, 3 channels', { inChannels: 3, baseChannels: 4, depth: 2, batchNorm: false, padding: 'valid' }, [30, 30]],
];

for (const [name, options, [h, w]] of variants) {
  test(`folded == training graph in eval mode (${name}), within the float32 rounding of the graph`, () => {
    const net = unetWithStatistics(options);
    const channels = options.inChannels ?? 1;
    const image = syntheticImage(w, h, channels);
    const batch = new Float32Array(2 * image.data.length);
    batch.set(image.data);
    batch.set(image.data.map((v) => -0.5 * v), image.data.length);
    const shape = [2, channels, h, w];
    const start = memory().numTensors;

    const train32 = logitsOf(net, batch, shape);
    for (const memoryFormat of ['channelsLast', 'contiguous'] as const) {
      const folded = new FoldedUNet(net, { memoryFormat });
      const fold32 = logitsOf(folded, batch, shape);
      folded.dispose();
      net.to('float64');
      const exact = logitsOf(net, batch, shape, 'float64');
      net.to('float32');
      const graphError = maxDiff(train32, exact);
      const foldError = maxDiff(fold32, exact);
      assert.equal(fold32.length, 2 * (options.classes ?? 1) * h * w);
      assert.ok(graphError > 0, 'the float32 graph should differ from float64 somewhere');
      assert.ok(foldError <= 4 * graphError, `${memoryFormat}: folded differs from float64 by ${foldError}, the float32 graph by ${graphError}`);
    }
    assert.equal(memory().numTensors, start);
    net.dispose();
  });
}

test('bfloat16 folded network: float32 logits, within the float32 graph error scaled to bfloat16 rounding (2^16 x), no leaks', () => {
  const net = unetWithStatistics({ inChannels: 3, baseChannels: 8, depth: 3 });
  const image = syntheticImage(64, 48, 3);
  const shape = [1, 3, 48, 64];
  const start = memory().numTensors;
  const train32 = logitsOf(net, image.data, shape);
  const bf16 = new FoldedUNet(net, { dtype: 'bfloat16' });
  const half = logitsOf(bf16, image.data, shape);
  const outDType = noGrad(() => tidy(() => bf16.forward(tensor(image.data, shape)).dtype));
  bf16.dispose();
  net.to('float64');
  const exact = logitsOf(net, image.data, shape, 'float64');
  net.to('float32');
  assert.equal(outDType, 'float32');
  // unit roundoff: float32 2^-24, bfloat16 2^-8
  const graphError = maxDiff(train32, exact);
  const halfError = maxDiff(half, exact);
  assert.ok(halfError > graphError, 'bfloat16 should round more than float32');
  assert.ok(halfError <= 4 * 2 ** 16 * graphError, `bfloat16 differs from float64 by ${halfError}, the float32 graph by ${graphError}`);
  assert.equal(memory().numTensors, start);
  net.dispose();
});

test('folded network: wrong input shape is a clear error; use after dispose is refused', () => {
  const net = unetWithStatistics({ inChannels: 3, baseChannels: 4, depth: 2 });
  const folded = new FoldedUNet(net);
  net.dispose();
  const start = memory().numTensors;
  assert.throws(() => tidy(() => folded.forward(tensor(new Float32Array(16), [1, 1, 4, 4]))), /expected input \[N, 3, H, W\], got \[1,1,4,4\]/);
  assert.equal(memory().numTensors, start);
  folded.dispose();
  folded.dispose();
  assert.throws(() => tidy(() => folded.forward(tensor(new Float32Array(48), [1, 3, 4, 4]))), /after dispose/);
});
