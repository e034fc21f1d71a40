/**
 * Masks that number their objects (`--foreground instances`): the validation
 * batches carry the numbers, and training keeps them between validations
 * instead of decoding every mask again.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'node:test';

import { DataLoader } from '../../src/data/loader.js';
import type { HostBatch } from '../../src/data/types.js';
import { withInstanceLabels } from '../../src/train/evaluate.js';
import { tempDir, writeGray } from './helpers.js';

const SIZE = 16;

/** Object numbers: 1 left of the middle column and `right` right of it, in the top half. */
function numbered(right: number): Uint8Array {
  return Uint8Array.from({ length: SIZE * SIZE }, (_, i) => (Math.floor(i / SIZE) >= SIZE / 2 ? 0 : i % SIZE < SIZE / 2 ? 1 : right));
}

async function collect(batches: AsyncIterable<HostBatch>): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  for await (const batch of batches) {
    const plane = SIZE * SIZE;
    batch.names.forEach((name, i) => seen.set(name, [...new Set(batch.instances!.subarray(i * plane, (i + 1) * plane))].sort()));
  }
  return seen;
}

test('validation batches carry the masks\' object numbers, decoded once when given a cache', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await mkdir(join(dir, 'images'));
    await mkdir(join(dir, 'masks'));
    for (const name of ['a', 'b']) {
      await writeGray(join(dir, 'images', `${name}.png`), new Uint8Array(SIZE * SIZE).fill(100), SIZE);
      await writeGray(join(dir, 'masks', `${name}.png`), numbered(2), SIZE);
    }
    const loader = new DataLoader(dir, 'images', 'masks', { batchSize: 2, workers: 0, foreground: 'instances', shuffle: false });
    await loader.open();
    const cache = new Map<string, Uint8Array | Uint16Array>();
    const first = await collect(withInstanceLabels(loader.epochBatches(0), loader, cache));
    assert.deepEqual(Object.fromEntries(first), { a: [0, 1, 2], b: [0, 1, 2] });
    assert.equal(cache.size, 2);

    // the files change on disk: a cached run keeps what it read, an uncached one reads the files again
    for (const name of ['a', 'b']) await writeGray(join(dir, 'masks', `${name}.png`), numbered(3), SIZE);
    assert.deepEqual(Object.fromEntries(await collect(withInstanceLabels(loader.epochBatches(0), loader, cache))), { a: [0, 1, 2], b: [0, 1, 2] });
    assert.deepEqual(Object.fromEntries(await collect(withInstanceLabels(loader.epochBatches(0), loader))), { a: [0, 1, 3], b: [0, 1, 3] });
    await loader.close();
  } finally {
    await cleanup();
  }
});
