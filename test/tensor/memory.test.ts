/**
 * Deterministic lifetimes: live native tensors (memory().numTensors) return to
 * where they started after training, and tidy/keep/dispose do what they say.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNet } from '../../src/models/unet.js';
import { Conv2d, ReLU, Sequential } from '../../src/nn/index.js';
import { Adam, SGD } from '../../src/optim/index.js';
import {
  binaryCrossEntropyWithLogits, dispose, keep, memory, noGrad, ones, rand, randn, setNumThreads, tidy, type Tensor,
} from '../../src/tensor/index.js';

setNumThreads(2);

test('1,000 SGD steps of a two-conv net on [1,1,8,8] leave memory().numTensors and numBytes where they started', () => {
  const start = memory();
  const net = new Sequential(new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new Conv2d(4, 1, 3, { padding: 1 }));
  const optimizer = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([1, 1, 8, 8]);
  const y = tidy(() => rand([1, 1, 8, 8]).gt(0.5).to('float32'));
  const step = () =>
    tidy(() => {
      optimizer.zeroGrad();
      const loss = binaryCrossEntropyWithLogits(net.forward(x), y);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
  step(); // the first step creates the momentum buffers
  const afterFirst = memory();
  let loss = 0;
  for (let i = 1; i < 1000; i++) loss = step();
  assert.ok(Number.isFinite(loss));
  assert.deepEqual(memory(), afterFirst, 'live tensors grew during training');
  optimizer.dispose();
  net.dispose();
  dispose([x, y]);
  assert.deepEqual(memory(), start);
});

test('UNet (base 4, depth 2) on [2,1,20,19]: five Adam steps without tidy free every intermediate handle', () => {
  const start = memory().numTensors;
  const net = new UNet({ depth: 2, baseChannels: 4 });
  const optimizer = new Adam(net.parameters(), { lr: 1e-3 });
  const x = randn([2, 1, 20, 19]);
  const y = tidy(() => rand([2, 1, 20, 19]).gt(0.5).to('float32'));
  let afterFirst = -1;
  for (let i = 0; i < 5; i++) {
    // no tidy: what forward makes it must free itself, apart from what it returns
    optimizer.zeroGrad();
    const logits = net.forward(x);
    const loss = binaryCrossEntropyWithLogits(logits, y);
    loss.backward();
    optimizer.step();
    dispose([logits, loss]);
    if (i === 0) afterFirst = memory().numTensors;
  }
  assert.equal(memory().numTensors, afterFirst);
  const inference = noGrad(() => net.eval().forward(x));
  inference.dispose();
  assert.equal(memory().numTensors, afterFirst);
  optimizer.dispose();
  net.dispose();
  dispose([x, y]);
  assert.equal(memory().numTensors, start);
});

test('dispose() is idempotent and counted once', () => {
  const start = memory().numTensors;
  const t = ones([3, 4]);
  assert.equal(memory().numTensors, start + 1);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.equal(memory().numTensors, start);
});

test('tidy frees every tensor made inside except the result, which survives', () => {
  const start = memory().numTensors;
  const result = tidy(() => {
    const a = ones([2, 2]);
    const b = a.add(1).mul(3);
    return b.sum();
  });
  assert.equal(memory().numTensors, start + 1);
  assert.equal(result.item(), 24);
  result.dispose();
  assert.equal(memory().numTensors, start);
});

test('tidy keeps every tensor of a returned array or object', () => {
  const start = memory().numTensors;
  const { pair, single } = tidy(() => {
    const a = ones([2]);
    return { pair: [a.add(1), a.add(2)], single: a.mul(5) };
  });
  assert.equal(memory().numTensors, start + 3);
  assert.deepEqual(Array.from(pair[1].toFloat32Array()), [3, 3]);
  dispose([pair, single]);
  assert.equal(memory().numTensors, start);
});

test('keep() survives its tidy and every enclosing one', () => {
  const start = memory().numTensors;
  let kept: Tensor | undefined;
  tidy(() => {
    tidy(() => {
      kept = ones([3]).mul(2).keep();
      ones([3]);
    });
  });
  assert.equal(memory().numTensors, start + 1);
  assert.equal(kept!.isDisposed, false);
  assert.deepEqual(Array.from(kept!.toFloat32Array()), [2, 2, 2]);
  keep(kept!).dispose();
  assert.equal(memory().numTensors, start);
});

test('a nested tidy hands its result to the outer scope, which frees it unless returned', () => {
  const start = memory().numTensors;
  let inner: Tensor | undefined;
  const outer = tidy(() => {
    inner = tidy(() => ones([2]).add(1));
    assert.equal(inner.isDisposed, false);
    return inner.mul(2);
  });
  assert.equal(inner!.isDisposed, true);
  assert.deepEqual(Array.from(outer.toFloat32Array()), [4, 4]);
  outer.dispose();
  assert.equal(memory().numTensors, start);
});

test('tidy frees what fn made when fn throws', () => {
  const start = memory().numTensors;
  assert.throws(() =>
    tidy(() => {
      ones([4, 4]).add(1);
      throw new Error('boom');
    }), /boom/);
  assert.equal(memory().numTensors, start, 'tensors made before the exception were not freed');
});

test('tidy refuses an async function', () => {
  assert.throws(() => tidy(async () => ones([1])), /Promise/);
});
