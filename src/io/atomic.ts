/**
 * Atomic file replacement: a crash or an error while writing never leaves a
 * half-written file at the target path, and an existing file there keeps its
 * old content until the new one is complete and on disk.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temporary files being written by this process, for `removeTemporariesInFlight` on an abrupt exit. */
const inFlight = new Set<string>();

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
  inFlight.add(temporary);
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
  } finally {
    inFlight.delete(temporary);
  }
  await syncDirectory(dirname(path));
}

/** Removes the temporary files of writes still in progress; for a process about to exit without finishing them. */
export function removeTemporariesInFlight(): void {
  for (const temporary of inFlight) rmSync(temporary, { force: true });
  inFlight.clear();
}

/**
 * Removes the temporary files that writers killed mid-write left in
 * `directory` (`<name>.tmp-<pid>-<hex>` whose process is gone); returns their names.
 */
export function removeOrphanedTemporaries(directory: string): string[] {
  if (!existsSync(directory)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(directory)) {
    const match = /\.tmp-(\d+)-[0-9a-f]{12}$/.exec(name);
    if (!match || processAlive(Number(match[1]))) continue;
    rmSync(join(directory, name), { force: true });
    removed.push(name);
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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
