/**
 * stateDict()/loadStateDict(): PyTorch's key names, copies of the values, and
 * one error that lists every missing, unexpected and mis-shaped key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BatchNorm2d, Conv2d, ReLU, Sequential } from '../../src/nn/index.js';
import { dispose, manualSeed, ones, randn, setNumThreads, tidy, type Tensor } from '../../src/tensor/index.js';

setNumThreads(2);

const net = () => new Sequential(new Conv2d(1, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 2, 1, { bias: false }));
const KEYS = ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.weight'];

/** A copy of a state dict, so that editing it leaves the module alone. */
function copyOf(state: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...state].map(([k, v]) => [k, v.clone()]));
}

test('Conv-BN-ReLU-Conv(no bias) has PyTorch state_dict keys and shapes, in PyTorch order', () => {
  const m = net();
  assert.deepEqual([...m.stateDict().keys()], KEYS);
  assert.deepEqual(m.namedParameters().map(([k]) => k), ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight']);
  assert.deepEqual([...m.stateDict().get('0.weight')!.shape], [4, 1, 3, 3]);
  assert.equal(m.stateDict().get('1.num_batches_tracked')!.dtype, 'int64');
  m.dispose();
});

test('loadStateDict copies values: the module then computes as the source, and later edits of the source do not leak in', () => {
  manualSeed(0);
  const [a, b] = [net(), net()];
  const state = copyOf(a.stateDict());
  b.loadStateDict(state);
  tidy(() => {
    const x = randn([2, 1, 5, 6]);
    a.eval();
    b.eval();
    assert.deepEqual(Array.from(b.forward(x).toFloat32Array()), Array.from(a.forward(x).toFloat32Array()));
    state.get('0.weight')!.fill_(7);
    assert.notEqual(b.stateDict().get('0.weight')!.toFloat32Array()[0], 7);
  });
  dispose([...state.values()]);
  a.dispose();
  b.dispose();
});

test('a missing key is an error naming it', () => {
  const m = net();
  const state = copyOf(m.stateDict());
  state.delete('1.running_var');
  assert.throws(() => m.loadStateDict(state), /^Error: loadStateDict: missing keys: 1\.running_var$/);
  dispose([...state.values()]);
  m.dispose();
});

test('an unexpected key is an error naming it', () => {
  const m = net();
  const state = copyOf(m.stateDict());
  state.set('4.weight', ones([2]));
  assert.throws(() => m.loadStateDict(state), /^Error: loadStateDict: unexpected keys: 4\.weight$/);
  dispose([...state.values()]);
  m.dispose();
});

test('a mis-shaped key is an error with both shapes, checkpoint [4,1,5,5] vs model [4,1,3,3]', () => {
  const m = net();
  const state = copyOf(m.stateDict());
  state.get('0.weight')!.dispose();
  state.set('0.weight', ones([4, 1, 5, 5]));
  assert.throws(() => m.loadStateDict(state), /mis-shaped keys: 0\.weight: checkpoint \[4,1,5,5\] vs model \[4,1,3,3\]/);
  dispose([...state.values()]);
  m.dispose();
});

test('every problem at once is one error listing all of them, and the module is left unchanged', () => {
  const m = net();
  const before = Array.from(m.stateDict().get('0.bias')!.toFloat32Array());
  const state = copyOf(m.stateDict());
  state.get('0.bias')!.fill_(3);
  state.delete('1.weight');
  state.delete('3.weight');
  state.set('extra', ones([1]));
  state.get('1.bias')!.dispose();
  state.set('1.bias', ones([5]));
  assert.throws(() => m.loadStateDict(state), (e: Error) => {
    assert.match(e.message, /mis-shaped keys: 1\.bias: checkpoint \[5\] vs model \[4\]/);
    assert.match(e.message, /missing keys: 1\.weight, 3\.weight/);
    assert.match(e.message, /unexpected keys: extra/);
    return true;
  });
  assert.deepEqual(Array.from(m.stateDict().get('0.bias')!.toFloat32Array()), before);
  dispose([...state.values()]);
  m.dispose();
});

test('strict: false tolerates missing and unexpected keys but never a mis-shaped one', () => {
  const m = net();
  m.loadStateDict(new Map([['0.bias', ones([4])], ['other', ones([1])]]), { strict: false });
  assert.deepEqual(Array.from(m.stateDict().get('0.bias')!.toFloat32Array()), [1, 1, 1, 1]);
  assert.throws(() => m.loadStateDict(new Map([['0.bias', ones([3])]]), { strict: false }), /mis-shaped keys: 0\.bias/);
  m.dispose();
});

test('Conv2d(3, 8, 3) initialises as PyTorch: weights and bias in U(-1/sqrt(27), 1/sqrt(27)), spread over the range', () => {
  manualSeed(1);
  const conv = new Conv2d(3, 8, 3);
  const bound = 1 / Math.sqrt(27);
  const w = conv.weight.toFloat32Array();
  assert.ok(w.every((v) => Math.abs(v) <= bound));
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  // a uniform on [-b, b] has standard deviation b / sqrt(3)
  assert.ok(Math.abs(std - bound / Math.sqrt(3)) < 0.15 * bound, `std ${std}`);
  assert.ok(conv.bias!.toFloat32Array().every((v) => Math.abs(v) <= bound));
  conv.dispose();
});

test('train()/eval() reach every child: batch norm counts batches and updates statistics only in training', () => {
  const m = net();
  const stats = () => [m.stateDict().get('1.num_batches_tracked')!.item(), m.stateDict().get('1.running_mean')!.toFloat32Array()[0]];
  m.eval();
  assert.ok(m.namedChildren().every(([, c]) => !c.training));
  tidy(() => m.forward(randn([2, 1, 4, 4]).add(3)));
  assert.deepEqual(stats(), [0, 0]);
  m.train();
  assert.ok(m.namedChildren().every(([, c]) => c.training));
  tidy(() => m.forward(randn([2, 1, 4, 4]).add(3)));
  const [count, mean] = stats();
  assert.equal(count, 1);
  assert.notEqual(mean, 0);
  m.dispose();
});
