/**
 * Sliding-window inference on the CMU-1-Small-Region slide: patho (streaming,
 * tiles read from OpenSlide, mask written as a tiled TIFF) against a plain
 * PyTorch sliding-window script (bench/wsi_torch.py: the level read whole,
 * probabilities and weights accumulated over the whole image, as MONAI's
 * sliding_window_inference does) with the same U-Net and random weights,
 * tile, overlap, Gaussian blending, batch and thread count. Each side runs in
 * its own process, in this run, so peak RSS is its own. Prints tiles/s, peak
 * memory and the mean foreground probability (equal when both ran the same
 * network).
 *
 * Needs /usr/bin/python3 with Debian's python3-torch and python3-openslide.
 * Env: PATHO_TILE (256), PATHO_OVERLAP (0.25), PATHO_BATCH (4), PATHO_THREADS (2),
 * PATHO_BASE (16), PATHO_DEPTH (4), PATHO_REPEATS (2), PYTHON (/usr/bin/python3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/wsi.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { predictTiled } from '../src/infer/tiled.js';
import { UNet } from '../src/models/unet.js';
import { manualSeed, setNumThreads } from '../src/tensor/runtime.js';
import { loadStateDictFile, save } from '../src/tensor/serialize.js';
import { Slide } from '../src/wsi/slide.js';
import { TiledTiffWriter } from '../src/wsi/tiff.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const slidePath = join(root, 'test', 'fixtures', 'wsi', 'cmu-1-small-region.svs');
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  tile: env('PATHO_TILE', 256),
  overlap: env('PATHO_OVERLAP', 0.25),
  batch: env('PATHO_BATCH', 4),
  threads: env('PATHO_THREADS', 2),
  base: env('PATHO_BASE', 16),
  depth: env('PATHO_DEPTH', 4),
};
const unetOptions = { inChannels: 3, classes: 1, depth: config.depth, baseChannels: config.base, batchNorm: true, upsample: 'bilinear', padding: 'same' } as const;

interface Result {
  tiles: number;
  seconds: number;
  peakRssMiB: number;
  meanProbability: number;
}

/** The patho side, in a child process: stream the slide through the network into a TIFF mask. */
async function pathoChild(weights: string): Promise<Result> {
  setNumThreads(config.threads);
  const net = new UNet(unetOptions);
  net.loadStateDict(await loadStateDictFile(weights));
  net.eval();
  const slide = Slide.open(slidePath);
  const { width, height } = slide.levels[0];
  const dir = mkdtempSync(join(tmpdir(), 'patho-bench-'));
  const tiff = new TiledTiffWriter(join(dir, 'mask.tif'), { width, height });
  const labels = new Uint8Array(config.tile * width);
  let sum = 0;
  let tiles = 0;
  const start = performance.now();
  predictTiled(net, slide.source(0, null), {
    tile: config.tile,
    overlap: config.overlap,
    batchSize: config.batch,
    onProgress: (done) => (tiles = done),
    onRows(_, rows, p) {
      for (let i = 0; i < rows * width; i++) {
        sum += p[i];
        labels[i] = p[i] >= 0.5 ? 255 : 0;
      }
      tiff.writeRows(labels, rows);
    },
  });
  tiff.close();
  const seconds = (performance.now() - start) / 1000;
  slide.close();
  rmSync(dir, { recursive: true, force: true });
  return { tiles, seconds, peakRssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20, meanProbability: sum / (width * height) };
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(await pathoChild(process.argv[3])) + '\n');
} else {
  const dir = mkdtempSync(join(tmpdir(), 'patho-bench-'));
  const weights = join(dir, 'unet.pt');
  manualSeed(0);
  const net = new UNet(unetOptions);
  await save(net.stateDict(), weights);
  net.dispose();
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  const script = join(root, 'bench', 'wsi_torch.py');
  const lastLine = (out: string): Result => JSON.parse(out.trim().split('\n').at(-1)!);
  const runPatho = () => lastLine(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', weights], { encoding: 'utf8' }));
  const runTorch = () =>
    lastLine(
      execFileSync(python, [script, slidePath, weights, JSON.stringify({ ...config, unet: unetOptions })], {
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: join(root, 'tools') },
      }),
    );
  console.log(
    `CMU-1-Small-Region 2220x2967, U-Net depth ${config.depth} base ${config.base} (BN, eval), tile ${config.tile}, ` +
      `overlap ${config.overlap}, Gaussian blending, batch ${config.batch}, ${config.threads} threads`,
  );
  const repeats = env('PATHO_REPEATS', 2);
  const row = (name: string, r: Result) =>
    `  ${name.padEnd(8)} ${String(r.tiles).padStart(5)} tiles  ${r.seconds.toFixed(1).padStart(6)} s  ${(r.tiles / r.seconds).toFixed(2).padStart(6)} tiles/s  ` +
    `peak RSS ${r.peakRssMiB.toFixed(0).padStart(5)} MiB  mean p ${r.meanProbability.toFixed(5)}`;
  for (let i = 0; i < repeats; i++) {
    const patho = runPatho();
    const torch = runTorch();
    console.log(`run ${i + 1}`);
    console.log(row('patho', patho));
    console.log(row('pytorch', torch));
    console.log(
      `  patho/pytorch: ${(patho.tiles / patho.seconds / (torch.tiles / torch.seconds)).toFixed(2)}x tiles/s, ` +
        `${(patho.peakRssMiB / torch.peakRssMiB).toFixed(2)}x peak RSS`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}
