/**
 * Data-parallel scaling (issue 6, run by the GPU check): U-Net training
 * images/s with 1, 2, 4, ... processes, one per device, at a fixed per-device
 * batch (weak scaling, as DDP is judged), through the launcher `patho train
 * --devices` uses; efficiency = images/s(N) / (N x images/s(1)).
 *
 *   node dist/bench/gpu-scaling.js [--device cuda|cpu] [--max N] [--batch 16] [--size 512] [--base 64]
 *
 * On CUDA each process gets one GPU, NCCL, bfloat16 autocast and channels-last;
 * with --device cpu it runs Gloo processes of one thread each (for checking the
 * script on a machine without GPUs).
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runRanks } from './ranks.js';

interface Config {
  device: 'cuda' | 'cpu';
  base: number;
  size: number;
  batch: number;
  steps: number;
  warmup: number;
}

if (process.env.RANK !== undefined) await worker(JSON.parse(process.argv[2]) as Config, process.argv[3]);
else await driver();

async function driver(): Promise<void> {
  const { values } = parseArgs({
    options: {
      device: { type: 'string', default: 'cuda' },
      max: { type: 'string' },
      base: { type: 'string', default: '64' },
      size: { type: 'string', default: '512' },
      batch: { type: 'string', default: '16' },
      steps: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
    },
  });
  const device = values.device === 'cpu' ? 'cpu' : 'cuda';
  const { cuda } = await import('../src/tensor/runtime.js');
  const available = device === 'cuda' ? cuda.deviceCount() : availableParallelism();
  if (available === 0) throw new Error('no CUDA device visible to libtorch (use --device cpu to check the script)');
  const max = Math.min(Number(values.max ?? available), available);
  const config: Config = {
    device, base: Number(values.base), size: Number(values.size), batch: Number(values.batch), steps: Number(values.steps),
    warmup: Number(values.warmup),
  };
  console.log(`${device}: U-Net base ${config.base} depth 4, ${config.size}x${config.size}, ${config.batch} images per device per step`);
  let single = 0;
  for (let n = 1; n <= max; n *= 2) {
    const devices = Array.from({ length: n }, (_, i) => (device === 'cuda' ? `cuda:${i}` : 'cpu'));
    const results = await runRanks<{ stepMs: number }>(devices, fileURLToPath(import.meta.url), config);
    const stepMs = Math.max(...results.map((r) => r.stepMs));
    const rate = (n * config.batch * 1000) / stepMs;
    if (n === 1) single = rate;
    console.log(`  ${n} process(es): ${stepMs.toFixed(1)} ms/step, ${rate.toFixed(1)} images/s, efficiency ${((100 * rate) / (n * single)).toFixed(1)}%`);
  }
}

/** One rank: median step time of its replica, written to `<dir>/<rank>.json`. */
async function worker(c: Config, dir: string): Promise<void> {
  const { worldFromEnv } = await import('../src/parallel/env.js');
  const { ProcessGroup } = await import('../src/parallel/group.js');
  const { DistributedDataParallel } = await import('../src/parallel/ddp.js');
  const { UNet } = await import('../src/models/unet.js');
  const { SGD } = await import('../src/optim/sgd.js');
  const { bce } = await import('../src/losses/index.js');
  const { trainStep } = await import('../src/train/step.js');
  const { rand, randn } = await import('../src/tensor/create.js');
  const { cuda, manualSeed, setNumThreads } = await import('../src/tensor/runtime.js');
  const { tidy } = await import('../src/tensor/scope.js');

  const world = worldFromEnv()!;
  const device = process.env.PATHO_DEVICE ?? 'cpu';
  const onCuda = device.startsWith('cuda');
  if (!onCuda) setNumThreads(1);
  if (onCuda) cuda.setBenchmark(true);
  manualSeed(world.rank);
  const group = world.worldSize > 1 ? ProcessGroup.init({ ...world, backend: onCuda ? 'nccl' : 'gloo', timeoutMs: 300_000 }) : null;
  const net = new UNet({ inChannels: 1, classes: 1, depth: 4, baseChannels: c.base }).to(device);
  if (onCuda) net.toMemoryFormat('channelsLast');
  const ddp = group ? new DistributedDataParallel(net, group) : null;
  const opt = new SGD(net.parameters(), { lr: 1e-3, momentum: 0.99 });
  const x = tidy(() => randn([c.batch, 1, c.size, c.size], { device }).contiguous(onCuda ? 'channelsLast' : 'contiguous')).keep();
  const y = tidy(() => rand([c.batch, 1, c.size, c.size], { device }).gt(0.5).to('float32')).keep();
  const parts = { net, loss: bce, optimizer: opt, device, amp: onCuda ? ('bfloat16' as const) : null, ddp };
  const step = () => trainStep(parts, x, y);
  for (let i = 0; i < c.warmup; i++) step();
  if (onCuda) cuda.synchronize(device);
  group?.barrier();
  const start = performance.now();
  for (let i = 0; i < c.steps; i++) step();
  if (onCuda) cuda.synchronize(device);
  writeFileSync(join(dir, `${world.rank}.json`), JSON.stringify({ stepMs: (performance.now() - start) / c.steps }));
  group?.destroy();
}
