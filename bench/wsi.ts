/**
 * Sliding-window inference on the CMU-1-Small-Region slide (or PATHO_SLIDE):
 * patho's `predictSlide` (streaming, the folded network on libtorch or ONNX
 * Runtime, one tile per forward pass, tiles read from OpenSlide in a worker ahead of the engine, mask and
 * probability map written as tiled TIFFs; every tile predicted, as the script
 * does) against a plain
 * PyTorch sliding-window script (bench/wsi_torch.py: the level read whole,
 * probabilities and weights accumulated over the whole image, as MONAI's
 * sliding_window_inference does) with the same U-Net and random weights,
 * tile, overlap, Gaussian blending, batch and thread count. Each side runs in
 * its own process, in this run, so peak RSS is its own. Prints tiles/s, peak
 * memory, the mean foreground probability (equal up to patho's 8-bit
 * probability map when both ran the same network) and the share of patho's
 * tiled pass its engine was busy.
 *
 * Needs /usr/bin/python3 with Debian's python3-torch and python3-openslide.
 * Env: PATHO_TILE (256), PATHO_OVERLAP (0.25), PATHO_BATCH (4), PATHO_THREADS (2),
 * PATHO_BASE (16), PATHO_DEPTH (4), PATHO_REPEATS (2), PATHO_AMP (1: bf16 where the CPU has it),
 * PATHO_READERS (1), PATHO_PREFETCH (2), PATHO_ENGINE (libtorch or onnxruntime), PATHO_TORCH (0: patho only),
 * PYTHON (/usr/bin/python3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/wsi.js
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { inferenceNetFor } from '../src/infer/engine.js';
import { onnxRuntimeEngine } from '../src/infer/onnxruntime.js';
import { inPasses, libtorchEngine } from '../src/infer/tiled.js';
import { UNet } from '../src/models/unet.js';
import { manualSeed, setNumThreads } from '../src/tensor/runtime.js';
import { loadStateDictFile, save } from '../src/tensor/serialize.js';
import { Slide } from '../src/wsi/slide.js';
import { predictSlide } from '../src/wsi/predict.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const slidePath = process.env.PATHO_SLIDE ?? join(root, 'test', 'fixtures', 'wsi', 'cmu-1-small-region.svs');
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  tile: env('PATHO_TILE', 256),
  overlap: env('PATHO_OVERLAP', 0.25),
  batch: env('PATHO_BATCH', 4),
  threads: env('PATHO_THREADS', 2),
  base: env('PATHO_BASE', 16),
  depth: env('PATHO_DEPTH', 4),
  amp: process.env.PATHO_AMP === '1',
  readers: env('PATHO_READERS', 1),
  prefetch: env('PATHO_PREFETCH', 2),
  engine: process.env.PATHO_ENGINE ?? 'libtorch',
};
const unetOptions = { inChannels: 3, classes: 1, depth: config.depth, baseChannels: config.base, batchNorm: true, upsample: 'bilinear', padding: 'same' } as const;

interface Result {
  tiles: number;
  seconds: number;
  peakRssMiB: number;
  meanProbability: number;
  /** patho: the share of the tiled pass the engine computed */
  busy?: number;
}

/** The patho side, in a child process: `predictSlide` as `patho predict` runs it (folded network, tiles read ahead in a worker) into a TIFF mask. */
async function pathoChild(weights: string): Promise<Result> {
  setNumThreads(config.threads);
  const unet = new UNet(unetOptions);
  unet.loadStateDict(await loadStateDictFile(weights));
  unet.eval();
  const folded = config.engine === 'libtorch' ? inferenceNetFor(unet, 'cpu', config.amp).net : null;
  const session = folded ? null : await onnxRuntimeEngine(unet, { threads: config.threads });
  // one tile per forward pass on the CPU, as predict does there
  const engine = inPasses(session ?? libtorchEngine(folded!), 1);
  unet.dispose();
  const slide = Slide.open(slidePath);
  const { width, height } = slide.levels[0];
  const dir = mkdtempSync(join(tmpdir(), 'patho-bench-'));
  const start = performance.now();
  const result = await predictSlide(engine, slide, {
    outDir: dir, name: 'slide', tile: config.tile, overlap: config.overlap, batchSize: config.batch,
    formats: ['tiff'], probabilities: true, overlay: false, tissueMask: false, readers: config.readers, prefetch: config.prefetch,
  });
  const seconds = (performance.now() - start) / 1000;
  const peakRssMiB = (process.resourceUsage().maxRSS * 1024) / 2 ** 20;
  slide.close();
  folded?.dispose();
  await session?.release();
  const probabilities = await sharp(join(dir, 'slide_prob.tif'), { limitInputPixels: false }).extractChannel(0).raw().toBuffer();
  let sum = 0;
  for (const v of probabilities) sum += v / 255;
  rmSync(dir, { recursive: true, force: true });
  const { engineSeconds, wallSeconds } = result.pipeline;
  return { tiles: result.tiles, seconds, peakRssMiB, meanProbability: sum / (width * height), busy: engineSeconds / wallSeconds };
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
    `${slidePath}, U-Net depth ${config.depth} base ${config.base} (BN, eval), tile ${config.tile}, ` +
      `overlap ${config.overlap}, Gaussian blending, batch ${config.batch}, ${config.threads} threads`,
  );
  const repeats = env('PATHO_REPEATS', 2);
  const row = (name: string, r: Result) =>
    `  ${name.padEnd(8)} ${String(r.tiles).padStart(5)} tiles  ${r.seconds.toFixed(1).padStart(6)} s  ${(r.tiles / r.seconds).toFixed(2).padStart(6)} tiles/s  ` +
    `peak RSS ${r.peakRssMiB.toFixed(0).padStart(5)} MiB  mean p ${r.meanProbability.toFixed(5)}` +
    (r.busy === undefined ? '' : `  engine busy ${(100 * r.busy).toFixed(1)}%`);
  for (let i = 0; i < repeats; i++) {
    const patho = runPatho();
    console.log(`run ${i + 1}`);
    console.log(row('patho', patho));
    if (process.env.PATHO_TORCH === '0') continue;
    const torch = runTorch();
    console.log(row('pytorch', torch));
    console.log(
      `  patho/pytorch: ${(patho.tiles / patho.seconds / (torch.tiles / torch.seconds)).toFixed(2)}x tiles/s, ` +
        `${(patho.peakRssMiB / torch.peakRssMiB).toFixed(2)}x peak RSS`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}
