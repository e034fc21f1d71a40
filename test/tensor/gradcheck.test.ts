/**
 * Finite-difference checks (float64, central differences) of the gradients of
 * composite functions written in TypeScript: what autograd gives through our
 * compositions of ops must be the derivative of what they compute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { binaryCrossEntropyWithLogits, centerCrop, pad, setNumThreads, softmax, tidy, type Tensor } from '../../src/tensor/index.js';
import { float64, gradcheck, normal, random } from './gradcheck.js';

setNumThreads(2);

/** The original patho's loss: bce - log(J + 1e-12), J the soft Jaccard over the batch, BCE from logits. */
function bceWithJaccard(logits: Tensor, y: Tensor): Tensor {
  const p = logits.sigmoid();
  const intersection = p.mul(y).sum();
  const jaccard = intersection.div(p.sum().add(y.sum()).sub(intersection));
  return binaryCrossEntropyWithLogits(logits, y).sub(jaccard.add(1e-12).log());
}

function mask(n: number, seed: number, fraction: number): Float64Array {
  const next = random(seed);
  return Float64Array.from({ length: n }, () => (next() < fraction ? 1 : 0));
}

test('BCE + soft-Jaccard loss of logits [2,1,4,5]: gradient equals finite differences', (t) => {
  const y = float64(mask(40, 7, 0.4), [2, 1, 4, 5]);
  gradcheck(t, (x) => bceWithJaccard(x, y), normal(40, 1, 2), [2, 1, 4, 5]);
  y.dispose();
});

test('BCE + soft-Jaccard loss with an empty mask [1,1,3,3]: finite, and gradient equals finite differences', (t) => {
  const y = float64(new Float64Array(9), [1, 1, 3, 3]);
  const loss = tidy(() => bceWithJaccard(float64(normal(9, 2), [1, 1, 3, 3]), y).item());
  assert.ok(Number.isFinite(loss), `loss ${loss}`);
  gradcheck(t, (x) => bceWithJaccard(x, y), normal(9, 2), [1, 1, 3, 3]);
  y.dispose();
});

test('soft Dice over softmax of 3 classes, logits [2,3,3,4]: gradient equals finite differences', (t) => {
  const labels = random(11);
  const onehot = new Float64Array(2 * 3 * 12);
  for (let n = 0; n < 2; n++) for (let i = 0; i < 12; i++) onehot[n * 36 + Math.floor(labels() * 3) * 12 + i] = 1;
  const target = float64(onehot, [2, 3, 3, 4]);
  const dice = (x: Tensor) => {
    const p = softmax(x, 1);
    const intersection = p.mul(target).sum([0, 2, 3]);
    const total = p.sum([0, 2, 3]).add(target.sum([0, 2, 3]));
    return intersection.mul(2).add(1).div(total.add(1)).mean().rsub(1);
  };
  gradcheck(t, dice, normal(72, 3), [2, 3, 3, 4]);
  target.dispose();
});

test('centerCrop [1,2,6,7] to 3x4 under a weighted sum: gradient equals finite differences', (t) => {
  const w = float64(normal(24, 5), [1, 2, 3, 4]);
  gradcheck(t, (x) => centerCrop(x, 3, 4).mul(w).sum(), normal(84, 4), [1, 2, 6, 7]);
  w.dispose();
});

test('reflect and replicate padding [1,2,4,5] under a squared weighted sum: gradient equals finite differences', (t) => {
  for (const mode of ['reflect', 'replicate'] as const) {
    const w = float64(normal(2 * 7 * 8, 6), [1, 2, 7, 8]);
    gradcheck(t, (x) => pad(x, [2, 1, 1, 2], mode).pow(2).mul(w).sum(), normal(40, 8), [1, 2, 4, 5]);
    w.dispose();
  }
});
