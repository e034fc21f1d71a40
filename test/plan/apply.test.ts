/** A plan meets the command line: given options win, the plan fills the rest, plan.json reads back (no addon). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseArgs } from '../../src/cli/args.js';
import { TRAIN } from '../../src/cli/commands.js';
import { applyPlan, givenOptions, readPlan } from '../../src/plan/apply.js';
import type { DataFingerprint } from '../../src/plan/fingerprint.js';
import type { MachineInfo } from '../../src/plan/machine.js';
import { makePlan } from '../../src/plan/planner.js';

const fp: DataFingerprint = {
  images: 30, width: { min: 512, median: 512, max: 512 }, height: { min: 512, median: 512, max: 512 }, channels: 1,
  mean: [0.5], std: [0.2], statsImages: 30, classes: 2, classFractions: [0.2, 0.8], foregroundFraction: 0.8, emptyMasks: 0,
  objects: { count: 3000, medianSize: 40, p90Size: 117, maxSize: 512 }, mpp: null,
};
const machine: MachineInfo = { device: 'cpu', kind: 'cpu', gpus: 0, cores: 2, cpuModel: 'AMD EPYC', bf16: { avx512bf16: false, amx: false }, memoryBytes: 2 ** 34 };
const measure = async () => ({ secondsPerImage: 0.01, seconds: 0.1 });

test('the parser reports which options were given, in camelCase', () => {
  const parsed = parseArgs(TRAIN, ['--base-channels', '16', '--no-amp', '--data', 'x']);
  assert.deepEqual([...parsed.given].sort(), ['amp', 'baseChannels', 'data']);
});

test('applyPlan: the plan fills what was not given; given values, even equal to the defaults, stay', async () => {
  const parsed = parseArgs(TRAIN, ['--batch-size', '4', '--optimizer', 'sgd', '--no-amp']);
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 6, measure, given: givenOptions(parsed.options, parsed.given) });
  const o = applyPlan(parsed.options, plan, parsed.given);
  assert.equal(o.optimizer, 'sgd');
  assert.equal(o.amp, false);
  assert.equal(o.batchSize, 4);
  assert.equal(plan.choices.batchSize.source, 'given');
  // planned: the table's defaults (SGD 5e-3 ... base 64, no budget) are replaced
  assert.equal(o.lr, 5e-3, 'the SGD rate, since SGD was given');
  assert.equal(o.baseChannels, plan.choices.baseChannels.value);
  assert.equal(o.maxMinutes, 10);
  assert.equal(o.schedule, 'cosine');
  // options the plan does not set are untouched
  assert.equal(o.data, parsed.options.data);
  assert.equal(o.loss, 'bce-jaccard');
});

test('applyPlan: a plan without a budget leaves --max-minutes unset', async () => {
  const parsed = parseArgs(TRAIN, ['--epochs', '3']);
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 6, measure, given: givenOptions(parsed.options, parsed.given) });
  const o = applyPlan(parsed.options, plan, parsed.given);
  assert.equal(o.maxMinutes, undefined);
  assert.equal(o.epochs, 3);
});

const dir = mkdtempSync(join(tmpdir(), 'patho-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('readPlan: a written plan reads back equal; other files are refused, naming the file', async () => {
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 6, measure });
  const path = join(dir, 'plan.json');
  writeFileSync(path, JSON.stringify(plan));
  assert.deepEqual(readPlan(path), plan);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ format: 'patho-plan-1', choices: { epochs: { value: 3 } } }));
  assert.throws(() => readPlan(bad), (e: Error) => e.message.startsWith(`${bad}: not a patho-plan-1 plan (no maxMinutes, batchSize`));
  writeFileSync(bad, '{');
  assert.throws(() => readPlan(bad), (e: Error) => e.message.startsWith(`${bad}: not a readable plan`));
});

test("readPlan: a plan of an older patho, without the working resolution, replays at full resolution (--resume of an older run)", async () => {
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 6, measure });
  const { downsample: _, ...older } = plan.choices;
  const path = join(dir, 'older.json');
  writeFileSync(path, JSON.stringify({ ...plan, choices: older }));
  const read = readPlan(path);
  assert.deepEqual([read.choices.downsample.value, read.choices.downsample.source], [1, 'plan']);
  assert.equal(applyPlan({ downsample: 3 }, read, []).downsample, 1);
});
