/** Running `patho` as a user does, in a child process, for the CLI tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

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

/** A 64x64 gray subset of the bundled membrane data (images and two-valued masks, 0 and 255) in `data`. */
export async function writeMembraneSubset(data: string, names: readonly string[]): Promise<void> {
  const membrane = join(REPO, 'data', 'membrane', 'train');
  mkdirSync(join(data, 'images'), { recursive: true });
  mkdirSync(join(data, 'masks'), { recursive: true });
  for (const name of names) {
    await sharp(join(membrane, 'images', `${name}.png`)).resize(64, 64).toColourspace('b-w').png().toFile(join(data, 'images', `${name}.png`));
    // nearest neighbour and a threshold keep the mask two-valued, 0 and 255
    await sharp(join(membrane, 'masks', `${name}.png`)).resize(64, 64, { kernel: 'nearest' }).threshold(128).toColourspace('b-w').png().toFile(join(data, 'masks', `${name}.png`));
  }
}
