/**
 * Every engine op against PyTorch 1.13 (tools/make_fixtures.py): the output,
 * and the input gradients of sum(out * g) for a fixed random g, within float32
 * rounding (test/close.ts). Each test prints its largest differences.
 */
import { test } from 'node:test';

import * as F from '../../src/tensor/index.js';
import { setNumThreads, tidy, type Tensor } from '../../src/tensor/index.js';
import { assertClose, get, loadFixture, manifest, type OpCase } from './fixtures.js';

setNumThreads(2);
const fixture = await loadFixture('ops.safetensors');

type Args = Record<string, any>;
type Inputs = Record<string, Tensor>;

const scalarOr = (inputs: Inputs, args: Args): Tensor | number => inputs.b ?? args.scalar;

/** Our call for each op name of the manifest, with PyTorch's arguments in our spelling. */
const OPS: Record<string, (inputs: Inputs, args: Args, ordered: Tensor[]) => Tensor> = {
  conv2d: ({ x, weight, bias }, a) => F.conv2d(x, weight, bias ?? null, a),
  convTranspose2d: ({ x, weight, bias }, a) => F.convTranspose2d(x, weight, bias ?? null, a),
  batchNorm: ({ x, weight, bias, runningMean, runningVar }, a) =>
    F.batchNorm(x, { weight, bias, runningMean, runningVar, training: a.training, momentum: a.momentum, eps: a.eps }),
  maxPool2d: ({ x }, { kernel, ...a }) => F.maxPool2d(x, kernel, a),
  interpolate: ({ x }, a) => F.interpolate(x, a),
  cat: (_, a, ordered) => F.cat(ordered, a.dim),
  slice: ({ x }, a) => x.slice(a.dim, a.start, a.end, a.step),
  centerCrop: ({ x }, a) => F.centerCrop(x, a.height, a.width),
  pad: ({ x }, a) => F.pad(x, a.pads, a.mode, a.value),
  reshape: ({ x }, a) => (a.permuteFirst ? x.permute(a.permuteFirst).reshape(a.shape) : x.reshape(a.shape)),
  permute: ({ x }, a) => x.permute(a.dims),
  flip: ({ x }, a) => x.flip(a.dims),
  rot90: ({ x }, a) => x.rot90(a.k, a.dims),
  add: (i, a) => i.a.add(scalarOr(i, a), a.alpha ?? 1),
  sub: (i, a) => i.a.sub(scalarOr(i, a), a.alpha ?? 1),
  mul: (i, a) => i.a.mul(scalarOr(i, a)),
  div: (i, a) => i.a.div(scalarOr(i, a)),
  pow: (i, a) => i.a.pow(scalarOr(i, a)),
  maximum: (i, a) => i.a.maximum(scalarOr(i, a)),
  minimum: (i, a) => i.a.minimum(scalarOr(i, a)),
  sum: ({ x }, a) => x.sum(a.dims, a.keepdim),
  mean: ({ x }, a) => x.mean(a.dims, a.keepdim),
  max: ({ x }, a) => x.max(a.dims, a.keepdim),
  min: ({ x }, a) => x.min(a.dims, a.keepdim),
  eq: (i, a) => i.a.eq(scalarOr(i, a)),
  ne: (i, a) => i.a.ne(scalarOr(i, a)),
  lt: (i, a) => i.a.lt(scalarOr(i, a)),
  le: (i, a) => i.a.le(scalarOr(i, a)),
  gt: (i, a) => i.a.gt(scalarOr(i, a)),
  ge: (i, a) => i.a.ge(scalarOr(i, a)),
  where: ({ condition, a, b }, args) => F.where(condition, a, b ?? args.scalarB),
  clamp: ({ x }, a) => x.clamp(a.min, a.max),
  relu: ({ x }) => F.relu(x),
  exp: ({ x }) => x.exp(),
  log: ({ x }) => x.log(),
  sigmoid: ({ x }) => F.sigmoid(x),
  tanh: ({ x }) => x.tanh(),
  sqrt: ({ x }) => x.sqrt(),
  abs: ({ x }) => x.abs(),
  neg: ({ x }) => x.neg(),
  softmax: ({ x }, a) => F.softmax(x, a.dim),
  logSoftmax: ({ x }, a) => F.logSoftmax(x, a.dim),
  binaryCrossEntropy: ({ p, target, weight }, a) => F.binaryCrossEntropy(p, target, { weight, reduction: a.reduction }),
  binaryCrossEntropyWithLogits: ({ logits, target, weight, posWeight }, a) =>
    F.binaryCrossEntropyWithLogits(logits, target, { weight, posWeight, reduction: a.reduction }),
  crossEntropy: ({ logits, target, weight }, a) =>
    F.crossEntropy(logits, target, { weight, reduction: a.reduction, ignoreIndex: a.ignoreIndex, labelSmoothing: a.labelSmoothing }),
  nllLoss: ({ logProbabilities, target, weight }, a) =>
    F.nllLoss(logProbabilities, target, { weight, reduction: a.reduction, ignoreIndex: a.ignoreIndex }),
};

test('the fixtures cover every op the engine issue lists', () => {
  const covered = new Set(manifest.ops.map((c) => c.op));
  const missing = Object.keys(OPS).filter((op) => !covered.has(op));
  if (missing.length) throw new Error(`no fixture for ${missing.join(', ')}`);
});

function runCase(t: { diagnostic(message: string): void }, c: OpCase): void {
  tidy(() => {
    const inputs: Inputs = {};
    for (const key of c.inputs) {
      // a fresh copy per test: batchNorm updates its running statistics in place
      const copy = get(fixture, `${c.name}.in.${key}`).clone();
      if (c.grads.includes(key)) copy.requiresGrad = true;
      inputs[key] = copy;
    }
    const out = OPS[c.op](inputs, c.args, c.inputs.map((k) => inputs[k]));
    // K (test/close.ts): no reduction of one op, forward or back, is longer than its largest tensor
    const terms = Math.max(out.numel, ...Object.values(inputs).map((x) => x.numel));
    assertClose(t, 'output', out, get(fixture, `${c.name}.out`), terms);
    for (const key of c.after) assertClose(t, `${key} after`, inputs[key], get(fixture, `${c.name}.after.${key}`), terms);
    if (c.grads.length === 0) return;
    out.mul(get(fixture, `${c.name}.upstream`)).sum().backward();
    for (const key of c.grads) {
      const grad = inputs[key].grad;
      if (grad === null) throw new Error(`no gradient reached input ${key}`);
      assertClose(t, `grad ${key}`, grad, get(fixture, `${c.name}.grad.${key}`), terms);
    }
  });
}

for (const c of manifest.ops) {
  test(`${c.name} matches PyTorch`, (t) => runCase(t, c));
}
