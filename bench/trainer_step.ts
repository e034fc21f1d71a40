/**
 * The trainer's step against the PyTorch script's, phase by phase, on the
 * membrane recipe (U-Net base 32 depth 4, 256x256 patches, batch 4, Adam 1e-3,
 * BCE - log(soft Jaccard), bfloat16 autocast + channels-last, 2 threads):
 * forward (with the loss), backward, optimizer, per step, medians over
 * rounds that alternate which side runs first, each side in a fresh process.
 * Times are CPU time of the whole process (every thread: V8's and Python's
 * own included), which a machine shared with other work disturbs far less
 * than wall time; `--wall` reports wall time instead.
 *
 *   node dist/bench/trainer_step.js [--rounds 3] [--steps 8] [--warmup 2] [--threads 2]
 *     [--base 32] [--fp32] [--loader] [--profile DIR] [--python /usr/bin/python3]
 *
 * patho runs `trainStep` (src/train/step.ts), the function `patho train`
 * runs, on batches made the way the trainer makes them (host batch ->
 * tensors, channels-last). `--loader` also feeds it from a DataLoader with
 * one worker thread on data/membrane/train, as `bench/membrane.ts` trains:
 * that thread competes with the 2 compute threads for the cores.
 * `--profile DIR` writes each side's per-op table (libtorch's autograd
 * profiler on both sides) for 3 steps to DIR.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Config {
  threads: number;
  base: number;
  steps: number;
  warmup: number;
  amp: boolean;
  loader: boolean;
  wall: boolean;
  profile?: string;
}

type Phases = { forward: number; backward: number; optimizer: number; step: number };

const root = fileURLToPath(new URL('../../', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.env.PATHO_BENCH_CHILD) await child(JSON.parse(process.env.PATHO_BENCH_CHILD) as Config);
else driver();

function driver(): void {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      threads: { type: 'string', default: '2' },
      base: { type: 'string', default: '32' },
      fp32: { type: 'boolean', default: false },
      loader: { type: 'boolean', default: false },
      wall: { type: 'boolean', default: false },
      profile: { type: 'string' },
      python: { type: 'string', default: process.env.PYTHON ?? '/usr/bin/python3' },
    },
  });
  const config: Config = {
    threads: Number(values.threads), base: Number(values.base), steps: Number(values.steps), warmup: Number(values.warmup),
    amp: !values.fp32, loader: values.loader!, wall: values.wall!, profile: values.profile,
  };
  const sides = {
    patho: () => JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, PATHO_BENCH_CHILD: JSON.stringify(config) }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
    }).trim().split('\n').pop()!) as Phases,
    torch: () => JSON.parse(execFileSync(values.python!, [
      join(root, 'bench/trainer_step_torch.py'), '--threads', String(config.threads), '--base', String(config.base),
      '--steps', String(config.steps), '--warmup', String(config.warmup), ...(config.amp ? ['--amp'] : []), ...(config.wall ? ['--wall'] : []),
      ...(config.profile ? ['--profile', join(config.profile, 'torch-ops.txt')] : []),
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!) as Phases,
  };
  const runs: Record<keyof typeof sides, Phases[]> = { patho: [], torch: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    const order: (keyof typeof sides)[] = round % 2 ? ['torch', 'patho'] : ['patho', 'torch'];
    for (const side of order) {
      runs[side].push(sides[side]());
      console.log(`round ${round + 1} ${side}: ${JSON.stringify(runs[side][runs[side].length - 1], (_, v) => (typeof v === 'number' ? Number(v.toFixed(1)) : v))}`);
    }
  }
  console.log(
    `\nU-Net base ${config.base} depth 4, 4 x 256x256, Adam, BCE-Jaccard, ${config.amp ? 'bf16 autocast + channels-last' : 'fp32'}, ` +
      `${config.threads} threads${config.loader ? ', patho fed by a 1-worker DataLoader' : ''}; medians of ${values.rounds} rounds ` +
      `(${config.wall ? 'wall' : 'CPU'} ms per step)`,
  );
  console.log(`${'phase'.padEnd(12)}${'patho'.padStart(10)}${'PyTorch'.padStart(10)}${'patho/PyTorch'.padStart(15)}`);
  for (const phase of ['forward', 'backward', 'optimizer', 'step'] as const) {
    const p = median(runs.patho.map((r) => r[phase]));
    const t = median(runs.torch.map((r) => r[phase]));
    console.log(`${phase.padEnd(12)}${p.toFixed(1).padStart(10)}${t.toFixed(1).padStart(10)}${(p / t).toFixed(3).padStart(15)}`);
  }
}

/** One side's run: per-step phase times (medians over the timed steps) as one JSON line. */
async function child(c: Config): Promise<void> {
  const { DataLoader } = await import('../src/data/loader.js');
  const { batchToTensors } = await import('../src/data/tensors.js');
  const { lossByName } = await import('../src/losses/index.js');
  const { UNet } = await import('../src/models/unet.js');
  const { Adam } = await import('../src/optim/adam.js');
  const { manualSeed, setNumThreads } = await import('../src/tensor/runtime.js');
  const { native } = await import('../src/tensor/native.js');
  const { emptyStepTimes, trainStep } = await import('../src/train/step.js');
  type HostBatch = import('../src/data/types.js').HostBatch;

  setNumThreads(c.threads);
  manualSeed(0);
  const net = new UNet({ inChannels: 1, classes: 1, depth: 4, baseChannels: c.base });
  if (c.amp) net.toMemoryFormat('channelsLast');
  const parts = {
    net, loss: lossByName('bce-jaccard'), optimizer: new Adam(net.parameters(), { lr: 1e-3 }), device: 'cpu',
    amp: c.amp ? ('bfloat16' as const) : null, times: emptyStepTimes(),
  };
  const cpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const clock = c.wall ? () => performance.now() : cpuMs;
  const size = 256;
  const random: HostBatch = {
    names: ['a', 'b', 'c', 'd'],
    images: Float32Array.from({ length: 4 * size * size }, (_, i) => Math.sin(i * 0.37)),
    masks: Uint8Array.from({ length: 4 * size * size }, (_, i) => (Math.sin(i * 0.11) > 0 ? 1 : 0)),
    shape: [4, 1, size, size],
  };
  const loader = c.loader
    ? new DataLoader(join(root, 'data/membrane/train'), 'images', 'masks', { batchSize: 4, patchSize: size, augment: 'rigid', seed: 0, workers: 1 })
    : null;
  const batches = loader ? (async function* () { for (let e = 0; ; e++) yield* loader.epochBatches(e); })() : null;
  const nextBatch = async () => (batches ? (await batches.next()).value as HostBatch : random);
  const step = async () => {
    const batch = await nextBatch();
    const { images, masks } = batchToTensors(batch, { memoryFormat: c.amp ? 'channelsLast' : 'contiguous' });
    trainStep(parts, images, masks);
    images.dispose();
    masks.dispose();
  };
  for (let i = 0; i < c.warmup; i++) await step();
  const phases: Phases[] = [];
  for (let i = 0; i < c.steps; i++) {
    parts.times = emptyStepTimes(clock);
    const start = clock();
    await step();
    const t = parts.times;
    phases.push({ forward: t.forward, backward: t.backward, optimizer: t.optimizer, step: clock() - start });
  }
  if (c.profile) {
    const trace = join(c.profile, 'patho-trace.json');
    native.profilerStart(trace);
    for (let i = 0; i < 3; i++) await step();
    native.profilerStop();
    writeFileSync(join(c.profile, 'patho-ops.txt'), opTable(JSON.parse(readFileSync(trace, 'utf8')), 3));
  }
  await loader?.close();
  const result = Object.fromEntries((['forward', 'backward', 'optimizer', 'step'] as const).map((k) => [k, median(phases.map((p) => p[k]))]));
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

/** Self time per op name per step from a Chrome trace (the legacy profiler's complete events), largest first. */
function opTable(trace: { traceEvents?: { name: string; ph: string; ts: number; dur?: number; tid: number }[] } | { name: string; ph: string; ts: number; dur?: number; tid: number }[], steps: number): string {
  const events = (Array.isArray(trace) ? trace : trace.traceEvents ?? []).filter((e) => e.ph === 'X' && e.dur !== undefined);
  // self time: an event's duration less that of the events nested directly inside it on the same thread
  const byThread = new Map<number, typeof events>();
  for (const e of events) byThread.set(e.tid, [...(byThread.get(e.tid) ?? []), e]);
  const self = new Map<string, { ms: number; calls: number }>();
  for (const list of byThread.values()) {
    list.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
    const stack: { end: number; name: string; child: number; dur: number }[] = [];
    const close = (upTo: number) => {
      while (stack.length && stack[stack.length - 1].end <= upTo) {
        const done = stack.pop()!;
        const entry = self.get(done.name) ?? { ms: 0, calls: 0 };
        entry.ms += (done.dur - done.child) / 1000;
        entry.calls++;
        self.set(done.name, entry);
      }
    };
    for (const e of list) {
      close(e.ts);
      if (stack.length) stack[stack.length - 1].child += e.dur!;
      stack.push({ end: e.ts + e.dur!, name: e.name, child: 0, dur: e.dur! });
    }
    close(Infinity);
  }
  const rows = [...self].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30);
  return `${'op'.padEnd(48)}${'self ms/step'.padStart(14)}${'calls/step'.padStart(12)}\n` +
    rows.map(([name, s]) => `${name.padEnd(48)}${(s.ms / steps).toFixed(2).padStart(14)}${(s.calls / steps).toFixed(0).padStart(12)}`).join('\n') + '\n';
}
