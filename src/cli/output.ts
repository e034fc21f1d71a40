/** Output folders, checked before any work whose results would have nowhere to go. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.js';

/**
 * Creates `dir` if needed and writes and removes a file in it, so that an
 * output folder that cannot be written fails with exit code 2 before the data
 * is read and the network built, not after an epoch of training. (Permission
 * bits alone do not tell: root passes every access check, a read-only file
 * system fails them all.)
 */
export function ensureWritableFolder(dir: string, option: string, command: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.patho-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (error) {
    throw new UsageError(`${option} ${dir}: cannot write there (${(error as Error).message})`, command);
  }
}
