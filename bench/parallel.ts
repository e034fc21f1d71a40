/**
 * Data-parallel U-Net training on this machine's CPU cores: one process with
 * all threads against one process per core (Gloo all-reduce), at the same
 * global batch, and the share of each step spent averaging gradients. One
 * process with one thread is the third set-up: against it, N one-thread
 * processes show the scaling efficiency of data parallelism itself. The N
 * processes run twice: with the all-reduces started during backward (DDP's
 * default) and after it (`overlap: false`), to show what overlap saves;
 * `--overlap-only` runs only these two.
 *
 *   node dist/bench/parallel.js [--procs 2] [--base 16] [--depth 4] [--size 128]
 *     [--batch 4] [--steps 5] [--warmup 2] [--repeats 3] [--rounds 3] [--overlap-only]
 *
 * Each round runs both set-ups, one after the other, in fresh processes
 * started by the same launcher `patho train --devices cpu:N` uses; rounds
 * alternate the order, and the medians over rounds are printed (timings here
 * move by ±15% between runs, DESIGN.md).
 *
 * Inside a worker, `step` is the trainer's own step (src/train/step.ts):
 * forward, loss, backward, gradient averaging, SGD update. `sync` is the
 * time after backward spent waiting for the averages (the gradients'
 * all-reduces not yet done, and the loss's) plus any wait for a slower rank;
 * with overlap, the all-reduces' own work on the CPU shows up in `backward`
 * instead. On a shared machine the wait for a slower rank dominates that
 * time; `slower rank's wait` takes, step by step, the shorter wait of the
 * ranks: the rank that arrived last waits only for the communication that
 * backward did not hide. `all-reduce alone` times syncGradients back to back after
 * training, when the ranks are in lock step: the cost of communication itself.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runRanks } from './ranks.js';

interface Config {
  /** Intra-op threads per process. */
  threads: number;
  /** All-reduces during backward (DDP's default) or after it. */
  overlap: boolean;
  base: number;
  depth: number;
  size: number;
  batch: number;
  steps: number;
  warmup: number;
  repeats: number;
}

interface WorkerResult {
  rank: number;
  stepMs: number;
  backwardMs: number;
  syncMs: number;
  /** every timed step: its duration and its wait in `sync` */
  eachStepMs: number[];
  eachSyncMs: number[];
  allReduceAloneMs: number;
  parameters: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.env.RANK !== undefined) await worker(JSON.parse(process.argv[2]) as Config, process.argv[3]);
else await driver();

async function driver(): Promise<void> {
  const { values } = parseArgs({
    options: {
      procs: { type: 'string', default: String(availableParallelism()) },
      base: { type: 'string', default: '16' },
      depth: { type: 'string', default: '4' },
      size: { type: 'string', default: '128' },
      batch: { type: 'string', default: '4' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      repeats: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'overlap-only': { type: 'boolean', default: false },
    },
  });
  const procs = Number(values.procs);
  const cores = availableParallelism();
  const config: Omit<Config, 'threads' | 'overlap'> = {
    base: Number(values.base), depth: Number(values.depth), size: Number(values.size), batch: Number(values.batch),
    steps: Number(values.steps), warmup: Number(values.warmup), repeats: Number(values.repeats),
  };
  if (config.batch % procs) throw new Error(`--batch ${config.batch} does not split over ${procs} processes`);
  console.log(
    `U-Net base ${config.base} depth ${config.depth}, ${config.size}x${config.size}, global batch ${config.batch}, ` +
      `${cores} cores${process.env.OMP_WAIT_POLICY ? `, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}` : ''}; ` +
      `median of ${values.rounds} rounds x ${config.repeats} repeats of ${config.steps} steps`,
  );
  const perProcess = Math.max(1, Math.floor(cores / procs));
  const setups = [
    { n: procs, threads: perProcess, overlap: true },
    { n: procs, threads: perProcess, overlap: false },
    ...(values['overlap-only'] ? [] : [{ n: 1, threads: cores, overlap: true }, { n: 1, threads: 1, overlap: true }]),
  ];
  const runs = setups.map((): WorkerResult[][] => []);
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = setups.map((_, i) => i);
    for (const i of round % 2 ? order.reverse() : order) {
      runs[i].push(await runSetup(setups[i].n, { ...config, threads: setups[i].threads, overlap: setups[i].overlap }));
    }
  }
  const rows = setups.map(({ n, threads, overlap }, i) => {
    const rank0 = runs[i].map((r) => r[0]);
    const stepMs = median(rank0.map((r) => r.stepMs));
    return {
      n,
      threads,
      overlap,
      stepMs,
      backwardMs: median(rank0.map((r) => r.backwardMs)),
      imagesPerSecond: (config.batch * 1000) / stepMs,
      syncShare: median(rank0.map((r) => r.syncMs / r.stepMs)),
      syncMs: median(rank0.map((r) => r.syncMs)),
      ...slowerRanksWait(runs[i]),
      aloneMs: median(rank0.map((r) => r.allReduceAloneMs)),
      parameters: rank0[0].parameters,
    };
  });
  console.log(`${(rows[0].parameters / 1e6).toFixed(2)} M parameters (${((rows[0].parameters * 4) / 2 ** 20).toFixed(1)} MB of float32 gradients per all-reduce)`);
  for (const r of rows) {
    console.log(
      `  ${r.n} process(es) x ${r.threads} thread(s)${r.n > 1 ? (r.overlap ? ', all-reduce during backward' : ', all-reduce after backward') : ''}: ` +
        `step ${r.stepMs.toFixed(1)} ms (backward ${r.backwardMs.toFixed(1)}), ${r.imagesPerSecond.toFixed(2)} images/s` +
        (r.n > 1
          ? `; waiting for gradients ${r.syncMs.toFixed(1)} ms = ${(100 * r.syncShare).toFixed(1)}% of the step, ` +
            `slower rank's wait ${r.slowerMs.toFixed(1)} ms = ${(100 * r.slowerShare).toFixed(1)}%; all-reduce alone ${r.aloneMs.toFixed(1)} ms`
          : ''),
    );
  }
  const [parallel, after, allThreads, oneThread] = rows.map((r) => r.imagesPerSecond);
  console.log(`  overlap vs all-reduce after backward: ${(parallel / after).toFixed(2)}x the throughput`);
  if (values['overlap-only']) return;
  console.log(`  ${procs} processes vs 1 process x ${cores} threads: ${(parallel / allThreads).toFixed(2)}x the throughput`);
  console.log(`  ${procs} processes vs 1 process x 1 thread: ${(parallel / oneThread).toFixed(2)}x (scaling efficiency ${((100 * parallel) / oneThread / procs).toFixed(0)}%)`);
}

