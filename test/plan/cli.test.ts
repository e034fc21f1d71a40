/**
 * `patho plan` and the plan of `patho train`, as a user runs them: child
 * processes on a 4-image, 64x64 subset of the membrane data.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import sharp from 'sharp';

import { TRAIN } from '../../src/cli/commands.js';
import { readConfig } from '../../src/cli/config.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repo, 'bin', 'patho.js');
const dir = mkdtempSync(join(tmpdir(), 'patho-plan-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function patho(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

before(async () => {
  const membrane = join(repo, 'data', 'membrane', 'train');
  mkdirSync(join(dir, 'data', 'images'), { recursive: true });
  mkdirSync(join(dir, 'data', 'masks'), { recursive: true });
  for (const name of ['0', '1', '2', '3']) {
    await sharp(join(membrane, 'images', `${name}.png`)).resize(64, 64).toColourspace('b-w').png().toFile(join(dir, 'data', 'images', `${name}.png`));
    await sharp(join(membrane, 'masks', `${name}.png`)).resize(64, 64, { kernel: 'nearest' }).threshold(128).toColourspace('b-w').png().toFile(join(dir, 'data', 'masks', `${name}.png`));
  }
});

const tiny = ['--base-channels', '2', '--depth', '2', '--patch', '0', '--workers', '0', '--threads', '1', '--batch-size', '2', '--seed', '1', '--val-split', '0.25'];

test('patho plan prints every choice with its reason; --json gives the plan object', () => {
  const text = patho('plan', '--data', 'data', '--threads', '1', '--max-minutes', '3');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^data +data: 4 images 64x64, 1 channel, 2 classes/);
  assert.match(text.stdout, /\n +--max-minutes 3 +given\n/);
  assert.match(text.stdout, /\n +--patch 64 +64 px: the smallest image side/);
  assert.match(text.stdout, /\nestimate [\d.]+ images\/s/);
  const json = patho('plan', '--data', 'data', '--threads', '1', '--json');
  assert.equal(json.code, 0, json.stderr);
  const plan = JSON.parse(json.stdout);
  assert.equal(plan.format, 'patho-plan-1');
  assert.equal(plan.fingerprint.images, 4);
  assert.equal(plan.validationImages, 1);
  assert.equal(plan.choices.maxMinutes.value, 10);
  assert.ok(plan.measurements.length >= 1);
});

test('patho plan: a missing folder is an input error naming it', () => {
  const result = patho('plan', '--data', 'nowhere');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--data nowhere: no such folder/);
});

test('patho train plans what was not given, writes OUT/plan.json and stores the plan in the checkpoint', () => {
  const result = patho('train', '--data', 'data', '--out', 'run', '--epochs', '1', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /\nestimate .*\nreplay +patho train --data data --epochs 1 --batch-size 2 .*\nplan written to run[/\\]plan\.json\n/);
  const plan = JSON.parse(readFileSync(join(dir, 'run', 'plan.json'), 'utf8'));
  assert.equal(plan.choices.baseChannels.source, 'given');
  assert.equal(plan.choices.epochs.value, 1);
  assert.equal(plan.choices.optimizer.source, 'plan');
  const info = patho('info', '--model', join('run', 'model.pt'), '--json');
  assert.equal(info.code, 0, info.stderr);
  const meta = JSON.parse(info.stdout);
  assert.deepEqual(meta.plan, plan);
  // the planned optimizer, not the table's SGD, trained this run
  assert.equal(meta.training.optimizer, plan.choices.optimizer.value);
  // binary masks with validation images: the post-processing is chosen after training and stored, as patho tune does
  assert.equal(plan.choices.tune.value, true);
  assert.match(result.stderr, /\npatho train --tune: .* on \d+ validation images at threshold [\d.]+, by .*; stored in run[/\\]model\.pt: predict and eval apply it by default\n/);
  assert.match(meta.postProcessing.chosenOn, /validation images at threshold/);
});

test('patho train --devices cpu:2: the launcher plans once and both workers train with that plan', () => {
  const result = patho('train', '--data', 'data', '--out', 'two', '--epochs', '1', '--devices', 'cpu:2', '--dist-timeout', '30', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  // printed once, by the launcher: the workers read its plan.json instead of planning
  assert.equal(result.stderr.match(/plan written to/g)?.length, 1, result.stderr);
  const plan = JSON.parse(readFileSync(join(dir, 'two', 'plan.json'), 'utf8'));
  const meta = JSON.parse(patho('info', '--model', join('two', 'model.pt'), '--json').stdout);
  assert.deepEqual(meta.plan, plan);
});

test('patho train --no-plan keeps the fixed defaults and writes no plan', () => {
  const result = patho('train', '--data', 'data', '--out', 'fixed', '--epochs', '1', '--no-plan', ...tiny);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(!existsSync(join(dir, 'fixed', 'plan.json')));
  const meta = JSON.parse(patho('info', '--model', join('fixed', 'model.pt'), '--json').stdout);
  assert.equal(meta.plan, null);
  assert.equal(meta.training.optimizer, 'sgd');
});

test('patho info --config prints the stored plan; patho train --config replays it, the command line overriding it', () => {
  const printed = patho('info', '--model', join('run', 'model.pt'), '--config');
  assert.equal(printed.code, 0, printed.stderr);
  const plan = JSON.parse(readFileSync(join(dir, 'run', 'plan.json'), 'utf8'));
  assert.deepEqual(JSON.parse(printed.stdout), plan);
  writeFileSync(join(dir, 'replay.json'), printed.stdout);
  const result = patho('train', '--data', 'data', '--out', 'replayed', '--config', 'replay.json', '--epochs', '2', '--workers', '0', '--threads', '1', '--seed', '1', '--val-split', '0.25');
  assert.equal(result.code, 0, result.stderr);
  const replayed = JSON.parse(readFileSync(join(dir, 'replayed', 'plan.json'), 'utf8'));
  for (const [key, choice] of Object.entries(plan.choices) as [string, { value: unknown }][]) {
    // maxMinutes was null (no budget, --epochs given), which sets nothing: the replay has none either
    assert.deepEqual(replayed.choices[key].value, key === 'epochs' ? 2 : choice.value, key);
    assert.equal(replayed.choices[key].source, choice.value === null ? 'plan' : 'given', key);
  }
  const log = readFileSync(join(dir, 'replayed', 'train.jsonl'), 'utf8').trim().split('\n');
  assert.equal(log.length, 2, "--epochs 2 on the command line, not the plan's 1");
  const meta = JSON.parse(patho('info', '--model', join('replayed', 'model.pt'), '--json').stdout);
  assert.equal(meta.unet.baseChannels, plan.choices.baseChannels.value);
});

test('patho info --config of a checkpoint without a plan prints the options it records, a config patho train reads', () => {
  const printed = patho('info', '--model', join('fixed', 'model.pt'), '--config');
  assert.equal(printed.code, 0, printed.stderr);
  const options = JSON.parse(printed.stdout);
  assert.deepEqual(options, {
    depth: 2, baseChannels: 2, batchNorm: true, upsample: 'bilinear', padding: 'same', dropout: 0,
    lr: 5e-3, optimizer: 'sgd', momentum: 0.99, schedule: 'none', loss: 'bce-jaccard', amp: false, channelsLast: false,
  });
  writeFileSync(join(dir, 'fixed.json'), printed.stdout);
  assert.deepEqual(readConfig(join(dir, 'fixed.json'), TRAIN), options);
});

test('patho train --config: an unknown key or a wrong type is exit 2 naming the file and the key', () => {
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ epochs: 1, 'learning-rate': 0.01 }));
  let result = patho('train', '--data', 'data', '--config', 'typo.json');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--config typo\.json: unknown option 'learning-rate'/);
  writeFileSync(join(dir, 'typed.json'), JSON.stringify({ epochs: '3' }));
  result = patho('train', '--data', 'data', '--config', 'typed.json');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--config typed\.json: 'epochs' must be an integer, got "3"/);
  result = patho('train', '--data', 'data', '--config', 'none.json');
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--config none\.json: cannot be read \(ENOENT\)/);
});
