import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { writeFileAtomic } from '../../src/io/atomic.js';
import { withTempDir } from './helpers.js';

test('writeFileAtomic keeps the old content when the writer throws after writing bytes', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'model.pt');
    await writeFile(path, 'old content');
    await assert.rejects(
      writeFileAtomic(path, async (write) => {
        await write(new Uint8Array(1 << 20));
        assert.equal((await readdir(dir)).length, 2, 'the new bytes went to a temporary file');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(await readFile(path, 'utf8'), 'old content');
    assert.deepEqual(await readdir(dir), ['model.pt']);
  });
});

test('writeFileAtomic replaces the file with everything written', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'out.bin');
    await writeFile(path, 'old');
    await writeFileAtomic(path, async (write) => {
      await write(new TextEncoder().encode('new '));
      await write(new TextEncoder().encode('content'));
    });
    assert.equal(await readFile(path, 'utf8'), 'new content');
    assert.deepEqual(await readdir(dir), ['out.bin']);
  });
});
