/**
 * Peak memory of `patho predict` on a slide, as a user runs it (a checkpoint,
 * `--format tiff --no-overlay`, 2 threads), for each CPU engine: auto (ONNX
 * Runtime, float32), libtorch float32 and libtorch bfloat16 (on CPUs with
 * AVX512-BF16/AMX), against the plain PyTorch fp32 sliding-window script
 * (bench/wsi_torch.py) with the same U-Net weights (random: memory does not
 * depend on them), tile, overlap, Gaussian blending, batch and threads. Each
 * run is its own process; the repeats are interleaved; prints every run, the
 * medians and patho's median over the script's.
 *
 * Peak RSS is what this reports: a loaded machine slows every run but barely
 * moves it. Seconds are printed too, for what they are worth on such a
 * machine (ONNX Runtime skips the tiles without tissue, the script runs all).
 *
 * Needs /usr/bin/python3 with Debian's python3-torch and python3-openslide.
 * Env: PATHO_SLIDE (the CMU slide), PATHO_TILE (512), PATHO_OVERLAP (0.25), PATHO_BATCH (4),
 * PATHO_THREADS (2), PATHO_BASE (32), PATHO_DEPTH (4), PATHO_REPEATS (3),
 * PATHO_ENGINES (auto,libtorch,bf16), PYTHON (/usr/bin/python3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/wsi-memory.js
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { cpuHasFastBfloat16 } from '../src/infer/engine.js';
import { UNet } from '../src/models/unet.js';
import { manualSeed } from '../src/tensor/runtime.js';
import { save } from '../src/tensor/serialize.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../src/train/checkpoint.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const slidePath = process.env.PATHO_SLIDE ?? join(root, 'test', 'fixtures', 'wsi', 'cmu-1-small-region.svs');
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const config = {
  tile: env('PATHO_TILE', 512),
  overlap: env('PATHO_OVERLAP', 0.25),
  batch: env('PATHO_BATCH', 4),
  threads: env('PATHO_THREADS', 2),
};
const unet = { inChannels: 3, classes: 1, depth: env('PATHO_DEPTH', 4), baseChannels: env('PATHO_BASE', 32), batchNorm: true, upsample: 'bilinear', padding: 'same' } as const;
/** The engines as predict's flags choose them. */
const engineFlags: Record<string, string[]> = {
  auto: ['--engine', 'auto'],
  libtorch: ['--engine', 'libtorch', '--precision', 'fp32'],
  bf16: ['--engine', 'libtorch', '--precision', 'bf16'],
};
const engines = (process.env.PATHO_ENGINES ?? 'auto,libtorch,bf16').split(',').filter((e) => e !== 'bf16' || cpuHasFastBfloat16());

interface Run {
  peakMiB: number;
  seconds: number;
}

function fail(what: string, r: ReturnType<typeof spawnSync>): never {
  throw new Error(`${what} exited with ${r.status}:\n${String(r.stderr).slice(-2000)}`);
}

/** `patho predict` with the engine's flags, its peak RSS from the preloaded bench/peak-rss.cjs. */
function runPatho(engine: string, checkpoint: string, out: string): Run {
  rmSync(out, { recursive: true, force: true });
  const args = [
    '--require', join(root, 'bench', 'peak-rss.cjs'), join(root, 'bin', 'patho.js'), 'predict', slidePath, '--model', checkpoint, '--out', out,
    '--format', 'tiff', '--no-overlay', '--devices', 'cpu', '--threads', String(config.threads), '--tile', String(config.tile),
    '--overlap', String(config.overlap), '--batch-size', String(config.batch), ...engineFlags[engine],
  ];
  const start = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  const peak = /peak RSS KiB (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !peak) fail(`patho predict (${engine})`, r);
  return { peakMiB: Number(peak[1]) / 1024, seconds };
}

/** bench/wsi_torch.py: it reports its own peak RSS. */
function runTorch(weights: string): Run {
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, [join(root, 'bench', 'wsi_torch.py'), slidePath, weights, JSON.stringify({ ...config, unet })], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: join(root, 'tools') },
  });
  if (r.status !== 0) fail('wsi_torch.py', r);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return { peakMiB: result.peakRssMiB, seconds: result.seconds };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

const dir = mkdtempSync(join(tmpdir(), 'patho-bench-'));
try {
  manualSeed(0);
  const net = new UNet(unet);
  net.eval();
  const checkpoint = join(dir, 'model.pt');
  const weights = join(dir, 'weights.pt');
  await saveCheckpoint(checkpoint, {
    format: CHECKPOINT_FORMAT, epoch: 0, unet: net.options, training: {}, normalization: null, threshold: 0.5, bestDice: null,
    torchVersion: '', device: 'cpu', savedAt: new Date(0).toISOString(), model: net.stateDict(),
  });
  await save(net.stateDict(), weights);
  net.dispose();
  console.log(
    `${slidePath}: U-Net depth ${unet.depth} base ${unet.baseChannels} (BN), tile ${config.tile}, overlap ${config.overlap}, ` +
      `Gaussian blending, batch ${config.batch}, ${config.threads} threads; peak RSS in MiB`,
  );
  const runs: Record<string, Run[]> = Object.fromEntries([...engines, 'pytorch'].map((e) => [e, []]));
  const row = (name: string, r: Run) => `  ${name.padEnd(9)} ${r.peakMiB.toFixed(0).padStart(6)} MiB  ${r.seconds.toFixed(0).padStart(6)} s`;
  for (let i = 0; i < env('PATHO_REPEATS', 3); i++) {
    console.log(`run ${i + 1}`);
    for (const engine of engines) {
      runs[engine].push(runPatho(engine, checkpoint, join(dir, 'out')));
      console.log(row(engine, runs[engine].at(-1)!));
    }
    runs.pytorch.push(runTorch(weights));
    console.log(row('pytorch', runs.pytorch.at(-1)!));
  }
  const torchPeak = median(runs.pytorch.map((r) => r.peakMiB));
  console.log('medians');
  for (const [name, rs] of Object.entries(runs)) {
    const peak = median(rs.map((r) => r.peakMiB));
    console.log(`  ${name.padEnd(9)} ${peak.toFixed(0).padStart(6)} MiB  ${(peak / torchPeak).toFixed(2)}x the script's peak`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
