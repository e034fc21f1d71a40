/** Finite-difference gradient checks (float64, central differences) shared by the tests. */
import assert from 'node:assert/strict';

import { noGrad, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { difference } from '../close.js';

/** A small deterministic generator (mulberry32) for test data. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(n: number, seed: number, scale = 1): Float64Array {
  const next = random(seed);
  return Float64Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()));
}

export const float64 = (data: Float64Array, shape: number[]) => tensor(data, shape);

/**
 * Compares autograd's gradient of scalar f at x with central differences
 * (f(x + eps e_i) - f(x - eps e_i)) / 2 eps, for every element of x.
 */
export function gradcheck(t: { diagnostic(m: string): void }, f: (x: Tensor) => Tensor, data: Float64Array, shape: number[], tolerance = 1e-6): void {
  const analytic = tidy(() => {
    const x = float64(data, shape);
    x.requiresGrad = true;
    const y = f(x);
    assert.equal(y.numel, 1, 'f must return a scalar');
    y.backward();
    return x.grad!.toArray() as Float64Array;
  });
  const eps = 1e-6;
  const at = (values: Float64Array) => noGrad(() => tidy(() => f(float64(values, shape)).item()));
  const numeric = new Float64Array(data.length);
  const probe = Float64Array.from(data);
  for (let i = 0; i < data.length; i++) {
    probe[i] = data[i] + eps;
    const plus = at(probe);
    probe[i] = data[i] - eps;
    const minus = at(probe);
    probe[i] = data[i];
    numeric[i] = (plus - minus) / (2 * eps);
  }
  // a zero gradient (dead ReLUs, a constant f) would agree with anything
  assert.ok(analytic.some((g) => Math.abs(g) > 1e-8), 'autograd gave an all-zero gradient: the check would prove nothing');
  // The bound here is the finite difference's own error (float64 rounding of f
  // divided by 2 eps, plus the eps^2 truncation), relative to the gradient's
  // scale; not a sum's rounding, so not the rule of test/close.ts.
  const d = difference(analytic, numeric, { precision: 'float64', terms: 1 });
  t.diagnostic(`max |autograd - finite difference| ${d.abs.toExponential(2)} over ${data.length} elements (scale ${d.scale.toExponential(2)})`);
  assert.ok(d.abs <= tolerance * Math.max(1, d.scale), `element ${d.at}: autograd ${analytic[d.at]}, finite difference ${numeric[d.at]}`);
}
