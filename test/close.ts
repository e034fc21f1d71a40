/**
 * The one comparison of the test suite, and its tolerance rule.
 *
 * A floating-point result that went through reductions of K terms in all
 * differs from the exact value by about sqrt(K) * u * scale, where u is the
 * unit roundoff of the precision it was computed in (2^-24 for float32, 2^-53
 * for float64) and scale the magnitude of what was summed: rounding errors of
 * independent additions add up like a random walk. Two implementations that
 * sum in different orders (oneDNN chooses other kernels on CPUs with AMX than
 * without) each land within that distance of the exact value, so a reference
 * computed exactly (in float64, see tools/make_fixtures.py) must be within
 *
 *     |actual - expected| <= C * sqrt(K) * u * max|expected|     (C = 16)
 *
 * for every element, the scale taken per tensor, not per element: an element
 * where large terms cancel to a small value carries the rounding error of the
 * large terms, which is what failed per-element bounds before. Where a whole
 * tensor cancels (the gradient of a convolution's bias in front of batch norm
 * is exactly zero), the caller gives the scale of what was summed instead.
 *
 * C = 16 because batch norm's backward subtracts means, which magnifies
 * rounding past the random-walk estimate: the U-Net parity test's largest
 * ratio (printed by every comparison: the error over the bound) was 0.12 with
 * 2 threads and AVX-512 kernels and 0.25 with 1 thread and AVX2 kernels
 * (ONEDNN_MAX_CPU_ISA=AVX2), two summation orders as different as another
 * CPU's. A real mistake still fails: a wrong op moves values by a fraction of
 * the scale, hundreds of times the bound, and the float64 run that checks the
 * structure has a bound of 1e-12 of the scale.
 *
 * K is for the caller to state: the length of the longest chain of additions
 * behind one value (a convolution's output: C_in * k * k; its weight
 * gradient: N * H * W; a network: the sum over the layers it went through).
 */
import assert from 'node:assert/strict';

/** The margin over the random-walk estimate; see above. */
export const SAFETY_FACTOR = 16;

/** Unit roundoff of each floating dtype: half the distance from 1 to the next number. */
export const UNIT_ROUNDOFF = {
  float64: 2 ** -53,
  float32: 2 ** -24,
  /** NVIDIA's TensorFloat-32, which cuDNN convolutions may use for float32 tensors: float16's 10-bit mantissa. */
  tfloat32: 2 ** -11,
  float16: 2 ** -11,
  bfloat16: 2 ** -8,
} as const;

export type Precision = keyof typeof UNIT_ROUNDOFF;

export interface Rounding {
  /** The precision the actual values were computed in. */
  precision: Precision;
  /** K: the number of terms summed on the way to one value (at least 1). */
  terms: number;
  /** The magnitude of the terms summed, where it exceeds max|expected| (a tensor that cancels). */
  scale?: number;
}

/** Where the differences of one test are reported. */
export interface Reporter {
  diagnostic(message: string): void;
}

export interface Difference {
  /** Largest |actual - expected|. */
  abs: number;
  /** max|expected| (or the caller's larger scale of the terms): the scale of the tensor. */
  scale: number;
  /** The allowed difference: C * sqrt(K) * u * scale. */
  bound: number;
  /** abs / bound (0 when both are 0): below 1 passes. */
  ratio: number;
  /** Flat index of the largest difference (-1 when there is none). */
  at: number;
}

/** The rule above, for one tensor's values (NaN must match NaN at the same place). */
export function difference(actual: ArrayLike<number>, expected: ArrayLike<number>, rounding: Rounding): Difference {
  assert.equal(actual.length, expected.length, `${actual.length} values vs ${expected.length} expected`);
  let abs = 0;
  let scale = rounding.scale ?? 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) return { abs: Infinity, scale, bound: 0, ratio: Infinity, at: i };
      continue;
    }
    scale = Math.max(scale, Math.abs(e));
    const d = Math.abs(a - e);
    if (d > abs || Number.isNaN(d)) {
      abs = d;
      at = i;
    }
  }
  const bound = SAFETY_FACTOR * Math.sqrt(Math.max(1, rounding.terms)) * UNIT_ROUNDOFF[rounding.precision] * scale;
  const ratio = abs === 0 ? 0 : abs / bound;
  return { abs, scale, bound, ratio, at };
}

/**
 * Asserts the rule for one labelled set of values, and reports the largest
 * difference, the bound and their ratio whether it passes or not.
 */
export function assertCloseValues(
  t: Reporter,
  label: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rounding: Rounding,
): Difference {
  const d = difference(actual, expected, rounding);
  t.diagnostic(`${label}: max |diff| ${d.abs.toExponential(2)}, bound ${d.bound.toExponential(2)} (${rounding.precision}, K ${rounding.terms}), ratio ${d.ratio.toFixed(3)}`);
  assert.ok(
    d.ratio <= 1,
    `${label}: largest difference ${d.abs.toExponential(3)} > bound ${d.bound.toExponential(3)} ` +
      `(${SAFETY_FACTOR} * sqrt(${rounding.terms}) * u(${rounding.precision}) * scale ${d.scale.toExponential(3)}) ` +
      `at flat index ${d.at}: got ${actual[d.at]}, expected ${expected[d.at]}`,
  );
  return d;
}

/**
 * The rule for named scalars (metric records: Dice, IoU, ...), each its own
 * scale; NaN matches NaN. Metrics are float64 sums of `terms` pixel counts.
 */
export function assertCloseRecord(
  actual: Record<string, number>,
  expected: Record<string, number>,
  rounding: Rounding = { precision: 'float64', terms: 1 },
): void {
  for (const [key, e] of Object.entries(expected)) {
    const a = actual[key];
    assert.equal(typeof a, 'number', `${key}: missing`);
    const d = difference([a], [e], rounding);
    assert.ok(d.ratio <= 1, `${key}: ${a}, expected ${e} (bound ${d.bound.toExponential(2)})`);
  }
}
