/**
 * Ten training steps of a Conv-BN-ReLU-Conv net (x [4,1,8,8], BCE with logits)
 * under each optimizer, against the same steps in PyTorch (llm.c-style): the
 * loss of every step, then every final weight and batch-norm statistic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../../src/nn/index.js';
import { Adam, AdamW, SGD, type Optimizer } from '../../src/optim/index.js';
import { binaryCrossEntropyWithLogits, setNumThreads, tidy } from '../../src/tensor/index.js';
import { assertCloseValues } from '../close.js';
import { assertClose, get, loadFixture, manifest, withPrefix } from '../tensor/fixtures.js';

setNumThreads(2);
const fixture = await loadFixture('optim.safetensors');
const x = get(fixture, 'x');
const y = get(fixture, 'y');

/**
 * K (test/close.ts) for ten float32 steps, PyTorch's and ours each summing in
 * its own order: every step's weight gradients sum N * H * W = 256 terms per
 * convolution, two convolutions, and each step builds on the last.
 */
const TRAINING_TERMS = 10 * 2 * 4 * 8 * 8;

/**
 * The net of tools/make_fixtures.py; its state_dict keys are 0.*, 1.*, 3.*. No
 * bias in front of batch norm: its exact gradient is zero, so Adam would step
 * it by the sign of each CPU's rounding noise (see the generator).
 */
const smallConvNet = () =>
  new Sequential(new Conv2d(1, 4, 3, { padding: 1, bias: false }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 1, 3, { padding: 1 }));

function optimizerFor(options: Record<string, any>, net: Sequential): Optimizer<{ lr: number }> {
  const { kind, ...rest } = options;
  const params = net.parameters();
  if (kind === 'SGD') return new SGD(params, rest as any);
  if (kind === 'Adam') return new Adam(params, rest as any);
  if (kind === 'AdamW') return new AdamW(params, rest as any);
  throw new Error(`unknown optimizer ${kind}`);
}

for (const run of manifest.optim.runs) {
  test(`${run.name}: ten steps on [4,1,8,8] give PyTorch's losses and final weights`, (t) => {
    const net = smallConvNet();
    net.loadStateDict(withPrefix(fixture, 'init.'));
    const optimizer = optimizerFor(run.options, net);
    const losses: number[] = [];
    for (let step = 0; step < manifest.optim.steps; step++) {
      tidy(() => {
        optimizer.zeroGrad();
        const loss = binaryCrossEntropyWithLogits(net.forward(x), y);
        loss.backward();
        optimizer.step();
        losses.push(loss.item());
      });
    }
    const expected = Array.from(get(fixture, `${run.name}.losses`).toFloat32Array());
    losses.forEach((l, i) => t.diagnostic(`step ${i}: loss ${l.toFixed(6)}, PyTorch ${expected[i].toFixed(6)}`));
    assertCloseValues(t, 'losses', losses, expected, { precision: 'float32', terms: TRAINING_TERMS });

    const final = withPrefix(fixture, `${run.name}.final.`);
    assert.deepEqual([...net.stateDict().keys()].sort(), [...final.keys()].sort());
    for (const [key, value] of net.stateDict()) assertClose(t, key, value, final.get(key)!, TRAINING_TERMS);
    optimizer.dispose();
    net.dispose();
  });
}
