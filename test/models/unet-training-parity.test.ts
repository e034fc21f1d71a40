/**
 * llm.c-style check of a whole training run: ten SGD steps (momentum 0.99,
 * lr 5e-3) of a small U-Net (base 4, depth 2, batch norm, bilinear) on
 * [2,1,32,32] with the BCE + Jaccard loss of the original patho, against the
 * same ten steps in PyTorch: every loss, then every final weight and statistic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UNet, type UNetOptions } from '../../src/models/unet.js';
import { SGD } from '../../src/optim/index.js';
import { binaryCrossEntropyWithLogits, setNumThreads, tidy, type Tensor } from '../../src/tensor/index.js';
import { assertCloseValues } from '../close.js';
import { assertClose, get, loadFixture, manifest, withPrefix } from '../tensor/fixtures.js';

setNumThreads(2);
const fixture = await loadFixture('unet_train.safetensors');

/**
 * K (test/close.ts) for ten float32 steps of PyTorch and of us, each summing
 * in its own order: per step, 11 convolutions (2 per block, 5 blocks, and the
 * output) each summing N * H * W = 2048 terms for a weight gradient, forward
 * and back; each step builds on the last.
 */
const TRAINING_TERMS = 10 * 2 * 11 * 2 * 32 * 32;

/**
 * bce(sigmoid(logits), y) - log(J + 1e-12), J = sum(p y) / (sum(p) + sum(y) - sum(p y))
 * over the whole batch, p = sigmoid(logits); the BCE part is taken from the logits.
 */
function bceWithJaccard(logits: Tensor, y: Tensor): Tensor {
  const bce = binaryCrossEntropyWithLogits(logits, y);
  const p = logits.sigmoid();
  const intersection = p.mul(y).sum();
  const jaccard = intersection.div(p.sum().add(y.sum()).sub(intersection));
  return bce.sub(jaccard.add(1e-12).log());
}

test('UNet base 4 depth 2, ten SGD(momentum 0.99) steps with BCE + Jaccard on [2,1,32,32]: PyTorch losses and weights', (t) => {
  const { options, optimizer: o, steps } = manifest.unetTrain;
  const net = new UNet(options as UNetOptions);
  net.loadStateDict(withPrefix(fixture, 'init.'));
  net.train();
  const optimizer = new SGD(net.parameters(), { lr: o.lr, momentum: o.momentum });
  const [x, y] = [get(fixture, 'x'), get(fixture, 'y')];
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    tidy(() => {
      optimizer.zeroGrad();
      const loss = bceWithJaccard(net.forward(x), y);
      loss.backward();
      optimizer.step();
      losses.push(loss.item());
    });
  }
  const expected = Array.from(get(fixture, 'losses').toFloat32Array());
  losses.forEach((l, i) => t.diagnostic(`step ${i}: loss ${l.toFixed(6)}, PyTorch ${expected[i].toFixed(6)}, diff ${Math.abs(l - expected[i]).toExponential(2)}`));
  assertCloseValues(t, 'losses', losses, expected, { precision: 'float32', terms: TRAINING_TERMS });
  // the run must actually learn, or matching losses would prove little
  assert.ok(losses[steps - 1] < losses[0], `loss went from ${losses[0]} to ${losses[steps - 1]}`);

  const final = withPrefix(fixture, 'final.');
  for (const [key, value] of net.stateDict()) assertClose(t, key, value, final.get(key)!, TRAINING_TERMS);
  optimizer.dispose();
  net.dispose();
});
