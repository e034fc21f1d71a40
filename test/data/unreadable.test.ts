/**
 * An image that stops decoding after its data set was opened (replaced or
 * damaged during training): the loader throws an ImageDecodeError naming the
 * file, the same from worker threads as from the main thread, so that the CLI
 * reports it as bad input (exit code 2) and not as a failure of patho.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageDecodeError } from '../../src/data/decode.js';
import { DataLoader } from '../../src/data/loader.js';
import { pixels, tempDir, writeImage } from './helpers.js';

test('an image damaged mid-epoch: ImageDecodeError naming it, with 0 and 2 workers', async () => {
  for (const workers of [0, 2]) {
    const { dir, cleanup } = await tempDir();
    try {
      for (let i = 0; i < 4; i++) {
        await writeImage(join(dir, 'images', `${i}.png`), pixels(8, 8, 1, (x, y) => (x + y + i) % 256));
        await writeImage(join(dir, 'masks', `${i}.png`), pixels(8, 8, 1, (x) => (x < 4 ? 255 : 0)));
      }
      // no normalisation statistics: opening checks headers and masks but decodes no image
      const loader = new DataLoader(dir, 'images', 'masks', { batchSize: 1, workers, normalize: 'none', shuffle: false });
      try {
        await loader.open();
        await writeFile(join(dir, 'images', '3.png'), 'damaged');
        const seen: string[] = [];
        const epoch = async () => {
          for await (const batch of loader) seen.push(...batch.names);
        };
        await assert.rejects(epoch, (error: unknown) => {
          assert.ok(error instanceof ImageDecodeError, `${workers} workers: ${error}`);
          assert.equal(error.file, join(dir, 'images', '3.png'));
          assert.match(error.message, /3\.png: does not decode: /);
          return true;
        });
        assert.deepEqual(seen, ['0', '1', '2'], 'the batches before it arrived');
      } finally {
        await loader.close();
      }
    } finally {
      await cleanup();
    }
  }
});
