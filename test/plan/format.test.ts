/** The machine's CPU flags, and a plan as text and as train options (no addon). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli/args.js';
import { TRAIN } from '../../src/cli/commands.js';
import { argsOf, flagOf, formatPlan, planArgs } from '../../src/plan/format.js';
import { parseCpuInfo, type MachineInfo } from '../../src/plan/machine.js';
import { makePlan, planOptions } from '../../src/plan/planner.js';
import type { DataFingerprint } from '../../src/plan/fingerprint.js';

test('parseCpuInfo: model name, AVX512-BF16 and AMX from the flags line', () => {
  const amd = parseCpuInfo('processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n');
  assert.deepEqual(amd, { cpuModel: 'AMD EPYC', bf16: { avx512bf16: true, amx: false } });
  const intel = parseCpuInfo('model name\t: Intel Xeon\nflags\t\t: avx512f amx_bf16 amx_tile amx_int8 avx512_bf16\n');
  assert.deepEqual(intel.bf16, { avx512bf16: true, amx: true });
  assert.deepEqual(parseCpuInfo('').bf16, { avx512bf16: false, amx: false });
});

test('flagOf and argsOf: camelCase keys become train flags, booleans --x / --no-x, no budget no flag', () => {
  assert.equal(flagOf('baseChannels'), '--base-channels');
  assert.deepEqual(argsOf('amp', true), ['--amp']);
  assert.deepEqual(argsOf('channelsLast', false), ['--no-channels-last']);
  assert.deepEqual(argsOf('maxMinutes', null), []);
  assert.deepEqual(argsOf('lr', 0.001), ['--lr', '0.001']);
});

const fp: DataFingerprint = {
  images: 30, width: { min: 512, median: 512, max: 512 }, height: { min: 512, median: 512, max: 512 }, channels: 1,
  mean: [0.5], std: [0.2], statsImages: 30, classes: 2, classFractions: [0.2, 0.8], foregroundFraction: 0.8, emptyMasks: 0,
  objects: { count: 3000, medianSize: 40, p90Size: 117, maxSize: 512 }, mpp: null,
};
const machine: MachineInfo = { device: 'cpu', kind: 'cpu', gpus: 0, cores: 2, cpuModel: 'AMD EPYC', bf16: { avx512bf16: true, amx: false }, memoryBytes: 2 ** 34 };

test('planArgs: the plan replays through patho train exactly (every planned option is a train option)', async () => {
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 5, measure: async (c) => ({ secondsPerImage: c.amp ? 0.02 : 0.04, seconds: 1 }) });
  const parsed = parseArgs(TRAIN, planArgs(plan));
  const options = planOptions(plan);
  for (const [key, value] of Object.entries(options)) {
    assert.deepEqual((parsed.options as Record<string, unknown>)[key], value ?? undefined, key);
  }
});

test('formatPlan: the data, the machine, each measurement, every choice with its reason, the estimate', async () => {
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 5, measure: async (c) => ({ secondsPerImage: c.amp ? 0.02 : 0.04, seconds: 1 }), given: { maxMinutes: 20 } });
  const text = formatPlan(plan, 'data/membrane/train');
  assert.match(text, /data\s+data\/membrane\/train: 30 images 512x512, 1 channel, 2 classes, foreground 80\.0%/);
  assert.match(text, /machine\s+cpu, 2 cores \(AMD EPYC, AVX512-BF16, no AMX\)/);
  assert.match(text, /measured base 32, depth 4, 128 px, batch 4, bf16 \+ channels-last: 20 ms per image/);
  assert.match(text, /--max-minutes 20\s+given\n/);
  assert.match(text, /--amp\s+bfloat16 autocast \+ channels-last: 2\.00x the fp32 rate/);
  assert.match(text, /estimate 12\.50 images\/s/);
  assert.ok(text.endsWith(`\nreplay   patho train --data data/membrane/train ${planArgs(plan).join(' ')}\n`));
  for (const key of Object.keys(plan.choices)) assert.match(text, new RegExp(flagOf(key as never).replace(/^--/, '--(no-)?')));
});
