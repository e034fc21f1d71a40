/**
 * One batch of tiles through every inference engine patho has, against
 * PyTorch, interleaved round by round in one run (the machine is shared: the
 * ratios of one round are what to read, the medians over rounds what to quote):
 *
 *   pytorch fp32          plain PyTorch 1.13, eager float32, no_grad (what a lab writes)
 *   pytorch best          PyTorch bf16 autocast + channels-last, inference_mode
 *   eager fp32            patho's training graph in eval mode (libtorch)
 *   eager bf16+cl         the same under bf16 autocast, channels-last
 *   folded fp32           the inference network (infer/folded.ts), channels-last
 *   folded bf16           the same in bfloat16
 *   onnxruntime fp32      the exported model (export/onnx.ts) in onnxruntime-node, CPU EP, all graph optimisations
 *
 * Same U-Net (random weights, batch norm statistics set), same input, same
 * thread count everywhere. Prints seconds per batch per round, medians and
 * tiles/s relative to plain PyTorch.
 *
 * Env: PATHO_TILE (512), PATHO_BATCH (1), PATHO_BASE (32), PATHO_DEPTH (4),
 * PATHO_CHANNELS (3), PATHO_THREADS (2), PATHO_ROUNDS (3), PYTHON (/usr/bin/python3).
 * Run: npx tsc -p tsconfig.json && node dist/bench/infer-engines.js
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

import { onnxModelBytes } from '../src/export/onnx.js';
import { FoldedUNet } from '../src/infer/folded.js';
import type { InferenceNet } from '../src/infer/tiled.js';
import { UNet } from '../src/models/unet.js';
import { rand } from '../src/tensor/create.js';
import { mixedPrecision, noGrad, setNumThreads } from '../src/tensor/runtime.js';
import { tidy } from '../src/tensor/scope.js';
import { save } from '../src/tensor/serialize.js';
import { unetWithStatistics } from '../test/infer/helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const tile = env('PATHO_TILE', 512);
const batch = env('PATHO_BATCH', 1);
const threads = env('PATHO_THREADS', 2);
const rounds = env('PATHO_ROUNDS', 3);
const unet = { inChannels: env('PATHO_CHANNELS', 3), classes: 1, depth: env('PATHO_DEPTH', 4), baseChannels: env('PATHO_BASE', 32) };

setNumThreads(threads);
const net = unetWithStatistics(unet);
const dir = mkdtempSync(join(tmpdir(), 'patho-bench-engines-'));
const weights = join(dir, 'weights.pt');
await save(net.stateDict(), weights);

const python = spawn(process.env.PYTHON ?? '/usr/bin/python3', [join(root, 'bench', 'infer_engines_torch.py'), weights, JSON.stringify({ unet: net.options, tile, batch, threads })], {
  env: { ...process.env, PYTHONPATH: join(root, 'tools'), OMP_NUM_THREADS: String(threads) },
  stdio: ['pipe', 'pipe', 'inherit'],
});
const lines = createInterface({ input: python.stdout! })[Symbol.asyncIterator]();
const readLine = async () => (await lines.next()).value as string;
if ((await readLine()) !== 'ready') throw new Error('the PyTorch side did not start');
const pytorch = (mode: 'fp32' | 'best') => async () => {
  python.stdin!.write(`${mode}\n`);
  return Number(await readLine());
};

const input = rand([batch, unet.inChannels, tile, tile]);
const inputLast = input.contiguous('channelsLast');
const timed = (fn: () => void) => async () => {
  const start = performance.now();
  fn();
  return (performance.now() - start) / 1000;
};
const patho = (n: InferenceNet, x: typeof input, amp: 'bfloat16' | null = null) =>
  timed(() => noGrad(() => tidy(() => n.probabilities(mixedPrecision('cpu', amp, () => n.forward(x))).toFloat32Array())));

const eagerLast = unetWithStatistics(unet).toMemoryFormat('channelsLast');
const folded32 = new FoldedUNet(net);
const folded16 = new FoldedUNet(net, { dtype: 'bfloat16' });
const session = await ort.InferenceSession.create(onnxModelBytes(net, { normalization: null, threshold: 0.5 }), {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const pixels = new ort.Tensor('float32', input.toFloat32Array().map((v) => v * 255), [batch, unet.inChannels, tile, tile]);
const onnx = async () => {
  const start = performance.now();
  await session.run({ pixels });
  return (performance.now() - start) / 1000;
};

const engines: [string, () => Promise<number>][] = [
  ['pytorch fp32', pytorch('fp32')],
  ['pytorch best (bf16+cl)', pytorch('best')],
  ['eager fp32', patho(net, input)],
  ['eager bf16+cl', patho(eagerLast, inputLast, 'bfloat16')],
  ['folded fp32', patho(folded32, input)],
  ['folded bf16', patho(folded16, input)],
  ['onnxruntime fp32', onnx],
];
console.log(`U-Net base ${unet.baseChannels} depth ${unet.depth}, ${unet.inChannels} channels, ${batch} x ${tile}x${tile} tiles per batch, ${threads} threads, ${rounds} rounds (+1 warm-up)`);
const seconds = new Map(engines.map(([name]) => [name, [] as number[]]));
for (let round = 0; round <= rounds; round++) {
  const line: string[] = [];
  for (const [name, run] of engines) {
    const s = await run();
    if (round > 0) seconds.get(name)!.push(s);
    line.push(`${name} ${s.toFixed(2)}`);
  }
  console.log(`${round === 0 ? 'warm-up' : `round ${round}`}: ${line.join(', ')}`);
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const base = median(seconds.get('pytorch fp32')!);
const best = median(seconds.get('pytorch best (bf16+cl)')!);
console.log('\nengine                   s/batch (median)   tiles/s   vs pytorch fp32   vs pytorch best');
for (const [name, values] of seconds) {
  const m = median(values);
  console.log(`${name.padEnd(24)} ${m.toFixed(3).padStart(10)}   ${(batch / m).toFixed(3).padStart(12)}   ${(base / m).toFixed(2).padStart(10)}x   ${(best / m).toFixed(2).padStart(12)}x`);
}

python.stdin!.end();
await session.release();
for (const t of [input, inputLast]) t.dispose();
for (const n of [net, eagerLast, folded32, folded16]) n.dispose();
rmSync(dir, { recursive: true, force: true });
