import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DataLoader, type DataLoaderOptions } from '../../src/data/loader.js';
import { computeChannelStats } from '../../src/data/normalize.js';
import type { HostBatch } from '../../src/data/types.js';
import { MEMBRANE_TRAIN, pixels, tempDir, writeImage } from './helpers.js';

async function drain(loader: DataLoader): Promise<HostBatch[]> {
  const batches: HostBatch[] = [];
  for await (const batch of loader) batches.push(batch);
  return batches;
}

async function collect(options: Partial<DataLoaderOptions>, epochs = 2): Promise<HostBatch[]> {
  const loader = new DataLoader(MEMBRANE_TRAIN, 'images', 'masks', { batchSize: 4, patchSize: 64, ...options });
  const batches: HostBatch[] = [];
  try {
    for (let e = 0; e < epochs; e++) for await (const batch of loader) batches.push(batch);
  } finally {
    await loader.close();
  }
  return batches;
}

test('same seed gives the same batches, with 0, 1 or 2 workers', async () => {
  const options: Partial<DataLoaderOptions> = { seed: 11, augment: 'em', foregroundOversample: 0.5 };
  const reference = await collect({ ...options, workers: 0 });
  assert.equal(reference.length, 16, '30 samples in batches of 4, two epochs');
  assert.deepEqual(reference[0].shape, [4, 1, 64, 64]);
  assert.deepEqual(reference[7].shape, [2, 1, 64, 64], 'the last batch is partial');
  for (const workers of [1, 2]) {
    const other = await collect({ ...options, workers });
    assert.equal(other.length, reference.length);
    other.forEach((b, i) => {
      assert.deepEqual(b.names, reference[i].names, `batch ${i}, ${workers} worker(s)`);
      assert.deepEqual(b.images, reference[i].images, `batch ${i}, ${workers} worker(s)`);
      assert.deepEqual(b.masks, reference[i].masks, `batch ${i}, ${workers} worker(s)`);
    });
  }
  assert.notDeepEqual(reference[0].names, reference[8].names, 'epochs are reshuffled');
  const reseeded = await collect({ ...options, seed: 12, workers: 0 }, 1);
  assert.notDeepEqual(reseeded[0].images, reference[0].images);
  for (const b of reference) for (const v of b.masks) assert.ok(v === 0 || v === 1);
});

test('normalisation statistics come from the training images and are applied to batches', async () => {
  const loader = new DataLoader(MEMBRANE_TRAIN, 'images', 'masks', { batchSize: 1, augment: 'none', shuffle: false, workers: 2 });
  try {
    await loader.open();
    const stats = (await loader.stats())!;
    const images = await Promise.all(loader.dataset.entries.map((_, i) => loader.dataset.image(i)));
    const direct = computeChannelStats(images);
    assert.ok(Math.abs(stats.mean[0] - direct.mean[0]) < 1e-12 && Math.abs(stats.std[0] - direct.std[0]) < 1e-12);
    for await (const batch of loader) {
      assert.deepEqual(batch.names, ['0']);
      assert.deepEqual(batch.shape, [1, 1, 512, 512]);
      for (const i of [0, 1000, 262143]) {
        const expected = (images[0].data[i] / 255 - stats.mean[0]) / stats.std[0];
        assert.ok(Math.abs(batch.images[i] - expected) < 1e-5);
      }
      break;
    }
  } finally {
    await loader.close();
  }
});

test('validation split: disjoint names, whole images, no augmentation, training statistics', async () => {
  const loader = new DataLoader(MEMBRANE_TRAIN, 'images', 'masks', { batchSize: 4, patchSize: 64, workers: 1, validation: { fraction: 0.2, seed: 3 } });
  try {
    await loader.open();
    const validation = (await loader.validation())!;
    await validation.open();
    const train = new Set(loader.dataset.entries.map((e) => e.name));
    const held = validation.dataset.entries.map((e) => e.name);
    assert.equal(train.size, 24);
    assert.equal(held.length, 6);
    for (const n of held) assert.ok(!train.has(n));
    assert.deepEqual(await validation.stats(), await loader.stats());
    const first: HostBatch[] = [];
    for await (const b of validation) first.push(b);
    const second: HostBatch[] = [];
    for await (const b of validation) second.push(b);
    assert.deepEqual(first.map((b) => b.names[0]), held);
    assert.deepEqual(first[0].shape, [1, 1, 512, 512]);
    assert.deepEqual(first[0].images, second[0].images, 'validation does not change between epochs');
  } finally {
    await loader.close();
  }
});

