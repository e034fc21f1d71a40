/**
 * Timing of U-Net training steps in patho, set up exactly as
 * bench/unet_step_torch.py sets up PyTorch, so the two can be compared in one run.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bce } from '../src/losses/index.js';
import { UNet } from '../src/models/unet.js';
import { SGD } from '../src/optim/sgd.js';
import { randn, rand } from '../src/tensor/create.js';
import { cuda, manualSeed, setNumThreads } from '../src/tensor/runtime.js';
import { tidy } from '../src/tensor/scope.js';
import type { DType } from '../src/tensor/tensor.js';
import { trainStep } from '../src/train/step.js';

export interface StepConfig {
  device: string;
  base: number;
  depth: number;
  size: number;
  batch: number;
  steps: number;
  warmup: number;
  repeats: number;
  amp: DType | null;
  channelsLast: boolean;
  threads?: number;
}

export interface StepResult {
  stepMs: number;
  imagesPerSecond: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median step time of patho's U-Net: the trainer's own step (forward, loss, backward, SGD momentum update). */
export function timePatho(c: StepConfig): StepResult {
  if (c.threads) setNumThreads(c.threads);
  manualSeed(0);
  const onCuda = c.device.startsWith('cuda');
  if (onCuda) cuda.setBenchmark(true);
  const net = new UNet({ inChannels: 1, classes: 1, depth: c.depth, baseChannels: c.base }).to(c.device);
  if (c.channelsLast) net.toMemoryFormat('channelsLast');
  const opt = new SGD(net.parameters(), { lr: 1e-3, momentum: 0.99 });
  const x = tidy(() => randn([c.batch, 1, c.size, c.size], { device: c.device }).contiguous(c.channelsLast ? 'channelsLast' : 'contiguous')).keep();
  const y = tidy(() => rand([c.batch, 1, c.size, c.size], { device: c.device }).gt(0.5).to('float32')).keep();
  const parts = { net, loss: bce, optimizer: opt, device: c.device, amp: c.amp };
  const step = () => trainStep(parts, x, y);
  const sync = () => (onCuda ? cuda.synchronize(c.device) : undefined);
  for (let i = 0; i < c.warmup; i++) step();
  sync();
  const times: number[] = [];
  for (let r = 0; r < c.repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < c.steps; i++) step();
    sync();
    times.push((performance.now() - start) / c.steps);
  }
  x.dispose();
  y.dispose();
  opt.dispose();
  net.dispose();
  const stepMs = median(times);
  return { stepMs, imagesPerSecond: (c.batch * 1000) / stepMs };
}

/** The same measurement in PyTorch (bench/unet_step_torch.py), run as a child process. */
export function timeTorch(python: string, c: StepConfig, extra: string[] = []): StepResult & { torch: string } {
  const script = fileURLToPath(new URL('../../bench/unet_step_torch.py', import.meta.url));
  const args = [
    script, '--device', c.device.startsWith('cuda') ? 'cuda' : 'cpu', '--base', String(c.base), '--depth', String(c.depth),
    '--size', String(c.size), '--batch', String(c.batch), '--steps', String(c.steps), '--warmup', String(c.warmup),
    '--repeats', String(c.repeats), ...(c.amp ? ['--amp', c.amp] : []), ...(c.channelsLast ? ['--channels-last'] : []),
    ...(c.threads ? ['--threads', String(c.threads)] : []), ...extra,
  ];
  const out = execFileSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop()!);
}
