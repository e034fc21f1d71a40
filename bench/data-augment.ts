/**
 * Data pipeline throughput: decode + 256x256 patch + the full `he`
 * augmentation recipe + normalisation on the GlaS H&E images, in samples/s,
 * against torchvision's transforms on the same images in the same run
 * (bench/torchvision_augment.py, torch limited to one thread per process).
 *
 * Env: PATHO_GLAS (default /work/shared/datasets/glas-train), PATHO_PYTHON
 * (default /usr/bin/python3, which has Debian's torch), PATHO_REPEATS (default 3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/data-augment.js
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataLoader } from '../src/data/loader.js';

const root = process.env.PATHO_GLAS ?? '/work/shared/datasets/glas-train';
const python = process.env.PATHO_PYTHON ?? '/usr/bin/python3';
const repeats = Number(process.env.PATHO_REPEATS ?? 3);

/**
 * Median samples/s and samples per CPU-second of the whole process (main
 * thread, workers and libvips threads) over `repeats` epochs, after one
 * warm-up epoch that starts the workers.
 */
async function ours(workers: number, cache: boolean): Promise<{ rate: number; cpuRate: number }> {
  const loader = new DataLoader(root, 'images', 'masks', {
    batchSize: 8,
    patchSize: 256,
    augment: 'he',
    workers,
    // without a cache every sample is decoded from its file, as torchvision does
    cacheBytes: cache ? 2 ** 30 : 0,
  });
  await loader.stats();
  const rates: number[] = [];
  const cpuRates: number[] = [];
  try {
    for (let epoch = 0; epoch <= repeats; epoch++) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      let count = 0;
      for await (const batch of loader) count += batch.shape[0];
      const cpu = process.cpuUsage(cpuStart);
      if (epoch > 0) {
        rates.push(count / ((performance.now() - start) / 1000));
        cpuRates.push(count / ((cpu.user + cpu.system) / 1e6));
      }
    }
  } finally {
    await loader.close();
  }
  return { rate: median(rates), cpuRate: median(cpuRates) };
}

function torchvision(workers: number[]): { samples_per_s: Record<string, number>; samples_per_cpu_s: Record<string, number> } {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'torchvision_augment.py');
  const run = spawnSync(python, [script, root, String(repeats), ...workers.map(String)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`torchvision baseline failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const patho1 = await ours(1, false);
const patho2 = await ours(2, false);
const tv = torchvision([0, 2]);
const cached2 = await ours(2, true);
const rows: Array<[string, number, number | null]> = [
  ['patho, 1 worker thread', patho1.rate, patho1.cpuRate],
  ['patho, 2 worker threads', patho2.rate, patho2.cpuRate],
  ['patho, 2 workers, decoded images cached', cached2.rate, cached2.cpuRate],
  ['torchvision, main process', tv.samples_per_s['0'], tv.samples_per_cpu_s['0']],
  // the CPU time of DataLoader worker processes is not visible to the parent
  ['torchvision, DataLoader 2 workers', tv.samples_per_s['2'], null],
];
console.log(`GlaS ${root}: decode + 256 patch + H&E augmentation, median of ${repeats} epochs`);
console.log(`  ${''.padEnd(44)} ${'samples/s'.padStart(10)} ${'per CPU-s'.padStart(10)}`);
for (const [name, rate, cpuRate] of rows) {
  console.log(`  ${name.padEnd(44)} ${rate.toFixed(1).padStart(10)} ${(cpuRate === null ? '-' : cpuRate.toFixed(1)).padStart(10)}`);
}
console.log(`ratio patho 1 worker / torchvision main process: ${(patho1.rate / tv.samples_per_s['0']).toFixed(2)} (wall), ${(patho1.cpuRate / tv.samples_per_cpu_s['0']).toFixed(2)} (per CPU-second)`);
console.log(`ratio patho / torchvision, 2 workers each:      ${(patho2.rate / tv.samples_per_s['2']).toFixed(2)} (wall)`);
