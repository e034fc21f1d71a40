import assert from 'node:assert/strict';
import test from 'node:test';
import { ampFor } from '../../src/cli/amp.js';

const cpu = (flags: string) => `processor : 0\nmodel name : Test CPU\nflags : ${flags}\n`;
const AVX2 = cpu('fpu sse2 avx avx2 fma avx512f avx512bw');
const AVX512_BF16 = cpu('fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16');
const AMX = cpu('fpu sse2 avx avx2 fma avx512f amx_tile amx_bf16 amx_int8');

function decide(asked: boolean | undefined, device: string, cpuinfo: string, option?: string) {
  const lines: string[] = [];
  const dtype = ampFor(asked, device, { command: 'patho train', option, cpuinfo, warn: (line) => lines.push(line) });
  return { dtype, lines };
}

test('--amp is bfloat16 on CPUs with bfloat16 arithmetic, silently', () => {
  assert.deepEqual(decide(true, 'cpu', AVX512_BF16), { dtype: 'bfloat16', lines: [] });
  assert.deepEqual(decide(true, 'cpu', AMX), { dtype: 'bfloat16', lines: [] });
});

test('--amp falls back to float32 on a CPU without AVX512-BF16 or AMX and says why in one line', () => {
  const { dtype, lines } = decide(true, 'cpu', AVX2);
  assert.equal(dtype, null);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^patho train: --amp: this CPU has no bfloat16 arithmetic .*float32$/);
  // no /proc/cpuinfo (not Linux): nothing is assumed
  assert.equal(decide(true, 'cpu', '').dtype, null);
  // the line names the option that asked
  assert.match(decide(true, 'cpu', AVX2, '--precision bf16').lines[0], /: --precision bf16: /);
});

test('--amp on a GPU is bfloat16 autocast whatever the host CPU has', () => {
  assert.deepEqual(decide(true, 'cuda:0', AVX2), { dtype: 'bfloat16', lines: [] });
});

test('no --amp is float32 everywhere, without a word', () => {
  for (const cpuinfo of [AVX2, AVX512_BF16, AMX]) {
    assert.deepEqual(decide(false, 'cpu', cpuinfo), { dtype: null, lines: [] });
    assert.deepEqual(decide(undefined, 'cuda:0', cpuinfo), { dtype: null, lines: [] });
  }
});
