/**
 * Losses that leave unannotated pixels out, against PyTorch computing each
 * loss on the labelled pixels alone (tools/make_ignore_fixtures.py): value
 * and gradient with respect to the logits. Ignored pixels must get exactly
 * zero gradient.
 *
 * Tolerance: the suite's rule (test/close.ts) with K = 84 terms, the pixels
 * that a value or a gradient element sums over at most (the fixtures are
 * float32 PyTorch, in float32 here too).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { IGNORE_LABEL } from '../../src/data/ignore.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { lossByName, type LossName } from '../../src/losses/index.js';
import { fromBytes, memory, tidy, type DType, type Tensor } from '../../src/tensor/index.js';
import { assertClose } from '../tensor/fixtures.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/losses/ignore.safetensors', import.meta.url));
/** The most pixels a loss sums over: the whole [2, 1, 6, 7] batch. */
const TERMS = 84;

const { tensors: raw } = await loadSafetensors(FIXTURE);
/** A fresh tensor of fixture `key` (inside tidy it is freed with the rest). */
const fixture = (key: string, requiresGrad = false): Tensor => {
  const t = raw[key];
  if (!t) throw new Error(`fixture has no tensor ${key}`);
  const out = fromBytes(t.data, t.dtype as DType, t.shape);
  if (requiresGrad) out.requiresGrad = true;
  return out;
};

const binaryCases: [string, LossName, { posWeight?: number }][] = [
  ['bce', 'bce', {}],
  ['bce_pos', 'bce', { posWeight: 3 }],
  ['dice', 'dice', {}],
  ['bce_jaccard', 'bce-jaccard', {}],
  ['bce_dice', 'bce-dice', {}],
];

for (const [key, name, options] of binaryCases) {
  test(`${name}${options.posWeight ? ` (posWeight ${options.posWeight})` : ''} over labelled pixels of [2, 1, 6, 7] matches PyTorch on the labelled pixels alone`, (t) => {
    const before = memory().numTensors;
    tidy(() => {
      const logits = fixture('binary.logits', true);
      const mask = fixture('binary.mask');
      const loss = lossByName(name, { ...options, ignoreIndex: IGNORE_LABEL })(logits, mask);
      loss.backward();
      assertClose(t, 'value', loss.reshape([1]), fixture(`binary.${key}.value`), TERMS);
      assertClose(t, 'gradient', logits.grad!, fixture(`binary.${key}.grad`), TERMS);
      const grad = logits.grad!.toFloat32Array();
      const labels = mask.toFloat32Array();
      labels.forEach((v, i) => v === IGNORE_LABEL && assert.equal(grad[i], 0, `ignored pixel ${i} has gradient ${grad[i]}`));
    });
    assert.equal(memory().numTensors, before);
  });
}

for (const [key, weighted] of [['ce', false], ['ce_weighted', true]] as const) {
  test(`cross-entropy${weighted ? ' with class weights' : ''} over [2, 3, 6, 7] with ignored pixels matches PyTorch's ignore_index`, (t) => {
    const before = memory().numTensors;
    tidy(() => {
      const logits = fixture('multi.logits', true);
      const loss = lossByName('cross-entropy', { ignoreIndex: IGNORE_LABEL, classWeights: weighted ? fixture('multi.weights') : undefined })(logits, fixture('multi.target'));
      loss.backward();
      assertClose(t, 'value', loss.reshape([1]), fixture(`multi.${key}.value`), TERMS);
      assertClose(t, 'gradient', logits.grad!, fixture(`multi.${key}.grad`), TERMS);
    });
    assert.equal(memory().numTensors, before);
  });
}

test('a batch with no labelled pixel has loss 0 and zero gradient, for every loss', () => {
  tidy(() => {
    for (const name of ['bce', 'bce-jaccard', 'dice', 'bce-dice'] as const) {
      const logits = fixture('binary.logits', true);
      const mask = fixture('binary.mask').mul(0).add(IGNORE_LABEL);
      const loss = lossByName(name, { ignoreIndex: IGNORE_LABEL })(logits, mask);
      loss.backward();
      // soft Jaccard and Dice of nothing against nothing are 1 (their smoothing), so those terms vanish too
      assert.equal(loss.item(), 0, `${name} of an unlabelled batch`);
      assert.ok(logits.grad!.toFloat32Array().every((g) => g === 0), `${name}: gradient not zero`);
    }
    const logits = fixture('multi.logits', true);
    const loss = lossByName('cross-entropy', { ignoreIndex: IGNORE_LABEL })(logits, fixture('multi.target').mul(0).add(IGNORE_LABEL));
    loss.backward();
    assert.equal(loss.item(), 0);
    assert.ok(logits.grad!.toFloat32Array().every((g) => g === 0));
  });
});
