/** `patho train --config FILE`: a plan or an object of options, checked like the command line, under it (no addon). */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { TRAIN } from '../../src/cli/commands.js';
import { readConfig, withConfig } from '../../src/cli/config.js';
import type { DataFingerprint } from '../../src/plan/fingerprint.js';
import type { MachineInfo } from '../../src/plan/machine.js';
import { makePlan, planOptions } from '../../src/plan/planner.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes `content` (JSON unless a string) to a new file; returns its path. */
function file(content: unknown): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Expects readConfig to fail with exit code 2 and exactly this message (`FILE` stands for the path). */
function rejects(content: unknown, message: string): void {
  const path = file(content);
  assert.throws(
    () => readConfig(path, TRAIN),
    (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === message.replace('FILE', path),
    message,
  );
}

const fp: DataFingerprint = {
  images: 30, width: { min: 512, median: 512, max: 512 }, height: { min: 512, median: 512, max: 512 }, channels: 1,
  mean: [0.5], std: [0.2], statsImages: 30, classes: 2, classFractions: [0.2, 0.8], foregroundFraction: 0.8, emptyMasks: 0,
  objects: { count: 3000, medianSize: 40, p90Size: 117, maxSize: 512 }, mpp: null,
};
const machine: MachineInfo = { device: 'cpu', kind: 'cpu', gpus: 0, cores: 2, cpuModel: 'AMD EPYC', bf16: { avx512bf16: false, amx: false }, memoryBytes: 2 ** 34 };

test('a plan file replays every choice; a choice of null (no budget) sets nothing', async () => {
  const plan = await makePlan({ fingerprint: fp, machine, validationImages: 6, measure: async () => ({ secondsPerImage: 0.01, seconds: 0.1 }) });
  const values = readConfig(file(plan), TRAIN);
  assert.deepEqual(values, planOptions(plan));
  const unbudgeted = await makePlan({ fingerprint: fp, machine, validationImages: 6, given: { epochs: 7 }, measure: null });
  assert.equal(unbudgeted.choices.maxMinutes.value, null);
  const replayed = readConfig(file(unbudgeted), TRAIN);
  assert.equal(replayed.epochs, 7);
  assert.ok(!('maxMinutes' in replayed));
});

test('an object of options by command-line or camelCase name, checked and converted to the parsed names', () => {
  const values = readConfig(file({ lr: 0.001, 'base-channels': 16, channelsLast: true, thresholds: [0.4, 0.6], 'val-names': ['25', '26'], optimizer: 'adam' }), TRAIN);
  assert.deepEqual(values, { lr: 0.001, baseChannels: 16, channelsLast: true, thresholds: [0.4, 0.6], valNames: ['25', '26'], optimizer: 'adam' });
});

test('unknown keys and wrong types are exit 2 naming the file and the key', () => {
  rejects({ lr: 0.001, basechannels: 16 }, "--config FILE: unknown option 'basechannels' (did you mean 'base-channels'?)");
  rejects({ colour: 'red' }, "--config FILE: unknown option 'colour'");
  rejects({ config: 'other.json' }, "--config FILE: unknown option 'config'");
  rejects({ lr: '0.001' }, `--config FILE: 'lr' must be a number, got "0.001"`);
  rejects({ epochs: 2.5 }, "--config FILE: 'epochs' must be an integer, got 2.5");
  rejects({ epochs: 0 }, "--config FILE: 'epochs' must be at least 1, got 0");
  rejects({ amp: 'yes' }, `--config FILE: 'amp' must be true or false, got "yes"`);
  rejects({ optimizer: 'rmsprop' }, "--config FILE: 'optimizer' must be one of sgd, adam (got 'rmsprop')");
  rejects({ thresholds: 0.5 }, "--config FILE: 'thresholds' must be an array of numbers, got 0.5");
  rejects({ thresholds: [0.5, 2] }, "--config FILE: 'thresholds' must be at most 1, got 2");
  rejects({ depth: 3, 'base-channels': 8, baseChannels: 16 }, "--config FILE: 'baseChannels' is set twice (as base-channels and baseChannels)");
  rejects({ val: 'v', valSplit: 0.1 }, '--config FILE: val-split and val cannot be used together');
  rejects({ format: 'patho-plan-0', choices: {} }, '--config FILE: format "patho-plan-0" is not a plan this patho reads (patho-plan-1)');
  rejects({ format: 'patho-plan-1', choices: { lr: 0.1 } }, '--config FILE: choices.lr has no value');
  rejects({ format: 'patho-plan-1', choices: { speed: { value: 2 } } }, "--config FILE: unknown option 'choices.speed.value' (did you mean 'seed'?)");
  rejects({ format: 'patho-plan-1', choices: { lr: { value: 'fast' } } }, `--config FILE: 'choices.lr.value' must be a number, got "fast"`);
  rejects('{"lr": 0.001,', readError('{"lr": 0.001,'));
  rejects([1, 2], '--config FILE: expected a JSON object of options or a plan');
  const missing = join(dir, 'missing.json');
  assert.throws(() => readConfig(missing, TRAIN), { name: 'UsageError', message: `--config ${missing}: cannot be read (ENOENT)` });
});

/** The message JSON.parse gives for `text`, as readConfig words it. */
function readError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return `--config FILE: is not JSON (${(error as Error).message})`;
  }
  throw new Error(`${text} parsed`);
}

test('the command line overrides the file; the file counts as given; an exclusive partner on the command line wins', () => {
  const path = file({ lr: 0.01, epochs: 3, valSplit: 0.3, 'batch-size': 8 });
  const parsed = parseArgs(TRAIN, ['--config', path, '--epochs', '5', '--val', 'holdout']);
  const { options, given } = withConfig(parsed.options, parsed.given, TRAIN);
  assert.equal(options.lr, 0.01);
  assert.equal(options.batchSize, 8);
  assert.equal(options.epochs, 5, 'the command line wins');
  assert.equal(options.val, 'holdout');
  assert.equal(options.valSplit, 0.2, "the file's --val-split gives way to --val on the command line");
  assert.deepEqual([...given].sort(), ['batchSize', 'config', 'epochs', 'lr', 'val']);
  const without = parseArgs(TRAIN, ['--epochs', '5']);
  assert.deepEqual(withConfig(without.options, without.given, TRAIN), { options: without.options, given: ['epochs'] });
});
