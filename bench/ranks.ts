/**
 * What the multi-process benchmarks share: run a script once per device
 * through the launcher `patho train --devices` uses, each rank writing its
 * result as JSON to `<dir>/<rank>.json`, and collect the results by rank.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchWorkers } from '../src/parallel/launch.js';

/** Starts `script <config JSON> <dir>` on every device; resolves to the ranks' results in rank order. */
export async function runRanks<R>(devices: string[], script: string, config: unknown): Promise<R[]> {
  const dir = mkdtempSync(join(tmpdir(), 'patho-bench-ranks-'));
  try {
    const code = await launchWorkers({ devices, command: [process.execPath, script, JSON.stringify(config), dir] });
    if (code !== 0) throw new Error(`the ${devices.length}-process run failed`);
    return devices.map((_, rank) => JSON.parse(readFileSync(join(dir, `${rank}.json`), 'utf8')) as R);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
