import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DistributedSampler } from '../../src/data/sampler.js';
import { splitNames } from '../../src/data/split.js';
import { naturalCompare } from '../../src/data/dataset.js';

test('shards cover every sample once per epoch, padding by repeating like PyTorch', () => {
  for (let size = 1; size <= 23; size++) {
    for (let worldSize = 1; worldSize <= 5; worldSize++) {
      for (const epoch of [0, 1, 7]) {
        const shards = Array.from({ length: worldSize }, (_, rank) => new DistributedSampler(size, { rank, worldSize, seed: 3 }).indices(epoch));
        const perRank = Math.ceil(size / worldSize);
        for (const shard of shards) assert.equal(shard.length, perRank);
        const all = shards.flat();
        assert.deepEqual(new Set(all).size, size, `size ${size}, world ${worldSize}: every sample seen`);
        // exactly the padding is repeated, and only samples from the start of the permutation
        assert.equal(all.length - size, perRank * worldSize - size);
        const counts = new Map<number, number>();
        for (const i of all) counts.set(i, (counts.get(i) ?? 0) + 1);
        const extra = [...counts.values()].reduce((s, c) => s + c - 1, 0);
        assert.equal(extra, perRank * worldSize - size);
      }
    }
  }
});

test('dropLast gives disjoint equal shards and misses only the tail', () => {
  const size = 10;
  const worldSize = 3;
  const shards = Array.from({ length: worldSize }, (_, rank) => new DistributedSampler(size, { rank, worldSize, dropLast: true }).indices(0));
  for (const s of shards) assert.equal(s.length, 3);
  assert.equal(new Set(shards.flat()).size, 9);
});

test('every rank shuffles identically, and each epoch differently', () => {
  const a = new DistributedSampler(50, { rank: 1, worldSize: 2, seed: 4 });
  const b = new DistributedSampler(50, { rank: 1, worldSize: 2, seed: 4 });
  assert.deepEqual(a.indices(2), b.indices(2));
  assert.notDeepEqual(a.indices(2), a.indices(3));
  assert.notDeepEqual(a.indices(2), new DistributedSampler(50, { rank: 1, worldSize: 2, seed: 5 }).indices(2));
  const ordered = new DistributedSampler(6, { rank: 0, worldSize: 2, shuffle: false });
  assert.deepEqual(ordered.indices(0), [0, 2, 4]);
});

test('bad ranks are refused', () => {
  assert.throws(() => new DistributedSampler(10, { rank: 2, worldSize: 2 }), /rank must be in \[0, 2\)/);
  assert.throws(() => new DistributedSampler(1, { worldSize: 2, dropLast: true }), /leaves ranks without data/);
});

test('validation split is deterministic, disjoint and independent of name order', () => {
  const names = Array.from({ length: 30 }, (_, i) => String(i));
  const a = splitNames(names, 0.2, 1);
  const b = splitNames([...names].reverse(), 0.2, 1);
  assert.deepEqual(a, b);
  assert.equal(a.validation.length, 6);
  assert.equal(a.train.length, 24);
  assert.equal(new Set([...a.train, ...a.validation]).size, 30);
  assert.notDeepEqual(splitNames(names, 0.2, 2).validation, a.validation);
  assert.equal(splitNames(['x', 'y'], 0.01).validation.length, 1, 'a positive fraction keeps one validation name');
  assert.throws(() => splitNames(names, 1), /fraction must be in \[0, 1\)/);
});

test('names sort naturally', () => {
  assert.deepEqual(['10', '9', 'b2', 'b10', 'a'].sort(naturalCompare), ['9', '10', 'a', 'b2', 'b10']);
});
