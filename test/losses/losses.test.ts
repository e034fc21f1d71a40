/**
 * The segmentation losses against values worked out by hand (tiny tensors),
 * on the edge cases training meets (empty and all-foreground masks, saturated
 * logits), and their gradients against finite differences in float64.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LOSS_NAMES, bce, bceDice, bceWithJaccard, crossEntropy, diceLoss, lossByName, softJaccard, type LossName } from '../../src/losses/index.js';
import { UNet } from '../../src/models/unet.js';
import { memory, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { Model } from '../../src/train/model.js';
import { gradcheck, normal } from '../tensor/gradcheck.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** log(1 + e^x) without overflow. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** Logits [1, 1, 2, 2] and a mask, float32 unless float64 data is given. */
const binary = (values: number[] | Float64Array) => tensor(values instanceof Float64Array ? values : Float32Array.from(values), [1, 1, 2, 2]);

/** The value of a loss on fresh tensors, freeing them again. */
function lossValue(fn: (x: Tensor, y: Tensor) => Tensor, logits: number[], mask: number[]): number {
  return tidy(() => fn(binary(logits), binary(mask)).item());
}

/** Plain-number references of the binary losses, straight from their definitions. */
const reference = {
  bce(x: number[], y: number[], posWeight = 1): number {
    // -(w y log s(x) + (1 - y) log(1 - s(x))) with log s(x) = -softplus(-x), log(1 - s(x)) = -softplus(x)
    return x.reduce((s, xi, i) => s + posWeight * y[i] * softplus(-xi) + (1 - y[i]) * softplus(xi), 0) / x.length;
  },
  jaccard(x: number[], y: number[], smooth = 1e-6): number {
    const p = x.map(sigmoid);
    const intersection = p.reduce((s, pi, i) => s + pi * y[i], 0);
    const union = p.reduce((s, v) => s + v, 0) + y.reduce((s, v) => s + v, 0) - intersection;
    return (intersection + smooth) / (union + smooth);
  },
  dice(x: number[], y: number[]): number {
    const p = x.map(sigmoid);
    const intersection = p.reduce((s, pi, i) => s + pi * y[i], 0);
    const total = p.reduce((s, v) => s + v, 0) + y.reduce((s, v) => s + v, 0);
    return 1 - (2 * intersection + 1) / (total + 1);
  },
};

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual}, expected ${expected}`);

test('zero logits against an all-foreground mask: bce = ln 2, J = 1/2, dice loss = 2/7', () => {
  const zeros = [0, 0, 0, 0];
  const ones = [1, 1, 1, 1];
  close(lossValue(bce, zeros, ones), Math.LN2, 1e-6, 'bce');
  // p = 1/2 everywhere: intersection 2, union 2 + 4 - 2 = 4
  close(lossValue((x, y) => softJaccard(x, y), zeros, ones), (2 + 1e-6) / (4 + 1e-6), 1e-6, 'soft Jaccard');
  close(lossValue(bceWithJaccard, zeros, ones), Math.LN2 - Math.log(0.5), 1e-5, 'bce - log J');
  // 1 - (2 * 2 + 1) / (2 + 4 + 1)
  close(lossValue((x, y) => diceLoss(x, y), zeros, ones), 2 / 7, 1e-6, 'dice loss');
  close(lossValue(bceDice, zeros, ones), Math.LN2 + 2 / 7, 1e-6, 'bce + dice');
});

test('mixed logits [0, 2, -1, 3] against mask [1, 0, 0, 1]: every binary loss matches its definition', () => {
  const x = [0, 2, -1, 3];
  const y = [1, 0, 0, 1];
  close(lossValue(bce, x, y), reference.bce(x, y), 1e-6, 'bce');
  close(lossValue((a, b) => bce(a, b, { posWeight: 3 }), x, y), reference.bce(x, y, 3), 1e-6, 'bce with posWeight 3');
  close(lossValue((a, b) => softJaccard(a, b), x, y), reference.jaccard(x, y), 1e-6, 'soft Jaccard');
  close(lossValue(bceWithJaccard, x, y), reference.bce(x, y) - Math.log(reference.jaccard(x, y) + 1e-12), 1e-5, 'bce - log J');
  close(lossValue((a, b) => diceLoss(a, b), x, y), reference.dice(x, y), 1e-6, 'dice loss');
  close(lossValue(bceDice, x, y), reference.bce(x, y) + reference.dice(x, y), 1e-6, 'bce + dice');
});

test('empty and all-foreground masks give finite losses and gradients, even with saturated logits', () => {
  const cases: { name: string; logits: number[]; mask: number[] }[] = [
    { name: 'empty mask, confident background', logits: [-100, -100, -100, -100], mask: [0, 0, 0, 0] },
    { name: 'empty mask, confident foreground', logits: [100, 100, 100, 100], mask: [0, 0, 0, 0] },
    { name: 'empty mask, zero logits', logits: [0, 0, 0, 0], mask: [0, 0, 0, 0] },
    { name: 'full mask, confident foreground', logits: [100, 100, 100, 100], mask: [1, 1, 1, 1] },
    { name: 'full mask, confident background', logits: [-100, -100, -100, -100], mask: [1, 1, 1, 1] },
  ];
  for (const { name, logits, mask } of cases) {
    for (const [lossName, fn] of Object.entries({ bce, bceWithJaccard, diceLoss: (x: Tensor, y: Tensor) => diceLoss(x, y), bceDice })) {
      tidy(() => {
        const x = binary(logits);
        x.requiresGrad = true;
        const value = fn(x, binary(mask));
        value.backward();
        const v = value.item();
        assert.ok(Number.isFinite(v), `${lossName} on ${name}: ${v}`);
        assert.ok([...x.grad!.toArray()].every(Number.isFinite), `${lossName} on ${name}: gradient not finite`);
      });
    }
  }
  // a perfect prediction of an empty mask is a perfect score: J = 1, not 0/0
  close(lossValue((x, y) => softJaccard(x, y), [-100, -100, -100, -100], [0, 0, 0, 0]), 1, 1e-6, 'J of empty vs empty');
  close(lossValue(bceWithJaccard, [-100, -100, -100, -100], [0, 0, 0, 0]), 0, 1e-6, 'bce-jaccard of empty vs empty');
  close(lossValue(bceWithJaccard, [100, 100, 100, 100], [1, 1, 1, 1]), 0, 1e-6, 'bce-jaccard of full vs full');
  close(lossValue((x, y) => diceLoss(x, y), [-100, -100, -100, -100], [0, 0, 0, 0]), 0, 1e-6, 'dice loss of empty vs empty');
  // all wrong: BCE is 100 per pixel (computed from logits, not from a saturated probability)
  close(lossValue(bce, [100, 100, 100, 100], [0, 0, 0, 0]), 100, 1e-6, 'bce of confident wrong foreground');
  // J = 1e-6 / (4 + 1e-6): the log term is large but finite
  close(lossValue(bceWithJaccard, [100, 100, 100, 100], [0, 0, 0, 0]), 100 - Math.log(1e-6 / (4 + 1e-6) + 1e-12), 1e-5, 'bce-jaccard of all wrong');
});

test('cross-entropy over 3 classes with class weights is the weighted mean of -log softmax', () => {
  // logits [1, 3, 1, 2]: two pixels, classes along dim 1
  const logits = [
    [2, 0.5],
    [-1, 1],
    [0.5, 3],
  ];
  const target = [0, 2];
  const weights = [1, 2, 0.5];
  const nll = (pixel: number) => {
    const column = logits.map((row) => row[pixel]);
    const logSum = Math.log(column.reduce((s, v) => s + Math.exp(v), 0));
    return logSum - column[target[pixel]];
  };
  const plain = (nll(0) + nll(1)) / 2;
  // PyTorch's weighted mean divides by the sum of the targets' weights
  const weighted = (weights[0] * nll(0) + weights[2] * nll(1)) / (weights[0] + weights[2]);
  tidy(() => {
    const x = tensor(Float32Array.from(logits.flat()), [1, 3, 1, 2]);
    const y = tensor(BigInt64Array.from(target.map(BigInt)), [1, 1, 2]);
    close(crossEntropy(x, y).item(), plain, 1e-6, 'cross-entropy');
    const classWeights = tensor(Float32Array.from(weights), [3]);
    close(crossEntropy(x, y, { classWeights }).item(), weighted, 1e-6, 'weighted cross-entropy');
    close(lossByName('cross-entropy', { classWeights })(x, y).item(), weighted, 1e-6, "lossByName('cross-entropy')");
  });
});

test('gradients of every binary loss match finite differences in float64 (logits [2, 1, 3, 3])', (t) => {
  const shape = [2, 1, 3, 3];
  const logits = normal(18, 11, 1.5);
  const maskValues = Float64Array.from(normal(18, 12), (v) => (v > 0 ? 1 : 0));
  const mask = tensor(maskValues, shape);
  const empty = tensor(new Float64Array(18), shape);
  try {
    const losses: [string, (x: Tensor) => Tensor][] = [
      ['bce', (x) => bce(x, mask)],
      ['bce with posWeight 2.5', (x) => bce(x, mask, { posWeight: 2.5 })],
      ['soft Jaccard', (x) => softJaccard(x, mask)],
      ['bce - log J', (x) => bceWithJaccard(x, mask)],
      ['bce - log J on an empty mask', (x) => bceWithJaccard(x, empty)],
      ['dice loss', (x) => diceLoss(x, mask)],
      ['bce + dice', (x) => bceDice(x, mask)],
    ];
    for (const [name, f] of losses) {
      t.diagnostic(name);
      gradcheck(t, f, logits, shape);
    }
  } finally {
    mask.dispose();
    empty.dispose();
  }
});

test('gradient of weighted cross-entropy matches finite differences in float64 (logits [1, 3, 2, 2])', (t) => {
  const target = tensor(BigInt64Array.from([0n, 2n, 1n, 2n]), [1, 2, 2]);
  const classWeights = tensor(Float64Array.from([1, 2, 0.5]), [3]);
  try {
    gradcheck(t, (x) => crossEntropy(x, target, { classWeights }), normal(12, 21), [1, 3, 2, 2]);
  } finally {
    target.dispose();
    classWeights.dispose();
  }
});

test('lossByName gives the loss each name stands for and refuses unknown names, listing the valid ones', () => {
  const x = [0, 2, -1, 3];
  const y = [1, 0, 0, 1];
  const expected: Record<Exclude<LossName, 'cross-entropy'>, number> = {
    bce: reference.bce(x, y, 2),
    'bce-jaccard': reference.bce(x, y, 2) - Math.log(reference.jaccard(x, y) + 1e-12),
    dice: reference.dice(x, y),
    'bce-dice': reference.bce(x, y, 2) + reference.dice(x, y),
  };
  for (const [name, value] of Object.entries(expected)) {
    close(lossValue(lossByName(name as LossName, { posWeight: 2 }), x, y), value, 1e-5, `lossByName('${name}')`);
  }
  assert.deepEqual([...LOSS_NAMES].sort(), ['bce', 'bce-dice', 'bce-jaccard', 'cross-entropy', 'dice']);
  assert.throws(() => lossByName('jaccard' as LossName), /unknown loss 'jaccard' \(use bce, bce-jaccard, dice, bce-dice, cross-entropy\)/);
});

test('the losses free every intermediate tensor', () => {
  const x = binary([0, 2, -1, 3]);
  const y = binary([1, 0, 0, 1]);
  const before = memory().numTensors;
  for (const name of ['bce', 'bce-jaccard', 'dice', 'bce-dice'] as const) {
    const loss = lossByName(name, { posWeight: 2 })(x, y);
    loss.dispose();
  }
  assert.equal(memory().numTensors, before);
  x.dispose();
  y.dispose();
});

test('Model refuses a loss that does not fit the network: binary losses need 1 class, cross-entropy 2 or more', () => {
  const binaryNet = new UNet({ depth: 1, baseChannels: 2 });
  const threeClasses = new UNet({ depth: 1, baseChannels: 2, classes: 3 });
  try {
    assert.throws(() => new Model(binaryNet, { loss: 'cross-entropy' }), /cross-entropy needs a network with 2 or more classes; this one has 1/);
    assert.throws(() => new Model(threeClasses, { loss: 'dice' }), /loss 'dice' is binary but the network has 3 classes \(use cross-entropy\)/);
  } finally {
    binaryNet.dispose();
    threeClasses.dispose();
  }
});
