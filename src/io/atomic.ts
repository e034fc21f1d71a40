/**
 * Atomic file replacement: a crash or an error while writing never leaves a
 * half-written file at the target path, and an existing file there keeps its
 * old content until the new one is complete and on disk.
 */

import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Appends bytes to the file being written. */
export type WriteChunk = (chunk: Uint8Array) => Promise<void>;

/**
 * Writes `path` through `produce`: bytes go to `<path>.tmp-<pid>-<random>` in
 * the same directory (so the rename cannot cross file systems), which is
 * fsynced and renamed over `path`, then the directory is fsynced so the
 * rename itself survives a power loss. If `produce` throws, the temporary
 * file is removed and `path` is untouched.
 */
export async function writeFileAtomic(path: string, produce: (write: WriteChunk) => Promise<void>): Promise<void> {
  const temporary = join(dirname(path), `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const file = await open(temporary, 'wx');
  try {
    try {
      await produce(async (chunk) => {
        let done = 0;
        while (done < chunk.byteLength) {
          const { bytesWritten } = await file.write(chunk, done, chunk.byteLength - done);
          done += bytesWritten;
        }
      });
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

async function syncDirectory(directory: string): Promise<void> {
  // Windows cannot open a directory for fsync; its rename is durable enough.
  if (process.platform === 'win32') return;
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
