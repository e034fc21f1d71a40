/**
 * Every misuse gives a JavaScript Error with a message a user can act on:
 * the op, the shapes, what was expected. None of them aborts the process:
 * the last test runs an op after all of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  batchNorm, binaryCrossEntropy, conv2d, convTranspose2d, crossEntropy, cuda, interpolate, maxPool2d, nllLoss, ones, pad,
  randn, setNumThreads, softmax, tensor, tidy, where, zeros,
} from '../../src/tensor/index.js';

setNumThreads(2);

/** libtorch's C++ backtraces must not reach users (what_without_backtrace). */
function assertNoBacktrace(error: unknown): true {
  assert.ok(error instanceof Error);
  assert.doesNotMatch(error.message, /Exception raised from|frame #\d/);
  return true;
}

/** Validates the message itself (a RegExp alone would test "Error: " + message). */
const message = (pattern: RegExp) => (e: unknown) => assertNoBacktrace(e) && pattern.test((e as Error).message);

test('a disposed tensor: every use says it was disposed, as input or as operand', () => {
  const t = ones([2, 3]);
  t.dispose();
  assert.throws(() => t.add(1), /was disposed/);
  assert.throws(() => ones([2, 3]).mul(t), /was disposed/);
  assert.throws(() => t.toFloat32Array(), /was disposed/);
  assert.throws(() => conv2d(t, ones([1, 3, 1, 1])), /was disposed/);
  assert.throws(() => t.backward(), /was disposed/);
});

test(`an unknown device (cuda:${cuda.deviceCount() + 7}) is "not available", whether creating or moving`, () => {
  const device = `cuda:${cuda.deviceCount() + 7}`;
  assert.throws(() => ones([2]).to(device), new RegExp(`${device} is not available`));
  assert.throws(() => zeros([2], { device }), /not available/);
  assert.throws(() => ones([2]).to('tpu:0'), message(/^to: .*tpu/));
});

test('wrong dtypes: float class targets, integer BCE targets, float where-conditions', () => {
  const logits = randn([2, 3, 4, 4]);
  assert.throws(() => crossEntropy(logits, zeros([2, 4, 4])), /crossEntropy: target must be int64 class indices, got float32/);
  assert.throws(() => nllLoss(logits, zeros([2, 4, 4])), /nllLoss: target must be int64 class indices, got float32/);
  assert.throws(() => binaryCrossEntropy(randn([3]).sigmoid(), tensor(new BigInt64Array([0n, 1n, 1n]))), message(/^binaryCrossEntropy: .*\(operands: \[3\], \[3\]\)/));
  assert.throws(() => where(randn([2, 3]), ones([2, 3]), 0), message(/^where: .*boolean.*\(operands: \[2,3\]/));
});

test('wrong ranks name the op and the shape: conv2d on [5,5], maxPool2d on [3,8,8], interpolate on [4], batchNorm on [3]', () => {
  assert.throws(() => conv2d(ones([5, 5]), ones([1, 1, 3, 3])), message(/^conv2d: input must be 4-D \[N, C, H, W\], got shape \[5,5\]/));
  assert.throws(() => conv2d(ones([1, 1, 5, 5]), ones([3, 3])), message(/^conv2d: weight must be 4-D .*got shape \[3,3\]/));
  assert.throws(() => convTranspose2d(ones([1, 2, 5, 5]), ones([2, 1, 3])), message(/^convTranspose2d: weight must be 4-D .*\[2,1,3\]/));
  assert.throws(() => maxPool2d(ones([3, 8, 8]), 2), message(/^maxPool2d: input must be 4-D .*\[3,8,8\]/));
  assert.throws(() => interpolate(ones([4]), { size: [2, 2] }), message(/^interpolate: input must be 4-D .*\[4\]/));
  assert.throws(() => batchNorm(ones([3]), { training: true }), message(/^batchNorm: input must be \[N, C, \.\.\.\], got shape \[3\]/));
  assert.throws(() => softmax(ones([3]), 2), message(/^softmax: dimension 2 is out of range for shape \[3\]/));
});

test('mismatched shapes are caught before libtorch, with both shapes', () => {
  assert.throws(() => conv2d(ones([1, 3, 5, 5]), ones([4, 2, 3, 3])), /conv2d: input has 3 channels but weight \[4,2,3,3\] expects 2/);
  assert.throws(() => ones([2, 3]).reshape([4, 2]), /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/);
  assert.throws(() => crossEntropy(randn([2, 3, 4, 4]), zeros([2, 4, 5], { dtype: 'int64' })), /crossEntropy: input \[2,3,4,4\].*target \[2,4,5\]/);
  assert.throws(() => pad(ones([1, 1, 2, 2]), [2, 2, 2, 2], 'reflect'), /pad: reflect padding \[2,2,2,2\] must be smaller than the input \[1,1,2,2\]/);
  assert.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: 3 values do not fill shape \[2,2\]/);
});

test('libtorch errors surface as JS Errors naming the op and the operand shapes, without a C++ backtrace', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['add [2,3] + [4]', () => ones([2, 3]).add(ones([4])), /^add: The size of tensor a \(3\) must match .*\(operands: \[2,3\], \[4\]\)$/],
    ['mul [2,3] * [3,2] (a matmul by mistake)', () => ones([2, 3]).mul(ones([3, 2])), /^mul: .*\(operands: \[2,3\], \[3,2\]\)$/],
    ['conv2d kernel 3x3 on a 2x2 input', () => conv2d(ones([1, 1, 2, 2]), ones([1, 1, 3, 3])), /^conv2d: .*Kernel size can't be greater than actual input size.*\[1,1,2,2\], \[1,1,3,3\]/],
    ['conv2d on int64 input', () => conv2d(zeros([1, 1, 4, 4], { dtype: 'int64' }), ones([1, 1, 3, 3])), /^conv2d: .*\[1,1,4,4\], \[1,1,3,3\]/],
    ['maxPool2d 2x2 on 1x1', () => maxPool2d(ones([1, 1, 1, 1]), 2), /^maxPool2d: .*Output size is too small.*\[1,1,1,1\]/],
    ['nllLoss target 9 of 4 classes', () => nllLoss(randn([3, 4]), tensor(new BigInt64Array([0n, 1n, 9n]))), /^nllLoss: Target 9 is out of bounds.*\[3,4\], \[3\]/],
    ['copy_ [4] into [2,3]', () => ones([2, 3]).copy_(ones([4])), /^copy_: .*\(operands: \[2,3\], \[4\]\)/],
    ['interpolate to size 0x3', () => interpolate(ones([1, 1, 4, 4]), { size: [0, 3] }), /^interpolate: .*\[1,1,4,4\]/],
    ['backward of a non-scalar', () => ones([2], { requiresGrad: true }).mul(2).backward(), /^backward: grad can be implicitly created only for scalar outputs/],
    ['expand [2,3] to [4,5]', () => ones([2, 3]).expand([4, 5]), /^expand: .*\[2, 3\]/],
  ];
  for (const [name, fn, pattern] of cases) {
    assert.throws(() => tidy(fn), message(pattern), name);
  }
});

test('permute with duplicate dims and rot90 in one plane name the op and the shape [2,3]', () => {
  assert.throws(() => ones([2, 3]).permute([0, 0]), message(/^permute: .*\[2,3\]/));
  assert.throws(() => ones([2, 3]).rot90(1, [0, 0]), message(/^rot90: .*\[2,3\]/));
});

test('after all these errors the process still computes', () => {
  assert.deepEqual(Array.from(ones([2]).add(1).toFloat32Array()), [2, 2]);
});
