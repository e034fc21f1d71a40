/** Running `patho` as a user does, in a child process, for the CLI tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/cli). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface PathoResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `patho ...args` run in `cwd`, as a child process of bin/patho.js. */
export function runPatho(cwd: string, ...args: string[]): PathoResult {
  const result = spawnSync(process.execPath, [join(REPO, 'bin', 'patho.js'), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Expects exit code 2 with `message` on stderr and no stack trace. */
export function expectInputError(result: PathoResult, message: RegExp): void {
  assert.equal(result.code, 2, `exit code ${result.code}; stderr: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace without --verbose');
}
