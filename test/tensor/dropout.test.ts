/**
 * Dropout: identity in evaluation mode and for p = 0; in training, about a
 * fraction p of [200,100] zeroed, survivors scaled by 1/(1-p), and the gradient
 * follows the same mask.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { dropout, manualSeed, ones, randn, setNumThreads, tidy } from '../../src/tensor/index.js';

setNumThreads(2);

test('dropout on [4,5]: identity when not training, and for p = 0', () => {
  tidy(() => {
    const x = randn([4, 5]);
    assert.deepEqual(Array.from(dropout(x, 0.5, false).toFloat32Array()), Array.from(x.toFloat32Array()));
    assert.deepEqual(Array.from(dropout(x, 0, true).toFloat32Array()), Array.from(x.toFloat32Array()));
  });
});

test('dropout p = 0.3 in training on [200,100]: ~30% zeros, survivors 1/(1-p), gradient with the same mask', () => {
  manualSeed(3);
  tidy(() => {
    const x = ones([200, 100], { requiresGrad: true });
    const y = dropout(x, 0.3, true);
    y.sum().backward();
    const values = y.toFloat32Array();
    const grad = x.grad!.toFloat32Array();
    const zeros = values.filter((v) => v === 0).length / values.length;
    // 20,000 Bernoulli(0.3) draws: the standard deviation of the fraction is 0.003
    assert.ok(Math.abs(zeros - 0.3) < 0.015, `zero fraction ${zeros}`);
    assert.ok(values.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
    assert.deepEqual(Array.from(grad), Array.from(values));
  });
});

test('dropout rejects p outside [0, 1)', () => {
  tidy(() => {
    assert.throws(() => dropout(ones([2]), 1, true), /dropout: p must be in \[0, 1\), got 1/);
    assert.throws(() => dropout(ones([2]), -0.1, true), /got -0.1/);
  });
});