/** Step by step, the shorter of the ranks' waits (ms, and share of that step), medians over every step of every round. */
function slowerRanksWait(rounds: WorkerResult[][]): { slowerMs: number; slowerShare: number } {
  const waits: number[] = [];
  const shares: number[] = [];
  for (const ranks of rounds) {
    ranks[0].eachSyncMs.forEach((_, step) => {
      const wait = Math.min(...ranks.map((r) => r.eachSyncMs[step]));
      waits.push(wait);
      shares.push(wait / ranks[0].eachStepMs[step]);
    });
  }
  return { slowerMs: median(waits), slowerShare: median(shares) };
}

/** Runs `procs` workers through the launcher; returns their results by rank. */
function runSetup(procs: number, config: Config): Promise<WorkerResult[]> {
  return runRanks<WorkerResult>(Array(procs).fill('cpu'), fileURLToPath(import.meta.url), { ...config, batch: config.batch / procs });
}

/** One rank: times its training steps and writes them to `<dir>/<rank>.json`. */
async function worker(c: Config, dir: string): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  const { worldFromEnv } = await import('../src/parallel/env.js');
  const { ProcessGroup } = await import('../src/parallel/group.js');
  const { DistributedDataParallel } = await import('../src/parallel/ddp.js');
  const { UNet } = await import('../src/models/unet.js');
  const { SGD } = await import('../src/optim/sgd.js');
  const { bce } = await import('../src/losses/index.js');
  const { emptyStepTimes, trainStep } = await import('../src/train/step.js');
  const { rand, randn } = await import('../src/tensor/create.js');
  const { manualSeed, setNumThreads } = await import('../src/tensor/runtime.js');
  const { tidy } = await import('../src/tensor/scope.js');

  setNumThreads(c.threads);
  const world = worldFromEnv()!;
  const group = world.worldSize > 1 ? ProcessGroup.init({ ...world, backend: 'gloo' }) : null;
  manualSeed(world.rank);
  const net = new UNet({ inChannels: 1, classes: 1, depth: c.depth, baseChannels: c.base });
  const ddp = group ? new DistributedDataParallel(net, group, { overlap: c.overlap }) : null;
  const opt = new SGD(net.parameters(), { lr: 1e-3, momentum: 0.99 });
  const x = tidy(() => randn([c.batch, 1, c.size, c.size])).keep();
  const y = tidy(() => rand([c.batch, 1, c.size, c.size]).gt(0.5).to('float32')).keep();
  const parts = { net, loss: bce, optimizer: opt, device: 'cpu', ddp, times: emptyStepTimes() };
  for (let i = 0; i < c.warmup; i++) trainStep(parts, x, y);
  const steps: number[] = [];
  const backwards: number[] = [];
  const syncs: number[] = [];
  const eachStepMs: number[] = [];
  const eachSyncMs: number[] = [];
  for (let r = 0; r < c.repeats; r++) {
    parts.times = emptyStepTimes();
    const start = performance.now();
    for (let i = 0; i < c.steps; i++) {
      const [stepStart, syncBefore] = [performance.now(), parts.times.sync];
      trainStep(parts, x, y);
      eachStepMs.push(performance.now() - stepStart);
      eachSyncMs.push(parts.times.sync - syncBefore);
    }
    steps.push((performance.now() - start) / c.steps);
    backwards.push(parts.times.backward / c.steps);
    syncs.push(parts.times.sync / c.steps);
  }
  // gradients of one more backward, then only the all-reduces
  tidy(() => bce(net.forward(x), y).backward());
  const alone: number[] = [];
  for (let i = 0; i < c.steps; i++) {
    const start = performance.now();
    ddp?.syncGradients();
    alone.push(performance.now() - start);
  }
  const result: WorkerResult = {
    rank: world.rank,
    stepMs: median(steps),
    backwardMs: median(backwards),
    syncMs: median(syncs),
    eachStepMs,
    eachSyncMs,
    allReduceAloneMs: median(alone),
    parameters: net.parameterCount(),
  };
  writeFileSync(join(dir, `${world.rank}.json`), JSON.stringify(result));
  group?.destroy();
}
