/**
 * `patho train --folds K` end to end on a 4-image, 64x64 subset of the bundled
 * membrane data: one fold, all folds with their summary, the ensemble of the
 * folds' models in predict, and the bad fold options (exit 2).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { foldNames } from '../../src/data/split.js';
import { disposeCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { expectInputError, runPatho, writeMembraneSubset } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'patho-folds-'));
const data = join(dir, 'data');
after(() => rmSync(dir, { recursive: true, force: true }));
const patho = (...args: string[]) => runPatho(dir, ...args);
const NAMES = ['0', '1', '2', '3'];

before(() => writeMembraneSubset(data, NAMES));

const tiny = ['--data', 'data', '--base-channels', '2', '--depth', '2', '--patch', '0', '--workers', '0', '--threads', '1', '--batch-size', '2', '--seed', '1', '--no-plan', '--epochs', '1'];

/** The validation names a fold's model.pt records, and its normalisation. */
async function recorded(path: string): Promise<{ validation: string[]; normalization: unknown }> {
  const checkpoint = await loadCheckpoint(path);
  disposeCheckpoint(checkpoint);
  return { validation: checkpoint.meta.data!.validation.map((v) => v.name), normalization: checkpoint.meta.normalization };
}

test('--folds 2 alone: both folds trained into OUT/fold-0 and OUT/fold-1, each validated on its own half, then the summary', async () => {
  const r = patho('train', ...tiny, '--folds', '2', '--out', 'cv');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /2-fold cross-validation of data .*each a run of its own into cv[/\\]fold-I with --epochs 1 per fold/);
  assert.match(r.stdout, /cross-validation, 2 folds, best validation Dice: fold 0 \d\.\d{4}, fold 1 \d\.\d{4}; mean \d\.\d{4}/);
  const folds = foldNames(NAMES, 2, 1);
  const seen: string[] = [];
  const normalizations: unknown[] = [];
  for (const k of [0, 1]) {
    for (const file of ['model.pt', 'last.pt', 'train.jsonl', 'report.html']) assert.ok(existsSync(join(dir, 'cv', `fold-${k}`, file)), `fold-${k}/${file}`);
    const { validation, normalization } = await recorded(join(dir, 'cv', `fold-${k}`, 'model.pt'));
    assert.deepEqual(validation, folds[k]);
    seen.push(...validation);
    normalizations.push(normalization);
  }
  assert.deepEqual(seen.sort(), NAMES, 'every image validated exactly once');
  assert.deepEqual(normalizations[0], normalizations[1], 'the folds share the statistics of all the images');
  const summary = JSON.parse(readFileSync(join(dir, 'cv', 'cross-validation.json'), 'utf8'));
  assert.equal(summary.scores.length, 2);
  assert.ok(Math.abs(summary.meanBestDice - (summary.scores[0].bestDice + summary.scores[1].bestDice) / 2) < 1e-12);

  const predicted = patho('predict', '--model', 'cv', join('data', 'images', '0.png'), '--out', 'masks', '--threads', '1');
  assert.equal(predicted.code, 0, predicted.stderr);
  assert.match(predicted.stdout, /an ensemble of 2 models: cv[/\\]fold-0[/\\]model\.pt, cv[/\\]fold-1[/\\]model\.pt/);
  assert.ok(existsSync(join(dir, 'masks', '0_mask.png')));
});

test('--folds 2 --fold 1 trains that fold only, the same split as the full run', async () => {
  const r = patho('train', ...tiny, '--folds', '2', '--fold', '1', '--out', 'one');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(join(dir, 'one', 'fold-0')));
  assert.deepEqual((await recorded(join(dir, 'one', 'fold-1', 'model.pt'))).validation, foldNames(NAMES, 2, 1)[1]);
});

test('a planned --folds run plans once (OUT/plan.json) and every fold replays that plan', () => {
  const r = patho('train', '--data', 'data', '--workers', '0', '--threads', '1', '--seed', '1', '--folds', '2', '--max-minutes', '0.05', '--out', 'planned');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /every fold replays it \(--config planned[/\\]plan\.json\)/);
  const choices = (path: string) => {
    const plan = JSON.parse(readFileSync(join(dir, path), 'utf8'));
    return Object.fromEntries(Object.entries(plan.choices as Record<string, { value: unknown }>).map(([k, c]) => [k, c.value]));
  };
  const shared = choices(join('planned', 'plan.json'));
  for (const k of [0, 1]) assert.deepEqual(choices(join('planned', `fold-${k}`, 'plan.json')), shared, `fold ${k} trained with the shared plan`);
});

test('bad fold options exit 2: --fold out of range, --fold without --folds, more folds than images, --folds with --val-names', () => {
  expectInputError(patho('train', ...tiny, '--folds', '2', '--fold', '2'), /--fold 2 is out of range: with --folds 2 the folds are 0 to 1/);
  expectInputError(patho('train', ...tiny, '--fold', '0'), /--fold 0 needs --folds K/);
  expectInputError(patho('train', ...tiny, '--folds', '5', '--out', 'five'), /--folds 5: data has 4 image\(s\); every fold needs one to validate on/);
  expectInputError(patho('train', ...tiny, '--folds', '5', '--fold', '0', '--out', 'five'), /--folds 5: data has 4 image\(s\)/);
  expectInputError(patho('train', ...tiny, '--folds', '2', '--val-names', '0'), /--folds and --val-names cannot be used together/);
  expectInputError(patho('train', ...tiny, '--folds', '1'), /--folds/);
});
