/**
 * GPU benchmark (issue 8): U-Net training images/s on one GPU, patho vs PyTorch
 * eager and torch.compile with the same settings (base 64, depth 4, 512x512,
 * bfloat16 autocast, channels-last), in the same run; achieved TFLOP/s from the
 * convolution FLOPs, and the fraction of the GPU's dense bf16 peak.
 *
 *   node dist/bench/gpu.js [--python /opt/torch/.venv/bin/python] [--batch 16] [--steps 20]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { cuda, buildInfo } from '../src/tensor/runtime.js';
import { unetForwardFlops } from './unet_flops.js';
import { timePatho, timeTorch, type StepConfig, type StepResult } from './unet_step.js';

const { values } = parseArgs({
  options: {
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '20' },
    size: { type: 'string', default: '512' },
    base: { type: 'string', default: '64' },
  },
});

/** Dense bf16 tensor-core peaks (TFLOP/s) from NVIDIA's data sheets. */
const PEAK_BF16: [RegExp, number][] = [
  [/H200/, 989],
  [/H100.*PCIe/i, 756],
  [/H100/, 989],
  [/A100/, 312],
];

function gpuName(): string {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'unknown GPU';
  }
}

if (!cuda.isAvailable()) {
  console.error(`no CUDA device visible to libtorch ${buildInfo().torchVersion}: build with LIBTORCH_USE_PYTORCH=1 against a CUDA PyTorch`);
  process.exit(1);
}
const config: StepConfig = {
  device: 'cuda:0', base: Number(values.base), depth: 4, size: Number(values.size), batch: Number(values.batch),
  steps: Number(values.steps), warmup: 5, repeats: 3, amp: 'bfloat16', channelsLast: true,
};
const name = gpuName();
const peak = PEAK_BF16.find(([re]) => re.test(name))?.[1] ?? NaN;
const trainFlopsPerImage = 3 * unetForwardFlops({ inChannels: 1, baseChannels: config.base, depth: 4, classes: 1, upsample: 'bilinear' }, config.size, config.size);
const describe = (label: string, r: StepResult) => {
  const tflops = (r.imagesPerSecond * trainFlopsPerImage) / 1e12;
  console.log(`${label.padEnd(22)} ${r.imagesPerSecond.toFixed(1).padStart(8)} img/s  ${r.stepMs.toFixed(1).padStart(8)} ms/step  ${tflops.toFixed(1)} TFLOP/s  ${((100 * tflops) / peak).toFixed(1)}% of ${peak} peak`);
};

console.log(`${name}; U-Net base ${config.base} depth 4, ${config.size}x${config.size}, batch ${config.batch}, bf16 autocast, channels-last`);
console.log(`conv FLOPs per training image: ${(trainFlopsPerImage / 1e9).toFixed(1)} GFLOP`);
const patho = timePatho(config);
describe('patho', patho);
const eager = timeTorch(values.python!, config);
describe(`PyTorch ${eager.torch} eager`, eager);
console.log(`patho / PyTorch eager: ${(patho.imagesPerSecond / eager.imagesPerSecond).toFixed(3)}x`);
try {
  const compiled = timeTorch(values.python!, config, ['--compile']);
  describe('PyTorch torch.compile', compiled);
  console.log(`patho / torch.compile: ${(patho.imagesPerSecond / compiled.imagesPerSecond).toFixed(3)}x`);
} catch (e) {
  console.log(`torch.compile did not run: ${(e as Error).message.split('\n').slice(-3).join(' ')}`);
}
