import assert from 'node:assert/strict';

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

/** Asserts that every numeric field of `actual` is within `tolerance` of `expected` (NaN matches NaN). */
export function assertClose(actual: Record<string, number>, expected: Record<string, number>, tolerance = 1e-12): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const key of Object.keys(expected)) {
    const a = actual[key];
    const e = expected[key];
    const same = (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= tolerance;
    assert.ok(same, `${key}: got ${a}, expected ${e}`);
  }
}