test("a rank's part of validation: every worldSize-th batch from rank, each image once, nothing padded", async () => {
  const loader = new DataLoader(MEMBRANE_TRAIN, 'images', 'masks', { batchSize: 4, patchSize: 64, workers: 1, validation: { names: ['1', '2', '3', '4', '5'] } });
  try {
    const validation = (await loader.validation())!;
    const part = async (rank: number) => {
      const names: string[] = [];
      for await (const b of validation.epochBatches(0, { rank, worldSize: 2 })) names.push(...b.names);
      return names;
    };
    // 5 images in batches of 1 over 2 ranks: 3 and 2, not 3 and 3 as the padded training sampler deals them
    assert.deepEqual(await part(0), ['1', '3', '5']);
    assert.deepEqual(await part(1), ['2', '4']);
  } finally {
    await loader.close();
  }
});

test('distributed ranks see disjoint halves of each epoch', async () => {
  const names = await Promise.all(
    [0, 1].map(async (rank) => (await collect({ rank, worldSize: 2, workers: 0, augment: 'none' }, 1)).flatMap((b) => b.names)),
  );
  assert.equal(names[0].length, 15);
  assert.equal(names[1].length, 15);
  assert.equal(new Set([...names[0], ...names[1]]).size, 30);
});

test('small images are mirrored up to the patch size; oversampling finds rare foreground', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/small.png'), pixels(10, 8, 1, (x) => x * 20));
    await writeImage(join(dir, 'masks/small.png'), pixels(10, 8, 1, (x) => (x === 0 ? 255 : 0)));
    await writeImage(join(dir, 'images/big.png'), pixels(200, 200, 1, (x, y) => (x + y) % 256));
    await writeImage(join(dir, 'masks/big.png'), pixels(200, 200, 1, (x, y) => (x === 150 && y === 40 ? 255 : 0)));
    const loader = new DataLoader(dir, 'images', 'masks', {
      batchSize: 1,
      patchSize: 16,
      augment: 'none',
      normalize: 'none',
      shuffle: false,
      foregroundOversample: 1,
      workers: 0,
    });
    for (let epoch = 0; epoch < 5; epoch++) {
      const [big, small] = await drain(loader);
      assert.equal(big.masks.reduce((s, v) => s + v, 0), 1, 'the single foreground pixel is in every patch');
      assert.deepEqual(small.shape, [1, 1, 16, 16]);
      // centred with mirrored borders: columns -3..12 read 3,2,1,0,1,..,9,8,7
      const row = Array.from(small.images.subarray(16 * 4, 16 * 5), (v) => Math.round(v * 255));
      assert.deepEqual(row, [3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 6].map((x) => x * 20));
      assert.deepEqual([...small.masks.subarray(16 * 4, 16 * 5)], row.map((v) => (v === 0 ? 1 : 0)));
    }
  } finally {
    await cleanup();
  }
});

test('an error in a worker reaches the caller and names the files', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeImage(join(dir, 'images/a.png'), pixels(10, 8, 1, () => 1));
    await writeImage(join(dir, 'masks/a.png'), pixels(10, 8, 1, () => 0));
    await writeImage(join(dir, 'images/b.png'), pixels(12, 8, 1, () => 1));
    await writeImage(join(dir, 'masks/b.png'), pixels(12, 8, 1, () => 0));
    const loader = new DataLoader(dir, 'images', 'masks', { batchSize: 2, workers: 1, shuffle: false });
    await assert.rejects(drain(loader), /images in one batch differ in size: .*a\.png is 10x8, .*b\.png is 12x8/);
    await loader.close();
  } finally {
    await cleanup();
  }
});

test('a program that breaks off iteration without close() still exits', () => {
  const loaderUrl = new URL('../../src/data/loader.js', import.meta.url).href;
  const script = `
    import { DataLoader } from ${JSON.stringify(loaderUrl)};
    const loader = new DataLoader(${JSON.stringify(MEMBRANE_TRAIN)}, 'images', 'masks', { batchSize: 2, patchSize: 32, workers: 2, prefetch: 4 });
    for await (const batch of loader) { console.log('got', batch.shape.join('x')); break; }
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(child.signal, null, 'the process hung and was killed');
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /got 2x1x32x32/);
});
