/**
 * Optimizer state saved with stateDict() and restored into a fresh optimizer
 * continues training exactly: 3 + 3 steps equal 6 straight steps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../../src/nn/index.js';
import { Adam, SGD, type Optimizer } from '../../src/optim/index.js';
import { binaryCrossEntropyWithLogits, dispose, manualSeed, rand, randn, setNumThreads, tensor, tidy, type Tensor } from '../../src/tensor/index.js';

setNumThreads(2);

const makeNet = () => new Sequential(new Conv2d(1, 3, 3, { padding: 1 }), new BatchNorm2d(3), new ReLU(), new Conv2d(3, 1, 1));

function train(net: Sequential, optimizer: Optimizer<{ lr: number }>, x: Tensor, y: Tensor, steps: number): void {
  for (let i = 0; i < steps; i++) {
    tidy(() => {
      optimizer.zeroGrad();
      binaryCrossEntropyWithLogits(net.forward(x), y).backward();
      optimizer.step();
    });
  }
}

const kinds: [string, (p: Tensor[]) => Optimizer<{ lr: number }>][] = [
  ['SGD nesterov momentum 0.9', (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true })],
  ['Adam', (p) => new Adam(p, { lr: 0.01 })],
];

for (const [name, make] of kinds) {
  test(`${name}: 3 steps, stateDict() into a fresh optimizer, 3 more = 6 straight steps on [2,1,6,6]`, () => {
    manualSeed(5);
    const x = randn([2, 1, 6, 6]);
    const y = tidy(() => rand([2, 1, 6, 6]).gt(0.5).to('float32'));
    const straight = makeNet();
    const resumed = makeNet();
    resumed.loadStateDict(straight.stateDict());
    const a = make(straight.parameters());
    train(straight, a, x, y, 6);

    const first = make(resumed.parameters());
    train(resumed, first, x, y, 3);
    const second = make(resumed.parameters());
    second.loadStateDict(first.stateDict());
    first.dispose();
    train(resumed, second, x, y, 3);

    for (const [key, value] of straight.stateDict()) {
      assert.deepEqual(Array.from(resumed.stateDict().get(key)!.toArray() as Float32Array), Array.from(value.toArray() as Float32Array), key);
    }
    dispose([x, y]);
    for (const o of [a, second]) o.dispose();
    for (const n of [straight, resumed]) n.dispose();
  });
}

test('loading the state of an optimizer over other parameters is an error', () => {
  const small = new Conv2d(1, 1, 1);
  const big = makeNet();
  const a = new SGD(big.parameters(), { lr: 0.1, momentum: 0.9 });
  const b = new SGD(small.parameters(), { lr: 0.1, momentum: 0.9 });
  assert.throws(() => b.loadStateDict(a.stateDict()), /optimizer state has 6 parameters but this optimizer has 2/);
  small.dispose();
  big.dispose();
});

test('Adam updates parameters at different step counts (one gained a gradient later) each with its own bias correction', () => {
  // w1 gets a gradient at steps 1 and 2, w2 only at step 2: after step 2, w1 is at Adam step 2 and w2 at step 1
  const w1 = tensor(Float32Array.from([1, -2]), [2]);
  const w2 = tensor(Float32Array.from([3]), [1]);
  for (const w of [w1, w2]) w.requiresGrad = true;
  const adam = new Adam([w1, w2], { lr: 0.1 });
  const grads: [Tensor, number[]][][] = [[[w1, [0.5, -1]]], [[w1, [0.25, 2]], [w2, [-4]]]];
  for (const step of grads) {
    for (const [w, g] of step) w.grad = tensor(Float32Array.from(g), [g.length]);
    adam.step();
    adam.zeroGrad();
  }
  // torch.optim.Adam's formula in float64: m, v moments, bias corrections of each parameter's own step count
  const expected = (w0: number, gs: number[]) => {
    let [m, v, w] = [0, 0, w0];
    gs.forEach((g, i) => {
      const t = i + 1;
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      w -= (0.1 / (1 - 0.9 ** t)) * (m / (Math.sqrt(v) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
    });
    return w;
  };
  const got = [...w1.toFloat32Array(), ...w2.toFloat32Array()];
  const want = [expected(1, [0.5, 0.25]), expected(-2, [-1, 2]), expected(3, [-4])];
  // a handful of float32 roundings of values of size ~|w|
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 8 * 2 ** -24 * Math.abs(want[i]), `element ${i}: ${g} vs ${want[i]}`));
  adam.dispose();
  dispose([w1, w2]);
});

test('Adam keeps the moments of a channels-last weight channels-last, also when restored from a saved (NCHW) state', () => {
  manualSeed(6);
  const conv = new Conv2d(3, 4, 3, { padding: 1 });
  conv.toMemoryFormat('channelsLast');
  const x = randn([2, 3, 6, 6]).contiguous('channelsLast');
  const first = new Adam(conv.parameters(), { lr: 0.01 });
  tidy(() => conv.forward(x).sum().backward());
  first.step();
  const layouts = (o: Adam) => Object.values(o.stateDict().state).map((s) => (s.exp_avg as Tensor).rank === 4 && (s.exp_avg as Tensor).isContiguous('channelsLast'));
  assert.deepEqual(layouts(first), [true, false], 'the weight\'s moments are channels-last; the bias has no layout');
  // as a checkpoint gives them back: plain NCHW copies
  const saved = first.stateDict();
  const nchw = { ...saved, state: Object.fromEntries(Object.entries(saved.state).map(([k, s]) => [k, { ...s, exp_avg: (s.exp_avg as Tensor).contiguous(), exp_avg_sq: (s.exp_avg_sq as Tensor).contiguous() }])) };
  const second = new Adam(conv.parameters(), { lr: 0.01 });
  second.loadStateDict(nchw);
  assert.deepEqual(layouts(second), [true, false]);
  for (const s of Object.values(nchw.state)) dispose([s.exp_avg as Tensor, s.exp_avg_sq as Tensor]);
  for (const o of [first, second]) o.dispose();
  dispose(x);
  conv.dispose();
});
