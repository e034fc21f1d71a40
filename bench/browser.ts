/**
 * Seconds per 512x512 tile: the browser page (onnxruntime-web, WebAssembly,
 * in headless Chromium, served by patho serve so that threads are allowed)
 * against `patho predict`'s default engine (the folded network in float32 on
 * libtorch, predictSliding in this process), the same checkpoint, image, tiling and thread count, the two
 * interleaved in one run. Each side runs once to warm up (wasm compilation,
 * first-call allocations) before the timed repeats; the page's time is its
 * own measurement from the first tile to the last row, and its engine time
 * the part spent in the session's run.
 *
 * Env: PATHO_MODEL (a patho checkpoint; default a 1-channel U-Net of depth 4,
 * 32 base channels, random weights), PATHO_THREADS (1), PATHO_REPEATS (3),
 * PATHO_SIZE (1024: the membrane test image resized to SIZE x SIZE).
 * Run: npx tsc -p tsconfig.json && node dist/bench/browser.js
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

import { inferenceNetFor } from '../src/infer/engine.js';
import { readImageForInference } from '../src/infer/image.js';
import { predictSliding, tileCount } from '../src/infer/sliding.js';
import { loadTrainedNet } from '../src/infer/trained.js';
import { startServer } from '../src/serve/server.js';
import { UNet } from '../src/models/unet.js';
import { manualSeed, setNumThreads } from '../src/tensor/runtime.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../src/train/checkpoint.js';
import type { RunResult } from '../src/web/app.js';
import { launchChromium } from '../test/serve/browser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const threads = Number(process.env.PATHO_THREADS ?? 1);
const repeats = Number(process.env.PATHO_REPEATS ?? 3);
const size = Number(process.env.PATHO_SIZE ?? 1024);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'patho-bench-browser-'));
  try {
    // the served folder: a run with its checkpoint, which patho serve exports to ONNX for the page
    mkdirSync(join(dir, 'run'));
    const model = join(dir, 'run', 'model.pt');
    if (process.env.PATHO_MODEL) copyFileSync(process.env.PATHO_MODEL, model);
    else await randomCheckpoint(model);
    const image = join(dir, 'image.png');
    await sharp(join(root, 'data', 'membrane', 'test', 'images', '0.png')).resize(size, size).toColourspace('b-w').png().toFile(image);

    setNumThreads(threads);
    const trained = await loadTrainedNet(model);
    const meta = trained.meta;
    // what patho predict runs without --amp
    const { net } = inferenceNetFor(trained.net, 'cpu', false);
    trained.net.dispose();
    const { image: planar } = await readImageForInference(image, meta.normalization);
    const tiles = tileCount(planar.width, planar.height);
    const libtorch = () => {
      const started = process.hrtime.bigint();
      predictSliding(net, planar, { batchSize: 1 });
      return Number(process.hrtime.bigint() - started) / 1e9 / tiles;
    };

    const server = await startServer({ dir, port: 0 });
    const browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${server.url}browser/run/run/model.pt?backend=wasm&threads=${threads}`);
    const browserRun = async (): Promise<RunResult> => {
      await page.evaluate(() => (document.body.dataset.state = ''));
      await page.setInputFiles('#file', image);
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 600_000 });
      const result = await page.evaluate(() => (window as Window & { pathoResult?: RunResult }).pathoResult);
      if (!result || (await page.getAttribute('body', 'data-state')) !== 'done') throw new Error(`the page failed: ${await page.textContent('#status')}`);
      return result;
    };

    libtorch();
    const warm = await browserRun();
    console.log(`${size}x${size} image, ${tiles} tiles of 512, ${threads} thread(s); browser: ${warm.backend}, ${warm.threads} thread(s), model loaded in ${warm.loadSeconds.toFixed(2)} s`);
    const rows: { libtorch: number; page: number; engine: number }[] = [];
    for (let r = 0; r < repeats; r++) {
      const torch = libtorch();
      const result = await browserRun();
      rows.push({ libtorch: torch, page: result.seconds / result.tiles, engine: result.engineSeconds / result.tiles });
      console.log(`repeat ${r + 1}: libtorch ${torch.toFixed(3)} s/tile, browser ${rows[r].page.toFixed(3)} s/tile (session.run ${rows[r].engine.toFixed(3)})`);
    }
    const m = { libtorch: median(rows.map((x) => x.libtorch)), page: median(rows.map((x) => x.page)), engine: median(rows.map((x) => x.engine)) };
    console.log(
      `median s/tile: patho predict (libtorch) ${m.libtorch.toFixed(3)}, browser WebAssembly ${m.page.toFixed(3)} ` +
        `(session.run ${m.engine.toFixed(3)}); browser / libtorch = ${(m.page / m.libtorch).toFixed(2)}x`,
    );
    await browser.close();
    await server.close();
    net.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A U-Net of the size issue 17's benchmarks use, random weights: the time per tile does not depend on them. */
async function randomCheckpoint(path: string): Promise<void> {
  manualSeed(0);
  const net = new UNet({ inChannels: 1, classes: 1, depth: 4, baseChannels: 32 });
  await saveCheckpoint(path, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: { mean: [0.5], std: [0.2] },
    threshold: 0.5, bestDice: null, torchVersion: '', device: 'cpu', savedAt: new Date().toISOString(), model: net.stateDict(),
  });
  net.dispose();
}

await main();
