/**
 * How long a training loop waits for data: iterates the membrane set (in the
 * repository) with the `em` recipe while a stand-in training step keeps the
 * main thread busy, and prints the fraction of the epoch spent waiting for
 * the next batch. The stand-in is a busy loop, not sleep, because a real step
 * occupies a core too.
 *
 * Env: PATHO_STEP_MS (stand-in step per batch, default 150), PATHO_WORKERS
 * (default 2), PATHO_EPOCHS (default 3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/data-wait.js
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataLoader } from '../src/data/loader.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'membrane', 'train');
const stepMs = Number(process.env.PATHO_STEP_MS ?? 150);
const workers = Number(process.env.PATHO_WORKERS ?? 2);
const epochs = Number(process.env.PATHO_EPOCHS ?? 3);

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const loader = new DataLoader(root, 'images', 'masks', { batchSize: 4, patchSize: 256, augment: 'em', workers });
await loader.stats();
console.log(`membrane, batch 4 of 256x256, em recipe, ${workers} worker(s), stand-in step ${stepMs} ms`);
try {
  for (let epoch = 0; epoch < epochs; epoch++) {
    const start = performance.now();
    let waiting = 0;
    let waitStart = performance.now();
    for await (const batch of loader) {
      waiting += performance.now() - waitStart;
      busy(stepMs * (batch.shape[0] / 4));
      waitStart = performance.now();
    }
    const total = performance.now() - start;
    console.log(`  epoch ${epoch}: ${(total / 1000).toFixed(2)} s, waiting for data ${((100 * waiting) / total).toFixed(1)}%${epoch === 0 ? ' (includes decoding into the caches)' : ''}`);
  }
} finally {
  await loader.close();
}
