/** Choosing the inference network's precision from what the CPU reports. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cpuHasFastBfloat16, inferenceNetFor } from '../../src/infer/engine.js';
import { memory } from '../../src/tensor/runtime.js';
import { unetWithStatistics } from './helpers.js';

const flags = (list: string) => `processor\t: 0\nmodel name\t: some CPU\nflags\t\t: fpu sse2 ${list}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 ${list}\n`;

test('bfloat16 is fast with AVX512-BF16 or AMX-BF16, not with AVX-512 alone or AVX2', () => {
  assert.equal(cpuHasFastBfloat16(flags('avx2 avx512f avx512bw avx512_bf16 avx512_vnni')), true);
  assert.equal(cpuHasFastBfloat16(flags('avx2 avx512f amx_tile amx_bf16 amx_int8')), true);
  assert.equal(cpuHasFastBfloat16(flags('avx2 avx512f avx512bw avx512_vnni')), false);
  assert.equal(cpuHasFastBfloat16(flags('avx2 fma')), false);
  assert.equal(cpuHasFastBfloat16('model name : avx512_bf16 in a name is not a flag\nflags : avx2\n'), false);
});

test('AMX counts as the planner counts it (plan/machine.ts): amx_bf16 with amx_tile, not amx_bf16 alone', () => {
  assert.equal(cpuHasFastBfloat16(flags('avx2 avx512f amx_bf16')), false);
  assert.equal(cpuHasFastBfloat16(flags('avx2 avx512f amx_bf16 amx_tile')), true);
  assert.equal(cpuHasFastBfloat16(''), false);
});

test('on the CPU: folded float32 without --amp; with --amp bfloat16 exactly when the CPU has it', () => {
  const trained = unetWithStatistics({ inChannels: 3, baseChannels: 4, depth: 2 });
  const start = memory().numTensors;
  const plain = inferenceNetFor(trained, 'cpu', false);
  assert.equal(plain.net.dtype, 'float32');
  assert.equal(plain.net.memoryFormat, 'channelsLast');
  assert.equal(plain.autocast, null);
  const amp = inferenceNetFor(trained, 'cpu', true);
  assert.equal(amp.net.dtype, cpuHasFastBfloat16() ? 'bfloat16' : 'float32');
  plain.net.dispose();
  amp.net.dispose();
  assert.equal(memory().numTensors, start);
  trained.dispose();
});
