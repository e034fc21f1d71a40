/**
 * The engine against PyTorch, in the same run on the same machine:
 *  (a) per-call overhead of the binding: add of two 1-element tensors plus
 *      dispose, 100,000 times, in microseconds per call (PyTorch's torch.add
 *      from Python alongside, for scale);
 *  (b) one training step (forward, BCE-with-logits backward, SGD momentum) of
 *      the U-Net, base 16, depth 4, batch norm, bilinear, on [4,1,256,256]
 *      fp32: milliseconds per step in patho and in PyTorch, median of the
 *      repeats, and the ratio patho / PyTorch.
 * Both use the same thread count. bench/engine_torch.py runs in one Python
 * process driven over stdin, so the two engines are timed in turns (patho,
 * PyTorch, patho, ...) and drift on a shared machine hits both alike.
 *
 * Env: PATHO_PYTHON (default /usr/bin/python3, which has Debian's torch),
 * PATHO_THREADS (2), PATHO_REPEATS (3), PATHO_STEPS (10 per repeat),
 * PATHO_BASE (16), PATHO_DEPTH (4), PATHO_BATCH (4), PATHO_SIZE (256),
 * PATHO_CALLS (100000).
 * Run: npx tsc -p tsconfig.json && node dist/bench/engine.js
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { UNet } from '../src/models/unet.js';
import { SGD } from '../src/optim/index.js';
import {
  binaryCrossEntropyWithLogits, buildInfo, manualSeed, ones, rand, randn, setNumThreads, tidy,
} from '../src/tensor/index.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const python = process.env.PATHO_PYTHON ?? '/usr/bin/python3';
const threads = env('PATHO_THREADS', 2);
const repeats = env('PATHO_REPEATS', 3);
const steps = env('PATHO_STEPS', 10);
const calls = env('PATHO_CALLS', 100_000);
const net = { base: env('PATHO_BASE', 16), depth: env('PATHO_DEPTH', 4), batch: env('PATHO_BATCH', 4), size: env('PATHO_SIZE', 256) };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (values: number[], digits: number) => values.map((v) => v.toFixed(digits)).join(', ');

/** The Python side: one process, one JSON answer per command line. */
class TorchWorker {
  private readonly child;
  private readonly lines;

  constructor() {
    const script = fileURLToPath(new URL('../../bench/engine_torch.py', import.meta.url));
    const args = Object.entries({ ...net, threads }).flatMap(([k, v]) => [`--${k}`, String(v)]);
    this.child = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async read(): Promise<Record<string, any>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`${python} bench/engine_torch.py exited before answering`);
    return JSON.parse(value);
  }

  async ask(command: string): Promise<Record<string, any>> {
    this.child.stdin.write(`${command}\n`);
    return this.read();
  }

  close(): void {
    this.child.stdin.end('quit\n');
  }
}

/** Microseconds per call of a tiny op: add two 1-element tensors, dispose the result. */
function overhead(n: number): number {
  const a = ones([1]);
  const b = ones([1]);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) a.add(b).dispose();
  const us = Number(process.hrtime.bigint() - start) / 1e3 / n;
  a.dispose();
  b.dispose();
  return us;
}

/** The training step of engine_torch.py, in patho. */
function makeTrainer(): (count: number) => number {
  manualSeed(0);
  const model = new UNet({ inChannels: 1, classes: 1, depth: net.depth, baseChannels: net.base, batchNorm: true, upsample: 'bilinear', padding: 'same' });
  model.train();
  const shape = [net.batch, 1, net.size, net.size];
  const x = randn(shape).keep();
  const y = tidy(() => rand(shape).gt(0.5).to('float32')).keep();
  const optimizer = new SGD(model.parameters(), { lr: 5e-3, momentum: 0.99 });
  return (count) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      tidy(() => {
        optimizer.zeroGrad();
        binaryCrossEntropyWithLogits(model.forward(x), y).backward();
        optimizer.step();
      });
    }
    return (performance.now() - start) / count;
  };
}

async function main(): Promise<void> {
  setNumThreads(threads);
  const torch = new TorchWorker();
  const ready = await torch.read();
  console.log(`libtorch ${buildInfo().torchVersion} (patho) vs PyTorch ${ready.torch} (Python), ${threads} threads each`);

  // (a) binding overhead; the first round warms up both sides
  overhead(calls / 10);
  await torch.ask(`overhead ${calls / 10}`);
  const ourCalls: number[] = [];
  const torchCalls: number[] = [];
  for (let r = 0; r < repeats; r++) {
    ourCalls.push(overhead(calls));
    torchCalls.push((await torch.ask(`overhead ${calls}`)).usPerCall);
  }
  console.log(`\n(a) tiny op (add of [1] + [1], then dispose), ${calls} calls, median of ${repeats}:`);
  console.log(`    patho   ${median(ourCalls).toFixed(2)} us/call   [${fmt(ourCalls, 2)}]`);
  console.log(`    PyTorch ${median(torchCalls).toFixed(2)} us/call   [${fmt(torchCalls, 2)}]   (torch.add from Python, for scale)`);

  // (b) one training step, timed in turns after a warm-up of two steps each
  const train = makeTrainer();
  train(2);
  await torch.ask('warmup 2');
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    ours.push(train(steps));
    theirs.push((await torch.ask(`steps ${steps}`)).msPerStep);
  }
  torch.close();
  const [o, p] = [median(ours), median(theirs)];
  console.log(`\n(b) training step: UNet base ${net.base} depth ${net.depth} (batch norm, bilinear) on [${net.batch},1,${net.size},${net.size}] fp32,`);
  console.log(`    forward + BCE-with-logits backward + SGD(momentum 0.99); ${steps} steps x ${repeats} repeats, median:`);
  console.log(`    patho   ${o.toFixed(1)} ms/step   [${fmt(ours, 1)}]`);
  console.log(`    PyTorch ${p.toFixed(1)} ms/step   [${fmt(theirs, 1)}]`);
  console.log(`    ratio patho / PyTorch = ${(o / p).toFixed(3)} (medians), ${(Math.min(...ours) / Math.min(...theirs)).toFixed(3)} (best repeats; steadier on a busy machine)   (target <= 1.03)`);
}

await main();
