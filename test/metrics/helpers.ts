import assert from 'node:assert/strict';

import { assertCloseRecord } from '../close.js';

/** Deterministic pseudo-random probabilities and masks (an LCG, enough for tests). */
export function randomBatch(length: number, seed: number): { probabilities: Float32Array; masks: Uint8Array } {
  let state = seed >>> 0;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
  const probabilities = new Float32Array(length);
  const masks = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    masks[i] = next() < 0.4 ? 1 : 0;
    // correlated with the mask so that scores vary with the threshold
    probabilities[i] = Math.min(1, Math.max(0, 0.35 * masks[i] + 0.65 * next()));
  }
  return { probabilities, masks };
}

/**
 * Asserts the same fields, each within float64 rounding of `expected` (the
 * suite's rule, test/close.ts; NaN matches NaN). Scores are ratios of exact
 * pixel counts, averaged over at most `terms` images.
 */
export function assertClose(actual: Record<string, number>, expected: Record<string, number>, terms = 16): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  assertCloseRecord(actual, expected, { precision: 'float64', terms });
}
