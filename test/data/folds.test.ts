/** k-fold splits: a partition of the names, the same for the same seed, and the loader's validation set for one fold. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataLoader } from '../../src/data/loader.js';
import { foldNames } from '../../src/data/split.js';
import { MEMBRANE_TRAIN } from './helpers.js';

const names = Array.from({ length: 23 }, (_, i) => `img${i}`);

test('folds partition the names: every name validated exactly once, fold sizes within one of each other', () => {
  for (const k of [2, 3, 5, 23]) {
    const folds = foldNames(names, k, 4);
    assert.equal(folds.length, k);
    assert.deepEqual(folds.flat().sort(), [...names].sort(), `${k} folds hold every name once`);
    const sizes = folds.map((f) => f.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${k} folds: sizes ${sizes}`);
  }
});

test('the same names (in any order), folds and seed give the same folds; another seed deals them otherwise', () => {
  const a = foldNames(names, 5, 4);
  assert.deepEqual(foldNames([...names].reverse(), 5, 4), a);
  assert.deepEqual(foldNames(names, 5, 4), a);
  assert.notDeepEqual(foldNames(names, 5, 5), a);
});

test('fewer names than folds, or fewer than 2 folds, are refused', () => {
  assert.throws(() => foldNames(['a', 'b'], 3), /2 image\(s\) cannot be split into 3 folds/);
  assert.throws(() => foldNames(names, 1), /at least 2, got 1/);
});

test("the loader's fold k: validates on fold k's images and trains on the others", async () => {
  const seen: string[] = [];
  for (let fold = 0; fold < 3; fold++) {
    const loader = new DataLoader(MEMBRANE_TRAIN, 'images', 'masks', { batchSize: 2, workers: 0, validation: { folds: 3, fold, seed: 1 } });
    try {
      await loader.open();
      const validation = (await loader.validation())!;
      await validation.open();
      const held = validation.dataset.entries.map((e) => e.name);
      const trained = loader.dataset.entries.map((e) => e.name);
      assert.deepEqual(held, foldNames([...held, ...trained], 3, 1)[fold]);
      assert.equal(held.length + trained.length, 30);
      assert.equal(held.filter((n) => trained.includes(n)).length, 0);
      seen.push(...held);
    } finally {
      await loader.close();
    }
  }
  assert.equal(new Set(seen).size, 30, 'the 30 membrane images, each validated in one fold');
});
